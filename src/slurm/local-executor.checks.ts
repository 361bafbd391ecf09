import { stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { errorMessage } from '../common/error-message.js';
import { JOB_ID_PATTERN } from '../common/ids.js';
import { SlurmCommandError, SlurmUnavailableError } from './slurm.errors.js';
import type { SubmitRequest } from './slurm.port.js';

/**
 * Refuses what sbatch would refuse, before an id is taken: the job directory and script must
 * exist, and no NUL byte may hide in a path or argument.
 * @returns the job directory and the script resolved against it, as sbatch reads it at once
 */
export async function checkSubmission(
  req: SubmitRequest,
): Promise<{ workDir: string; script: string }> {
  if (!isAbsolute(req.workDir)) {
    throw refusal(
      'submit',
      '',
      `the job directory must be an absolute path, not ${JSON.stringify(req.workDir)}`,
    );
  }
  for (const value of [req.workDir, req.script, ...req.scriptArgs]) {
    if (value.includes('\0')) {
      throw refusal(
        'submit',
        '',
        `NUL byte in the job script or its arguments: ${JSON.stringify(value)}`,
      );
    }
  }
  const dirInfo = await stat(req.workDir).catch(() => undefined);
  if (!dirInfo?.isDirectory()) {
    throw refusal(
      'submit',
      '',
      `the job directory ${req.workDir} does not exist or is not a directory`,
    );
  }
  // sbatch resolves a relative script against the directory it runs in, and reads it at once.
  const script = resolve(req.workDir, req.script);
  const scriptInfo = await stat(script).catch(() => undefined);
  if (!scriptInfo?.isFile()) {
    throw refusal(
      'submit',
      '',
      `unable to open job script ${script}; check [buildenv] build_job_script in app.cfg`,
    );
  }
  return { workDir: req.workDir, script };
}

/** A Slurm job id, and one this executor can have issued: it runs no array jobs. */
export function assertJobId(jobId: string): void {
  if (!JOB_ID_PATTERN.test(jobId) || jobId.includes('_')) {
    throw new Error(
      `local executor: ${JSON.stringify(jobId)} is not a job id of the local executor (digits only)`,
    );
  }
}

export function assertJobName(jobName: string): void {
  // Same rule as for Slurm, so a config that works with one scheduler works with the other.
  if (jobName === '' || /[,\n\r]/.test(jobName)) {
    throw new Error(
      `invalid job name ${JSON.stringify(jobName)}: it must be non-empty without commas or line breaks ([buildenv] job_name)`,
    );
  }
}

/** The request itself was refused, as sbatch/scontrol refuse it: retrying is futile. */
export function refusal(action: string, jobId: string, reason: string): SlurmCommandError {
  return new SlurmCommandError({
    command: 'local-executor',
    args: jobId ? [action, jobId] : [action],
    exitCode: 1,
    stderr: `${reason}\n`,
    message: `local executor: cannot ${action}${jobId ? ` job ${jobId}` : ''}: ${reason}`,
  });
}

/**
 * The state directory `root` cannot be used: nothing can be concluded about any job.
 */
export function unavailable(
  root: string,
  action: string,
  args: readonly string[],
  error: unknown,
): SlurmUnavailableError {
  return new SlurmUnavailableError({
    command: 'local-executor',
    args: [action, ...args],
    stderr: errorMessage(error),
    message: `local executor: cannot ${action}${args.length ? ` ${args.join(' ')}` : ''}: ${errorMessage(error)}; check that ${root} exists and is writable by the bot`,
    cause: error,
  });
}
