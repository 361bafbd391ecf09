import {
  CommandStartError,
  CommandTimeoutError,
  runCommand,
  type RunResult,
} from '../common/command-runner.js';

/**
 * git for builds/, through the command runner (src/common/command-runner.ts): an argument array
 * and no shell, because refs, titles and paths come from pull requests; no prompt, English
 * messages, a timeout, and git's failures as GitError.
 */
export interface GitRunOptions {
  readonly cwd?: string;
  /** Added to this process's environment (GIT_CONFIG_GLOBAL, proxies and insteadOf stay in force). */
  readonly env?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
}

export interface GitResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** A fetch of a large repository over a slow proxy may take minutes; a hung one must still end. */
const GIT_TIMEOUT_MS = 15 * 60 * 1000;

export class GitError extends Error {
  override readonly name = 'GitError';
  constructor(
    readonly args: readonly string[],
    /** Exit status; undefined when git could not be started or was killed by the timeout. */
    readonly exitCode: number | undefined,
    readonly stdout: string,
    readonly stderr: string,
    detail: string,
  ) {
    super(`git ${args.join(' ')}: ${detail}`);
  }
}

/** Never prompts (a prompt would hang the bot) and speaks English (messages go into PR comments). */
const FIXED_ENV: Readonly<Record<string, string>> = {
  GIT_TERMINAL_PROMPT: '0',
  GIT_ASKPASS: '',
  SSH_ASKPASS: '',
  LC_ALL: 'C',
  LANG: 'C',
};

export async function runGit(
  args: readonly string[],
  opts: GitRunOptions = {},
): Promise<GitResult> {
  const timeoutMs = opts.timeoutMs ?? GIT_TIMEOUT_MS;
  let result: RunResult;
  try {
    result = await runCommand('git', args, {
      cwd: opts.cwd,
      env: { ...process.env, ...FIXED_ENV, ...opts.env },
      timeoutMs,
    });
  } catch (error) {
    if (error instanceof CommandTimeoutError) {
      throw new GitError(
        args,
        undefined,
        '',
        '',
        `did not finish within ${timeoutMs / 1000} s and was killed`,
      );
    }
    if (error instanceof CommandStartError) {
      throw new GitError(args, undefined, '', '', error.message);
    }
    throw error;
  }
  const { stdout, stderr, exitCode, signal } = result;
  if (exitCode === 0) {
    return { stdout, stderr };
  }
  // Killed from outside (the OOM killer, an operator): not an answer of git's about the input.
  if (signal) {
    throw new GitError(args, undefined, stdout, stderr, `was killed by ${signal}`);
  }
  throw new GitError(
    args,
    exitCode,
    stdout,
    stderr,
    `exited ${exitCode}: ${stderr.trim() || stdout.trim() || '(no output)'}`,
  );
}

/**
 * Environment that makes git send `AUTHORIZATION: basic …` to `origin` only, without the token
 * ever appearing on a command line (visible in `ps`) or in a file. Entries are appended after any
 * GIT_CONFIG_COUNT the operator already set, so their settings stay in force. Needs git >= 2.31.
 */
export function extraHeaderEnv(origin: string, token: string): Record<string, string> {
  const existing = Number.parseInt(process.env.GIT_CONFIG_COUNT ?? '0', 10);
  const index = Number.isInteger(existing) && existing > 0 ? existing : 0;
  const basic = Buffer.from(`x-access-token:${token}`).toString('base64');
  return {
    GIT_CONFIG_COUNT: String(index + 1),
    [`GIT_CONFIG_KEY_${index}`]: `http.${origin}/.extraheader`,
    [`GIT_CONFIG_VALUE_${index}`]: `AUTHORIZATION: basic ${basic}`,
  };
}

/** Major and minor of the installed git, e.g. [2, 39]. */
export async function gitVersion(): Promise<readonly [number, number]> {
  const { stdout } = await runGit(['version'], { timeoutMs: 30_000 });
  const match = /git version (\d+)\.(\d+)/.exec(stdout);
  if (!match) {
    throw new Error(`cannot read the version of git from ${JSON.stringify(stdout.trim())}`);
  }
  return [Number(match[1]), Number(match[2])];
}
