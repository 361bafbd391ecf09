import { execFile, spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { constants, setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Injectable } from '@nestjs/common';
import { environmentWithoutSecrets } from './job-environment.js';

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
  /** The signal that ended the command, if one did (not our timeout: that is an error). */
  readonly signal?: NodeJS.Signals;
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
 * This module is the only code of the bot that starts processes (supervise-job.cjs, a program of
 * its own, starts the job script it supervises; command-helper.cjs the commands runCommand hands
 * it): CommandRunner.run for commands whose output the bot reads (the scheduler's
 * sbatch/squeue/scontrol/scancel; git through runCommand and runGit, from the helper),
 * startProcess for processes that stream or outlive the call (the local executor's job
 * supervisors, the demo's bot). Always an argument array, never a shell: arguments carry data
 * from pull requests, which must never be interpreted. The bot's secrets never reach a child
 * (job-environment.ts).
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
          const code = (error as (NodeJS.ErrnoException & { code?: unknown }) | null)?.code;
          try {
            resolve(
              outcome(command, args, opts, {
                stdout,
                stderr,
                timedOut,
                code,
                error: error ?? undefined,
              }),
            );
          } catch (failure) {
            reject(failure instanceof Error ? failure : new Error(String(failure)));
          }
        },
      );
      // Nothing may wait for input (sbatch reads a script from stdin if given none; git may prompt).
      child.stdin?.end();
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, opts.timeoutMs);
    });
  }
}

/** How a command ended, as execFile reports it (in this process or in the helper). */
interface Ending {
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
  /** The exit status (number), or why it never ran properly (ENOENT, EACCES, maxBuffer). */
  readonly code: unknown;
  readonly error?: Error & { signal?: NodeJS.Signals | null };
}

/** The RunResult of a command that ended so, or the error to throw. */
function outcome(
  command: string,
  args: readonly string[],
  opts: RunOptions,
  end: Ending,
): RunResult {
  const { stdout, stderr, code, error } = end;
  if (end.timedOut) {
    throw new CommandTimeoutError(command, args, opts.timeoutMs);
  }
  if (!error) {
    return { stdout, stderr, exitCode: 0 };
  }
  if (typeof code === 'number') {
    return { stdout, stderr, exitCode: code };
  }
  if (error.signal) {
    const signo = constants.signals[error.signal] ?? 0;
    return { stdout, stderr, exitCode: 128 + signo, signal: error.signal };
  }
  throw describeStartError(command, args, opts.cwd, String(code), error);
}

/** The helper program (a CommonJS file beside this module in src/ and in dist/). */
const HELPER_PATH = fileURLToPath(new URL('./command-helper.cjs', import.meta.url));
/** A helper with nothing to do for this long exits; the next command starts another. */
const HELPER_IDLE_MS = 60_000;
/**
 * The helper's niceness, which the commands it forks inherit: on a busy login node, git's
 * checkouts then yield the CPU to the bot, whose webhook answers must not wait behind them.
 */
const HELPER_NICENESS = 10;

interface HelperReply {
  readonly id: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly code: unknown;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  readonly message: string;
}

/**
 * Runs commands in command-helper.cjs, a small long-lived child of the bot, instead of forking
 * them from the bot itself: Node's spawn() blocks the caller's event loop until the child has
 * exec'ed (5-35 ms a process on a busy 2-core host), and a 4-target preparation runs dozens of
 * git commands while webhooks must be answered within 20 ms. Same semantics as CommandRunner.run.
 */
class CommandHelper {
  private child?: ChildProcess;
  private nextId = 1;
  private readonly waiting = new Map<
    number,
    { resolve: (reply: HelperReply) => void; reject: (error: Error) => void }
  >();
  private idleTimer?: NodeJS.Timeout;

  run(command: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
    const child = this.child ?? this.start();
    const id = this.nextId++;
    clearTimeout(this.idleTimer);
    // Waiting for an answer keeps this process alive, as a child of its own would.
    child.channel?.ref();
    const replied = new Promise<HelperReply>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
    });
    child.send({
      id,
      command,
      args: [...args],
      cwd: opts.cwd,
      // Secrets never reach a command: sbatch would export them into build jobs of PR code.
      env: environmentWithoutSecrets(opts.env ?? process.env),
      timeoutMs: opts.timeoutMs,
      maxBuffer: MAX_OUTPUT_BYTES,
    });
    return replied.then((reply) =>
      outcome(command, args, opts, {
        ...reply,
        error:
          reply.code === 0 && !reply.signal
            ? undefined
            : Object.assign(new Error(reply.message), { signal: reply.signal }),
      }),
    );
  }

  private start(): ChildProcess {
    const child = spawn(process.execPath, [HELPER_PATH], {
      env: environmentWithoutSecrets(process.env),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      windowsHide: true,
    });
    this.child = child;
    if (child.pid !== undefined) {
      try {
        setPriority(child.pid, HELPER_NICENESS);
      } catch {
        // Not allowed here (some containers): the commands then run at the bot's priority.
      }
    }
    child.on('message', (reply: HelperReply) => {
      const waiter = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      waiter?.resolve(reply);
      this.settle(child);
    });
    const gone = (why: string) => {
      if (this.child === child) {
        this.child = undefined;
      }
      clearTimeout(this.idleTimer);
      for (const waiter of this.waiting.values()) {
        waiter.reject(new Error(`the command helper (${HELPER_PATH}) ${why}`));
      }
      this.waiting.clear();
    };
    child.on('error', (error) => gone(`failed: ${error.message}`));
    child.on('exit', (code, signal) => gone(`exited (${signal ?? `status ${code}`})`));
    // Never what keeps the bot running; run() holds the channel while an answer is due.
    child.unref();
    return child;
  }

  private settle(child: ChildProcess): void {
    if (this.waiting.size > 0) {
      return;
    }
    child.channel?.unref();
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.waiting.size === 0 && child.connected) {
        child.disconnect();
      }
    }, HELPER_IDLE_MS);
    this.idleTimer.unref();
  }
}

const helper = new CommandHelper();

/**
 * CommandRunner.run for code outside Nest's injection (git), started from the command helper so
 * that forking never stalls this process's event loop.
 */
export function runCommand(
  command: string,
  args: readonly string[],
  opts: RunOptions,
): Promise<RunResult> {
  return helper.run(command, args, opts);
}

export interface StartOptions {
  readonly cwd?: string;
  /** Defaults to this process's environment; the bot's secrets are removed either way. */
  readonly env?: NodeJS.ProcessEnv;
  readonly stdio: StdioOptions;
  /** Its own process group, and it keeps running when the bot exits. */
  readonly detached?: boolean;
}

/**
 * Starts a process the caller follows itself (events, pid, signals). Throws as spawn() does; a
 * child that could not be started has no pid and reports why through its 'error' event.
 */
export function startProcess(
  command: string,
  args: readonly string[],
  opts: StartOptions,
): ChildProcess {
  return spawn(command, [...args], {
    cwd: opts.cwd,
    env: environmentWithoutSecrets(opts.env ?? process.env),
    detached: opts.detached ?? false,
    stdio: opts.stdio,
    shell: false,
    windowsHide: true,
  });
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
