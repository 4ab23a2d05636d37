#!/usr/bin/env bash
# The whole test suite: unit and integration tests on SQLite, the integration tests again on a throwaway
# PostgreSQL, the cluster test (two release instances behind HAProxy), the OpenAPI drift check, the generated TypeScript client against a running Keyward, and the
# console's browser end-to-end suite (Playwright on Debian's Chromium, /usr/bin/chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg.sh

cleanup() {
  [ -n "${KEYWARD_PID:-}" ] && kill "$KEYWARD_PID" 2>/dev/null || true
  [ -n "${IDP_PID:-}" ] && kill "$IDP_PID" 2>/dev/null || true
  pg_down
  [ -n "${RUN_DIR:-}" ] && rm -rf "$RUN_DIR"
}
trap cleanup EXIT

# The login tests start the bundled test identity provider (node); it needs its packages once.
[ -d testing/idp/node_modules ] || (cd testing/idp && npm ci --no-audit --no-fund)

# The deploy tests run `haproxy -c`; the cluster test needs HAProxy, wrk and jq: installed when missing.
bash scripts/cluster-test.sh --install-only

echo "== Rust tests on SQLite"
cargo test --workspace

echo "== integration tests on PostgreSQL"
pg_up
KEYWARD_TEST_PG_URL="$KEYWARD_TEST_PG_URL" cargo test --test api
pg_down

echo "== cluster: two release instances behind HAProxy (scripts/cluster-test.sh)"
bash scripts/cluster-test.sh

echo "== console: type-check and build"
[ -d console/node_modules ] || (cd console && npm ci --no-audit --no-fund)
(cd console && npm run --silent build)

echo "== TypeScript client against a running Keyward"
[ -d openapi/client/node_modules ] || (cd openapi/client && npm ci --no-audit --no-fund)
(cd openapi/client && npm run --silent check)
# Installs the client into empty projects from a folder and from its tarball, as the README says.
(cd openapi/client && npm run --silent test:install)
RUN_DIR=$(mktemp -d)
port=$(free_port)
# The admin API tests log in (as alice, a bootstrap admin) through the bundled test identity provider.
# It prints exactly one JSON line on stdout once ready; stderr goes to a file (its warnings are harmless).
IDP_LAYOUT=keycloak IDP_PORT=0 \
  IDP_REDIRECT_URIS="http://127.0.0.1:$port/auth/callback" \
  IDP_POST_LOGOUT_REDIRECT_URIS="http://127.0.0.1:$port/" \
  node testing/idp/server.mjs >"$RUN_DIR/idp.out" 2>"$RUN_DIR/idp.err" &
IDP_PID=$!
for _ in $(seq 1 200); do
  # wc -l counts newlines: a count of 1 means the whole ready line is there.
  [ "$(wc -l <"$RUN_DIR/idp.out")" -ge 1 ] && break
  kill -0 "$IDP_PID" 2>/dev/null || break
  sleep 0.05
done
idp_issuer=$(sed -n 's/.*"issuer":"\([^"]*\)".*/\1/p' "$RUN_DIR/idp.out" | head -n 1)
if [ -z "$idp_issuer" ]; then
  echo "the test identity provider did not start; its output:" >&2
  cat "$RUN_DIR/idp.out" "$RUN_DIR/idp.err" >&2
  exit 1
fi
(cd "$RUN_DIR" && KEYWARD_LISTEN="127.0.0.1:$port" KEYWARD_RATE_LIMIT_PER_MINUTE=0 RUST_LOG=warn \
  KEYWARD_OIDC_ISSUER="$idp_issuer" KEYWARD_OIDC_CLIENT_ID=keyward KEYWARD_OIDC_CLIENT_SECRET=keyward-secret \
  KEYWARD_BOOTSTRAP_ADMINS=alice@example.com KEYWARD_SHUTDOWN_DRAIN=0s \
  exec "$OLDPWD/target/debug/keyward" serve) &
KEYWARD_PID=$!
for _ in $(seq 1 50); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
(cd openapi/client && KEYWARD_URL="http://127.0.0.1:$port" IDP_ISSUER="$idp_issuer" npm test --silent)

echo "== browser end-to-end suite (console/e2e)"
# Debian's Chromium drives it: Playwright must never fetch a browser of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
[ -d console/e2e/node_modules ] || (cd console/e2e && npm ci --no-audit --no-fund)
# It starts its own identity providers, Keywards (target/debug/keyward) and the console's Vite dev server.
(cd console/e2e && npm run --silent check && npx playwright test)
