#!/usr/bin/env bash
# schemathesis against the release Keyward (rate limits off, so every case reaches its handler), with the
# committed schemathesis.toml: as an admin with a Keyward API token on SQLite, without credentials on SQLite,
# and as an admin on a throwaway PostgreSQL. Exits non-zero on any failure; prints each run's case counts.
#
#   bash scripts/schemathesis.sh install   # the pinned schemathesis into target/schemathesis-venv (.ci/run does it)
#   bash scripts/schemathesis.sh           # the three runs; needs `cargo build --release` first
#
# KEYWARD_BIN=target/debug/keyward runs another build (quicker to rebuild while chasing a finding).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg.sh

venv=target/schemathesis-venv
requirements=scripts/schemathesis-requirements.txt

install() {
  # The stamp is the requirements file itself: a changed pin reinstalls.
  if [ -x "$venv/bin/st" ] && cmp -s "$requirements" "$venv/requirements.txt"; then return 0; fi
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$venv/requirements.txt"
}

if [ "${1:-}" = install ]; then
  install
  "$venv/bin/st" --version
  exit 0
fi
keyward=${KEYWARD_BIN:-target/release/keyward}
[ -x "$keyward" ] || { echo "$keyward is missing: cargo build --release" >&2; exit 1; }
install
[ -d testing/idp/node_modules ] || (cd testing/idp && npm ci --no-audit --no-fund)

RUN_DIR=$(mktemp -d)
cleanup() {
  [ -n "${KEYWARD_PID:-}" ] && kill "$KEYWARD_PID" 2>/dev/null || true
  [ -n "${IDP_PID:-}" ] && kill "$IDP_PID" 2>/dev/null || true
  pg_down
  rm -rf "$RUN_DIR"
}
trap cleanup EXIT

# One port per database, both registered at the provider before it starts.
sqlite_port=$(free_port)
pg_port=$(free_port)
IDP_LAYOUT=keycloak IDP_PORT=0 \
  IDP_REDIRECT_URIS="http://127.0.0.1:$sqlite_port/auth/callback,http://127.0.0.1:$pg_port/auth/callback" \
  IDP_POST_LOGOUT_REDIRECT_URIS="http://127.0.0.1:$sqlite_port/,http://127.0.0.1:$pg_port/" \
  node testing/idp/server.mjs >"$RUN_DIR/idp.out" 2>"$RUN_DIR/idp.err" &
IDP_PID=$!
until grep -q '"ready":true' "$RUN_DIR/idp.out" 2>/dev/null; do
  kill -0 "$IDP_PID" 2>/dev/null || { cat "$RUN_DIR/idp.err" >&2; exit 1; }
  sleep 0.1
done
issuer=$(sed -E 's/.*"issuer":"([^"]+)".*/\1/' "$RUN_DIR/idp.out")

# alice is a bootstrap admin: the API refuses to take `admin` from her, deactivate her or end her sessions, so
# the fuzzer cannot lock itself out; her token outlives the run.
start_keyward() { # port database_url
  KEYWARD_LISTEN="127.0.0.1:$1" DATABASE_URL="$2" KEYWARD_PUBLIC_URL="http://127.0.0.1:$1" \
    KEYWARD_RATE_LIMIT_PER_MINUTE=0 KEYWARD_AUTH_RATE_LIMIT_PER_MINUTE=0 KEYWARD_API_TOKEN_TTL=6h \
    KEYWARD_OIDC_ISSUER="$issuer" KEYWARD_OIDC_CLIENT_ID=keyward KEYWARD_OIDC_CLIENT_SECRET=keyward-secret \
    KEYWARD_BOOTSTRAP_ADMINS=alice@example.com KEYWARD_SHUTDOWN_DRAIN=0s RUST_LOG=warn \
    "$keyward" serve >>"$RUN_DIR/keyward.log" 2>&1 &
  KEYWARD_PID=$!
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "Keyward did not start; its log:" >&2
  cat "$RUN_DIR/keyward.log" >&2
  return 1
}

stop_keyward() {
  kill "$KEYWARD_PID" 2>/dev/null || true
  wait "$KEYWARD_PID" 2>/dev/null || true
  KEYWARD_PID=
}

# The browser login with curl (Keyward -> the provider's form -> Keyward's callback), then POST /auth/token.
token_for() { # base_url user
  local kw=$1 user=$2 jar=$RUN_DIR/jar url code next
  rm -f "$jar"
  step() { curl -s -b "$jar" -c "$jar" -o "$RUN_DIR/body" -w '%{http_code} %{redirect_url}\n' "$@"; }
  read -r _ url < <(step "$kw/auth/login?return_to=/")
  while [[ "$url" != "$kw/auth/callback"* ]]; do
    read -r code next < <(step "$url")
    if [ "$code" = 200 ] && grep -q 'login-form' "$RUN_DIR/body"; then
      read -r code next < <(step -X POST "$url" --data-urlencode prompt=login --data-urlencode "login=$user" \
        --data-urlencode "password=$user-pw")
    fi
    [ -n "$next" ] || { echo "login stuck at $url ($code)" >&2; return 1; }
    url=$next
  done
  step "$url" >/dev/null
  curl -fs -b "$jar" -X POST -H 'X-CSRF: 1' "$kw/auth/token" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
}

# The run without credentials takes the configuration up to its [auth.openapi.BearerToken] table.
sed '/^\[auth\.openapi\.BearerToken\]/,$d' schemathesis.toml >"$RUN_DIR/anonymous.toml"

failed=0
summary=()
fuzz() { # name base_url config
  local name=$1 kw=$2 config=$3 started=$SECONDS status=0
  echo "== schemathesis: $name"
  "$venv/bin/st" --config-file "$config" run "$kw/openapi.json" 2>&1 | tee "$RUN_DIR/$name.log" ||
    status=$?
  # The closing summary: "Test cases:" then "  N generated, ...".
  local cases
  cases=$(grep -A1 '^Test cases:' "$RUN_DIR/$name.log" | tail -n 1 | sed 's/^ *//')
  summary+=("$name: ${cases:-no count}; exit $status; $((SECONDS - started)) s")
  [ "$status" = 0 ] || failed=1
  if ! kill -0 "$KEYWARD_PID" 2>/dev/null; then
    echo "== Keyward died during $name; the end of its log:"
    tail -n 60 "$RUN_DIR/keyward.log"
    exit 1
  fi
}

sqlite_url="http://127.0.0.1:$sqlite_port"
start_keyward "$sqlite_port" "sqlite://$RUN_DIR/keyward.db?mode=rwc"
# bob logs in too, so that the fuzzer finds a user it may deactivate, log out and grant roles to.
token_for "$sqlite_url" bob >/dev/null
token=$(token_for "$sqlite_url" alice)
KEYWARD_FUZZ_TOKEN=$token fuzz sqlite-admin "$sqlite_url" schemathesis.toml
fuzz sqlite-anonymous "$sqlite_url" "$RUN_DIR/anonymous.toml"
stop_keyward

pg_up
pg_url="http://127.0.0.1:$pg_port"
start_keyward "$pg_port" "$KEYWARD_TEST_PG_URL"
token_for "$pg_url" bob >/dev/null
token=$(token_for "$pg_url" alice)
KEYWARD_FUZZ_TOKEN=$token fuzz postgres-admin "$pg_url" schemathesis.toml
stop_keyward

if grep -E '(ERROR|panicked)' "$RUN_DIR/keyward.log" >/dev/null; then
  echo "== Keyward logged errors during the runs:"
  grep -E '(ERROR|panicked)' "$RUN_DIR/keyward.log" | head -n 50
fi
echo "== schemathesis summary"
printf '%s\n' "${summary[@]}"
exit "$failed"
