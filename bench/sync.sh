#!/usr/bin/env bash
# The user sync at scale: 100 000 users from the test provider's admin API into an empty database, then the
# same sync again with nothing changed. Not part of CI (CI runs the 1 000-user smoke test).
#
#   bench/sync.sh [sqlite|postgres] [page size] [keycloak|authentik] [users]   (defaults: sqlite 500 keycloak 100000)
#
# Runs `keyward sync run` (release build) with KEYWARD_SYNC_CREATE_USERS=true under /usr/bin/time and prints,
# for each run, the wall time the run recorded, the time the provider took to list (the listing runs alongside
# the database work, so the two overlap), Keyward's share (the run's time beyond the provider's listing) and the
# process's peak resident memory. SYNC_BENCH_RUNS picks the runs (default: first second stale unchanged; the
# 1 000 000-user runs take minutes each, so `SYNC_BENCH_RUNS="first unchanged"` there).
# Goals at 100 000 users: every run under 30 s, peak RSS under 150 MB, an unchanged run at least 3x faster than
# the first. At 1 000 000: Keyward's share at most 12x, and peak RSS at most 3x, the 100 000-user run's.
# KEYWARD_BIN=PATH runs that Keyward binary instead of building one; SYNC_PERF=DIR also records each run with
# `perf record -g` into DIR/RUN.data (then peak RSS is perf's, not Keyward's); SYNC_BENCH_LOGS=DIR keeps each run's
# JSON log as DIR/RUN.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
db=${1:-sqlite}
page_size=${2:-500}
layout=${3:-keycloak}
users=${4:-100000}
[ -x /usr/bin/time ] || { apt-get update -q && apt-get install -y -q time >/dev/null; }
source bench/idp.sh
kw_bin=${KEYWARD_BIN:-target/release/keyward}
[ -n "${KEYWARD_BIN:-}" ] || cargo build --release -q --bin keyward
profile=()
if [ -n "${SYNC_PERF:-}" ]; then
  mkdir -p "$SYNC_PERF"
  profile=(perf record -g -o)
fi
source scripts/pg.sh
work=$(mktemp -d)
cleanup() {
  [ -n "${IDP_PID:-}" ] && kill "$IDP_PID" 2>/dev/null || true
  [ "$db" = postgres ] && pg_down
  rm -rf "$work"
}
trap cleanup EXIT

IDP_LAYOUT=$layout IDP_GENERATED_USERS=$users start_idp "$work"
if [ "$db" = postgres ]; then
  pg_up >/dev/null
  database_url=$KEYWARD_TEST_PG_URL
else
  database_url="sqlite://$work/keyward.db?mode=rwc"
fi
export DATABASE_URL=$database_url KEYWARD_OIDC_ISSUER=$issuer KEYWARD_OIDC_CLIENT_ID=keyward \
  KEYWARD_OIDC_CLIENT_SECRET=keyward-secret KEYWARD_IDP_ADMIN_TOKEN=authentik-admin-token \
  KEYWARD_SYNC_CREATE_USERS=true KEYWARD_SYNC_PAGE_SIZE=$page_size RUST_LOG=warn,keyward::sync=info \
  KEYWARD_LOG_FORMAT=json
"$kw_bin" migrate >/dev/null 2>&1

stale() { # every local user's metadata goes out of date, as after a mass rename at the provider
  local sql="UPDATE users SET display_name = 'stale', updated_at = updated_at"
  if [ "$db" = postgres ]; then psql -q "$database_url" -c "$sql"
  else python3 -c "import sqlite3; c = sqlite3.connect('$work/keyward.db'); c.execute(\"$sql\"); c.commit()"; fi
}

echo "sync bench: $users users, $layout layout, page size $page_size, $db"
echo "runs: first (empty database: creates everyone), second (nothing changed), stale (every user's metadata out of date), unchanged (nothing changed)"
runs=${SYNC_BENCH_RUNS:-first second stale unchanged}
for run in $runs; do
  [ "$run" = stale ] && stale
  /usr/bin/time -f '%M %e' -o "$work/time" ${profile[@]+"${profile[@]}" "$SYNC_PERF/$run.data"} "$kw_bin" sync run >"$work/out" 2>"$work/log"
  read -r rss_kb wall <"$work/time"
  if [ -n "${SYNC_BENCH_LOGS:-}" ]; then mkdir -p "$SYNC_BENCH_LOGS" && cp "$work/out" "$SYNC_BENCH_LOGS/$run.jsonl"; fi
  # stdout holds the JSON log lines and, last, the run summary.
  summary=$(grep -v '^{' "$work/out" | tail -1)
  # The run's own log line: its time in seconds, and how long the provider and the database took (they
  # overlap: the provider lists while the database works).
  read -r took listing database < <(grep 'user sync succeeded' "$work/out" | python3 -c '
import json, sys
f = json.loads(sys.stdin.readline())["fields"]
print("%.2f %.2f %.2f" % (f["seconds"], f["provider_seconds"], f["database_seconds"]))')
  echo "$run run: $(echo "$summary" | sed -E 's/^[0-9a-f-]+ //; s/ started [^ ]+//')"
  share=$(python3 -c "print('%.2f' % max(0.0, $took - $listing))")
  echo "$run run: sync ${took} s (provider ${listing} s, database ${database} s; process ${wall} s), Keyward's share ${share} s, peak RSS $((rss_kb / 1024)) MB"
  echo "$took" >"$work/$run"
  echo "$listing" >"$work/$run.listing"
done
python3 -c "
r = {k: float(open('$work/' + k).read()) for k in '$runs'.split()}
if {'first', 'second', 'stale', 'unchanged'} <= r.keys():
    print(f'unchanged run {r[\"first\"] / r[\"second\"]:.1f}x faster than the creating run, {r[\"stale\"] / r[\"unchanged\"]:.1f}x faster than the updating run')
if 'unchanged' in r:
    listing = float(open('$work/unchanged.listing').read())
    print(f'the provider alone took {listing:.2f} s of the unchanged run\'s {r[\"unchanged\"]:.2f} s to list the users')"
