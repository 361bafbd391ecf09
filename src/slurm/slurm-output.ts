import type { JobEndInfo, QueuedJob } from './slurm.port.js';

/**
 * squeue --format for listJobs: id, state, reason, then name and work dir, the two fields that
 * may contain anything, `|` included. The first three `|` split the line; in the rest, the name
 * asked for (squeue --name) is known, and what follows it and `|/` is the (absolute) work dir.
 */
export const SQUEUE_FORMAT = '%i|%T|%r|%j|%Z';

/** Reasons for which a pending job waits for `scontrol release` (JobHeldAdmin after `scontrol hold`). */
export const HELD_REASONS: ReadonlySet<string> = new Set(['JobHeldUser', 'JobHeldAdmin']);

/** A plain job id, or `<array id>_<task id>` for one task of an array job. */
const JOB_ID = /^\d+(?:_\d+)?$/;

export function isValidJobId(id: string): boolean {
  return JOB_ID.test(id);
}

/**
 * The job id sbatch printed: `Submitted batch job N` (optionally `on cluster C`), or with
 * --parsable `N` or `N;cluster`. Undefined when stdout holds no such line.
 */
export function parseSbatchOutput(stdout: string): string | undefined {
  for (const raw of stdout.split('\n')) {
    const line = raw.trim();
    const match =
      /^Submitted batch job (\d+)(?: on cluster \S+)?$/.exec(line) ?? /^(\d+)(?:;\S+)?$/.exec(line);
    if (match) {
      return match[1];
    }
  }
  return undefined;
}

/**
 * Parses `squeue --noheader --format=<SQUEUE_FORMAT>` output for jobs named `jobName`. A line
 * whose name is another is kept with that name and no work dir (it cannot be split reliably);
 * a line without a work dir (`%i|%T|%r|%j`, older callers) has none.
 * @throws Error naming the first line that is not `<id>|<STATE>|<reason>|<name>[|<work dir>]`: a
 * format we do not understand must not look like an empty queue.
 */
export function parseSqueueOutput(stdout: string, jobName?: string): QueuedJob[] {
  const jobs: QueuedJob[] = [];
  const lines = stdout.split('\n');
  lines.forEach((raw, index) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') {
      return;
    }
    const parts = line.split('|');
    const [id, state, reason] = parts.slice(0, 3).map((part) => part.trim());
    if (parts.length < 4 || !isValidJobId(id) || !/^[A-Z_]+$/.test(state) || reason === '') {
      throw new Error(
        `line ${index + 1} is not "<job id>|<STATE>|<reason>|<name>|<work dir>": ${JSON.stringify(line)}`,
      );
    }
    const rest = parts.slice(3).join('|');
    // Slurm prints work dirs absolute: `<name>|/…` tells `bot-job` in `/x|y` from `bot-job|x`.
    const ours = jobName !== undefined && rest.startsWith(`${jobName}|/`);
    jobs.push({
      id,
      name: ours ? jobName : rest,
      state,
      reason,
      held: state === 'PENDING' && HELD_REASONS.has(reason),
      ...(ours ? { workDir: rest.slice(jobName.length + 1) } : {}),
    });
  });
  return jobs;
}

/**
 * Reads JobId, JobState and ExitCode from `scontrol show job <id>` (multi-line, or `-o` one-line).
 * Only the first record counts (an array job prints one per task). Undefined without a JobState.
 */
export function parseScontrolShowJob(stdout: string): (JobEndInfo & { jobId: string }) | undefined {
  const record = stdout
    .replace(/\r/g, '')
    .trim()
    .split(/\n[ \t]*\n/)[0];
  const jobId = /^JobId=(\S+)/.exec(record)?.[1];
  // The job name is free text; drop it so a name like "x JobState=COMPLETED" cannot be read as
  // a field. Multi-line output has it alone on the first line; one-line output before UserId=.
  const newline = record.indexOf('\n');
  const fields =
    newline === -1 ? record.replace(/\sJobName=.*?(?=\sUserId=)/, ' ') : record.slice(newline);
  const state = /(?:^|\s)JobState=([A-Z_]+)/.exec(fields)?.[1];
  if (jobId === undefined || state === undefined) {
    return undefined;
  }
  const exitCode = /(?:^|\s)ExitCode=(\d+:\d+)/.exec(fields)?.[1];
  return exitCode === undefined ? { jobId, state } : { jobId, state, exitCode };
}
