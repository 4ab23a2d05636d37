#!/usr/bin/env bash
# Keyward on its embedded default (SQLite file keyward.db) together with the bundled dev identity provider
# (testing/idp, Keycloak layout by default), ready to log in as alice/alice-pw. Ctrl-C stops both.
# Settings already in the environment win over the dev defaults below.
set -euo pipefail
cd "$(dirname "$0")/.."

IDP_LAYOUT=${IDP_LAYOUT:-keycloak}
IDP_PORT=${IDP_PORT:-8180}
KEYWARD_URL=http://127.0.0.1:8080 # the IdP only accepts redirects back to this exact URL
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

mkdir -p "$RUN_DIR"
: >"$IDP_READY"
IDP_LAYOUT=$IDP_LAYOUT IDP_PORT=$IDP_PORT \
  IDP_REDIRECT_URIS=$KEYWARD_URL/auth/callback \
  IDP_POST_LOGOUT_REDIRECT_URIS=$KEYWARD_URL/ \
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

  Keyward (dev)      $KEYWARD_URL
  log in             $KEYWARD_URL/auth/login?return_to=/auth/session
  users              alice / alice-pw   bob / bob-pw
  API docs           $KEYWARD_URL/docs
  identity provider  $issuer ($IDP_LAYOUT layout, log: $IDP_LOG)

EOF

KEYWARD_OIDC_ISSUER=${KEYWARD_OIDC_ISSUER:-$issuer} \
  KEYWARD_OIDC_CLIENT_ID=${KEYWARD_OIDC_CLIENT_ID:-keyward} \
  KEYWARD_OIDC_CLIENT_SECRET=${KEYWARD_OIDC_CLIENT_SECRET:-keyward-secret} \
  cargo run -- serve &
KEYWARD_PID=$! # in the background so that a SIGTERM to this script stops Keyward and the IdP at once
status=0
wait "$KEYWARD_PID" || status=$?
KEYWARD_PID=
exit "$status"
