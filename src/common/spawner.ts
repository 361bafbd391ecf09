import { spawn, type ChildProcess } from 'node:child_process';
import { environmentWithoutSecrets } from './job-environment.js';

/** What execFile takes here; the same meaning as node:child_process's options. */
export interface SpawnRequest {
  readonly file: string;
  readonly args: readonly string[];
  readonly cwd?: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly timeoutMs: number;
  readonly maxBuffer: number;
}

/** As execFile's callback reports it. */
export interface SpawnOutcome {
  readonly stdout: string;
  readonly stderr: string;
  /** Absent when the command exited 0. */
  readonly error?: {
    readonly message: string;
    /** Exit status, or the errno name (ENOENT…) when it could not be started. */
    readonly code?: number | string;
    readonly killed?: boolean;
  };
}

/**
 * The helper process: runs each request with execFile and sends the outcome back. Plain
 * JavaScript given to `node -e`, so the same code runs from dist/ and under the test runner.
 */
const HELPER_SOURCE = `
const { execFile } = require('node:child_process');
process.on('message', ({ id, file, args, cwd, env, timeoutMs, maxBuffer }) => {
  execFile(file, args, { cwd, env, encoding: 'utf8', maxBuffer, timeout: timeoutMs,
    killSignal: 'SIGKILL', shell: false, windowsHide: true }, (error, stdout, stderr) => {
    const outcome = { id, stdout, stderr };
    if (error) outcome.error = { message: error.message, code: error.code, killed: error.killed === true };
    if (process.connected) process.send(outcome);
  });
});
process.on('disconnect', () => process.exit(0));
`;

/**
 * Starts commands from a small helper process instead of this one.
 *
 * Why: starting a process from Node forks the calling process, and the event loop waits until
 * the child has called exec. For the bot (100+ MiB resident, on a loaded 2-core host) that is
 * milliseconds to tens of milliseconds per git command, and a build preparation runs dozens of
 * them while webhooks must be answered. The helper is small, so its forks are cheap, and this
 * process only writes a message to a pipe. The helper is started on first use (one fork of this
 * process, once), gets no secrets in its environment (each request carries the environment
 * its command needs), and exits when this process goes away. If it dies, the commands it was
 * running fail as "could not be run" and the next request starts a new one.
 */
export class Spawner {
  private helper?: ChildProcess;
  private nextId = 0;
  private readonly pending = new Map<number, (outcome: SpawnOutcome) => void>();

  run(request: SpawnRequest): Promise<SpawnOutcome> {
    const helper = this.started();
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      // A server keeps running anyway; a command-line run must not end while git works.
      helper.channel?.ref();
      helper.send({ id, ...request }, (error) => {
        if (error)
          this.settle(id, failure(`could not hand the command to the helper: ${error.message}`));
      });
    });
  }

  /** Stops the helper (commands it is running are killed with it). */
  stop(): void {
    this.helper?.kill('SIGKILL');
  }

  private started(): ChildProcess {
    if (this.helper && this.helper.exitCode === null && this.helper.connected) {
      return this.helper;
    }
    const helper = spawn(process.execPath, ['-e', HELPER_SOURCE], {
      env: environmentWithoutSecrets(),
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    helper.on('message', (outcome: SpawnOutcome & { id: number }) => {
      const { id, ...rest } = outcome;
      this.settle(id, rest);
    });
    helper.on('error', () => undefined); // reported through 'exit'
    helper.on('exit', (code, signal) => {
      if (this.helper === helper) this.helper = undefined;
      const why = `the process-starting helper exited (${signal ?? `status ${code}`})`;
      for (const id of [...this.pending.keys()]) this.settle(id, failure(why));
    });
    helper.unref();
    helper.channel?.unref();
    this.helper = helper;
    return helper;
  }

  private settle(id: number, outcome: SpawnOutcome): void {
    const resolve = this.pending.get(id);
    if (!resolve) return;
    this.pending.delete(id);
    if (this.pending.size === 0) this.helper?.channel?.unref();
    resolve(outcome);
  }
}

function failure(message: string): SpawnOutcome {
  return { stdout: '', stderr: '', error: { message, code: 'EHELPER' } };
}
