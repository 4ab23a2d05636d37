#!/usr/bin/env bash
# Authenticated, permission-checked requests against plain health checks, on one server.
#
#   bench/rbac.sh [sqlite|postgres] [runs] [seconds]     (defaults: sqlite 3 10; not part of CI)
#
# Starts the test identity provider and a release Keyward (rate limiting off), logs alice in through the real
# login flow, takes a Keyward API token, then runs wrk (64 connections, WRK_THREADS threads, default 1) against `GET /healthz` and
# `GET /api/v1/me` with `Authorization: Bearer <token>`, alternating, `runs` times each. alice holds 3 roles
# (the default `user`, plus two mapped from her provider groups by the seed file below) adding up to 20
# permissions. Prints each run and the medians: requests/s, p99 latency, and the ratio me/healthz.
set -euo pipefail
cd "$(dirname "$0")/.."
db=${1:-sqlite}
runs=${2:-3}
secs=${3:-10}
threads=${WRK_THREADS:-1}
command -v wrk >/dev/null || { apt-get update -q && apt-get install -y -q wrk >/dev/null; }
source bench/idp.sh
cargo build --release -q
source scripts/pg.sh
work=$(mktemp -d)
cleanup() {
  [ -n "${KW_PID:-}" ] && kill "$KW_PID" 2>/dev/null || true
  [ -n "${IDP_PID:-}" ] && kill "$IDP_PID" 2>/dev/null || true
  [ "$db" = postgres ] && pg_down
  rm -rf "$work"
}
trap cleanup EXIT

port=$(free_port)
kw="http://127.0.0.1:$port"
IDP_REDIRECT_URIS="$kw/auth/callback" IDP_POST_LOGOUT_REDIRECT_URIS="$kw/" start_idp "$work"

bench_seed "$work/seed.yaml"

if [ "$db" = postgres ]; then
  pg_up >/dev/null
  database_url=$KEYWARD_TEST_PG_URL
else
  database_url="sqlite://$work/keyward.db?mode=rwc"
fi
KEYWARD_LISTEN=127.0.0.1:$port DATABASE_URL="$database_url" KEYWARD_RATE_LIMIT_PER_MINUTE=0 \
  KEYWARD_AUTH_RATE_LIMIT_PER_MINUTE=0 KEYWARD_OIDC_ISSUER="$issuer" KEYWARD_OIDC_CLIENT_ID=keyward \
  KEYWARD_OIDC_CLIENT_SECRET=keyward-secret KEYWARD_RBAC_SEED="$work/seed.yaml" RUST_LOG=warn \
  target/release/keyward serve >"$work/keyward.log" 2>&1 &
KW_PID=$!
wait_ready "$kw/healthz" "$KW_PID" "$work/keyward.log"

token=$(api_token "$kw" "$work")
me=$(curl -s -H "Authorization: Bearer $token" "$kw/api/v1/me")
roles=$(echo "$me" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["roles"]), len(d["permissions"]))')
echo "alice holds roles/permissions: $roles   database: $db   wrk: $threads thread(s), 64 connections, ${secs}s"

run() { wrk_run "$kw$1" "$threads" "$secs" "${2:-}"; } # path [header] -> "rps p99_ms"
: >"$work/h"; : >"$work/m"
for i in $(seq 1 "$runs"); do
  h=$(run /healthz); m=$(run /api/v1/me "Authorization: Bearer $token")
  echo "run $i: /healthz $h   /api/v1/me $m   (req/s p99-ms)"
  echo "$h" >>"$work/h"; echo "$m" >>"$work/m"
done
hr=$(cut -d' ' -f1 "$work/h" | median); hp=$(cut -d' ' -f2 "$work/h" | median)
mr=$(cut -d' ' -f1 "$work/m" | median); mp=$(cut -d' ' -f2 "$work/m" | median)
ratio=$(python3 -c "print(f'{$mr/$hr*100:.1f}')")
echo "median /healthz: $hr req/s, p99 $hp ms"
echo "median /api/v1/me: $mr req/s, p99 $mp ms"
echo "ratio: $ratio% (goal >= 85%, p99 < 5 ms)"
