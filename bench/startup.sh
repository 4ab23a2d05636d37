#!/usr/bin/env bash
# Start-up to first served request, and idle resident memory, of a release build on a fresh SQLite database.
# Usage: bench/startup.sh [runs]   (build first: cargo build --release). Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/target/release/keyward
runs=${1:-5}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
for i in $(seq 1 "$runs"); do
  dir=$(mktemp -d)
  start=$(date +%s%N)
  (cd "$dir" && KEYWARD_LISTEN=127.0.0.1:$port RUST_LOG=warn exec "$bin" serve) &
  pid=$!
  until curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do sleep 0.005; done
  end=$(date +%s%N)
  for _ in $(seq 1 20); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null; done
  sleep 1
  rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  echo "run $i: first request served after $(( (end - start) / 1000000 )) ms; idle RSS ${rss} KiB"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
done
