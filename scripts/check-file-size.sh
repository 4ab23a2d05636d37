#!/usr/bin/env bash
# Fails when a Rust source file has more than 400 lines before its inline `#[cfg(test)]` module (blank lines
# and comments count too), so that files stay split by responsibility. Test files (tests/) may be longer.
set -euo pipefail
cd "$(dirname "$0")/.."
limit=400
over=0
while IFS= read -r f; do
  n=$(awk '/^#\[cfg\(test\)\]/{exit} {n++} END{print n+0}' "$f")
  if [ "$n" -gt "$limit" ]; then
    echo "$f: $n lines before its tests (limit $limit): split it by responsibility" >&2
    over=1
  fi
done < <(find src entity/src migration/src -name '*.rs' | sort)
[ "$over" -eq 0 ] && echo "source files: none over $limit lines"
exit "$over"
