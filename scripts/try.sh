#!/usr/bin/env bash
# The main job on the local default: write an example moat.yaml for the lab target, validate it,
# render the bundle, and check the firewall with the real nft in a throwaway network namespace.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
npm ci --no-audit --no-fund --loglevel=error
mkdir -p try
moat() { node bin/moat.js "$@"; }
[ -f try/moat.yaml ] || moat init --yes --target lab -c try/moat.yaml
moat validate -c try/moat.yaml
moat render -c try/moat.yaml --out try/bundle --json
ns="moat-try-$$"
ip netns add "$ns"
trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
for rules in try/bundle/nftables/*.nft; do
  ip netns exec "$ns" nft -c -f "$rules"
  echo "✓ $rules passes nft -c (checked in a throwaway namespace)"
done
