#!/usr/bin/env bash
# The whole test suite: unit and integration tests on SQLite, the integration tests again on a throwaway
# PostgreSQL, the OpenAPI drift check, and the generated TypeScript client against a running Keyward.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg.sh

cleanup() {
  [ -n "${KEYWARD_PID:-}" ] && kill "$KEYWARD_PID" 2>/dev/null || true
  pg_down
  [ -n "${RUN_DIR:-}" ] && rm -rf "$RUN_DIR"
}
trap cleanup EXIT

# The login tests start the bundled test identity provider (node); it needs its packages once.
[ -d testing/idp/node_modules ] || (cd testing/idp && npm ci --no-audit --no-fund)

echo "== Rust tests on SQLite"
cargo test --workspace

echo "== integration tests on PostgreSQL"
pg_up
KEYWARD_TEST_PG_URL="$KEYWARD_TEST_PG_URL" cargo test --test api
pg_down

echo "== TypeScript client against a running Keyward"
[ -d openapi/client/node_modules ] || (cd openapi/client && npm ci --no-audit --no-fund)
(cd openapi/client && npm run --silent check)
RUN_DIR=$(mktemp -d)
port=$(free_port)
(cd "$RUN_DIR" && KEYWARD_LISTEN="127.0.0.1:$port" KEYWARD_RATE_LIMIT_PER_MINUTE=0 RUST_LOG=warn \
  exec "$OLDPWD/target/debug/keyward" serve) &
KEYWARD_PID=$!
for _ in $(seq 1 50); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
(cd openapi/client && KEYWARD_URL="http://127.0.0.1:$port" npm test --silent)
