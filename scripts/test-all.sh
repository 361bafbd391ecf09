#!/usr/bin/env bash
# `npm test`: every tier, the real-Slurm one included. Never skips a tier silently: if Slurm
# cannot be installed or started here, it stops and says what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--experimental-vm-modules"
jest=(node_modules/.bin/jest --ci)
step() { printf '\n=== %s\n' "$*"; }

step "type check (sources and tests)"
node_modules/.bin/tsc --noEmit -p tsconfig.json
step "lint (prettier, knip, eslint: the house rules in docs/architecture.md)"
npm run --silent lint
step "build"
node_modules/.bin/tsc -p tsconfig.build.json

step "unit tests"
"${jest[@]}" --selectProjects unit
step "e2e tests (fake Slurm, fake GitHub)"
"${jest[@]}" --selectProjects e2e --runInBand

step "local Slurm"
# One private cluster for the whole run, in SLURM_LOCAL_DIR (default /tmp/eessi-bot-slurm).
# A cluster already running there (a developer's) is used as it is and left running; one this
# script starts is stopped at the end, and only that one.
export SLURM_LOCAL_DIR="${SLURM_LOCAL_DIR:-/tmp/eessi-bot-slurm}"
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    scripts/dev/slurm-local.sh install
  else
    echo "Slurm is not installed: the real-Slurm tests need Debian's slurmctld slurmd slurm-client munge" >&2
    echo "(as root: scripts/dev/slurm-local.sh install), then run npm test again." >&2
    exit 2
  fi
fi
if scripts/dev/slurm-local.sh status >/dev/null 2>&1; then
  echo "using the local Slurm already running in $SLURM_LOCAL_DIR"
else
  trap 'scripts/dev/slurm-local.sh stop >/dev/null 2>&1 || true' EXIT
  scripts/dev/slurm-local.sh start
fi
export SLURM_CONF="$SLURM_LOCAL_DIR/etc/slurm.conf"
step "real-Slurm tests"
"${jest[@]}" --selectProjects slurm --runInBand
