/**
 * The deploy flow wired by Nest as in production (ConfigModule, GitHubModule, DeployModule with
 * the real JobStore and JobCommentsService), the real GitHubClient against FakeGitHub, progress
 * kept by the real DeliveryProgressStore, and jobs laid out on disk the way builds leaves them.
 * With `http`, the whole app as `serve` runs it instead (AppModule on a port, FakeSlurm): the
 * deploy label arrives as a signed webhook, and /metrics can be read.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Logger, type INestApplication } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { githubModuleOptionsOf } from '../../src/app-options.js';
import { AppModule } from '../../src/app.module.js';
import { JobStore } from '../../src/builds/job-store.js';
import type { DeployConfig } from '../../src/config/app-config.js';
import {
  DEFAULT_DEPLOY_LABEL,
  DEFAULT_NO_DEPLOY_PERMISSION_COMMENT,
} from '../../src/config/deploy-config.reader.js';
import { ConfigModule } from '../../src/config/config.module.js';
import { DeployModule } from '../../src/deploy/deploy.module.js';
import { DEPLOY_OPTIONS, DeployService } from '../../src/deploy/deploy.service.js';
import { DeliveryProgressStore } from '../../src/common/delivery-progress.js';
import { GITHUB_CLIENT_OPTIONS } from '../../src/github/github.client.js';
import { GitHubModule } from '../../src/github/github.module.js';
import { EventDispatcher } from '../../src/intake/event-dispatcher.js';
import { SLURM } from '../../src/slurm/slurm.tokens.js';
import { FAST_GITHUB_CLIENT_OPTIONS, FakeGitHub } from '../fakes/fake-github.server.js';
import { FakeSlurm } from '../fakes/fake-slurm.js';
import { createTrackedJob, FIXTURE_DEFAULTS, type JobFixture } from './job-fixture.js';
import { generateAppKeys, makeConfig, type AppKeys } from './make-config.js';
import { labeledPullRequestPayload } from './payloads.js';
import { parseMetrics, type MetricFamily } from './prometheus.js';
import { postDelivery, signedDelivery } from './signed-delivery.js';

export const REPO = FIXTURE_DEFAULTS.repo;
export const PR = FIXTURE_DEFAULTS.prNumber;
export const APP_NAME = FIXTURE_DEFAULTS.appName;
export const REPO_ID = 'eessi.io-2023.06-software';
export const MIB = 1024 * 1024;
const WEBHOOK_SECRET = 'deploy e2e webhook secret';

/** `[deploycfg]` as loadConfig returns it for `bucket_name = staging` and deployer alice. */
export function deployConfig(overrides: Partial<DeployConfig> = {}): DeployConfig {
  return {
    label: DEFAULT_DEPLOY_LABEL,
    bucketName: { kind: 'single', value: 'staging' },
    uploadPolicy: 'once',
    deployPermission: ['alice'],
    noDeployPermissionComment: DEFAULT_NO_DEPLOY_PERMISSION_COMMENT,
    metadataPrefix: { kind: 'single', value: '' },
    artefactPrefix: { kind: 'single', value: '' },
    signing: {},
    ...overrides,
  };
}

export interface JobSpec {
  readonly jobId: string;
  /** File name → content (a number: that many zero bytes, sparse). */
  readonly artefacts?: Readonly<Record<string, string | number>>;
  /** status in the result file; null: no result file. */
  readonly status?: 'SUCCESS' | 'FAILURE' | null;
  readonly repoId?: string | null;
  /** false: still tracked by the job manager (submitted/). */
  readonly finished?: boolean;
  /** Names listed in the result file; default: the artefacts. */
  readonly listed?: readonly string[];
  readonly appName?: string;
}

export interface DeployWorld {
  readonly root: string;
  readonly jobsBaseDir: string;
  readonly github: FakeGitHub;
  readonly deploy: DeployService;
  readonly store: JobStore;
  readonly progressDir: string;
  addJob(spec: JobSpec): Promise<JobFixture & { readonly commentId: number }>;
  /**
   * The deploy label from `sender` (default alice), as delivery `id`; with `http`, POSTed to the
   * app, resolving once the app has handled it.
   */
  deliver(opts?: { sender?: string; id?: string }): Promise<void>;
  /** GET /metrics, parsed (only with `http`). */
  metrics(): Promise<MetricFamily[]>;
  /** The job's PR comment as GitHub shows it now. */
  commentOf(job: { commentId: number }): string;
  /** Comments on the PR other than the job comments. */
  replies(): string[];
  close(): Promise<void>;
}

let keys: AppKeys | undefined;

export async function deployWorld(
  deploy: DeployConfig,
  options: { partSizeBytes?: number; http?: boolean } = {},
): Promise<DeployWorld> {
  Logger.overrideLogger(false);
  keys ??= generateAppKeys();
  const root = mkdtempSync(join(tmpdir(), 'eessi-bot-deploy-e2e-'));
  const github = new FakeGitHub({ appId: 1, installationId: 2, publicKey: keys.publicKey });
  await github.start();
  const config = makeConfig({
    root,
    github: {
      appName: APP_NAME,
      privateKey: keys.privateKey,
      apiUrl: github.url,
      webhookSecret: WEBHOOK_SECRET,
    },
    rest: { deploy },
  });
  const moduleRef = await Test.createTestingModule({
    imports: options.http
      ? [AppModule.register({ config, eventHandler: true, jobManagerAutostart: false })]
      : [
          ConfigModule.forConfig(config),
          GitHubModule.register(githubModuleOptionsOf(config)),
          DeployModule,
        ],
  })
    .overrideProvider(SLURM)
    .useValue(new FakeSlurm())
    .overrideProvider(GITHUB_CLIENT_OPTIONS)
    .useValue(FAST_GITHUB_CLIENT_OPTIONS)
    .overrideProvider(DEPLOY_OPTIONS)
    .useValue({ partSizeBytes: options.partSizeBytes, maxAttempts: 1 })
    .compile();
  const app = options.http ? await listen(moduleRef) : undefined;
  const url =
    app && `http://127.0.0.1:${((app.getHttpServer() as Server).address() as AddressInfo).port}`;
  const service = moduleRef.get(DeployService);
  const store = moduleRef.get(JobStore);
  const progressDir = join(root, 'progress');
  const progress = new DeliveryProgressStore(progressDir);
  const jobCommentIds = new Set<number>();
  let deliveries = 0;

  return {
    root,
    jobsBaseDir: config.buildenv.jobsBaseDir,
    github,
    deploy: service,
    store,
    progressDir,
    async addJob(spec) {
      const artefacts = spec.artefacts ?? {};
      const listed = spec.listed ?? Object.keys(artefacts);
      const status = spec.status === undefined ? 'SUCCESS' : spec.status;
      const files: Record<string, string> = {};
      for (const [name, content] of Object.entries(artefacts)) {
        if (typeof content === 'string') {
          files[name] = content;
        }
      }
      const repoId = spec.repoId === undefined ? REPO_ID : spec.repoId;
      files['cfg/job.cfg'] =
        repoId === null ? '[repository]\nrepo = x\n' : `[repository]\nrepo_id = ${repoId}\n`;
      const comment = github.seedComment(REPO, PR, `job ${spec.jobId} comment`);
      jobCommentIds.add(comment.id);
      const job = await createTrackedJob({
        jobIdsDir: config.jobManager.jobIdsDir,
        jobsBaseDir: config.buildenv.jobsBaseDir,
        jobId: spec.jobId,
        commentId: comment.id,
        appName: spec.appName,
        files,
        tarballs: Object.entries(artefacts)
          .filter(([, content]) => typeof content === 'number')
          .map(([name, sizeBytes]) => ({ name, sizeBytes: sizeBytes as number })),
        ...(status === null
          ? {}
          : {
              resultFile: [
                '[RESULT]',
                `comment_description = ${status}`,
                `status = ${status}`,
                'artefacts =',
                ...listed.map((name) => `    ${name}`),
                '',
              ].join('\n'),
            }),
      });
      if (spec.finished !== false) {
        await store.finish(spec.jobId);
      }
      return { ...job, commentId: comment.id };
    },
    async deliver(opts = {}) {
      const id = opts.id ?? `deploy-delivery-${++deliveries}`;
      const payload = labeledPullRequestPayload({
        label: deploy.label,
        sender: opts.sender ?? 'alice',
        repo: REPO,
        number: PR,
      });
      if (url === undefined) {
        await service.handleLabeled(
          { id, receivedAt: new Date().toISOString(), payload },
          progress.of(id),
        );
        return;
      }
      const delivery = await signedDelivery(payload, { secret: WEBHOOK_SECRET, id });
      const status = await postDelivery(`${url}/`, delivery);
      if (status !== 202 && status !== 200) {
        throw new Error(`POST / answered ${status}`);
      }
      await moduleRef.get(EventDispatcher).drain();
    },
    async metrics() {
      if (url === undefined) {
        throw new Error('/metrics needs deployWorld(…, { http: true })');
      }
      const res = await fetch(`${url}/metrics`);
      return parseMetrics(await res.text());
    },
    commentOf(job) {
      return github.comment(job.commentId)?.body ?? '';
    },
    replies() {
      return github
        .comments(REPO, PR)
        .filter((c) => !jobCommentIds.has(c.id))
        .map((c) => c.body);
    },
    async close() {
      await (app ?? moduleRef).close();
      await github.stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** The app as main.ts serves it (raw bodies for the signature check), on a free loopback port. */
async function listen(moduleRef: TestingModule): Promise<INestApplication> {
  const app = moduleRef.createNestApplication({ bodyParser: false, logger: false });
  await app.listen(0, '127.0.0.1');
  return app;
}
