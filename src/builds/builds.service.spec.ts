import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FAST_GITHUB_CLIENT_OPTIONS, FakeGitHub } from '../../test/fakes/fake-github.server.js';
import { FakeSlurm } from '../../test/fakes/fake-slurm.js';
import { newBuildsService } from '../../test/support/builds-module.js';
import { createGitFixture, type GitFixture } from '../../test/support/git-fixture.js';
import { generateAppKeys, makeConfig, type AppKeys } from '../../test/support/make-config.js';
import { labeledPullRequestPayload } from '../../test/support/payloads.js';
import { cleanupAfterEach, quietNestLogger } from '../../test/support/test-kit.js';
import type { AppConfig } from '../config/app-config.js';
import { GitHubClient } from '../github/github.client.js';
import { SlurmCommandError } from '../slurm/slurm.errors.js';
import type { QueuedJob } from '../slurm/slurm.port.js';
import type { EventProgressData } from './event-progress.js';
import { githubAppSettingsOf } from '../app-options.js';

jest.setTimeout(30_000);

let fixture: GitFixture;
let restoreEnv: () => void;
let keys: AppKeys;
let github: FakeGitHub;
let root: string;
const cleanup = cleanupAfterEach();

quietNestLogger();
beforeAll(() => {
  fixture = createGitFixture();
  restoreEnv = fixture.useEnv();
  keys = generateAppKeys();
});

afterAll(() => {
  restoreEnv();
  fixture.cleanup();
});

async function setUp(slurm: FakeSlurm = new FakeSlurm()) {
  root = await cleanup.tempDir('eessi-bot-builds-');
  github = new FakeGitHub({ appId: 1, installationId: 2, publicKey: keys.publicKey });
  await github.start();
  cleanup.defer(() => github.stop());
  const config: AppConfig = makeConfig({
    root,
    github: { privateKey: keys.privateKey, apiUrl: github.url },
    architectureTargets: {
      archTargetMap: { 'linux/x86_64/generic': '', 'linux/aarch64/neoverse_v1': '' },
    },
  });
  const client = new GitHubClient(githubAppSettingsOf(config), {
    ...FAST_GITHUB_CLIENT_OPTIONS,
    retries: 0,
  });
  const builds = newBuildsService(config, slurm, client);
  return { config, slurm, builds };
}

type Payload = ReturnType<typeof labeledPullRequestPayload>;

function delivery(id: string, mutate: (p: Payload) => void = () => undefined) {
  const payload = labeledPullRequestPayload({
    label: 'bot:build',
    sender: 'alice',
    repo: fixture.repo,
    number: fixture.cleanPr,
    base: { ref: fixture.baseRef },
    head: { sha: fixture.headSha[fixture.cleanPr] },
  });
  mutate(payload);
  return { id, receivedAt: '2025-01-15T12:00:00Z', payload };
}

function progressOf(config: AppConfig, id: string): EventProgressData {
  const path = join(
    config.buildenv.jobsBaseDir,
    '2025.01',
    `pr_${fixture.cleanPr}`,
    `event_${id}`,
    'progress.json',
  );
  return JSON.parse(readFileSync(path, 'utf8')) as EventProgressData;
}

describe('BuildsService.handleLabeled', () => {
  it('records every step of the event in progress.json', async () => {
    const { builds, config } = await setUp();
    await builds.handleLabeled(delivery('steps-1'));
    const progress = progressOf(config, 'steps-1');
    expect(progress).toMatchObject({
      deliveryId: 'steps-1',
      repo: fixture.repo,
      prNumber: 1,
      runDir: 'run_001',
      done: true,
    });
    expect(progress.tree?.headSha).toBe(fixture.headSha[1]);
    expect(progress.targets['linux/x86_64/generic']).toMatchObject({
      prepared: true,
      jobId: '1000',
      recorded: true,
      commentAttempted: true,
    });
    expect(progress.targets['linux/aarch64/neoverse_v1']).toMatchObject({
      jobId: '1001',
      recorded: true,
    });
    const commentIds = github.comments().map((c) => c.id);
    expect(Object.values(progress.targets).map((t) => t.commentId)).toEqual(commentIds);
  });

  it('fetches a private repository only after minting a token, and not at all without one', async () => {
    const { builds, config, slurm } = await setUp();
    github.failNext(1, { status: 500, path: /access_tokens$/ });
    const privateDelivery = delivery('private-1', (p) => (p.repository.private = true));
    await expect(builds.handleLabeled(privateDelivery)).rejects.toThrow(
      /minting an installation token/,
    );
    const eventDir = join(config.buildenv.jobsBaseDir, '2025.01', 'pr_1', 'event_private-1');
    expect(existsSync(join(eventDir, '.git-cache'))).toBe(false);
    expect(slurm.calls).toEqual([]);

    await builds.handleLabeled(privateDelivery);
    expect(slurm.jobs()).toHaveLength(2);
    expect(github.requestCount({ method: 'POST', path: /access_tokens$/, status: 201 })).toBe(1);
  });

  it('does not need GitHub to submit the jobs of a public repository', async () => {
    const { builds, slurm } = await setUp();
    github.setDown(true);
    await builds.handleLabeled(delivery('public-1'));
    expect(slurm.jobs()).toHaveLength(2);
  });

  it('resubmits after an interruption when the queue shows work dirs and none is this job’s', async () => {
    class ReportsWorkDirs extends FakeSlurm {
      crashNext = false;
      override async listJobs(jobName: string): Promise<QueuedJob[]> {
        return (await super.listJobs(jobName)).map((job) => ({
          ...job,
          workDir: this.job(job.id)?.workDir,
        }));
      }
      override async submit(req: Parameters<FakeSlurm['submit']>[0]) {
        if (!this.crashNext) {
          return super.submit(req);
        }
        this.crashNext = false;
        throw new Error('simulated crash before sbatch queued anything');
      }
    }
    const slurm = new ReportsWorkDirs();
    const { builds } = await setUp(slurm);
    await builds.handleLabeled(delivery('other-1'));
    slurm.crashNext = true;
    await expect(builds.handleLabeled(delivery('resume-1'))).rejects.toThrow('simulated crash');
    // The queue holds other jobs of ours (another event's), with other work dirs.
    await builds.handleLabeled(delivery('resume-1'));
    expect(slurm.jobs()).toHaveLength(4);
    expect(new Set(slurm.jobs().map((j) => j.workDir)).size).toBe(4);
  });

  it('treats an sbatch that printed no job id as an open outcome, not as a refusal', async () => {
    const slurm = new FakeSlurm();
    const { builds } = await setUp(slurm);
    const submit = slurm.submit.bind(slurm);
    let first = true;
    slurm.submit = async (req) => {
      if (!first) {
        return submit(req);
      }
      first = false;
      throw new SlurmCommandError({
        command: 'sbatch',
        args: [],
        exitCode: 0,
        stderr: '',
        stdout: 'garbage',
      });
    };
    await expect(builds.handleLabeled(delivery('open-1'))).rejects.toThrow(/sbatch/);
    // Queue empty on resume: nothing was queued, so submitting now is safe.
    await builds.handleLabeled(delivery('open-1'));
    expect(slurm.jobs()).toHaveLength(2);
    expect(github.comments().filter((c) => c.body.includes('could not submit'))).toEqual([]);
  });
});
