#!/usr/bin/env bash
# The test command: sets up everything it needs on a fresh Debian/Ubuntu machine, then runs
# lint, type-check and every tier (unit, tools, integration, vm; see package.json), as root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
npm ci --no-audit --no-fund --loglevel=error
MOAT_OPENCLAW_PREFIX=$(bash scripts/openclaw-validator.sh)
export MOAT_OPENCLAW_PREFIX
npm test
