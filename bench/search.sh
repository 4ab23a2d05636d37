#!/usr/bin/env bash
# The admin user search with a million local users: `?email=<substring>` and `?role=<name>`, first page with an
# exact total, and `/api/v1/me` with a million rows against an (almost) empty users table.
#
#   bench/search.sh [sqlite|postgres] [users] [seconds]     (defaults: sqlite 1000000 10; not part of CI)
#
# Starts the test identity provider and a release Keyward (rate limiting off), logs alice in and takes an API
# token as bench/rbac.sh does, measures `/api/v1/me`, then fills `users` by direct SQL (far faster than a sync):
# user N's email is `userNNNNNNN.<tag>@example.com` with one of 100 tags, so a piece of 3 or more letters of a tag
# matches about 1 % of users, and every 100th user holds the role `searchers`; then ANALYZE, as an operator would
# after a bulk load (PostgreSQL's autovacuum does it by itself some time later). Then wrk (1 thread, SEARCH_CONNS
# connections, default 1) cycles through several substrings with a Lua script, asks `?role=searchers` and a
# 2-letter substring (which scans), and measures `/api/v1/me` again (64 connections); SEARCH_ROUNDS runs of each
# (default 3), medians. Goal: search p99 < 100 ms, `/me` throughput unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
db=${1:-sqlite}
users=${2:-1000000}
secs=${3:-10}
conns=${SEARCH_CONNS:-1}
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
printf 'roles:\n  - name: searchers\n    description: held by every 100th bench user\n    permissions: []\n' \
  >"$work/seed.yaml"
# SEARCH_PG_SHARED_BUFFERS (e.g. 1GB) sizes PostgreSQL's shared_buffers; unset, PostgreSQL's default (128 MB).
if [ "$db" = postgres ]; then
  PG_SETTINGS=${SEARCH_PG_SHARED_BUFFERS:+"-c shared_buffers=$SEARCH_PG_SHARED_BUFFERS"} pg_up >/dev/null
  database_url=$KEYWARD_TEST_PG_URL
else
  database_url="sqlite://$work/keyward.db?mode=rwc"
fi
KEYWARD_LISTEN=127.0.0.1:$port DATABASE_URL="$database_url" KEYWARD_RATE_LIMIT_PER_MINUTE=0 \
  KEYWARD_AUTH_RATE_LIMIT_PER_MINUTE=0 KEYWARD_OIDC_ISSUER="$issuer" KEYWARD_OIDC_CLIENT_ID=keyward \
  KEYWARD_OIDC_CLIENT_SECRET=keyward-secret KEYWARD_RBAC_SEED="$work/seed.yaml" \
  KEYWARD_BOOTSTRAP_ADMINS=alice@example.com RUST_LOG=warn \
  target/release/keyward serve >"$work/keyward.log" 2>&1 &
KW_PID=$!
wait_ready "$kw/healthz" "$KW_PID" "$work/keyward.log"

token=$(api_token "$kw" "$work")
auth="Authorization: Bearer $token"

# `search_run CONNECTIONS PATH-OR-LUA-SCRIPT`: prints "req/s p50_ms p99_ms"; fails on any non-2xx answer.
search_run() {
  local out non2xx
  if [[ "$2" == *.lua ]]; then out=$(wrk -t1 -c"$1" -d"${secs}s" --latency -H "$auth" -s "$2" "$kw")
  else out=$(wrk -t1 -c"$1" -d"${secs}s" --latency -H "$auth" "$kw$2"); fi
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  [ -z "$non2xx" ] || { echo "non-2xx answers during $2: $non2xx" >&2; exit 1; }
  echo "$out" | awk '
    function ms(v) { if (v ~ /us$/) { sub(/us/, "", v); return v / 1000 } if (v ~ /ms$/) { sub(/ms/, "", v); return v }
                     sub(/s/, "", v); return v * 1000 }
    /Requests\/sec/ {rps = $2} $1 == "50%" {p50 = ms($2)} $1 == "99%" {p99 = ms($2)}
    END {print rps, p50, p99}'
}
# `measure NAME CONNECTIONS TARGET`: `rounds` runs; appends "NAME median(req/s) median(p50) median(p99) all-p99s".
measure() {
  local i rps=() p50=() p99=() r a b
  for ((i = 0; i < rounds; i++)); do
    read -r r a b < <(search_run "$2" "$3")
    rps+=("$r") p50+=("$a") p99+=("$b")
  done
  results+=("$(printf '%-46s %10s %8s %8s   %s' "$1" "$(printf '%s\n' "${rps[@]}" | median)" \
    "$(printf '%s\n' "${p50[@]}" | median)" "$(printf '%s\n' "${p99[@]}" | median)" "${p99[*]}")")
}
rounds=${SEARCH_ROUNDS:-3}
results=()
wrk -t1 -c64 -d2s -H "$auth" "$kw/api/v1/me" >/dev/null # warm-up: the first seconds of a fresh server run slower
measure "GET /api/v1/me, empty users (c=64)" 64 /api/v1/me

# 100 tags of 6 letters none of which occur in "user" or "example.com", so a tag's pieces match only its users.
tags=$(python3 -c "
import random
r = random.Random(18); letters = 'bdfghijknqtvwyz'; seen = set()
while len(seen) < 100: seen.add(''.join(r.choice(letters) for _ in range(6)))
print(''.join(sorted(seen)))")
started=$(date +%s)
if [ "$db" = postgres ]; then
  psql -q "$database_url" <<SQL
INSERT INTO users (id, issuer, subject, email, email_verified, display_name, username, active, created_at, updated_at)
SELECT gen_random_uuid(), 'https://bench.invalid', 'bench-' || i,
       'user' || lpad(i::text, 7, '0') || '.' || substr('$tags', (i % 100) * 6 + 1, 6) || '@example.com',
       true, 'User ' || i, 'user' || i, true,
       timestamptz '2024-01-01' + i * interval '1 second', timestamptz '2024-01-01' + i * interval '1 second'
FROM generate_series(1, $users) AS i;
INSERT INTO user_roles (user_id, role_id, source, granted_at)
SELECT u.id, r.id, 'manual', now() FROM users u, roles r
WHERE r.name = 'searchers' AND u.subject LIKE 'bench-%' AND substr(u.subject, 7)::int % 100 = 37;
ANALYZE;
SQL
else
  sqlite3 "$work/keyward.db" >/dev/null <<SQL
PRAGMA busy_timeout = 60000;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $users)
INSERT INTO users (id, issuer, subject, email, email_verified, display_name, username, active, created_at, updated_at)
SELECT randomblob(16), 'https://bench.invalid', 'bench-' || i,
       printf('user%07d.%s@example.com', i, substr('$tags', (i % 100) * 6 + 1, 6)),
       1, 'User ' || i, 'user' || i, 1,
       strftime('%Y-%m-%dT%H:%M:%S', '2024-01-01', '+' || i || ' seconds') || '.000000000+00:00',
       strftime('%Y-%m-%dT%H:%M:%S', '2024-01-01', '+' || i || ' seconds') || '.000000000+00:00'
FROM n;
INSERT INTO user_roles (user_id, role_id, source, granted_at)
SELECT u.id, r.id, 'manual', u.created_at FROM users u, roles r
WHERE r.name = 'searchers' AND u.subject LIKE 'bench-%' AND CAST(substr(u.subject, 7) AS INTEGER) % 100 = 37;
COMMIT;
ANALYZE;
SQL
fi
fill=$(($(date +%s) - started))

# Pieces of 3 to 6 letters of ten tags, each matching about 1 % of users.
python3 - "$tags" >"$work/email.lua" <<'PY'
import sys
tags = [sys.argv[1][i:i + 6] for i in range(0, 600, 6)]
needles = []
for k, t in enumerate(tags[:40:4]):
    piece = t[k % 4:k % 4 + 3 + k % 4] if k % 2 else t
    needles.append(piece if sum(piece in u for u in tags) == 1 else t)
paths = ", ".join(f'"/api/v1/users?email={n}"' for n in needles)
print(f"local paths = {{{paths}}}\nlocal i = 0\n"
      "request = function() i = i % #paths + 1; return wrk.format('GET', paths[i]) end")
PY
needles=$(grep -o 'email=[a-z]*' "$work/email.lua" | cut -d= -f2 | tr '\n' ' ')
totals=""
for n in $needles; do
  totals+="$n=$(curl -s -H "$auth" "$kw/api/v1/users?email=$n" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])') "
done
role_total=$(curl -s -H "$auth" "$kw/api/v1/users?role=searchers" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
# Two letters: the trigram index cannot answer, the listing scans (README says so).
short=${tags:0:2}
short_total=$(curl -s -H "$auth" "$kw/api/v1/users?email=$short" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
measure "GET /api/v1/users?email=<3-6 letters> (c=$conns)" "$conns" "$work/email.lua"
measure "GET /api/v1/users?role=searchers (c=$conns)" "$conns" "/api/v1/users?role=searchers"
measure "GET /api/v1/users?email=$short (scan) (c=$conns)" "$conns" "/api/v1/users?email=$short"
measure "GET /api/v1/me, $users users (c=64)" 64 /api/v1/me

label=$db
[ "$db" != postgres ] || label="postgres (shared_buffers $(psql -Atq "$database_url" -c 'SHOW shared_buffers'))"
echo "search bench: $label, $users users filled in ${fill}s, $rounds rounds of ${secs}s, medians; load: $(uptime | sed 's/.*load average/load average/')"
echo "email totals (first page, exact): $totals"
echo "role searchers total: $role_total; email=$short total: $short_total"
printf '%-46s %10s %8s %8s   %s\n' "request" "req/s" "p50 ms" "p99 ms" "p99 of each round"
printf '%s\n' "${results[@]}"
echo "goals: search (3+ characters, role) p99 < 100 ms; /me with $users users within noise of the empty table"
