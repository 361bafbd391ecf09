/**
 * HTTP load generator for the intake benchmark, run as its own process: GitHub is another machine,
 * and a client sharing the server's process would charge its own work to whichever server it
 * measures (for the bare server, most of the total). One client process loads every server alike,
 * so the ratios compare the servers, and the servers' CPU can be read from /proc on its own.
 *
 * Requests are shaped like GitHub's deliveries: its headers (Hookshot user agent, hook ids, both
 * signatures), a fresh UUID per delivery, keep-alive connections.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';

export interface LoadRequest {
  readonly port: number;
  readonly count: number;
  readonly body: Uint8Array;
  readonly event: string;
  /** `sha256=…` of the body, and GitHub's older `sha1=…`. */
  readonly signature256: string;
  readonly signature1: string;
  /** Closed loop: this many clients, each sending its next request once answered. */
  readonly concurrency?: number;
  /** Open loop: requests sent at this rate whatever the answers' speed; latency from due times. */
  readonly perSecond?: number;
}

export interface LoadResult {
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly statuses: Record<number, number>;
}

function post(agent: Agent, job: LoadRequest): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: job.port,
        path: '/',
        method: 'POST',
        agent,
        headers: {
          accept: '*/*',
          'content-type': 'application/json',
          'content-length': job.body.length,
          'user-agent': 'GitHub-Hookshot/5f2c2a6',
          'x-github-delivery': randomUUID(),
          'x-github-event': job.event,
          'x-github-hook-id': '517826341',
          'x-github-hook-installation-target-id': '1',
          'x-github-hook-installation-target-type': 'integration',
          'x-hub-signature': job.signature1,
          'x-hub-signature-256': job.signature256,
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(job.body);
  });
}

function summary(latencies: number[], statuses: Record<number, number>, count: number, ms: number) {
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  return {
    perSecond: count / (ms / 1000),
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    maxMs: latencies[latencies.length - 1],
    statuses,
  };
}

async function closedLoop(job: LoadRequest, concurrency: number): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies: number[] = [];
  const statuses: Record<number, number> = {};
  let next = 0;
  const started = performance.now();
  async function client(): Promise<void> {
    while (next < job.count) {
      next += 1;
      const t0 = performance.now();
      const status = await post(agent, job);
      latencies.push(performance.now() - t0);
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  }
  await Promise.all(Array.from({ length: concurrency }, client));
  const elapsed = performance.now() - started;
  agent.destroy();
  return summary(latencies, statuses, job.count, elapsed);
}

async function openLoop(job: LoadRequest, perSecond: number): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const latencies: number[] = [];
  const statuses: Record<number, number> = {};
  const started = performance.now();
  const sent: Promise<void>[] = [];
  for (let i = 0; i < job.count; i += 1) {
    const due = started + (i * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 0) {
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
    sent.push(
      post(agent, job).then((status) => {
        latencies.push(performance.now() - due);
        statuses[status] = (statuses[status] ?? 0) + 1;
      }),
    );
  }
  await Promise.all(sent);
  const elapsed = performance.now() - started;
  agent.destroy();
  return summary(latencies, statuses, job.count, elapsed);
}

/** The client process's side: one job at a time, answered with its result. */
if (process.send && process.env.EESSI_BOT_LOAD_CLIENT === '1') {
  process.on('message', (job: LoadRequest) => {
    const body = Buffer.from(job.body);
    const run = job.perSecond
      ? openLoop({ ...job, body }, job.perSecond)
      : closedLoop({ ...job, body }, job.concurrency ?? 1);
    run.then(
      (result) => process.send!({ result }),
      (error: unknown) => process.send!({ error: String(error) }),
    );
  });
}

/** The benchmark's side: a client process that runs loads on request. */
export class LoadClient {
  private readonly child: ChildProcess = fork(new URL(import.meta.url), [], {
    env: { ...process.env, EESSI_BOT_LOAD_CLIENT: '1' },
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });

  run(job: LoadRequest): Promise<LoadResult> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) =>
        reject(new Error(`the load client exited (${code}) during a run`));
      this.child.once('exit', onExit);
      this.child.once('message', (message: { result?: LoadResult; error?: string }) => {
        this.child.off('exit', onExit);
        if (message.result) {
          resolve(message.result);
        } else {
          reject(new Error(message.error));
        }
      });
      this.child.send(job);
    });
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) {
      return;
    }
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }
}
