#!/usr/bin/env bash
# Keyward's edge against bare poem-openapi (bench/bare: the same framework, no middleware), alternated in one run.
#
#   bench/edge.sh [rounds] [seconds]     (defaults: 3 10; not part of CI)
#
# Builds both release binaries, starts the test identity provider and Keyward on SQLite with every feature on:
# security headers, request id, per-route metrics, tracing at the default level (log lines to a file), a CORS
# allow-list, the body limit, session-revocation checks, and the in-process rate limiter with a budget so high it
# never refuses (no Redis). Logs alice in (3 roles, 20 permissions) and takes a Keyward API token. Each round runs
# `wrk -t1 -c64` for `seconds` against bare /healthz, Keyward /healthz, bare /api/v1/me, Keyward /api/v1/me (both
# /me with the same Bearer header) and bare /api/v1/me-direct (the same JSON written straight with serde, as
# Keyward's /me writes it), then prints the medians, the ratios Keyward/bare, the goals, and the strict ratio
# against /me-direct. Any non-2xx answer (a 429 above all) fails the run.
# KEYWARD_BIN=PATH runs that Keyward binary instead of building one (to compare two builds).
# EDGE_PERF=DIR also records `perf record -g` of Keyward during one more /healthz and /api/v1/me run each into
# DIR (the build then keeps line tables and symbols: CARGO_PROFILE_RELEASE_DEBUG, _STRIP); EDGE_PERF_ARGS replaces
# `-g`, e.g. "--call-graph dwarf,8192 -F 297" for whole stacks (the release build has no frame pointers).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
secs=${2:-10}
command -v wrk >/dev/null || { apt-get update -q && apt-get install -y -q wrk >/dev/null; }
if [ -n "${EDGE_PERF:-}" ]; then
  export CARGO_PROFILE_RELEASE_DEBUG=line-tables-only CARGO_PROFILE_RELEASE_STRIP=false
  mkdir -p "$EDGE_PERF"
fi
source bench/idp.sh
source scripts/pg.sh
kw_bin=${KEYWARD_BIN:-target/release/keyward}
[ -n "${KEYWARD_BIN:-}" ] || cargo build --release -q --bin keyward
# The bare crate is outside the workspace: its own lock (Keyward's, so both use the same poem), its own target.
[ -f bench/bare/Cargo.lock ] || { [ -f Cargo.lock ] && cp Cargo.lock bench/bare/; } || true
(cd bench/bare && CARGO_TARGET_DIR=../../target/bench-bare cargo build --release -q)

work=$(mktemp -d)
cleanup() {
  [ -n "${KW_PID:-}" ] && kill "$KW_PID" 2>/dev/null || true
  [ -n "${BARE_PID:-}" ] && kill "$BARE_PID" 2>/dev/null || true
  [ -n "${IDP_PID:-}" ] && kill "$IDP_PID" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

bare="http://127.0.0.1:$(free_port)"
BARE_LISTEN=${bare#http://} target/bench-bare/release/keyward-bench-bare >"$work/bare.log" 2>&1 &
BARE_PID=$!
port=$(free_port)
kw="http://127.0.0.1:$port"
IDP_REDIRECT_URIS="$kw/auth/callback" IDP_POST_LOGOUT_REDIRECT_URIS="$kw/" start_idp "$work"
bench_seed "$work/seed.yaml"
# RUST_LOG is unset: Keyward's default filter, one `response` line per request.
env -u RUST_LOG KEYWARD_LISTEN=127.0.0.1:$port DATABASE_URL="sqlite://$work/keyward.db?mode=rwc" \
  KEYWARD_CORS_ORIGINS=https://spa.example.com,https://admin.example.com \
  KEYWARD_RATE_LIMIT_PER_MINUTE=4000000000 KEYWARD_RATE_LIMIT_BURST=4000000000 \
  KEYWARD_OIDC_ISSUER="$issuer" KEYWARD_OIDC_CLIENT_ID=keyward KEYWARD_OIDC_CLIENT_SECRET=keyward-secret \
  KEYWARD_RBAC_SEED="$work/seed.yaml" "$kw_bin" serve >"$work/keyward.log" 2>&1 &
KW_PID=$!
wait_ready "$kw/healthz" "$KW_PID" "$work/keyward.log"
wait_ready "$bare/healthz" "$BARE_PID" "$work/bare.log"

token=$(api_token "$kw" "$work")
auth="Authorization: Bearer $token"
shape() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(sorted(d), len(d["roles"]), len(d["permissions"]))'; }
for path in /api/v1/me /api/v1/me-direct; do
  [ "$(curl -s -H "$auth" "$kw/api/v1/me" | shape)" = "$(curl -s -H "$auth" "$bare$path" | shape)" ] ||
    { echo "bare $path does not have Keyward's shape" >&2; exit 1; }
done
echo "cores: $(nproc)   load: $(cut -d' ' -f1-3 /proc/loadavg)   wrk -t1 -c64 -d${secs}s, $rounds rounds, SQLite"

run() { wrk_run "$1$2" 1 "$secs" "${3:-}"; } # base path [header] -> "rps p99_ms"
for i in $(seq 1 "$rounds"); do
  bh=$(run "$bare" /healthz); kh=$(run "$kw" /healthz)
  bm=$(run "$bare" /api/v1/me "$auth"); km=$(run "$kw" /api/v1/me "$auth")
  bd=$(run "$bare" /api/v1/me-direct "$auth")
  echo "round $i (req/s p99-ms): bare /healthz $bh, keyward /healthz $kh, bare /me $bm, keyward /me $km, bare /me-direct $bd"
  echo "$bh" >>"$work/bh"; echo "$kh" >>"$work/kh"; echo "$bm" >>"$work/bm"; echo "$km" >>"$work/km"
  echo "$bd" >>"$work/bd"
done
if curl -s "$kw/metrics" | grep -q '^keyward_rate_limit_rejections_total'; then
  echo "Keyward answered 429" >&2; exit 1
fi
if [ -n "${EDGE_PERF:-}" ]; then
  for ep in healthz me; do
    perf record ${EDGE_PERF_ARGS:--g} -o "$EDGE_PERF/$ep.data" -p "$KW_PID" -- sleep "$secs" 2>/dev/null &
    perf_pid=$!
    if [ $ep = me ]; then run "$kw" /api/v1/me "$auth" >/dev/null; else run "$kw" /healthz >/dev/null; fi
    wait "$perf_pid" || true
  done
  echo "profiles: $EDGE_PERF/healthz.data $EDGE_PERF/me.data (perf report -i ... --no-children)"
fi

python3 - "$work" <<'PY'
import statistics, sys
d = sys.argv[1]
m = {k: [tuple(map(float, l.split())) for l in open(f"{d}/{k}")] for k in ("bh", "kh", "bm", "km", "bd")}
med = {k: (statistics.median(r for r, _ in v), statistics.median(p for _, p in v)) for k, v in m.items()}
print(f"{'median':<12}{'bare req/s':>12}{'p99':>10}{'keyward req/s':>15}{'p99':>10}{'ratio':>8}")
for name, b, k in (("/healthz", "bh", "kh"), ("/api/v1/me", "bm", "km")):
    print(f"{name:<12}{med[b][0]:>12.0f}{med[b][1]:>8.2f}ms{med[k][0]:>15.0f}{med[k][1]:>8.2f}ms{med[k][0] / med[b][0]:>8.2f}")
goals = (
    ("/api/v1/me req/s, Keyward/bare", med["km"][0] / med["bm"][0], ">=", 0.6),
    ("/healthz req/s, Keyward/bare", med["kh"][0] / med["bh"][0], ">=", 0.7),
    ("/api/v1/me p99, Keyward/bare", med["km"][1] / med["bm"][1], "<=", 1.5),
)
for what, v, op, goal in goals:
    ok = v >= goal if op == ">=" else v <= goal
    print(f"{what}: {v:.2f} (goal {op} {goal}) {'reached' if ok else 'NOT reached'}")
# Keyward's /me writes its JSON straight from the cached access; bare /me builds poem-openapi's document first.
# Against a bare /me that writes straight too, only the edge differs.
print(f"strict: bare /me-direct {med['bd'][0]:.0f} req/s p99 {med['bd'][1]:.2f}ms; Keyward /me / bare /me-direct: "
      f"{med['km'][0] / med['bd'][0]:.2f} req/s, p99 {med['km'][1] / med['bd'][1]:.2f}")
PY
