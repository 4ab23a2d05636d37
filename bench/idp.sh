# Sourced by the benchmarks. `start_idp DIR` starts the bundled test identity provider in the background with the
# IDP_* settings given before it (`IDP_LAYOUT=authentik start_idp "$work"`), on a free port, logging into DIR; once it
# is ready, IDP_PID and issuer are set. The caller stops it (kill "$IDP_PID").
start_idp() {
  local dir=$1
  [ -d testing/idp/node_modules ] || (cd testing/idp && npm ci --no-audit --no-fund)
  IDP_PORT=0 node testing/idp/server.mjs >"$dir/idp.out" 2>"$dir/idp.err" &
  IDP_PID=$!
  until grep -q '"ready":true' "$dir/idp.out" 2>/dev/null; do
    kill -0 "$IDP_PID" 2>/dev/null || { cat "$dir/idp.err" >&2; return 1; }
    sleep 0.1
  done
  issuer=$(sed -E 's/.*"issuer":"([^"]+)".*/\1/' "$dir/idp.out")
}
