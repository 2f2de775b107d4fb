#!/usr/bin/env bash
# The main job on the local default: `moat lab` — a simulated free-tier VM on this machine
# (network namespaces, a metadata service behind OCI's ACCEPT chain, a fake internet) running the
# example moat.yaml's OpenClaw behind the whole perimeter, converged by `moat host apply` and
# proven by `moat verify`. It stays up to look at; `node bin/moat.js lab down -c try/moat.yaml`
# removes everything it made.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
npm ci --no-audit --no-fund --loglevel=error
# The pinned OpenClaw and its Node 24, from the npm registry (once; shared with the tests).
MOAT_OPENCLAW_PREFIX="$(bash scripts/openclaw-validator.sh)"
export MOAT_OPENCLAW_PREFIX
mkdir -p try
moat() { node bin/moat.js "$@"; }
[ -f try/moat.yaml ] || moat init --yes --target lab -c try/moat.yaml
moat validate -c try/moat.yaml
moat render -c try/moat.yaml --out try/bundle
moat lab down -c try/moat.yaml >/dev/null
moat lab up -c try/moat.yaml
