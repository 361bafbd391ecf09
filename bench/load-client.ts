/**
 * HTTP load generator for the intake benchmark, run in a worker thread: GitHub is another machine,
 * and a client sharing the server's event loop would charge its own work to whichever server it
 * measures (for the bare server, most of the total). One worker loads the bot and the bare server
 * alike, so the ratio compares the servers.
 */
import { Agent, request } from 'node:http';
import { parentPort, Worker } from 'node:worker_threads';

export interface LoadRequest {
  readonly port: number;
  readonly count: number;
  readonly body: Uint8Array;
  readonly signature: string;
  readonly idPrefix: string;
  /** Closed loop: this many clients, each sending its next request once answered. */
  readonly concurrency?: number;
  /** Open loop: requests sent at this rate whatever the answers' speed; latency from due times. */
  readonly perSecond?: number;
}

export interface LoadResult {
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly statuses: Record<number, number>;
}

function post(agent: Agent, job: LoadRequest, id: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: job.port,
        path: '/',
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': job.body.length,
          'x-github-event': 'pull_request',
          'x-github-delivery': id,
          'x-hub-signature-256': job.signature,
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
  return { perSecond: count / (ms / 1000), p50Ms: at(0.5), p99Ms: at(0.99), statuses };
}

async function closedLoop(job: LoadRequest, concurrency: number): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies: number[] = [];
  const statuses: Record<number, number> = {};
  let next = 0;
  const started = performance.now();
  async function client(): Promise<void> {
    while (next < job.count) {
      const i = next++;
      const t0 = performance.now();
      const status = await post(agent, job, `${job.idPrefix}-${i}`);
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
      post(agent, job, `${job.idPrefix}-${i}`).then((status) => {
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

/** The worker's side: one job at a time, answered with its result. */
if (parentPort) {
  const port = parentPort;
  port.on('message', (job: LoadRequest) => {
    const run = job.perSecond
      ? openLoop(job, job.perSecond)
      : closedLoop(job, job.concurrency ?? 1);
    run.then(
      (result) => port.postMessage({ result }),
      (error: unknown) => port.postMessage({ error: String(error) }),
    );
  });
}

/** The benchmark's side: a worker thread that runs loads on request. */
export class LoadClient {
  private readonly worker = new Worker(new URL(import.meta.url));

  run(job: LoadRequest): Promise<LoadResult> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      this.worker.once('error', onError);
      this.worker.once('message', (message: { result?: LoadResult; error?: string }) => {
        this.worker.off('error', onError);
        if (message.result) {
          resolve(message.result);
        } else {
          reject(new Error(message.error));
        }
      });
      this.worker.postMessage(job);
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
