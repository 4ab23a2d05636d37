#!/usr/bin/env bash
# Keyward on its embedded default (SQLite file keyward.db) together with the bundled dev identity provider
# (testing/idp, Keycloak layout by default) and the admin console, ready to log in as alice/alice-pw (an
# admin here: KEYWARD_BOOTSTRAP_ADMINS) at http://127.0.0.1:8080/console/. Ctrl-C stops both.
# Settings already in the environment win over the dev defaults below. For the console's own dev server
# (`cd console && npm run dev`, http://localhost:5173) start this with KEYWARD_PUBLIC_URL=http://localhost:5173,
# so that the provider sends the browser back through Vite's proxy; that callback is registered too.
set -euo pipefail
cd "$(dirname "$0")/.."

IDP_LAYOUT=${IDP_LAYOUT:-keycloak}
IDP_PORT=${IDP_PORT:-8180}
KEYWARD_URL=http://127.0.0.1:8080 # the IdP only accepts redirects back to this exact URL
VITE_URL=http://localhost:5173    # and to the console's dev server (console/README.md)
RUN_DIR=target/dev
IDP_LOG=$RUN_DIR/idp.log
IDP_READY=$RUN_DIR/idp.ready

cleanup() {
  local pid
  for pid in ${KEYWARD_PID:-} ${IDP_PID:-}; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Build first, so the banner below is not buried under compiler output.
cargo build

[ -d testing/idp/node_modules ] || (cd testing/idp && npm ci --no-audit --no-fund)
# The console Keyward serves at /console/: built once, and again whenever its sources are newer.
[ -d console/node_modules ] || (cd console && npm ci --no-audit --no-fund)
if [ ! -f console/dist/index.html ] || [ -n "$(find console/src console/index.html openapi/client/dist \
  -newer console/dist/index.html -print -quit)" ]; then
  (cd console && npm run --silent build)
fi

mkdir -p "$RUN_DIR"
: >"$IDP_READY"
IDP_LAYOUT=$IDP_LAYOUT IDP_PORT=$IDP_PORT \
  IDP_REDIRECT_URIS=$KEYWARD_URL/auth/callback,$VITE_URL/auth/callback \
  IDP_POST_LOGOUT_REDIRECT_URIS=$KEYWARD_URL/,$VITE_URL/ \
  node testing/idp/server.mjs >"$IDP_READY" 2>"$IDP_LOG" </dev/null &
IDP_PID=$!

# The IdP prints exactly one JSON line on stdout once it listens.
issuer=
for _ in $(seq 1 150); do
  line=$(head -n 1 "$IDP_READY")
  issuer=$(printf '%s\n' "$line" | sed -n 's/.*"issuer":"\([^"]*\)".*/\1/p')
  [ -n "$issuer" ] && break
  if ! kill -0 "$IDP_PID" 2>/dev/null; then
    echo "dev identity provider exited during start-up (port $IDP_PORT in use?); last lines of $IDP_LOG:" >&2
    tail -n 20 "$IDP_LOG" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$issuer" ]; then
  echo "dev identity provider not ready after 15 s; see $IDP_LOG" >&2
  exit 1
fi

cat <<EOF

  admin console      $KEYWARD_URL/console/
  Keyward (dev)      $KEYWARD_URL
  users              alice / alice-pw (admin)   bob / bob-pw
  API docs           $KEYWARD_URL/docs
  identity provider  $issuer ($IDP_LAYOUT layout, log: $IDP_LOG)

EOF

KEYWARD_OIDC_ISSUER=${KEYWARD_OIDC_ISSUER:-$issuer} \
  KEYWARD_OIDC_CLIENT_ID=${KEYWARD_OIDC_CLIENT_ID:-keyward} \
  KEYWARD_OIDC_CLIENT_SECRET=${KEYWARD_OIDC_CLIENT_SECRET:-keyward-secret} \
  KEYWARD_BOOTSTRAP_ADMINS=${KEYWARD_BOOTSTRAP_ADMINS:-alice@example.com} \
  KEYWARD_SHUTDOWN_DRAIN=${KEYWARD_SHUTDOWN_DRAIN:-0s} \
  cargo run -- serve &
KEYWARD_PID=$! # in the background so that a SIGTERM to this script stops Keyward and the IdP at once
status=0
wait "$KEYWARD_PID" || status=$?
KEYWARD_PID=
exit "$status"
