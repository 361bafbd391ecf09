/**
 * /metrics, /health, /status.json and their access rules on the app as main.ts wires it
 * (AppModule: intake, builds, job manager on its timer, monitoring), with FakeSlurm and
 * FakeGitHub over HTTP. /metrics is read with a Prometheus text parser.
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, jest } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { AppModule } from '../../src/app.module.js';
import { hashPassword } from '../../src/common/password-hash.js';
import type { AppConfig, EventHandlerConfig } from '../../src/config/app-config.js';
import { GITHUB_CLIENT_OPTIONS } from '../../src/github/github.client.js';
import { EventDispatcher } from '../../src/intake/event-dispatcher.js';
import { DeliveryStates } from '../../src/intake/inbox/delivery-states.js';
import { inboxLayout } from '../../src/intake/inbox/inbox-layout.js';
import { SLURM } from '../../src/slurm/slurm.tokens.js';
import { FAST_GITHUB_CLIENT_OPTIONS, FakeGitHub } from '../fakes/fake-github.server.js';
import { FakeSlurm } from '../fakes/fake-slurm.js';
import { createTrackedJob } from '../support/job-fixture.js';
import {
  createJobManagerTestEnv,
  TEST_APP_ID,
  TEST_INSTALLATION_ID,
  type JobManagerTestEnv,
} from '../support/job-manager-env.js';
import { labeledPullRequestPayload, type Json } from '../support/payloads.js';
import { family, parseMetrics, sampleValue } from '../support/prometheus.js';
import { cleanupAfterEach, quietNestLogger, signBody } from '../support/test-kit.js';

const SECRET = 'monitoring e2e secret';
jest.setTimeout(30_000);
quietNestLogger();
const cleanup = cleanupAfterEach();

interface World {
  readonly env: JobManagerTestEnv;
  readonly config: AppConfig;
  readonly github: FakeGitHub;
  readonly slurm: FakeSlurm;
  readonly app: INestApplication;
  readonly url: string;
}

async function world(
  opts: {
    eventHandler?: Partial<EventHandlerConfig>;
    beforeListen?: (app: INestApplication, config: AppConfig) => Promise<void> | void;
    beforeBoot?: (config: AppConfig) => Promise<void>;
  } = {},
): Promise<World> {
  const env = await createJobManagerTestEnv();
  cleanup.defer(() => env.remove());
  const github = new FakeGitHub({
    appId: TEST_APP_ID,
    installationId: TEST_INSTALLATION_ID,
    publicKey: env.publicKey,
  });
  await github.start();
  cleanup.defer(() => github.stop());
  const base = env.config(github.url, 1);
  const config: AppConfig = {
    ...base,
    github: { ...base.github, webhookSecret: SECRET },
    eventHandler: { ...base.eventHandler, ...opts.eventHandler },
  };
  await opts.beforeBoot?.(config);
  const slurm = new FakeSlurm({ firstJobId: 7000 });
  const moduleRef = await Test.createTestingModule({
    imports: [AppModule.register({ config, eventHandler: true, jobManagerAutostart: true })],
  })
    .overrideProvider(SLURM)
    .useValue(slurm)
    .overrideProvider(GITHUB_CLIENT_OPTIONS)
    .useValue(FAST_GITHUB_CLIENT_OPTIONS)
    .compile();
  const app = moduleRef.createNestApplication({ bodyParser: false, logger: false });
  await opts.beforeListen?.(app, config);
  await app.listen(0, '127.0.0.1');
  cleanup.defer(() => app.close());
  const { port } = (app.getHttpServer() as Server).address() as AddressInfo;
  return { env, config, github, slurm, app, url: `http://127.0.0.1:${port}` };
}

async function deliver(
  url: string,
  event: string,
  payload: unknown,
  opts: { id?: string; secret?: string; contentType?: string } = {},
): Promise<number> {
  const body = JSON.stringify(payload);
  const res = await fetch(`${url}/`, {
    method: 'POST',
    headers: {
      'content-type': opts.contentType ?? 'application/json',
      'x-github-event': event,
      'x-github-delivery': opts.id ?? randomUUID(),
      'x-hub-signature-256': await signBody(opts.secret ?? SECRET, body),
    },
    body,
  });
  await res.arrayBuffer();
  return res.status;
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, ms = 15_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting until ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function health(url: string): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${url}/health`);
  return { status: res.status, body: (await res.json()) as Json };
}

describe('GET /metrics after known traffic', () => {
  it('counts deliveries by event and outcome, answers by status, polls, GitHub requests and the rate limit', async () => {
    const w = await world();
    // A held job with its comment, for the job manager to release and report.
    const { jobId } = await w.slurm.submit({
      workDir: '/unused',
      schedulerArgs: ['--hold'],
      jobName: w.config.buildenv.jobName,
      script: w.config.buildenv.buildJobScript,
      scriptArgs: [],
    });
    const comment = w.github.seedComment('EESSI/software-layer', 42, 'job submitted');
    await createTrackedJob({
      jobIdsDir: w.env.jobIdsDir,
      jobsBaseDir: w.env.jobsBaseDir,
      jobId,
      commentId: comment.id,
      rows: ['submitted'],
    });
    w.github.setRateLimitRemaining(4321);

    const payload = labeledPullRequestPayload({ label: 'documentation' });
    const repeated = randomUUID();
    const statuses = [
      await deliver(w.url, 'pull_request', payload, { id: repeated }),
      await deliver(w.url, 'pull_request', payload),
      await deliver(w.url, 'pull_request', payload),
      await deliver(w.url, 'pull_request', payload, { id: repeated }),
      await deliver(w.url, 'ping', { zen: 'Design for failure.', hook_id: 1 }),
      await deliver(w.url, 'pull_request', payload, { secret: 'not the secret' }),
      await deliver(w.url, 'pull_request', payload, { contentType: 'text/plain' }),
    ];
    expect(statuses).toEqual([202, 202, 202, 200, 202, 401, 415]);
    await w.app.get(EventDispatcher).drain();
    await waitFor('the job manager released the job and updated its comment', () =>
      w.github.comment(comment.id)!.body.includes('awaits launch'),
    );

    const res = await fetch(`${w.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const metrics = parseMetrics(await res.text());
    const value = (name: string, labels: Record<string, string> = {}) =>
      sampleValue(metrics, name, labels);

    for (const [status, count] of [
      ['202', 4],
      ['200', 1],
      ['401', 1],
      ['415', 1],
    ] as const) {
      expect(value('eessi_bot_webhook_responses_total', { status })).toBe(count);
    }
    expect(family(metrics, 'eessi_bot_webhook_responses_total').type).toBe('COUNTER');
    expect(
      value('eessi_bot_deliveries_received_total', { event: 'pull_request', outcome: 'accepted' }),
    ).toBe(3);
    expect(
      value('eessi_bot_deliveries_received_total', { event: 'pull_request', outcome: 'duplicate' }),
    ).toBe(1);
    expect(
      value('eessi_bot_deliveries_received_total', { event: 'ping', outcome: 'accepted' }),
    ).toBe(1);
    expect(
      value('eessi_bot_deliveries_processed_total', { event: 'pull_request', outcome: 'done' }),
    ).toBe(3);
    expect(
      value('eessi_bot_deliveries_processed_total', { event: 'ping', outcome: 'ignored' }),
    ).toBe(1);
    expect(value('eessi_bot_inbox_pending_deliveries')).toBe(0);
    expect(value('eessi_bot_inbox_oldest_pending_age_seconds')).toBe(0);
    expect(value('eessi_bot_jobs', { state: 'released' })).toBe(1);
    expect(value('eessi_bot_jobs', { state: 'running' })).toBe(0);

    expect(value('eessi_bot_job_manager_poll_interval_seconds')).toBe(1);
    expect(
      value('eessi_bot_job_manager_ticks_total', { outcome: 'completed' }),
    ).toBeGreaterThanOrEqual(1);
    expect(value('eessi_bot_job_manager_seconds_since_squeue_success')).toBeLessThan(5);
    const ticks = family(metrics, 'eessi_bot_job_manager_tick_duration_seconds');
    expect(ticks.type).toBe('HISTOGRAM');
    // Cumulative counts in order of `le` (the parser hands them over as an object).
    const buckets = Object.entries(ticks.metrics[0].buckets!)
      .map(([le, count]) => [Number(le.replace('+Inf', 'Infinity')), Number(count)])
      .sort(([a], [b]) => a - b)
      .map(([, count]) => count);
    expect(buckets).toEqual([...buckets].sort((a, b) => a - b));
    expect(Number(ticks.metrics[0].count)).toBeGreaterThanOrEqual(1);
    expect(buckets.at(-1)).toBe(Number(ticks.metrics[0].count));

    // The token was minted (201, App JWT) and the comment read and updated (200).
    expect(value('eessi_bot_github_requests_total', { status: '201' })).toBeGreaterThanOrEqual(1);
    expect(value('eessi_bot_github_requests_total', { status: '200' })).toBeGreaterThanOrEqual(1);
    expect(value('eessi_bot_github_rate_limit_remaining', { resource: 'core' })).toBe(
      w.github.rateLimitRemaining,
    );
    expect(value('eessi_bot_github_rate_limit_limit', { resource: 'core' })).toBe(5000);
    expect(family(metrics, 'eessi_bot_info').metrics[0].labels).toMatchObject({
      app_name: 'eessi-bot-test',
    });
    expect(value('process_resident_memory_bytes')).toBeGreaterThan(0);
  });
});

describe('GET /health', () => {
  it('turns degraded while squeue keeps failing, and ok again once a poll completes', async () => {
    const w = await world();
    await createTrackedJob({
      jobIdsDir: w.env.jobIdsDir,
      jobsBaseDir: w.env.jobsBaseDir,
      jobId: '9999',
      rows: ['submitted'],
    });
    w.slurm.setUnavailable(true);

    await waitFor('/health is degraded', async () => (await health(w.url)).status === 503, 10_000);
    const degraded = await health(w.url);
    expect(degraded.body).toMatchObject({
      status: 'degraded',
      reason: expect.stringMatching(/^the job manager has not completed a poll for \d+ s$/),
      jobManager: { pollIntervalSeconds: 1 },
    });
    const metrics = parseMetrics(await (await fetch(`${w.url}/metrics`)).text());
    expect(
      sampleValue(metrics, 'eessi_bot_job_manager_ticks_total', { outcome: 'skipped' }),
    ).toBeGreaterThanOrEqual(3);
    expect(sampleValue(metrics, 'eessi_bot_job_manager_seconds_without_tick')).toBeGreaterThan(3);

    w.slurm.setUnavailable(false);
    await waitFor('/health is ok again', async () => (await health(w.url)).status === 200, 10_000);
  });

  it('turns degraded while a delivery has been pending for over 5 minutes', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let started = false;
    const stuckId = randomUUID();
    const w = await world({
      // A delivery stored 6 minutes ago by a process that died before handling it.
      beforeBoot: async (config) => {
        const states = DeliveryStates.at(inboxLayout(config.eventHandler.stateDir));
        states.append(
          {
            id: stuckId,
            event: 'workflow_job',
            action: 'queued',
            receivedAt: new Date(Date.now() - 6 * 60_000).toISOString(),
            sequence: (Date.now() - 6 * 60_000) * 1000,
          },
          {},
          Buffer.from(JSON.stringify({ action: 'queued' })),
        );
        await states.durable();
        states.journal.close();
      },
      // A handler that hangs (a stuck clone, say) until the test lets it go (also if it fails).
      beforeListen: (app) =>
        app.get(EventDispatcher).on('workflow_job', '*', async () => {
          started = true;
          await gate;
        }),
    });
    cleanup.defer(async () => release());
    await waitFor('the stuck delivery is being handled', () => started);

    const degraded = await health(w.url);
    expect(degraded.status).toBe(503);
    expect(degraded.body.reason).toMatch(/^a delivery has been pending for 3[6-9]\d s$/);
    expect(degraded.body.inbox).toMatchObject({ pending: 1 });
    const metrics = parseMetrics(await (await fetch(`${w.url}/metrics`)).text());
    expect(sampleValue(metrics, 'eessi_bot_inbox_oldest_pending_age_seconds')).toBeGreaterThan(359);
    expect(sampleValue(metrics, 'eessi_bot_inbox_pending_deliveries')).toBe(1);

    release();
    await w.app.get(EventDispatcher).drain();
    expect(await health(w.url)).toMatchObject({ status: 200, body: { status: 'ok' } });
  });
});

describe('access to /status, /status.json and /metrics', () => {
  it('answers loopback clients by default and lists the jobs with links to PR and comment', async () => {
    const w = await world();
    await createTrackedJob({
      jobIdsDir: w.env.jobIdsDir,
      jobsBaseDir: w.env.jobsBaseDir,
      jobId: '501',
      prNumber: 12,
      commentId: 777,
      rows: ['submitted'],
    });

    const res = await fetch(`${w.url}/status.json?pr=12`);
    expect(res.status).toBe(200);
    const report = (await res.json()) as Json;
    expect(report.instance).toMatchObject({ name: 'eessi-bot-test' });
    expect(report.inbox).toEqual({ pending: 0, failed: 0 });
    expect(report.relay).toBeNull();
    expect(report.jobs).toMatchObject({
      windowDays: 14,
      pr: 12,
      matching: 1,
      items: [
        {
          jobId: '501',
          repo: 'EESSI/software-layer',
          pr: 12,
          state: 'submitted',
          prUrl: `${w.github.url}/EESSI/software-layer/pull/12`,
          commentUrl: `${w.github.url}/EESSI/software-layer/pull/12#issuecomment-777`,
        },
      ],
    });
    expect(JSON.stringify(report)).not.toContain(w.config.github.privateKeyPath);
    expect((await (await fetch(`${w.url}/status.json?pr=13`)).json()) as object).toMatchObject({
      jobs: { matching: 0, items: [] },
    });
    expect((await fetch(`${w.url}/status.json?pr=abc`)).status).toBe(400);
  });

  it('refuses clients outside status_bind, while the webhook stays open', async () => {
    const w = await world({ eventHandler: { statusBind: ['10.9.8.7', '192.168.0.0/16'] } });

    for (const path of ['/status', '/status.json', '/metrics']) {
      const res = await fetch(`${w.url}${path}`);
      expect([path, res.status]).toEqual([path, 403]);
      expect(await res.text()).toContain('status_bind');
    }
    expect(await deliver(w.url, 'ping', { zen: 'x', hook_id: 1 })).toBe(202);
    expect((await health(w.url)).status).toBe(200);
  });

  it('asks for the status_auth user and password, compared against its scrypt hash', async () => {
    const auth = { user: 'ops', passwordHash: await hashPassword('open sesame') };
    const w = await world({ eventHandler: { statusAuth: auth } });
    const basic = (user: string, password: string) => ({
      authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
    });

    const anonymous = await fetch(`${w.url}/metrics`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    expect((await fetch(`${w.url}/status`, { headers: basic('ops', 'wrong') })).status).toBe(401);
    expect((await fetch(`${w.url}/status`, { headers: basic('root', 'open sesame') })).status).toBe(
      401,
    );
    const ok = await fetch(`${w.url}/status`, { headers: basic('ops', 'open sesame') });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    expect(await ok.text()).toContain('<h1>eessi-bot <span>eessi-bot-test</span></h1>');
  });
});
