#!/usr/bin/env bash
# The cluster test: two release instances of Keyward on one throwaway PostgreSQL, one Redis for the rate-limit
# budget, the test identity provider, and HAProxy (Debian's package) in front: round-robin, no stickiness, health
# checks on /readyz, `option forwardfor`. Through the balancer it runs a browser-less login whose callback lands
# on the other instance, API tokens and sessions on both, an RBAC change (time until both instances see it), one
# manual sync, a back-channel logout received by one instance and seen by the other, one shared rate-limit budget;
# then, under wrk load: kill -9 of the instance running a sync (requests failed, the takeover run), a rolling
# restart with HAProxy retries off (must fail nothing), and throughput through the balancer against one instance.
#
#   scripts/cluster-test.sh                 (README's test command runs it; about 1.5 minutes after the release build)
#   scripts/cluster-test.sh --install-only  (only installs what it needs: haproxy, wrk, jq, redis-server, curl)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

missing=()
for tool in haproxy wrk jq redis-server curl; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]/redis-server/redis-server} from Debian's packages" >&2
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
[ "${1:-}" = --install-only ] && exit 0
cargo build --release -q
bin=$root/target/release/keyward

source scripts/pg.sh
source bench/idp.sh
work=$(mktemp -d /tmp/keyward-cluster.XXXXXX)
declare -A PID PORT
cleanup() {
  for p in "${PID[@]}" "${IDP_PID:-}" "${HAPROXY_PID:-}" "${REDIS_PID:-}" "${WRK_PID:-}"; do
    [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true
  done
  pg_down >/dev/null 2>&1 || true
  if [ "${keep_work:-0}" = 1 ]; then echo "logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
fail() {
  echo "cluster test FAILED: $*" >&2
  for f in "$work"/*.log; do echo "--- $f (last lines)" >&2; tail -n 15 "$f" >&2; done
  keep_work=1
  exit 1
}
now_ms() { date +%s%3N; }

PORT[a]=$(free_port); PORT[b]=$(free_port)
lb_port=$(free_port); lb0_port=$(free_port); stats_port=$(free_port); redis_port=$(free_port)
lb=http://127.0.0.1:$lb_port       # what clients use: retries on connection failures, as deploy/ configures
lb0=http://127.0.0.1:$lb0_port     # the same servers with retries off: the rolling restart tests Keyward's drain
direct() { echo "http://127.0.0.1:${PORT[$1]}"; }

# --- the parts ---------------------------------------------------------------------------------------------------
pg_up >/dev/null 2>&1
psql -q "$KEYWARD_TEST_PG_URL" -c 'CREATE DATABASE keyward_cluster'
database_url=${KEYWARD_TEST_PG_URL%/postgres}/keyward_cluster

redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no >"$work/redis.log" 2>&1 &
REDIS_PID=$!

# The provider posts logout tokens to instance a only: the other instance must learn of it through the database.
IDP_REDIRECT_URIS=$lb/auth/callback IDP_POST_LOGOUT_REDIRECT_URIS=$lb/ \
  IDP_BACKCHANNEL_LOGOUT_URI=$(direct a)/auth/backchannel-logout start_idp "$work"
idp=${issuer%/realms/*}

# Budgets: the global one (per user) high enough that wrk never sees 429; the /auth one small, to show it is one
# budget across both instances. A sync lease of 3 s so that a killed instance's run is taken over quickly; a drain
# of 3 s, more than HAProxy's check interval (1 s) x fall (2).
auth_per_minute=120 auth_burst=20
start_instance() { # name
  local name=$1
  (export DATABASE_URL=$database_url KEYWARD_LISTEN=127.0.0.1:${PORT[$name]} KEYWARD_PUBLIC_URL=$lb \
    KEYWARD_TRUSTED_PROXIES=127.0.0.1/32 KEYWARD_RATE_LIMIT_STORE=redis://127.0.0.1:$redis_port \
    KEYWARD_RATE_LIMIT_PER_MINUTE=60000000 KEYWARD_RATE_LIMIT_BURST=1000000 \
    KEYWARD_AUTH_RATE_LIMIT_PER_MINUTE=$auth_per_minute KEYWARD_AUTH_RATE_LIMIT_BURST=$auth_burst \
    KEYWARD_OIDC_ISSUER=$issuer KEYWARD_OIDC_CLIENT_ID=keyward KEYWARD_OIDC_CLIENT_SECRET=keyward-secret \
    KEYWARD_BOOTSTRAP_ADMINS=alice@example.com KEYWARD_SYNC_LEASE_TTL=3s KEYWARD_SYNC_PAGE_SIZE=2 \
    KEYWARD_SHUTDOWN_DRAIN=3s KEYWARD_LOG_FORMAT=json RUST_LOG=warn,keyward::sync=info,keyward::app=info
    exec "$bin" serve >>"$work/$name.log" 2>&1) &
  PID[$name]=$!
  local i
  for i in $(seq 1 100); do
    curl -fs "$(direct "$name")/readyz" >/dev/null 2>&1 && return 0
    kill -0 "${PID[$name]}" 2>/dev/null || fail "instance $name exited at start"
    sleep 0.1
  done
  fail "instance $name not ready after 10 s"
}
start_instance a
start_instance b

cat >"$work/haproxy.cfg" <<EOF
global
  maxconn 4096
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  option forwardfor
  default-server check inter 1s fall 2 rise 2
backend keyward
  balance roundrobin
  option httpchk GET /readyz
  retries 3
  retry-on conn-failure
  option redispatch
  http-response set-header X-Served-By %[srv_name]
  server a 127.0.0.1:${PORT[a]}
  server b 127.0.0.1:${PORT[b]}
backend keyward_no_retries
  balance roundrobin
  option httpchk GET /readyz
  retries 0
  server a 127.0.0.1:${PORT[a]}
  server b 127.0.0.1:${PORT[b]}
frontend clients
  bind 127.0.0.1:$lb_port
  default_backend keyward
frontend clients_no_retries
  bind 127.0.0.1:$lb0_port
  default_backend keyward_no_retries
listen stats
  bind 127.0.0.1:$stats_port
  stats enable
  stats uri /stats
EOF
haproxy -c -q -f "$work/haproxy.cfg" || fail "haproxy rejects its configuration"
haproxy -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
HAPROXY_PID=$!
# `status` of server $2 in backend $1 as HAProxy sees it: UP, DOWN, ...
server_status() { curl -s "http://127.0.0.1:$stats_port/stats;csv" | awk -F, -v b="$1" -v s="$2" '$1==b && $2==s {print $18}'; }
wait_status() { # backend server status timeout_s
  local until=$(( $(date +%s) + $4 ))
  while [ "$(server_status "$1" "$2")" != "$3" ]; do
    [ "$(date +%s)" -lt "$until" ] || fail "HAProxy does not see $1/$2 $3 after $4 s (it says $(server_status "$1" "$2"))"
    sleep 0.1
  done
}
for backend in keyward keyward_no_retries; do for s in a b; do wait_status "$backend" "$s" UP 10; done; done
echo "cluster: PostgreSQL, Redis, the test provider, instances a (:${PORT[a]}) and b (:${PORT[b]}), HAProxy on :$lb_port (:$lb0_port without retries)"

# --- a browser-less login through the balancer ----------------------------------------------------------------------
# login USER: leaves the session in $work/USER.jar, the API token in TOKEN[USER], and which servers answered the
# start and the callback in LOGIN_PATH[USER] (`a->b`). The two requests are consecutive on the balancer, so
# round-robin sends them to different instances; that is checked, not assumed.
declare -A TOKEN LOGIN_PATH
login() {
  local user=$1 jar=$work/$1.jar hdr=$work/headers url code next start callback
  rm -f "$jar"
  step() { curl -s -b "$jar" -c "$jar" -D "$hdr" -o "$work/body" -w '%{http_code} %{redirect_url}\n' "$@"; }
  served_by() { tr -d '\r' <"$hdr" | awk 'tolower($1)=="x-served-by:" {print $2}'; }
  read -r _ url < <(step "$lb/auth/login?return_to=/")
  start=$(served_by)
  while [[ "$url" != "$lb/auth/callback"* ]]; do
    read -r code next < <(step "$url")
    if [ "$code" = 200 ] && grep -q 'login-form' "$work/body"; then
      read -r code next < <(step -X POST "$url" --data-urlencode prompt=login --data-urlencode "login=$user" \
        --data-urlencode "password=$user-pw")
    fi
    [ -n "$next" ] || fail "login of $user stuck at $url ($code)"
    url=$next
  done
  read -r code _ < <(step "$url")
  callback=$(served_by)
  [ "$code" = 302 ] || fail "callback for $user answered $code: $(cat "$work/body")"
  LOGIN_PATH[$user]="$start->$callback"
  TOKEN[$user]=$(curl -s -b "$jar" -X POST -H 'X-CSRF: 1' "$lb/auth/token" | jq -r .access_token)
  [ -n "${TOKEN[$user]}" ] && [ "${TOKEN[$user]}" != null ] || fail "no API token for $user"
}
bearer() { echo "Authorization: Bearer ${TOKEN[$1]}"; }
status_of() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

login alice
login bob
for user in alice bob; do
  [[ "${LOGIN_PATH[$user]}" =~ ^(a|b)-\>(a|b)$ ]] && [ "${BASH_REMATCH[1]}" != "${BASH_REMATCH[2]}" ] ||
    fail "login of $user did not cross instances (${LOGIN_PATH[$user]})"
done
echo "login: alice ${LOGIN_PATH[alice]}, bob ${LOGIN_PATH[bob]} (started on one instance, callback on the other)"

# The session and the API token work on both instances.
for s in a b; do
  [ "$(curl -s -b "$work/bob.jar" "$(direct $s)/auth/session" | jq -r .authenticated)" = true ] ||
    fail "bob's session unknown to instance $s"
  [ "$(status_of -H "$(bearer bob)" "$(direct $s)/api/v1/me")" = 200 ] || fail "bob's API token refused by $s"
done
echo "sessions and API tokens: accepted by both instances"

# --- an RBAC change, seen by both instances -------------------------------------------------------------------------
bob_id=$(curl -s -H "$(bearer bob)" "$lb/api/v1/me" | jq -r .id)
[ "$(status_of -X POST -H "$(bearer alice)" -H 'content-type: application/json' \
  -d '{"name":"cluster-probe","permissions":["users:read"]}' "$lb/api/v1/roles")" = 201 ] || fail "role not created"
before=$(now_ms)
[ "$(status_of -X PUT -H "$(bearer alice)" -H 'content-type: application/json' -d '{"roles":["cluster-probe"]}' \
  "$lb/api/v1/users/$bob_id/roles")" = 200 ] || fail "role not granted"
declare -A SEEN=([a]='' [b]='')
while [ -z "${SEEN[a]}" ] || [ -z "${SEEN[b]}" ]; do
  for s in a b; do
    [ -n "${SEEN[$s]}" ] && continue
    if [ "$(status_of -H "$(bearer bob)" "$(direct $s)/api/v1/users?per_page=1")" = 200 ]; then
      SEEN[$s]=$(( $(now_ms) - before ))
    fi
  done
  [ $(( $(now_ms) - before )) -lt 5000 ] || fail "RBAC change not seen by both instances within 5 s (a: ${SEEN[a]:-no}, b: ${SEEN[b]:-no})"
  sleep 0.02
done
rbac_ms=$(( SEEN[a] > SEEN[b] ? SEEN[a] : SEEN[b] ))
echo "RBAC propagation: bob's new permission used on a after ${SEEN[a]} ms, on b after ${SEEN[b]} ms (max $rbac_ms ms; limit 5000)"

# --- one manual sync ----------------------------------------------------------------------------------------------
runs_before=$(curl -s -H "$(bearer alice)" "$lb/api/v1/sync/runs" | jq .total)
code=$(curl -s -X POST -H "$(bearer alice)" -o "$work/run.json" -w '%{http_code}' "$lb/api/v1/sync/runs")
[ "$code" = 202 ] || fail "manual sync not started ($code): $(cat "$work/run.json")"
second=$(status_of -X POST -H "$(bearer alice)" "$lb/api/v1/sync/runs") # round-robin: the other instance
run_id=$(jq -r .id "$work/run.json")
for _ in $(seq 1 300); do
  status=$(curl -s -H "$(bearer alice)" "$lb/api/v1/sync/runs/$run_id" | jq -r .status)
  [ "$status" != running ] && break
  sleep 0.1
done
runs_after=$(curl -s -H "$(bearer alice)" "$lb/api/v1/sync/runs" | jq .total)
[ "$status" = succeeded ] && [ "$second" = 409 ] && [ $((runs_after - runs_before)) = 1 ] ||
  fail "manual sync: status $status, a second start on b answered $second, runs $runs_before -> $runs_after"
echo "manual sync: one run ($status); a start on the other instance meanwhile answered 409"

# --- back-channel logout: the provider tells instance a, instance b refuses ---------------------------------------
bob_jar=$work/bob.jar
end_session=$(curl -s "$issuer/.well-known/openid-configuration" | jq -r .end_session_endpoint)
curl -s -b "$bob_jar" -c "$bob_jar" -o "$work/logout.html" \
  "$end_session?client_id=keyward&post_logout_redirect_uri=$(jq -rn --arg u "$lb/" '$u|@uri')"
xsrf=$(sed -nE 's/.*name="xsrf" value="([^"]+)".*/\1/p' "$work/logout.html" | head -n 1)
action=$(sed -nE 's/.*id="op.logoutForm"[^>]*action="([^"]+)".*/\1/p; s/.*action="([^"]+)"[^>]*id="op.logoutForm".*/\1/p' "$work/logout.html" | head -n 1)
[ -n "$xsrf" ] && [ -n "$action" ] || fail "no logout form at the provider: $(head -c 300 "$work/logout.html")"
before=$(now_ms)
code=$(status_of -b "$bob_jar" -c "$bob_jar" -X POST --data-urlencode "xsrf=$xsrf" --data-urlencode logout=yes "$action")
[ "$code" = 303 ] || [ "$code" = 302 ] || fail "sign-out at the provider answered $code"
while [ "$(status_of -H "$(bearer bob)" "$(direct b)/api/v1/me")" != 401 ]; do
  [ $(( $(now_ms) - before )) -lt 10000 ] || fail "bob's token still accepted by b 10 s after the provider's logout"
  sleep 0.05
done
logout_ms=$(( $(now_ms) - before ))
[ "$(curl -s "$idp/__control/stats" | jq .backchannel_logouts.ok)" -ge 1 ] || fail "the provider sent no logout token"
[ "$(curl -s -b "$bob_jar" "$(direct b)/auth/session" | jq -r .authenticated)" = false ] || fail "bob's session alive on b"
echo "back-channel logout: posted by the provider to a, bob's token refused by b after $logout_ms ms"

# --- one rate-limit budget across both instances ------------------------------------------------------------------
# /auth/session, from one (forwarded) client address, alternately answered by a and b.
outer_start=$(now_ms)
wrk -t1 -c4 -d5s -H 'X-Forwarded-For: 203.0.113.9' "$lb/auth/session" >"$work/wrk-budget.txt"
outer_ms=$(( $(now_ms) - outer_start ))
total=$(awk '/requests in/ {print $1}' "$work/wrk-budget.txt")
seconds=$(awk '/requests in/ {gsub(/s,/, "", $4); print $4}' "$work/wrk-budget.txt")
refused=$(awk '/Non-2xx/ {print $5}' "$work/wrk-budget.txt"); refused=${refused:-0}
allowed=$((total - refused))
budget=$(python3 -c "print(int($auth_burst + $auth_per_minute / 60 * $seconds))")
echo "shared budget: $allowed of $total requests let through in ${seconds}s by two instances; one budget is $auth_burst + $auth_per_minute/min x ${seconds}s = $budget"
# wrk's clock starts after its connections are open, ours before: the budget lies between the two.
most=$(python3 -c "print(int($auth_burst + $auth_per_minute / 60 * $outer_ms / 1000))")
[ $((allowed - most)) -le 1 ] && [ $((budget - allowed)) -le 1 ] ||
  fail "not one budget: $allowed let through, $budget..$most expected (±1)"

# --- kill -9 under load, with a sync running on the killed instance --------------------------------------------
curl -s -X POST -H 'content-type: application/json' -d '{"slow_ms": 8000}' "$idp/__control/faults" >/dev/null
curl -s -X POST -H "$(bearer alice)" -o "$work/run.json" "$(direct a)/api/v1/sync/runs"
killed_run=$(jq -r .id "$work/run.json")
[ "$(jq -r .status "$work/run.json")" = running ] || fail "sync on a not started: $(cat "$work/run.json")"
wrk -t1 -c16 -d12s -H "$(bearer alice)" "$lb/api/v1/me" >"$work/wrk-kill.txt" &
WRK_PID=$!
sleep 3
[ "$(curl -s -H "$(bearer alice)" "$lb/api/v1/sync/runs/$killed_run" | jq -r .status)" = running ] ||
  fail "the sync on a ended before the kill"
kill -9 "${PID[a]}"
killed_at=$(now_ms)
{ wait "${PID[a]}"; } 2>/dev/null || true # reaped quietly: bash would report the kill
wait "$WRK_PID"; WRK_PID=
curl -s -X POST -H 'content-type: application/json' -d '{"slow_ms": null}' "$idp/__control/faults" >/dev/null
failed_requests() { # wrk output file: non-2xx responses + socket errors
  awk '/Non-2xx/ {n += $5} /Socket errors/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$1"
}
kill_total=$(awk '/requests in/ {print $1}' "$work/wrk-kill.txt")
kill_failed=$(failed_requests "$work/wrk-kill.txt")
echo "kill -9 of instance a under load (wrk, 16 connections, 12 s): $kill_failed of $kill_total requests failed"
# The run a held: b sees its lease expire, fails it and starts a takeover run.
takeover=
for _ in $(seq 1 300); do
  takeover=$(curl -s -H "$(bearer alice)" "$(direct b)/api/v1/sync/runs" | jq -c '[.items[] | select(.trigger == "takeover")][0] // empty')
  [ -n "$takeover" ] && [ "$(jq -r .status <<<"$takeover")" != running ] && break
  sleep 0.1
done
[ -n "$takeover" ] || fail "no takeover run after the kill"
killed=$(curl -s -H "$(bearer alice)" "$(direct b)/api/v1/sync/runs/$killed_run")
takeover_after=$(( $(date -d "$(jq -r .started_at <<<"$takeover")" +%s%3N) - killed_at ))
echo "takeover: the killed run is $(jq -r .status <<<"$killed") ($(jq -r .error <<<"$killed")); replacement run started ${takeover_after} ms after the kill, $(jq -r .status <<<"$takeover") (seen $(jq -r .seen <<<"$takeover"))"
[ "$(jq -r .status <<<"$killed")" = failed ] && [ "$(jq -r .status <<<"$takeover")" = succeeded ] ||
  fail "takeover: killed run $(jq -r .status <<<"$killed"), replacement $(jq -r .status <<<"$takeover")"
start_instance a
wait_status keyward a UP 10
wait_status keyward_no_retries a UP 10

# --- rolling restart under load, HAProxy retries off ----------------------------------------------------------
wrk -t1 -c16 -d30s -H "$(bearer alice)" "$lb0/api/v1/me" >"$work/wrk-rolling.txt" &
WRK_PID=$!
sleep 2
rolling_started=$(now_ms)
for s in a b; do
  kill -TERM "${PID[$s]}"
  wait "${PID[$s]}" || true
  start_instance "$s"
  wait_status keyward_no_retries "$s" UP 10
done
rolling_ms=$(( $(now_ms) - rolling_started ))
[ "$rolling_ms" -lt 27000 ] || fail "the rolling restart took ${rolling_ms} ms, longer than the load"
wait "$WRK_PID"; WRK_PID=
rolling_total=$(awk '/requests in/ {print $1}' "$work/wrk-rolling.txt")
rolling_failed=$(failed_requests "$work/wrk-rolling.txt")
echo "rolling restart (SIGTERM a, wait until UP, then b; ${rolling_ms} ms) under load, retries 0: $rolling_failed of $rolling_total requests failed"
[ "$rolling_failed" = 0 ] || { cat "$work/wrk-rolling.txt" >&2; fail "requests failed during the rolling restart"; }

# --- throughput: through the balancer against one instance direct ------------------------------------------------
rps() { awk '/Requests\/sec/ {print $2}' "$1"; }
wrk -t1 -c64 -d8s -H "$(bearer alice)" "$lb/api/v1/me" >"$work/wrk-lb.txt"
wrk -t1 -c64 -d8s -H "$(bearer alice)" "$(direct a)/api/v1/me" >"$work/wrk-direct.txt"
echo "throughput /api/v1/me (wrk -t1 -c64 -d8s, $(nproc) cores for everything): $(rps "$work/wrk-lb.txt") req/s through HAProxy to two instances, $(rps "$work/wrk-direct.txt") req/s to one instance direct"
[ "$(failed_requests "$work/wrk-lb.txt")" = 0 ] || fail "requests failed through the balancer"

echo "cluster test passed"
