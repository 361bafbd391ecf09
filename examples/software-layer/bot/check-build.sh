#!/usr/bin/env bash
#
# Example bot/check-build.sh for eessi-bot: judges the build that bot/build.sh just did and writes
# the result file _bot_job<SLURM_JOB_ID>.result that the bot turns into the "finished" row of
# its PR comment.
#
# SUCCESS needs all of: bot/build.sh exited 0 (EESSI_BOT_BUILD_STATUS, set by the job script),
# "No missing modules!" in the job's log slurm-<SLURM_JOB_ID>.out (when that log exists; it does
# not when the job script runs outside Slurm), and exactly one eessi-*software-*.tar.gz in the job
# directory.

set -euo pipefail

job_id=${SLURM_JOB_ID:?is set by Slurm (or by whoever runs the job script)}
result_file="_bot_job${job_id}.result"
log_file="slurm-${job_id}.out"
build_status=${EESSI_BOT_BUILD_STATUS:-}

shopt -s nullglob
tarballs=(eessi-*software-*.tar.gz)

problems=()
if [[ -z $build_status ]]; then
  problems+=("the job script did not pass EESSI_BOT_BUILD_STATUS")
elif [[ $build_status != 0 ]]; then
  problems+=("bot/build.sh exited with status $build_status")
fi
if [[ -f $log_file ]] && ! grep -q 'No missing modules!' "$log_file"; then
  problems+=("'No missing modules!' not found in $log_file")
fi
if [[ ${#tarballs[@]} -ne 1 ]]; then
  problems+=("found ${#tarballs[@]} tarballs eessi-*software-*.tar.gz (expected exactly 1)")
fi

if [[ ${#problems[@]} -eq 0 ]]; then
  tarball=${tarballs[0]}
  files=$(tar -tzf "$tarball" | grep -vc '/$' || true)
  status=SUCCESS
  summary=":grin: SUCCESS"
  details="<li>tarball <code>$tarball</code> with $files files</li>"
else
  status=FAILURE
  summary=":cry: FAILURE"
  details=""
  for problem in "${problems[@]}"; do
    details+="<li>$problem</li>"
  done
fi

tmp=$(mktemp "$PWD/.check-build.XXXXXX")
{
  echo "[RESULT]"
  echo "status = $status"
  echo "comment_description = <details><summary>$summary _(click triangle for details)_</summary><ul>$details</ul></details>"
  echo "artefacts ="
  if [[ $status == SUCCESS ]]; then
    # configparser-style continuation line: one artefact per indented line.
    echo "    $tarball"
  fi
} >"$tmp"
chmod 0644 "$tmp"
mv -f "$tmp" "$result_file"
echo "bot/check-build.sh: $status, wrote $result_file"
