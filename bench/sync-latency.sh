#!/usr/bin/env bash
# The user sync against a provider that is slow to answer, as a real Keycloak or Authentik with many users is: every
# admin API page takes an extra 50 ms at the test provider (its `slow_ms` fault), and the same unchanged sync is
# timed with 1, 4 (the default) and 8 pages requested at once (KEYWARD_SYNC_CONCURRENCY). Not part of CI.
#
#   bench/sync-latency.sh [keycloak|authentik] [users] [page size] [ms per page]   (defaults: keycloak 20000 100 50)
set -euo pipefail
cd "$(dirname "$0")/.."
layout=${1:-keycloak}
users=${2:-20000}
page_size=${3:-100}
slow_ms=${4:-50}
source bench/idp.sh
cargo build --release -q
work=$(mktemp -d)
cleanup() {
  [ -n "${IDP_PID:-}" ] && kill "$IDP_PID" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

IDP_LAYOUT=$layout IDP_GENERATED_USERS=$users start_idp "$work"
origin=$(echo "$issuer" | sed -E 's#^(https?://[^/]+).*#\1#')
export DATABASE_URL="sqlite://$work/keyward.db?mode=rwc" KEYWARD_OIDC_ISSUER=$issuer KEYWARD_OIDC_CLIENT_ID=keyward \
  KEYWARD_OIDC_CLIENT_SECRET=keyward-secret KEYWARD_IDP_ADMIN_TOKEN=authentik-admin-token \
  KEYWARD_SYNC_CREATE_USERS=true KEYWARD_SYNC_PAGE_SIZE=$page_size RUST_LOG=warn
target/release/keyward migrate >/dev/null 2>&1
target/release/keyward sync run >/dev/null # creates everyone, at full speed
curl -sf -X POST -H 'content-type: application/json' -d "{\"slow_ms\": $slow_ms}" "$origin/__control/faults" >/dev/null

echo "sync latency bench: $users users, $layout layout, page size $page_size, +$slow_ms ms a page, SQLite"
for round in 1 2; do
  for concurrency in 1 4 8; do
    summary=$(KEYWARD_SYNC_CONCURRENCY=$concurrency target/release/keyward sync run | tail -1)
    echo "round $round, concurrency $concurrency: $(echo "$summary" | sed -E 's/^[0-9a-f-]+ //; s/ started [^ ]+//')"
  done
done
