#!/usr/bin/env bash
#
# Example bot/build.sh for eessi-bot: a stand-in for EESSI's real one, which runs EasyBuild in a
# build container. It "installs" what the easystack files list as a few generated files and
# packs them the way the real one does, so the bot's whole flow can be tried in seconds.
#
# Runs in the job directory, started by the bot's job script, which exports EESSI_TMPDIR (a
# private temporary directory, removed after the job), EESSI_OS_TYPE, EESSI_CPU_FAMILY and,
# unless the build is for the generic target, EESSI_SOFTWARE_SUBDIR_OVERRIDE.
#
# To get a failing build: commit a file bot/FAIL, or set EXAMPLE_BUILD_FAIL=1 in the job's
# environment.

set -euo pipefail

readonly EESSI_VERSION=2023.06
: "${EESSI_TMPDIR:?is set by the bot job script; set it to a scratch directory to run this by hand}"

os_type=${EESSI_OS_TYPE:-linux}
if [[ -n ${EESSI_SOFTWARE_SUBDIR_OVERRIDE:-} ]]; then
  subdir=$EESSI_SOFTWARE_SUBDIR_OVERRIDE
else
  subdir="${EESSI_CPU_FAMILY:-$(uname -m)}/generic"
fi

echo "bot/build.sh: building for EESSI $EESSI_VERSION, $os_type/$subdir"

# Easyconfig file names look like <name>-<version>-<toolchain>.eb.
easyconfigs=()
shopt -s nullglob globstar
for easystack in easystacks/**/*.yml; do
  while IFS= read -r line; do
    if [[ $line =~ ^[[:space:]]*-[[:space:]]+([^[:space:]:]+\.eb) ]]; then
      easyconfigs+=("${BASH_REMATCH[1]}")
    fi
  done <"$easystack"
done
if [[ ${#easyconfigs[@]} -eq 0 ]]; then
  echo "bot/build.sh: no easyconfigs found in easystacks/**/*.yml; nothing to build" >&2
  exit 1
fi

if [[ -n ${EXAMPLE_BUILD_FAIL:-} || -e bot/FAIL ]]; then
  echo "bot/build.sh: ERROR: build of ${easyconfigs[0]} failed (bot/FAIL or EXAMPLE_BUILD_FAIL asked for it)" >&2
  exit 1
fi

prefix="$EESSI_VERSION/software/$os_type/$subdir"
staging=$(mktemp -d "$EESSI_TMPDIR/example-build.XXXXXX")
for easyconfig in "${easyconfigs[@]}"; do
  name=${easyconfig%%-*}
  rest=${easyconfig#*-}
  version=${rest%%-*}
  echo "bot/build.sh: installing $name/$version from $easyconfig"
  sleep 0.5
  install_dir="$staging/$prefix/software/$name/$version"
  mkdir -p "$install_dir/bin" "$install_dir/easybuild" "$staging/$prefix/modules/all/$name"
  printf '#!/bin/sh\necho "%s %s (example build for %s)"\n' "$name" "$version" "$subdir" \
    >"$install_dir/bin/${name,,}"
  chmod 755 "$install_dir/bin/${name,,}"
  printf "name = '%s'\nversion = '%s'\n" "$name" "$version" >"$install_dir/easybuild/$easyconfig"
  printf 'help([[%s %s, built by the example bot/build.sh]])\nprepend_path("PATH", "%s/bin")\n' \
    "$name" "$version" "/cvmfs/software.eessi.io/versions/$prefix/software/$name/$version" \
    >"$staging/$prefix/modules/all/$name/$version.lua"
done
# EasyBuild leaves installations read-only; the job script must still be able to clean up.
chmod -R a-w "$staging/$EESSI_VERSION"

echo "No missing modules!"

tarball=$(printf 'eessi-%s-software-%s-%s-%d.tar.gz' "$EESSI_VERSION" "$os_type" "${subdir//\//-}" "$(date +%s)")
tar -czf "$PWD/$tarball" -C "$staging" "$EESSI_VERSION"
echo "$PWD/$tarball created!"
