import { environmentWithoutSecrets } from '../common/job-environment.js';
import { execFile } from 'node:child_process';

/**
 * The one place in builds/ that starts a process, and only ever `git`: execFile with an argument
 * array and no shell, because refs, titles and paths come from pull requests. (Slurm commands go
 * through src/slurm/command-runner.ts; git is kept apart so that builds/ does not depend on the
 * scheduler's internals.)
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
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

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

export function runGit(args: readonly string[], opts: GitRunOptions = {}): Promise<GitResult> {
  const timeoutMs = opts.timeoutMs ?? GIT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      [...args],
      {
        cwd: opts.cwd,
        env: { ...environmentWithoutSecrets(), ...FIXED_ENV, ...opts.env },
        encoding: 'utf8',
        maxBuffer: MAX_OUTPUT_BYTES,
        timeout: timeoutMs,
        killSignal: 'SIGKILL',
        shell: false,
        windowsHide: true,
      },
      (error, stdout, stderr) => {
        if (!error) {
          resolve({ stdout, stderr });
          return;
        }
        // A numeric code is git's exit status; a string code means it never ran (ENOENT…).
        const code: unknown = (error as { code?: unknown }).code;
        const killed = (error as { killed?: boolean }).killed === true;
        const exitCode = typeof code === 'number' ? code : undefined;
        const reason =
          exitCode !== undefined
            ? `exited ${exitCode}: ${stderr.trim() || stdout.trim() || '(no output)'}`
            : killed
              ? `did not finish within ${timeoutMs / 1000} s and was killed`
              : `could not be run (${String(code)}): ${error.message}; is git installed and on PATH?`;
        reject(new GitError(args, exitCode, stdout, stderr, reason));
      },
    );
  });
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
