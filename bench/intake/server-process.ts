import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';

/** A server under test in its own process, so /proc tells its CPU and memory apart. */
export class ServerProcess {
  private stderr = '';
  private exit?: string;
  private readonly exited: Promise<void>;

  private constructor(
    readonly name: string,
    readonly port: number,
    private readonly child: ChildProcess,
  ) {
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      // The tail is what explains a failure.
      this.stderr = (this.stderr + chunk).slice(-8_000);
    });
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exit = signal ? `signal ${signal}` : `exit code ${code}`;
        resolve();
      }),
    );
  }

  /**
   * Starts `node ...args` and resolves once `port` accepts connections (and, if given, `ready`
   * resolves). Its stdout goes to /dev/null: servers that log per request pay for writing, as
   * under systemd, and nobody here waits on a pipe.
   */
  static async start(
    name: string,
    port: number,
    args: readonly string[],
    env: NodeJS.ProcessEnv,
    ready?: () => Promise<boolean>,
  ): Promise<ServerProcess> {
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    const server = new ServerProcess(name, port, child);
    const deadline = Date.now() + 60_000;
    while (!(await server.accepts()) || (ready && !(await ready().catch(() => false)))) {
      if (server.exit || Date.now() > deadline) {
        await server.stop();
        throw new Error(
          `${name} did not come up (${server.exit ?? 'timed out'}):\n${server.stderr}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return server;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** What it printed on stderr (the last few KB). */
  output(): string {
    return this.stderr;
  }

  private accepts(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = connect(this.port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
  }

  /** SIGTERM, then SIGKILL if it is still there after 10 s. */
  async stop(): Promise<void> {
    if (this.exit) {
      return;
    }
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}

export { freePort } from '../../test/support/free-port.js';
