import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, jest } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { EventDispatcher } from '../../src/intake/event-dispatcher.js';
import type { InboxEntry } from '../../src/intake/inbox/delivery-record.js';
import { IntakeModule } from '../../src/intake/intake.module.js';
import { SmeeRelay, type RelayLogger } from '../../src/intake/smee-relay.js';
import { labeledPullRequestPayload } from '../support/payloads.js';
import { cleanupAfterEach, signedDelivery, type SignedDelivery } from '../support/test-kit.js';

const SECRET = 'relay e2e secret';

// Booting Nest and loading the example payloads takes a few seconds on a busy machine.
jest.setTimeout(30_000);

/** A stand-in for smee.io on 127.0.0.1: `GET /<channel>` is the event stream, as on smee.io. */
class SmeeSource {
  readonly clients = new Set<ServerResponse>();
  connections = 0;
  /** Answer the next N connections with 503, as smee.io's front end does while it restarts. */
  failNext = 0;
  /** Accept connections but send nothing at all (a connection gone half-open). */
  silent = false;
  private server?: Server;
  private sequence = 0;

  async start(port = 0): Promise<this> {
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      this.connections++;
      if (req.method !== 'GET' || req.headers.accept !== 'text/event-stream') {
        res.writeHead(404).end();
        return;
      }
      if (this.failNext > 0) {
        this.failNext--;
        res.writeHead(503, { 'content-type': 'text/plain' }).end('Service Unavailable');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.flushHeaders();
      if (!this.silent) {
        res.write(`id: ${this.sequence++}\nevent: ready\ndata: {}\n\n`);
      }
      this.clients.add(res);
      res.on('close', () => this.clients.delete(res));
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    this.server = server;
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}/AbCdEf123456`;
  }

  /**
   * Sends one smee-shaped event to every client. With `split`, in pieces cut inside every
   * multi-byte character and before every line end, as TCP may deliver them.
   */
  async emit(fields: Record<string, unknown>, split = false): Promise<void> {
    const bytes = Buffer.from(
      `id: ${this.sequence++}\ndata: ${JSON.stringify(fields)}\n\n`,
      'utf8',
    );
    const cuts = [0];
    if (split) {
      bytes.forEach((byte, at) => {
        if ((byte & 0xc0) === 0x80 || byte === 0x0a) {
          cuts.push(at);
        }
      });
    }
    cuts.push(bytes.length);
    for (const client of this.clients) {
      for (let i = 0; i + 1 < cuts.length; i++) {
        client.write(bytes.subarray(cuts[i], cuts[i + 1]));
        if (split) {
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
      }
    }
  }

  ping(): void {
    for (const client of this.clients) {
      client.write(`id: ${this.sequence++}\nevent: ping\ndata: {}\n\n`);
    }
  }

  /** Ends every open stream normally, as smee.io does when it restarts. */
  endStreams(): void {
    for (const client of this.clients) {
      client.end();
    }
  }

  async close(): Promise<void> {
    if (!this.server) {
      return;
    }
    for (const client of this.clients) {
      client.destroy();
    }
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = undefined;
  }
}

interface Received {
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
}

/** Records what the relay POSTs; answers like the bot's intake. */
class Target {
  readonly received: Received[] = [];
  status = 202;
  private server?: Server;

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        this.received.push({
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks),
        });
        res.writeHead(this.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: this.status === 202 ? 'accepted' : 'refused' }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}/`;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) =>
      this.server ? this.server.close(() => resolve()) : resolve(),
    );
  }
}

class RecordingLogger implements RelayLogger {
  readonly lines: { level: 'log' | 'warn' | 'error'; message: string }[] = [];
  log(message: unknown): void {
    this.lines.push({ level: 'log', message: String(message) });
  }
  warn(message: unknown): void {
    this.lines.push({ level: 'warn', message: String(message) });
  }
  error(message: unknown): void {
    this.lines.push({ level: 'error', message: String(message) });
  }
  matching(pattern: RegExp): { level: string; message: string }[] {
    return this.lines.filter((line) => pattern.test(line.message));
  }
  get text(): string {
    return this.lines.map((line) => line.message).join('\n');
  }
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A port nothing listens on (free a moment ago). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A delivery as GitHub sends it: compact JSON, UTF-8 text, and a control character written as an
 * upper-case `\u` escape, which plain JSON.stringify would write differently.
 */
async function githubDelivery(
  id: string,
  title = 'Ünïcødé 🚀 <!-- bot --> a/b',
  secret = SECRET,
): Promise<SignedDelivery> {
  const payload = labeledPullRequestPayload({ label: 'bot:build', number: 7 });
  payload.pull_request.title = '@@TITLE@@';
  const raw = JSON.stringify(payload).replace(
    '"@@TITLE@@"',
    `${JSON.stringify(title).slice(0, -1)} \\u001B[1mbold\\u001B[0m"`,
  );
  return signedDelivery(raw, { secret, id });
}

/** The event smee.io sends for a delivery: the request's headers, the parsed body, its own fields. */
function smeeEvent(delivery: SignedDelivery): Record<string, unknown> {
  return {
    host: 'smee.io',
    connection: 'close',
    'content-length': String(Buffer.byteLength(delivery.body)),
    accept: '*/*',
    ...delivery.headers,
    'x-forwarded-for': '140.82.115.1',
    'x-request-start': '1700000000000',
    body: JSON.parse(delivery.body),
    query: { ignored: 'yes' },
    timestamp: 1700000000000,
  };
}

const cleanup = cleanupAfterEach();

async function setUp(options: { sourcePort?: number; sourceUp?: boolean } = {}) {
  const source = new SmeeSource();
  if (options.sourceUp !== false) {
    await source.start(options.sourcePort);
  }
  cleanup.defer(() => source.close());
  const target = await new Target().start();
  cleanup.defer(() => target.close());
  return { source, target };
}

function startRelay(
  source: string,
  target: string,
  extra: Partial<ConstructorParameters<typeof SmeeRelay>[0]> = {},
) {
  const logger = new RecordingLogger();
  const relay = new SmeeRelay({
    source,
    target,
    logger,
    initialDelayMs: 20,
    maxDelayMs: 80,
    ...extra,
  });
  relay.start();
  cleanup.defer(() => relay.stop());
  return { relay, logger };
}

describe('SmeeRelay against a local smee-shaped event stream', () => {
  it("forwards each delivery in order with GitHub's headers and the bytes GitHub signed", async () => {
    const { source, target } = await setUp();
    const { logger } = startRelay(source.url, target.url);
    await waitFor('the relay to connect', () => source.clients.size === 1);

    const first = await githubDelivery('11111111-1111-1111-1111-111111111111');
    const second = await githubDelivery(
      '22222222-2222-2222-2222-222222222222',
      'second ✓ "quoted" \\ back',
    );
    source.ping();
    await source.emit(smeeEvent(first));
    await source.emit(smeeEvent(second), true);
    await waitFor('two forwards', () => target.received.length === 2);
    await waitFor('both answers', () => logger.matching(/forwarded, bot answered/).length === 2);

    const [a, b] = target.received;
    expect(a.body.equals(Buffer.from(first.body, 'utf8'))).toBe(true);
    expect(b.body.equals(Buffer.from(second.body, 'utf8'))).toBe(true);
    expect(a.url).toBe('/');
    expect(a.headers).toMatchObject({
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(first.body)),
      'x-github-event': 'pull_request',
      'x-github-delivery': first.id,
      'x-github-hook-id': '123456789',
      'x-hub-signature-256': first.headers['x-hub-signature-256'],
    });
    expect(b.headers['x-github-delivery']).toBe(second.id);
    expect(b.headers['x-hub-signature-256']).toBe(second.headers['x-hub-signature-256']);
    // smee's own fields and the hop's headers are not GitHub's and are not passed on.
    expect(a.headers.host).toBe(new URL(target.url).host);
    for (const name of ['timestamp', 'x-forwarded-for', 'x-request-start', 'query', 'body']) {
      expect(a.headers[name]).toBeUndefined();
    }
    expect(logger.matching(/forwarded, bot answered 202/)).toHaveLength(2);
    // The channel id and the signatures stay out of the log.
    expect(logger.text).not.toContain('AbCdEf123456');
    expect(logger.text).not.toContain(first.headers['x-hub-signature-256'].slice(7));
    expect(logger.text).not.toContain(second.headers['x-hub-signature-256'].slice(7));
    expect(logger.text).toContain('AbCd…');
  });

  it("delivers to the bot's real webhook intake, where the signature verifies", async () => {
    const root = await cleanup.tempDir('smee-relay-e2e-');
    const moduleRef = await Test.createTestingModule({
      imports: [IntakeModule.register({ stateDir: root, webhookSecret: SECRET })],
    }).compile();
    const app: INestApplication = moduleRef.createNestApplication({
      bodyParser: false,
      logger: false,
    });
    const handled: InboxEntry[] = [];
    const dispatcher: EventDispatcher = app.get(EventDispatcher);
    dispatcher.on('pull_request', 'labeled', async (delivery) => {
      handled.push(delivery);
    });
    await app.listen(0, '127.0.0.1');
    cleanup.defer(() => app.close());
    const { port } = (app.getHttpServer() as Server).address() as AddressInfo;

    const source = await new SmeeSource().start();
    cleanup.defer(() => source.close());
    const { logger } = startRelay(source.url, `http://127.0.0.1:${port}/`);
    await waitFor('the relay to connect', () => source.clients.size === 1);

    const good = await githubDelivery('33333333-3333-3333-3333-333333333333');
    // Octokit's signer, not ours, signs the GitHub-style bytes.
    await source.emit(smeeEvent(good));
    const forged = await githubDelivery(
      '44444444-4444-4444-4444-444444444444',
      undefined,
      'not the secret',
    );
    await source.emit(smeeEvent(forged));

    await waitFor('the good delivery to be handled', () => handled.length === 1);
    await waitFor(
      'the forged one to be refused',
      () => logger.matching(/answered 401/).length === 1,
    );
    expect(handled[0].id).toBe(good.id);
    expect((handled[0].payload.pull_request as { title: string }).title).toBe(
      'Ünïcødé 🚀 <!-- bot --> a/b \u001b[1mbold\u001b[0m',
    );
    expect(logger.matching(/answered 401/)[0]).toMatchObject({ level: 'warn' });
    expect(logger.matching(/answered 401/)[0].message).toMatch(
      new RegExp(`delivery ${forged.id} .*GITHUB_APP_SECRET_TOKEN`),
    );
    expect(handled).toHaveLength(1);
  });

  it('reconnects when the channel ends the stream, and goes on forwarding', async () => {
    const { source, target } = await setUp();
    const { logger } = startRelay(source.url, target.url);
    await waitFor('the relay to connect', () => source.clients.size === 1);

    source.endStreams();
    await waitFor(
      'a second connection',
      () => source.connections === 2 && source.clients.size === 1,
    );
    const delivery = await githubDelivery('55555555-5555-5555-5555-555555555555');
    await source.emit(smeeEvent(delivery));
    await waitFor('the forward', () => target.received.length === 1);

    expect(target.received[0].body.toString('utf8')).toBe(delivery.body);
    expect(logger.matching(/closed the connection, reconnecting in 0\.02 s/)).toHaveLength(1);
    expect(logger.matching(/reconnected/)).toHaveLength(1);
  });

  it('retries with doubling delays, capped, while the channel is unreachable, then connects', async () => {
    const port = await freePort();
    const { source, target } = await setUp({ sourceUp: false });
    const { logger } = startRelay(`http://127.0.0.1:${port}/AbCdEf123456`, target.url);

    await waitFor('five failed attempts', () => logger.matching(/unreachable/).length >= 5);
    const failures = logger.matching(/unreachable/);
    expect(failures.every((line) => line.level === 'warn')).toBe(true);
    expect(failures[0].message).toMatch(
      /^smee channel http:\/\/127\.0\.0\.1:\d+\/AbCd… unreachable \(.*ECONNREFUSED.*\), retrying in 0\.02 s$/,
    );
    const delays = failures.map((line) => /retrying in ([\d.]+) s/.exec(line.message)![1]);
    expect(delays.slice(0, 5)).toEqual(['0.02', '0.04', '0.08', '0.08', '0.08']);

    await source.start(port);
    await waitFor('the relay to connect', () => source.clients.size === 1);
    const delivery = await githubDelivery('66666666-6666-6666-6666-666666666666');
    await source.emit(smeeEvent(delivery));
    await waitFor('the forward', () => target.received.length === 1);

    // A successful connection resets the back-off.
    source.endStreams();
    await waitFor('the reconnection', () => logger.matching(/closed the connection/).length === 1);
    expect(logger.matching(/closed the connection/)[0].message).toMatch(/reconnecting in 0\.02 s$/);
  });

  it('treats an error answer as unreachable and keeps trying', async () => {
    const { source, target } = await setUp();
    source.failNext = 2;
    const { logger } = startRelay(source.url, target.url);
    await waitFor('the relay to connect', () => source.clients.size === 1);

    const failures = logger.matching(/unreachable/);
    expect(failures.map((line) => line.message.replace(/.*unreachable /, ''))).toEqual([
      '(HTTP 503), retrying in 0.02 s',
      '(HTTP 503), retrying in 0.04 s',
    ]);
    expect(source.connections).toBe(3);
  });

  it('replaces a connection that has gone silent', async () => {
    const { source, target } = await setUp();
    source.silent = true;
    const { logger } = startRelay(source.url, target.url, { idleTimeoutMs: 150 });
    await waitFor('a second connection', () => source.connections >= 2, 3_000);

    expect(
      logger.matching(/connection lost \(no data for 0\.15 s\), reconnecting in/),
    ).not.toHaveLength(0);
  });

  it('stop() closes the stream and leaves no socket or timer behind', async () => {
    const { source, target } = await setUp();
    const before = openResources();
    const { relay, logger } = startRelay(source.url, target.url);
    await waitFor('the relay to connect', () => source.clients.size === 1);
    expect(openResources().sockets).toBeGreaterThan(before.sockets);

    await relay.stop();
    await waitFor('the stream to close at the source', () => source.clients.size === 0, 2_000);
    await waitFor(
      'sockets and timers to be released',
      () => {
        const now = openResources();
        return now.sockets === before.sockets && now.timers <= before.timers;
      },
      2_000,
    );
    expect(logger.matching(/^stopped relaying/)).toHaveLength(1);

    // Nothing is forwarded, and no reconnection is attempted, after stop().
    const connections = source.connections;
    const delivery = await githubDelivery('77777777-7777-7777-7777-777777777777');
    await source.emit(smeeEvent(delivery));
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(target.received).toHaveLength(0);
    expect(source.connections).toBe(connections);
  });

  it('stop() ends a long back-off wait at once', async () => {
    const port = await freePort();
    const { target } = await setUp({ sourceUp: false });
    const { relay, logger } = startRelay(`http://127.0.0.1:${port}/x`, target.url, {
      initialDelayMs: 60_000,
    });
    await waitFor('a failed attempt', () => logger.matching(/retrying in 60 s/).length === 1);

    const started = Date.now();
    await relay.stop();
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

/** Sockets and timers the process holds (Node's own view, as `--detectOpenHandles` uses). */
function openResources(): { sockets: number; timers: number } {
  const resources = process.getActiveResourcesInfo();
  return {
    sockets: resources.filter((name) => name === 'TCPSocketWrap').length,
    timers: resources.filter((name) => name === 'Timeout').length,
  };
}
