/**
 * The built bot (`node dist/main.js`) as a child process, for tests that must see what operators
 * run: argv parsing, config loading from a real app.cfg, process signals, output.
 *
 *   const bot = await startServer({ config, env, jobManager: false });  // waits for /health
 *   await bot.deliver('pull_request', payload, secret);                  // signed POST /
 *   bot.output()                       // everything it printed so far (stdout and stderr)
 *   await bot.kill('SIGKILL');         // or bot.stop(): SIGTERM, then SIGKILL after a grace
 *   const jm = startBot(['job-manager', '-c', config, '-i', '-1'], { env });
 *
 * Every process started here is remembered until it exits, so `stopAllBots()` in a cleanup ends
 * exactly those (by their own PID, never by name).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { postDelivery, signedDelivery } from './test-kit.js';

const MAIN_JS = fileURLToPath(new URL('../../dist/main.js', import.meta.url));
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface BotStartOptions {
  /** The complete environment of the child (nothing is inherited implicitly). */
  readonly env: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Prefix of this process's lines in combined reports, e.g. 'serve#2'. */
  readonly label?: string;
}

const running = new Set<BotProcess>();

export class BotProcess {
  readonly label: string;
  readonly pid: number;
  private readonly lines: string[] = [];
  private partial = { stdout: '', stderr: '' };
  private exitInfo?: ExitInfo;
  private readonly exitPromise: Promise<ExitInfo>;
  private readonly watchers = new Set<() => void>();

  constructor(
    readonly args: readonly string[],
    private readonly child: ChildProcess,
    label: string,
  ) {
    this.label = label;
    if (child.pid === undefined) {
      throw new Error(`could not start node ${MAIN_JS} ${args.join(' ')}`);
    }
    this.pid = child.pid;
    for (const stream of ['stdout', 'stderr'] as const) {
      child[stream]!.setEncoding('utf8');
      child[stream]!.on('data', (chunk: string) => this.take(stream, chunk));
    }
    this.exitPromise = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        for (const stream of ['stdout', 'stderr'] as const) {
          if (this.partial[stream]) {
            this.take(stream, '\n');
          }
        }
        this.exitInfo = { code, signal };
        running.delete(this);
        this.notify();
        resolve(this.exitInfo);
      });
    });
    running.add(this);
  }

  private take(stream: 'stdout' | 'stderr', chunk: string): void {
    const text = this.partial[stream] + chunk;
    const parts = text.split('\n');
    this.partial[stream] = parts.pop()!;
    for (const line of parts) {
      this.lines.push(stream === 'stderr' ? `[stderr] ${line}` : line);
    }
    this.notify();
  }

  private notify(): void {
    for (const watcher of [...this.watchers]) {
      watcher();
    }
  }

  /** Everything printed so far, one line per line (stderr lines marked). */
  output(): string {
    return this.lines.join('\n');
  }

  /** Lines printed so far that match. */
  linesMatching(pattern: RegExp): string[] {
    return this.lines.filter((line) => pattern.test(line));
  }

  get exited(): ExitInfo | undefined {
    return this.exitInfo;
  }

  waitForExit(timeoutMs = 15_000): Promise<ExitInfo> {
    return withTimeout(this.exitPromise, timeoutMs, () => `${this.label} to exit`);
  }

  /** Resolves with the first line matching `pattern` (printed before or after the call). */
  waitForLine(pattern: RegExp, timeoutMs = 30_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const line = this.lines.find((l) => pattern.test(l));
        if (line !== undefined) {
          done(() => resolve(line));
        } else if (this.exitInfo) {
          done(() =>
            reject(
              new Error(
                `${this.label} exited (${describeExit(this.exitInfo!)}) before printing ${pattern}`,
              ),
            ),
          );
        }
      };
      const timer = setTimeout(
        () =>
          done(() =>
            reject(
              new Error(
                `${this.label} printed no line matching ${pattern} in ${timeoutMs / 1000} s`,
              ),
            ),
          ),
        timeoutMs,
      );
      const done = (settle: () => void): void => {
        clearTimeout(timer);
        this.watchers.delete(check);
        settle();
      };
      this.watchers.add(check);
      check();
    });
  }

  /** Sends the signal and waits for the exit. */
  async kill(signal: 'SIGKILL' | 'SIGTERM', timeoutMs = 15_000): Promise<ExitInfo> {
    if (!this.exitInfo) {
      this.child.kill(signal);
    }
    return this.waitForExit(timeoutMs);
  }

  /** SIGTERM (Nest's shutdown hooks run), then SIGKILL if it is still there after `graceMs`. */
  async stop(graceMs = 10_000): Promise<ExitInfo> {
    if (this.exitInfo) {
      return this.exitInfo;
    }
    this.child.kill('SIGTERM');
    try {
      return await this.waitForExit(graceMs);
    } catch {
      return this.kill('SIGKILL');
    }
  }
}

/** Starts `node dist/main.js ...args`. Fails at once, with the fix, if the build is missing. */
export function startBot(args: readonly string[], opts: BotStartOptions): BotProcess {
  if (!existsSync(MAIN_JS)) {
    throw new Error(`${MAIN_JS} does not exist: run \`npm run build\` before these tests`);
  }
  const child = spawn(process.execPath, [MAIN_JS, ...args], {
    cwd: opts.cwd ?? PROJECT_ROOT,
    env: opts.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new BotProcess(args, child, opts.label ?? args[0] ?? 'bot');
}

export interface ServerOptions {
  readonly config: string;
  readonly env: NodeJS.ProcessEnv;
  /** false: `--no-job-manager`. */
  readonly jobManager: boolean;
  readonly port?: number;
  readonly label?: string;
  readonly readyTimeoutMs?: number;
}

export interface BotServer extends BotProcess {
  readonly url: string;
  readonly port: number;
  /** POSTs a signed webhook delivery to the server; returns the HTTP status. */
  deliver(event: string, payload: unknown, secret: string, deliveryId?: string): Promise<number>;
}

/** `node dist/main.js serve`, resolved once GET /health answers 200. */
export async function startServer(opts: ServerOptions): Promise<BotServer> {
  const port = opts.port ?? (await freePort());
  const args = ['serve', '--config', opts.config, '--port', String(port)];
  if (!opts.jobManager) {
    args.push('--no-job-manager');
  }
  const bot = startBot(args, { env: opts.env, label: opts.label ?? 'serve' });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (bot.exited) {
      throw new Error(
        `${bot.label} exited (${describeExit(bot.exited)}) before it was ready:\n${bot.output()}`,
      );
    }
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
      if (res.status === 200) {
        break;
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await bot.stop();
      throw new Error(`${bot.label} did not answer GET /health with 200 in time:\n${bot.output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const deliver = async (
    event: string,
    payload: unknown,
    secret: string,
    deliveryId?: string,
  ): Promise<number> =>
    postDelivery(`${url}/`, await signedDelivery(payload, { secret, event, id: deliveryId }));
  return Object.assign(bot, { url, port, deliver });
}

/** Stops every bot process started by this module that is still running. */
export async function stopAllBots(): Promise<void> {
  await Promise.all([...running].map((bot) => bot.stop()));
}

/** A port nobody listens on right now (the kernel's pick). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export function describeExit(exit: ExitInfo): string {
  return exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`timed out after ${ms / 1000} s waiting for ${what()}`)),
        ms,
      );
    }),
  ]);
}
