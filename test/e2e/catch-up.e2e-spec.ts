/**
 * Missed-webhook catch-up with the built bot (`node dist/main.js serve`) and FakeGitHub playing
 * GitHub's webhook side: deliveries made while the bot was stopped fail (nobody listens), the bot
 * starts, lists the App's deliveries with its JWT, asks for those redeliveries, and handles each
 * missed delivery once. Deliveries that succeeded, were redelivered already, are too old, belong
 * to another installation, or that the bot stored although GitHub logged a failure are left alone.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { FakeGitHub } from '../fakes/fake-github.server.js';
import { botEnv, writeBotConfig } from '../support/bot-config.js';
import { freePort, startServer, stopAllBots } from '../support/bot-process.js';
import { TEST_APP_ID, TEST_INSTALLATION_ID, testAppKeys } from '../support/job-manager-env.js';
import { labeledPullRequestPayload } from '../support/payloads.js';
import { parseMetrics, sampleValue } from '../support/prometheus.js';

jest.setTimeout(90_000);

const SECRET = 'catch-up e2e secret';
const root = mkdtempSync(join(tmpdir(), 'catch-up-e2e-'));
let github: FakeGitHub;

beforeAll(async () => {
  github = new FakeGitHub({
    appId: TEST_APP_ID,
    installationId: TEST_INSTALLATION_ID,
    publicKey: testAppKeys().publicKey,
  });
  await github.start();
});

afterAll(async () => {
  await stopAllBots();
  await github.stop();
  rmSync(root, { recursive: true, force: true });
});

function writeConfig(): string {
  return writeBotConfig({
    root,
    privateKey: testAppKeys().privateKey,
    appId: TEST_APP_ID,
    appName: 'catch-up-bot',
    installationId: TEST_INSTALLATION_ID,
    apiUrl: github.url,
    redeliverIntervalSeconds: 1,
  });
}

const env = botEnv(SECRET);

/** A label the build handler reads and declines: handled (outcome=done) without any job. */
const payloadFor = (pr: number) =>
  labeledPullRequestPayload({ label: 'documentation', number: pr });

describe('missed-webhook catch-up', () => {
  it('has GitHub redeliver what failed while the bot was down, and handles each once', async () => {
    const config = writeConfig();
    const port = await freePort();
    github.hooks.configure({ url: `http://127.0.0.1:${port}/`, secret: SECRET });
    const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000);
    // History the bot must leave alone.
    const succeeded = github.hooks.record({
      event: 'pull_request',
      statusCode: 202,
      deliveredAt: minutesAgo(10),
    });
    const retried = randomUUID();
    github.hooks.record({
      event: 'pull_request',
      guid: retried,
      statusCode: 0,
      deliveredAt: minutesAgo(30),
    });
    github.hooks.record({
      event: 'pull_request',
      guid: retried,
      statusCode: 202,
      redelivery: true,
      deliveredAt: minutesAgo(25),
    });
    const tooOld = github.hooks.record({
      event: 'pull_request',
      statusCode: 0,
      deliveredAt: minutesAgo(4 * 24 * 60),
    });
    const otherInstallation = github.hooks.record({
      event: 'pull_request',
      statusCode: 0,
      deliveredAt: minutesAgo(20),
      installationId: TEST_INSTALLATION_ID + 1,
    });

    // First run: the bot stores a delivery although GitHub logs a failure (a proxy's 502).
    const first = await startServer({ config, env, jobManager: true, port, label: 'serve#1' });
    await first.waitForLine(/catch-up: \d+ deliveries since .*, 0 missed, redelivery asked for 0$/);
    const stored = await github.hooks.send('pull_request', payloadFor(1), {
      recordAs: { statusCode: 502, status: 'Invalid HTTP Response: 502' },
    });
    await first.waitForLine(new RegExp(`delivery ${stored.guid} .*outcome=done`));
    const passesBefore = first.linesMatching(/catch-up: /).length;
    await waitFor(
      'two more passes',
      () => first.linesMatching(/catch-up: /).length >= passesBefore + 2,
    );
    expect(github.hooks.redeliveryRequests).toEqual([]);
    expect((await first.stop()).code).toBe(0);

    // While it is stopped, three deliveries fail: nobody listens.
    const missed = [];
    for (const pr of [11, 12, 13]) {
      missed.push(await github.hooks.send('pull_request', payloadFor(pr)));
    }
    expect(missed.map((a) => a.statusCode)).toEqual([0, 0, 0]);

    const second = await startServer({ config, env, jobManager: true, port, label: 'serve#2' });
    await second.waitForLine(
      /catch-up: \d+ deliveries since .*, 3 missed, redelivery asked for 3$/,
    );
    await github.hooks.idle();
    for (const attempt of missed) {
      await second.waitForLine(
        new RegExp(`delivery ${attempt.guid} pull_request\\.labeled .*outcome=done`),
      );
    }
    const passes = second.linesMatching(/catch-up: /).length;
    await waitFor('two more passes', () => second.linesMatching(/catch-up: /).length >= passes + 2);

    expect(github.hooks.redeliveryRequests).toEqual(missed.map((a) => a.id));
    for (const attempt of missed) {
      expect(second.linesMatching(new RegExp(`delivery ${attempt.guid} .*outcome=`))).toHaveLength(
        1,
      );
      expect(
        github.hooks.attemptsOf(attempt.guid).map((a) => [a.redelivery, a.statusCode]),
      ).toEqual([
        [false, 0],
        [true, 202],
      ]);
    }
    for (const left of [succeeded, tooOld, otherInstallation, stored]) {
      expect(github.hooks.attemptsOf(left.guid)).toHaveLength(1);
    }
    expect(github.hooks.attemptsOf(retried)).toHaveLength(2);
    // Listed and redelivered with the App's JWT, as GitHub requires.
    const hookRequests = github.requests.filter((r) => r.path.startsWith('/app/hook/'));
    expect(hookRequests.length).toBeGreaterThan(3);
    expect(new Set(hookRequests.map((r) => r.auth))).toEqual(new Set(['jwt']));
    expect(second.linesMatching(/catch-up: .*, [1-9]\d* missed/)).toHaveLength(1);

    const metrics = parseMetrics(await (await fetch(`${second.url}/metrics`)).text());
    expect(
      sampleValue(metrics, 'eessi_bot_catchup_redeliveries_total', { outcome: 'requested' }),
    ).toBe(3);
    expect(
      sampleValue(metrics, 'eessi_bot_catchup_passes_total', { outcome: 'completed' }),
    ).toBeGreaterThanOrEqual(3);
    expect(second.output()).not.toMatch(/ERROR|WARN/);
  });
});

async function waitFor(what: string, check: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
