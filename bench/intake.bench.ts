/**
 * Intake benchmark (issue #2): signed ~25 KB pull_request deliveries at concurrency 20 against the
 * bot's webhook endpoint and, in the same run, against a bare node:http server that only answers
 * 200. Reports deliveries/s, p50/p99 latency, the throughput ratio, and resident memory across
 * 10,000 deliveries (it must stay flat).
 *
 * A closed loop of 20 clients measures capacity, and its latency is 20 / throughput on average
 * (Little's law): a p99 under 20 ms there needs over 1,000 deliveries/s. So the bot's latency is
 * also measured when it is not saturated: an open loop at a fixed rate, far above what GitHub
 * sends, timed from when each request was due (so a stall is not hidden by the requests it delays).
 *
 * The load comes from a worker thread (bench/load-client.ts), the same for both servers; process
 * CPU time per delivery (all threads: client, server, libuv's pool) is reported beside it, since on
 * a 2-core machine the client and the server compete for the same cores.
 *
 * The state directory goes under os.tmpdir(): set TMPDIR to measure another filesystem.
 *
 * Run by bench/run.ts; alone: `node --expose-gc dist-bench/bench/intake.bench.js`.
 */
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Module } from '@nestjs/common';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AddressInfo } from 'node:net';
import { intakeOptionsOf } from '../src/app-options.js';
import { IntakeModule } from '../src/intake/intake.module.js';
import { EventDispatcher } from '../src/intake/event-dispatcher.js';
import { Inbox } from '../src/intake/inbox/inbox.js';
import { makeConfig } from '../test/support/make-config.js';
import { examplePayload } from '../test/support/payloads.js';
import { signBody } from '../test/support/signed-delivery.js';
import { LoadClient } from './load-client.js';

const CONCURRENCY = 20;
const WARMUP = 5_000;
const DELIVERIES = 10_000;
const OPEN_LOOP_PER_SECOND = 200;
const OPEN_LOOP_DELIVERIES = 1_000;
const SECRET = 'bench-secret';

function bareServer(): Promise<Server> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"status":"ok"}');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function rssMiB(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().rss / 1024 / 1024;
}

export async function benchIntake(): Promise<Record<string, number | string>> {
  const root = await mkdtemp(join(tmpdir(), 'eessi-bot-bench-intake-'));
  const payload = examplePayload('pull_request', 'opened');
  // PR descriptions are the bulk of real deliveries; pad to GitHub's typical ~25 KB.
  payload.pull_request.body = 'x'.repeat(Math.max(0, 25_000 - JSON.stringify(payload).length));
  const body = Buffer.from(JSON.stringify(payload));
  const signature = await signBody(SECRET, body.toString());

  const config = makeConfig({ root, github: { webhookSecret: SECRET } });
  @Module({ imports: [IntakeModule.register(intakeOptionsOf(config))] })
  class BenchModule {}
  const app = await NestFactory.create(BenchModule, { bodyParser: false, logger: ['error'] });
  await app.listen(0, '127.0.0.1');
  const botPort = ((app.getHttpServer() as Server).address() as AddressInfo).port;
  const bare = await bareServer();
  const client = new LoadClient();
  const load = (port: number, count: number, idPrefix: string) =>
    client.run({ port, count, body, signature, idPrefix, concurrency: CONCURRENCY });
  const barePort = (bare.address() as AddressInfo).port;
  try {
    await load(barePort, WARMUP, 'warm-bare');
    await load(botPort, WARMUP, 'warm-bot');
    await app.get(EventDispatcher).drain();
    let cpu = process.cpuUsage();
    const baseline = await load(barePort, DELIVERIES, 'bare');
    const bareCpu = process.cpuUsage(cpu);
    // Taken after the bare run, so the growth is the bot's alone (the client thread's heap too
    // grows while it runs the first loads).
    const rssBefore = rssMiB();
    const loadStarted = performance.now();
    cpu = process.cpuUsage();
    const bot = await load(botPort, DELIVERIES, 'bot');
    const botCpu = process.cpuUsage(cpu);
    // Work the dispatcher had not caught up with when the load stopped (kept as ids, not payloads).
    const backlog = (await app.get(Inbox).counts()).pending;
    await app.get(EventDispatcher).drain();
    // Accepting is what GitHub waits for; this is the rate at which deliveries are also done.
    const endToEndPerSecond = DELIVERIES / ((performance.now() - loadStarted) / 1000);
    const rssAfter = rssMiB();
    const paced = await client.run({
      port: botPort,
      count: OPEN_LOOP_DELIVERIES,
      perSecond: OPEN_LOOP_PER_SECOND,
      body,
      signature,
      idPrefix: 'paced',
    });
    await app.get(EventDispatcher).drain();
    const accepted = bot.statuses[202] ?? 0;
    if (accepted !== DELIVERIES) {
      throw new Error(`bot answered ${JSON.stringify(bot.statuses)}, expected ${DELIVERIES} × 202`);
    }
    if ((paced.statuses[202] ?? 0) !== OPEN_LOOP_DELIVERIES) {
      throw new Error(
        `bot answered ${JSON.stringify(paced.statuses)} at a fixed rate, expected ${OPEN_LOOP_DELIVERIES} × 202`,
      );
    }
    return {
      'state dir under': tmpdir(),
      'payload bytes': body.length,
      concurrency: CONCURRENCY,
      deliveries: DELIVERIES,
      'bare deliveries/s': Math.round(baseline.perSecond),
      'bare p50 ms': round(baseline.p50Ms),
      'bare p99 ms': round(baseline.p99Ms),
      'bot deliveries/s': Math.round(bot.perSecond),
      'bot p50 ms': round(bot.p50Ms),
      'bot p99 ms': round(bot.p99Ms),
      'throughput ratio bot/bare (target >= 0.5)': round(bot.perSecond / baseline.perSecond),
      'process CPU µs per delivery, bare (user / system)': perDelivery(bareCpu),
      'process CPU µs per delivery, bot (user / system)': perDelivery(botCpu),
      'bot backlog when the load stopped': backlog,
      'bot deliveries/s accepted and done': Math.round(endToEndPerSecond),
      [`bot p50 ms at ${OPEN_LOOP_PER_SECOND}/s open loop`]: round(paced.p50Ms),
      [`bot p99 ms at ${OPEN_LOOP_PER_SECOND}/s open loop`]: round(paced.p99Ms),
      'rss MiB before': round(rssBefore),
      'rss MiB after 10,000': round(rssAfter),
      'rss growth MiB (target <= 20)': round(rssAfter - rssBefore),
    };
  } finally {
    await client.close();
    await app.close();
    await new Promise((resolve) => bare.close(resolve));
    await rm(root, { recursive: true, force: true });
  }
}

function perDelivery(cpu: NodeJS.CpuUsage): string {
  return `${Math.round(cpu.user / DELIVERIES)} / ${Math.round(cpu.system / DELIVERIES)}`;
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  Logger.overrideLogger(['error']);
  benchIntake().then(
    (result) => console.table(result),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
