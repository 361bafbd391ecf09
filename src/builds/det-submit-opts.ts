import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { CommandRunner, CommandStartError, CommandTimeoutError } from '../slurm/command-runner.js';

/**
 * v0.9's `allow_update_submit_opts`: a PR may carry `det_submit_opts.py` at the top of its tree
 * with a function `det_submit_opts(job)` returning the job's Slurm options. v0.9 imports it into
 * the event handler itself; here it runs in a separate `python3` process, with no secrets in its
 * environment and a time limit, and only the options filterSubmitOptions allows are used.
 * It still runs PR code on the bot's host as the bot's user: see docs/builds.md.
 */
const DET_SUBMIT_OPTS_FILE = 'det_submit_opts.py';
const DET_SUBMIT_OPTS_TIMEOUT_MS = 30_000;
const ANSWER_MARKER = '@@eessi-bot det_submit_opts@@';

/** The fields of v0.9's Job namedtuple, as det_submit_opts(job) sees them. */
export interface DetSubmitOptsJob {
  readonly working_dir: string;
  /** cpu_subdir of the node type. */
  readonly arch_target: string;
  readonly repo_id: string;
  /** The node type's slurm_params. */
  readonly slurm_opts: string;
  readonly year_month: string;
  readonly pr_id: string;
  readonly accelerator: string | null;
}

/**
 * Imports the module from the job dir only (`-I`: no user site, no PYTHON* variables, no cwd on
 * sys.path), calls the function with v0.9's Job namedtuple, and prints its answer as JSON after
 * a marker, so that whatever the module prints itself is not taken for the answer.
 */
const DRIVER = `
import collections, json, sys
sys.path.insert(0, sys.argv[1])
from det_submit_opts import det_submit_opts
Job = collections.namedtuple('Job', ('working_dir', 'arch_target', 'repo_id', 'slurm_opts', 'year_month', 'pr_id', 'accelerator'))
answer = det_submit_opts(Job(**json.loads(sys.argv[2])))
if not isinstance(answer, str):
    sys.exit('det_submit_opts returned %s, not a string' % type(answer).__name__)
sys.stdout.write('\\n${ANSWER_MARKER}' + json.dumps(answer) + '\\n')
`;

export type DetSubmitOptsOutcome =
  | { readonly kind: 'absent' }
  | { readonly kind: 'answer'; readonly options: string }
  | { readonly kind: 'failed'; readonly reason: string };

/**
 * Runs the PR's det_submit_opts for one job, if its tree has one (a regular file: a symlink could
 * point anywhere). Never throws for what the PR does wrong: that is 'failed' with the reason.
 */
export async function runDetSubmitOpts(
  runner: CommandRunner,
  job: DetSubmitOptsJob,
  opts: { python?: string; timeoutMs?: number } = {},
): Promise<DetSubmitOptsOutcome> {
  const file = join(job.working_dir, DET_SUBMIT_OPTS_FILE);
  const info = await lstat(file).catch(() => undefined);
  if (!info) {
    return { kind: 'absent' };
  }
  if (!info.isFile()) {
    return { kind: 'failed', reason: `${file} is not a regular file` };
  }
  const python = opts.python ?? 'python3';
  const timeoutMs = opts.timeoutMs ?? DET_SUBMIT_OPTS_TIMEOUT_MS;
  try {
    const result = await runner.run(
      python,
      ['-I', '-B', '-c', DRIVER, job.working_dir, JSON.stringify(job)],
      { cwd: job.working_dir, timeoutMs },
    );
    if (result.exitCode !== 0) {
      return {
        kind: 'failed',
        reason: `exited ${result.exitCode}: ${lastLine(result.stderr) || '(no error output)'}`,
      };
    }
    const line = result.stdout
      .split('\n')
      .reverse()
      .find((l) => l.startsWith(ANSWER_MARKER));
    const answer: unknown = line ? JSON.parse(line.slice(ANSWER_MARKER.length)) : undefined;
    if (typeof answer !== 'string') {
      return { kind: 'failed', reason: 'printed no answer' };
    }
    return { kind: 'answer', options: answer };
  } catch (error) {
    if (error instanceof CommandTimeoutError) {
      return { kind: 'failed', reason: `did not finish within ${timeoutMs / 1000} s` };
    }
    if (error instanceof CommandStartError) {
      return { kind: 'failed', reason: `${python} could not be started: ${error.message}` };
    }
    throw error;
  }
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1].slice(0, 300);
}
