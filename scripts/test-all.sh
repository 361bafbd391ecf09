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
step "lint"
node_modules/.bin/eslint "{src,test,bench}/**/*.ts" --max-warnings 0
step "build"
node_modules/.bin/tsc -p tsconfig.build.json

step "unit tests"
"${jest[@]}" --selectProjects unit
step "e2e tests (fake Slurm, fake GitHub)"
"${jest[@]}" --selectProjects e2e --runInBand

step "local Slurm"
slurm_dir="${SLURM_LOCAL_DIR:-$(mktemp -d /tmp/eessi-bot-slurm.XXXXXX)}"
export SLURM_LOCAL_DIR="$slurm_dir"
if ! scripts/dev/slurm-local.sh status >/dev/null 2>&1; then
  if ! command -v slurmctld >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      scripts/dev/slurm-local.sh install
    else
      echo "Slurm is not installed: the real-Slurm tests need Debian's slurmctld slurmd slurm-client munge" >&2
      echo "(as root: scripts/dev/slurm-local.sh install), then run npm test again." >&2
      exit 2
    fi
  fi
fi
trap 'scripts/dev/slurm-local.sh stop >/dev/null 2>&1 || true' EXIT
scripts/dev/slurm-local.sh start
export SLURM_CONF="$slurm_dir/etc/slurm.conf"
step "real-Slurm tests"
"${jest[@]}" --selectProjects slurm --runInBand
