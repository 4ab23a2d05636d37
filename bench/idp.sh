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

# `api_token KW DIR` logs alice in at the Keyward KW through the real browser flow (curl: Keyward -> provider form
# -> Keyward callback, cookies kept in DIR) and prints a Keyward API token for her session.
api_token() {
  local kw=$1 dir=$2 url code next
  local jar=$dir/jar
  step() { curl -s -b "$jar" -c "$jar" -o "$dir/body" -w '%{http_code} %{redirect_url}\n' "$@"; }
  read -r _ url < <(step "$kw/auth/login?return_to=/")
  while [[ "$url" != "$kw/auth/callback"* ]]; do
    read -r code next < <(step "$url")
    if [ "$code" = 200 ] && grep -q 'login-form' "$dir/body"; then
      read -r code next < <(step -X POST "$url" --data-urlencode prompt=login --data-urlencode login=alice \
        --data-urlencode password=alice-pw)
    fi
    [ -n "$next" ] || { echo "login stuck at $url ($code)" >&2; return 1; }
    url=$next
  done
  step "$url" >/dev/null
  curl -s -b "$jar" -X POST -H 'X-CSRF: 1' "$kw/auth/token" | sed -E 's/.*"access_token":"([^"]+)".*/\1/'
}

# `bench_seed FILE` writes the RBAC seed file of the benchmarks: 13 application permissions + 7 built-ins = 20,
# spread over two roles mapped from alice's provider groups (with the default `user`, she holds 3 roles).
bench_seed() {
  cat >"$1" <<'YAML'
permissions:
YAML
  for i in $(seq 1 13); do echo "  - name: app:action$i" >>"$1"; done
  cat >>"$1" <<'YAML'
roles:
  - name: bench-admins
    idp_group: admins
    permissions: [users:read, roles:read, audit:read, sync:read, app:action1, app:action2, app:action3, app:action4, app:action5, app:action6]
  - name: bench-users
    idp_group: users
    permissions: [users:write, roles:write, sync:run, app:action7, app:action8, app:action9, app:action10, app:action11, app:action12, app:action13]
YAML
}

# `wrk_run URL THREADS SECONDS [HEADER]`: one wrk run with 64 connections; prints "req/s p99_ms", and fails on any
# non-2xx answer (a 429 above all: a bench must measure served requests).
wrk_run() {
  local out rps p99 non2xx
  out=$(wrk -t"$2" -c64 -d"$3s" --latency ${4:+-H "$4"} "$1")
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}')
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  [ -z "$non2xx" ] || { echo "non-2xx answers from $1: $non2xx" >&2; exit 1; }
  echo "$rps $p99"
}

# The median of the numbers on stdin, one a line.
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# `wait_ready URL PID LOG`: waits until URL answers 2xx; fails, showing LOG, if process PID exits first (a server
# that cannot start must end the bench, not hang it).
wait_ready() {
  until curl -fs "$1" >/dev/null 2>&1; do
    kill -0 "$2" 2>/dev/null || { echo "the server behind $1 exited:" >&2; tail -20 "$3" >&2; return 1; }
    sleep 0.05
  done
}
