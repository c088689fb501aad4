#!/usr/bin/env bash
# npm run bench -- <name> [options]: runs bench/<name>.ts (see bench/README.md); without a name, lists them.
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:-}
if [ -z "$name" ] || [ ! -f "bench/$name.ts" ] || [ "$name" = send-child ]; then
  echo "usage: npm run bench -- <name> [options]   (bench/README.md)" >&2
  for f in bench/*.ts; do n=$(basename "$f" .ts); [ "$n" = send-child ] || echo "  $n" >&2; done
  [ -z "$name" ] && exit 0 || exit 2
fi
shift
exec node --import tsx "bench/$name.ts" "$@"
