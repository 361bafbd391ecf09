import { environmentWithoutSecrets } from '../common/job-environment.js';
import { execFile } from 'node:child_process';
import { constants } from 'node:os';
import { Injectable } from '@nestjs/common';

export interface RunOptions {
  readonly cwd?: string;
  /** Defaults to this process's environment (so SLURM_CONF and PATH reach the command). */
  readonly env?: NodeJS.ProcessEnv;
  readonly timeoutMs: number;
}

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
  /** The command's exit status; 128 + signal number when a signal (not our timeout) ended it. */
  readonly exitCode: number;
}

/** The command did not finish within its timeout and was killed. */
export class CommandTimeoutError extends Error {
  override readonly name = 'CommandTimeoutError';
  constructor(
    readonly command: string,
    readonly args: readonly string[],
    readonly timeoutMs: number,
  ) {
    super(`${command} did not finish within ${timeoutMs / 1000} s and was killed`);
  }
}

/** The command could not be started at all (not found, not executable, bad cwd). */
export class CommandStartError extends Error {
  override readonly name = 'CommandStartError';
  constructor(
    readonly command: string,
    readonly args: readonly string[],
    readonly code: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${command} could not be started (${code}): ${detail}`, options);
  }
}

/** squeue on a cluster with thousands of jobs prints megabytes; Node's default 1 MiB is too small. */
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

/**
 * The only code in src/ that starts processes. Always execFile with an argument array, never a
 * shell: arguments carry data from pull requests, which must never be interpreted.
 */
@Injectable()
export class CommandRunner {
  run(command: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      let timedOut = false;
      const child = execFile(
        command,
        [...args],
        {
          cwd: opts.cwd,
          // Secrets never reach a command: sbatch would export them into build jobs of PR code.
          env: environmentWithoutSecrets(opts.env ?? process.env),
          encoding: 'utf8',
          maxBuffer: MAX_OUTPUT_BYTES,
          shell: false,
          windowsHide: true,
        },
        (error, stdout, stderr) => {
          clearTimeout(timer);
          if (timedOut) {
            reject(new CommandTimeoutError(command, args, opts.timeoutMs));
            return;
          }
          if (!error) {
            resolve({ stdout, stderr, exitCode: 0 });
            return;
          }
          // A numeric code is the exit status; a string code means the process never ran
          // properly (ENOENT, EACCES, maxBuffer exceeded).
          const code = (error as NodeJS.ErrnoException & { code?: unknown }).code;
          if (typeof code === 'number') {
            resolve({ stdout, stderr, exitCode: code });
            return;
          }
          if (error.signal) {
            const signo = constants.signals[error.signal] ?? 0;
            resolve({ stdout, stderr, exitCode: 128 + signo });
            return;
          }
          reject(describeStartError(command, args, opts.cwd, String(code), error));
        },
      );
      // Slurm's clients must never wait for input (sbatch reads a script from stdin if given none).
      child.stdin?.end();
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, opts.timeoutMs);
    });
  }
}

function describeStartError(
  command: string,
  args: readonly string[],
  cwd: string | undefined,
  code: string,
  error: Error,
): CommandStartError {
  let detail: string;
  if (code === 'ENOENT') {
    detail = cwd
      ? `the command was not found, or its working directory ${cwd} does not exist`
      : 'the command was not found; check the configured path and PATH';
  } else if (code === 'EACCES') {
    detail = 'permission denied; check that the file is executable';
  } else if (code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') {
    detail = `it printed more than ${MAX_OUTPUT_BYTES} bytes and was stopped`;
  } else {
    detail = error.message;
  }
  return new CommandStartError(command, args, code, detail, { cause: error });
}
