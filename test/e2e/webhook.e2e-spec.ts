import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { EventDispatcher } from '../../src/intake/event-dispatcher.js';
import type { InboxEntry } from '../../src/intake/inbox/delivery-record.js';
import { Inbox } from '../../src/intake/inbox/inbox.js';
import { IntakeModule } from '../../src/intake/intake.module.js';
import type { IntakeOptions } from '../../src/intake/intake.options.js';
import { labeledPullRequestPayload } from '../support/payloads.js';
import { signBody, signedDelivery } from '../support/test-kit.js';

const SECRET = 'e2e webhook secret';

function configFor(stateDir: string, webhookSecret = SECRET): IntakeOptions {
  return { stateDir, webhookSecret };
}
type Handler = (delivery: InboxEntry) => Promise<void>;

interface RunningApp {
  app: INestApplication;
  url: string;
  inbox: Inbox;
  dispatcher: EventDispatcher;
}

const apps: INestApplication[] = [];

/** Boots IntakeModule the way main.ts does (raw body, no parser) on 127.0.0.1. */
async function startApp(options: IntakeOptions, handler?: Handler): Promise<RunningApp> {
  const moduleRef = await Test.createTestingModule({
    imports: [IntakeModule.register(options)],
  }).compile();
  const app = moduleRef.createNestApplication({ bodyParser: false, logger: false });
  const dispatcher = app.get(EventDispatcher);
  if (handler) {
    // Registered before listen(), as a feature module's onModuleInit would, so resume sees it.
    dispatcher.on('pull_request', 'labeled', handler);
  }
  await app.listen(0, '127.0.0.1');
  apps.push(app);
  const { port } = (app.getHttpServer() as Server).address() as AddressInfo;
  return { app, url: `http://127.0.0.1:${port}`, inbox: app.get(Inbox), dispatcher };
}

/** What the intake left on disk, write probe and process lock aside. */
async function storedFiles(stateDir: string): Promise<string[]> {
  try {
    const names = await readdir(join(stateDir, 'inbox'), { recursive: true, withFileTypes: true });
    return names
      .filter((d) => d.isFile() && d.name !== '.write-probe' && d.name !== 'lock')
      .map((d) => join(d.parentPath, d.name));
  } catch {
    return [];
  }
}

/** A delivery signed and shaped as GitHub sends it; `headers` replace GitHub's. */
async function signedPost(url: string, body: string, headers: Record<string, string> = {}) {
  const delivery = await signedDelivery(body, { secret: SECRET });
  return request(url).post('/').set(delivery.headers).set(headers).send(delivery.body);
}

let stateDir: string;
let deliveryCounter = 0;
const newDeliveryId = (): string =>
  `72d3162e-cc78-11e3-81ab-${String(++deliveryCounter).padStart(12, '0')}`;

beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'webhook-e2e-'));
});

afterEach(async () => {
  while (apps.length > 0) {
    await apps.pop()!.close();
  }
  await rm(stateDir, { recursive: true, force: true });
});

afterAll(async () => {
  while (apps.length > 0) {
    await apps.pop()!.close();
  }
});

describe('POST / (webhook intake)', () => {
  it('answers 202 before the handler finishes, then runs the handler once with the payload', async () => {
    const calls: InboxEntry[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { url, dispatcher } = await startApp(configFor(stateDir), async (d) => {
      calls.push(d);
      await gate;
    });
    const payload = labeledPullRequestPayload({
      label: 'bot:build',
      number: 42,
      repo: 'EESSI/software-layer',
      sender: 'maintainer',
    });
    const id = newDeliveryId();

    const res = await signedPost(url, JSON.stringify(payload), { 'X-GitHub-Delivery': id });

    expect(res.status).toBe(202);
    expect(res.body).toEqual({ status: 'accepted' });
    release();
    await dispatcher.drain();
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ id, event: 'pull_request', action: 'labeled' });
    expect(calls[0].payload).toMatchObject({
      number: 42,
      label: { name: 'bot:build' },
      sender: { login: 'maintainer' },
      repository: { full_name: 'EESSI/software-layer' },
    });
  });

  it('answers 200 duplicate for a delivery id seen before, and does not run the handler again', async () => {
    let calls = 0;
    const { url, dispatcher } = await startApp(configFor(stateDir), async () => void (calls += 1));
    const body = JSON.stringify(labeledPullRequestPayload({ label: 'bot:build' }));
    const id = newDeliveryId();

    expect((await signedPost(url, body, { 'X-GitHub-Delivery': id })).status).toBe(202);
    await dispatcher.drain();
    const again = await signedPost(url, body, { 'X-GitHub-Delivery': id });
    await dispatcher.drain();

    expect(again.status).toBe(200);
    expect(again.body).toEqual({ status: 'duplicate' });
    expect(calls).toBe(1);
  });

  it('accepts the form-encoded content type (payload field), signed over the form body', async () => {
    const calls: InboxEntry[] = [];
    const { url, dispatcher } = await startApp(
      configFor(stateDir),
      async (d) => void calls.push(d),
    );
    const json = JSON.stringify(labeledPullRequestPayload({ label: 'bot:build', number: 7 }));
    const form = `payload=${encodeURIComponent(json)}`;

    const res = await signedPost(url, form, {
      'X-GitHub-Delivery': newDeliveryId(),
      'Content-Type': 'application/x-www-form-urlencoded',
    });

    expect(res.status).toBe(202);
    await dispatcher.drain();
    expect(calls.map((c) => c.payload.number)).toEqual([7]);
  });

  it('verifies the raw bytes: odd whitespace, escapes and a charset parameter are accepted', async () => {
    const calls: InboxEntry[] = [];
    const { url, dispatcher } = await startApp(
      configFor(stateDir),
      async (d) => void calls.push(d),
    );
    const payload = labeledPullRequestPayload({ title: 'caf\u00e9 \u{1F680}' });
    const body = `\n${JSON.stringify(payload, null, 3).replace('"labeled"', '"label\\u0065d"')}  \n`;

    const res = await signedPost(url, body, {
      'X-GitHub-Delivery': newDeliveryId(),
      'Content-Type': 'application/json; charset=utf-8',
    });

    expect(res.status).toBe(202);
    await dispatcher.drain();
    expect((calls[0].payload.pull_request as { title: string }).title).toBe('caf\u00e9 \u{1F680}');
  });

  it('answers 401 for a wrong, tampered or missing signature and stores none of them', async () => {
    let calls = 0;
    const { url, dispatcher, inbox } = await startApp(
      configFor(stateDir),
      async () => void (calls += 1),
    );
    const body = JSON.stringify(labeledPullRequestPayload());
    const post = (signature?: string, sent = body) => {
      const req = request(url)
        .post('/')
        .set('Content-Type', 'application/json')
        .set('X-GitHub-Event', 'pull_request')
        .set('X-GitHub-Delivery', newDeliveryId());
      return (signature ? req.set('X-Hub-Signature-256', signature) : req).send(sent);
    };

    const wrong = await post(await signBody('not the secret', body));
    const tampered = await post(
      await signBody(SECRET, body),
      body.replace('"labeled"', '"unlabeled"'),
    );
    const missing = await post();
    const valid = await post(await signBody(SECRET, body));
    await dispatcher.drain();

    expect([wrong.status, tampered.status, missing.status, valid.status]).toEqual([
      401, 401, 401, 202,
    ]);
    expect(wrong.body).toEqual({ error: 'signature mismatch' });
    expect(tampered.body).toEqual({ error: 'signature mismatch' });
    expect(missing.body).toEqual({ error: 'missing X-Hub-Signature-256' });
    // Only the correctly signed delivery reached the inbox and the handler.
    expect(calls).toBe(1);
    expect(await inbox.counts()).toEqual({ pending: 0, failed: 0, done: 1 });
    const journal = await readFile(join(stateDir, 'inbox/journal/00000001.log'), 'utf8');
    expect(journal.match(/^\{"id":/gm)).toHaveLength(1);
  });

  it('stores nothing at all when every request is unsigned', async () => {
    const { url } = await startApp(configFor(stateDir));
    const res = await request(url)
      .post('/')
      .set('Content-Type', 'application/json')
      .set('X-GitHub-Event', 'pull_request')
      .set('X-GitHub-Delivery', newDeliveryId())
      .set('X-Hub-Signature-256', 'sha256=' + '0'.repeat(64))
      .send('{}');
    expect(res.status).toBe(401);
    expect(await storedFiles(stateDir)).toEqual([]);
  });

  it('answers 415 for other content types', async () => {
    const { url } = await startApp(configFor(stateDir));
    const body = JSON.stringify(labeledPullRequestPayload());
    const res = await signedPost(url, body, {
      'X-GitHub-Delivery': newDeliveryId(),
      'Content-Type': 'text/plain',
    });
    expect(res.status).toBe(415);
    expect(await storedFiles(stateDir)).toEqual([]);
  });

  it('answers 413 for a 26 MiB body and stores nothing', async () => {
    const { url } = await startApp(configFor(stateDir));
    // A string: superagent would JSON-encode a Buffer sent as application/json.
    const big = `{"padding":"${' '.repeat(26 * 1024 * 1024)}"}`;
    const res = await request(url)
      .post('/')
      .set('Content-Type', 'application/json')
      .set('X-GitHub-Event', 'pull_request')
      .set('X-GitHub-Delivery', newDeliveryId())
      .set('X-Hub-Signature-256', 'sha256=' + '0'.repeat(64))
      .send(big);
    expect(res.status).toBe(413);
    expect(await storedFiles(stateDir)).toEqual([]);
  });

  it('answers 413 to a chunked body without Content-Length as soon as it passes 25 MiB', async () => {
    const { url } = await startApp(configFor(stateDir));
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    let sent = 0;
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${url}/`, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'X-GitHub-Event': 'pull_request',
          'X-GitHub-Delivery': newDeliveryId(),
          'Transfer-Encoding': 'chunked',
        },
      });
      let answered = false;
      req.on('response', (res) => {
        answered = true;
        resolve(res.statusCode ?? 0);
        // A client that got its answer gives up on the rest of the body.
        req.destroy();
      });
      req.on('error', (error) => (answered ? undefined : reject(error)));
      const pump = (): void => {
        // Keep sending until the server answers: it must not wait for the end of an endless body.
        while (!answered && sent < 100) {
          sent += 1;
          if (!req.write(chunk)) {
            req.once('drain', pump);
            return;
          }
        }
        if (!answered) {
          req.end();
        }
      };
      pump();
    });
    expect(status).toBe(413);
    expect(sent).toBeLessThan(100);
    expect(await storedFiles(stateDir)).toEqual([]);
  });

  it.each([
    ['no X-GitHub-Event', { 'X-GitHub-Delivery': 'abc-1' }, '{}'],
    ['no X-GitHub-Delivery', { 'X-GitHub-Event': 'pull_request' }, '{}'],
    [
      'a delivery id that is a path',
      { 'X-GitHub-Event': 'pull_request', 'X-GitHub-Delivery': '../../x' },
      '{}',
    ],
    [
      'malformed JSON',
      { 'X-GitHub-Event': 'pull_request', 'X-GitHub-Delivery': 'abc-2' },
      '{"action": ',
    ],
    [
      'a JSON array',
      { 'X-GitHub-Event': 'pull_request', 'X-GitHub-Delivery': 'abc-3' },
      '[{"action":"labeled"}]',
    ],
    [
      'a JSON string',
      { 'X-GitHub-Event': 'pull_request', 'X-GitHub-Delivery': 'abc-4' },
      '"labeled"',
    ],
  ])('answers 400 for %s (signed) and stores nothing', async (_name, headers, body) => {
    const { url } = await startApp(configFor(stateDir));
    const res = await request(url)
      .post('/')
      .set('Content-Type', 'application/json')
      .set('X-Hub-Signature-256', await signBody(SECRET, body))
      .set(headers)
      .send(body);
    expect(res.status).toBe(400);
    expect(typeof res.body.error).toBe('string');
    expect(await storedFiles(stateDir)).toEqual([]);
  });

  it('answers 400 for a form body without a payload field', async () => {
    const { url } = await startApp(configFor(stateDir));
    const form = 'data=%7B%7D';
    const res = await signedPost(url, form, {
      'X-GitHub-Delivery': newDeliveryId(),
      'Content-Type': 'application/x-www-form-urlencoded',
    });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'form body has no payload field' });
  });

  it('serves only POST / itself: other paths and methods still reach the Nest router', async () => {
    const { url } = await startApp(configFor(stateDir));
    const delivery = await signedDelivery(labeledPullRequestPayload(), {
      secret: SECRET,
      id: newDeliveryId(),
    });
    const elsewhere = await request(url)
      .post('/elsewhere')
      .set(delivery.headers)
      .send(delivery.body);
    const get = await request(url).get('/');

    expect([elsewhere.status, get.status]).toEqual([404, 404]);
    expect(elsewhere.body).toMatchObject({ statusCode: 404 }); // Nest's own answer
    expect(await storedFiles(stateDir)).toEqual([]);
    expect((await request(url).get('/health')).status).toBe(200);
  });

  it('answers 503 while shutting down', async () => {
    const { url, inbox } = await startApp(configFor(stateDir));
    inbox.close();
    const res = await signedPost(url, JSON.stringify(labeledPullRequestPayload()), {
      'X-GitHub-Delivery': newDeliveryId(),
    });
    expect(res.status).toBe(503);
    expect(await storedFiles(stateDir)).toEqual([]);
  });

  it('answers 500 and stores nothing when no webhook secret is configured', async () => {
    const { url } = await startApp(configFor(stateDir, ''));
    const body = JSON.stringify(labeledPullRequestPayload());
    const res = await signedPost(url, body, { 'X-GitHub-Delivery': newDeliveryId() });
    expect(res.status).toBe(500);
    expect(await storedFiles(stateDir)).toEqual([]);
  });
});

describe('crash recovery', () => {
  it('a delivery accepted by a process killed mid-handler is processed exactly once by the next', async () => {
    // First process: accepts, starts the handler, and "dies" before it finishes (never resolves).
    const firstCalls: string[] = [];
    const first = await startApp(configFor(stateDir), (d) => {
      firstCalls.push(d.id);
      return new Promise<void>(() => undefined);
    });
    const id = newDeliveryId();
    const body = JSON.stringify(labeledPullRequestPayload({ label: 'bot:build', number: 99 }));
    expect((await signedPost(first.url, body, { 'X-GitHub-Delivery': id })).status).toBe(202);
    while (firstCalls.length === 0) {
      await new Promise((r) => setTimeout(r, 10));
    }
    // A kill runs no shutdown hooks: drop the server and abandon the app.
    apps.splice(apps.indexOf(first.app), 1);
    const firstServer = first.app.getHttpServer() as Server;
    firstServer.closeAllConnections();
    await new Promise((r) => firstServer.close(r));

    const secondCalls: InboxEntry[] = [];
    const second = await startApp(configFor(stateDir), async (d) => void secondCalls.push(d));
    await second.dispatcher.drain();
    expect(secondCalls.map((d) => d.id)).toEqual([id]);
    expect(secondCalls[0].payload).toMatchObject({ number: 99, label: { name: 'bot:build' } });
    // GitHub redelivering it now changes nothing.
    expect((await signedPost(second.url, body, { 'X-GitHub-Delivery': id })).status).toBe(200);
    await second.app.close();
    apps.splice(apps.indexOf(second.app), 1);

    const thirdCalls: string[] = [];
    const third = await startApp(configFor(stateDir), async (d) => void thirdCalls.push(d.id));
    await third.dispatcher.drain();
    expect(thirdCalls).toEqual([]);
    expect(firstCalls).toEqual([id]);
  });
});

describe('GET /health', () => {
  it('reports version, uptime and inbox counts (a failed delivery counts as failed)', async () => {
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8'));
    const { url, dispatcher } = await startApp(configFor(stateDir), async (d) => {
      if (d.payload.number === 13) {
        throw new Error('no such target');
      }
    });
    for (const number of [12, 13]) {
      const body = JSON.stringify(labeledPullRequestPayload({ number }));
      expect((await signedPost(url, body, { 'X-GitHub-Delivery': newDeliveryId() })).status).toBe(
        202,
      );
    }
    await dispatcher.drain();

    const res = await request(url).get('/health');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: 'ok',
      version: pkg.version,
      inbox: { pending: 0, failed: 1 },
    });
    expect(typeof res.body.uptimeSeconds).toBe('number');
  });

  it('counts deliveries still pending', async () => {
    const { url, dispatcher } = await startApp(configFor(stateDir), async () => undefined);
    dispatcher.stop();
    const body = JSON.stringify(labeledPullRequestPayload());
    await signedPost(url, body, { 'X-GitHub-Delivery': newDeliveryId() });
    await signedPost(url, body, { 'X-GitHub-Delivery': newDeliveryId() });

    const res = await request(url).get('/health');
    expect(res.body.inbox).toEqual({
      pending: 2,
      failed: 0,
      oldestPendingSeconds: expect.any(Number),
    });
  });

  it('answers 503 degraded when the state directory cannot be written, and refuses deliveries', async () => {
    // chmod 0555 does not stop root (CI); a regular file where a parent directory should be does.
    const blocker = join(stateDir, 'not-a-directory');
    await writeFile(blocker, '');
    const { url } = await startApp(configFor(join(blocker, 'state')));

    const health = await request(url).get('/health');
    expect(health.status).toBe(503);
    expect(health.body).toMatchObject({
      status: 'degraded',
      reason: 'state directory not writable',
    });

    const body = JSON.stringify(labeledPullRequestPayload());
    const res = await signedPost(url, body, { 'X-GitHub-Delivery': newDeliveryId() });
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ error: 'could not store the delivery' });
  });
});
