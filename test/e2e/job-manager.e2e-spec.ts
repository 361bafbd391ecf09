import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { ScheduleModule, SchedulerRegistry } from '@nestjs/schedule';
import { Test, type TestingModule } from '@nestjs/testing';
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { JobCommentsService } from '../../src/builds/job-comments.service.js';
import { runJobManager } from '../../src/builds/job-manager.runner.js';
import {
  JOB_MANAGER_AUTOSTART,
  JOB_MANAGER_TIMER,
  JobManagerService,
} from '../../src/builds/job-manager.service.js';
import { JobStore } from '../../src/builds/job-store.js';
import { APP_CONFIG, type AppConfig } from '../../src/config/app-config.js';
import { ConfigModule } from '../../src/config/config.module.js';
import { GITHUB_CLIENT_OPTIONS, GitHubClient } from '../../src/github/github.client.js';
import { GITHUB_APP_SETTINGS } from '../../src/github/github-app.settings.js';
import { githubAppSettingsOf } from '../../src/app-options.js';
import { SLURM } from '../../src/slurm/slurm.tokens.js';
import { FakeGitHub, FAST_GITHUB_CLIENT_OPTIONS } from '../fakes/fake-github.server.js';
import { FakeSlurm } from '../fakes/fake-slurm.js';
import { createTrackedJob, type JobFixture } from '../support/job-fixture.js';
import {
  createJobManagerTestEnv,
  TEST_APP_ID,
  TEST_INSTALLATION_ID,
  type JobManagerTestEnv,
} from '../support/job-manager-env.js';
import { quietNestLogger } from '../support/test-kit.js';

const TARBALL = 'eessi-2023.06-software-linux-x86_64-amd-zen2-1764287000.tar.gz';
const REPO = 'EESSI/software-layer';

/** The job manager's part of the app, wired by Nest as the lead's AppModule wires it. */
async function bootJobManager(
  config: AppConfig,
  slurm: FakeSlurm,
  autostart: boolean,
): Promise<TestingModule> {
  const moduleRef = await Test.createTestingModule({
    imports: [ConfigModule.forConfig(config), ScheduleModule.forRoot()],
    providers: [
      { provide: SLURM, useValue: slurm },
      { provide: GITHUB_APP_SETTINGS, useValue: githubAppSettingsOf(config) },
      { provide: GITHUB_CLIENT_OPTIONS, useValue: FAST_GITHUB_CLIENT_OPTIONS },
      { provide: JOB_MANAGER_AUTOSTART, useValue: autostart },
      {
        provide: JobStore,
        inject: [APP_CONFIG],
        useFactory: (c: AppConfig) => new JobStore(c.jobManager.jobIdsDir),
      },
      GitHubClient,
      JobCommentsService,
      JobManagerService,
    ],
  }).compile();
  await moduleRef.init();
  return moduleRef;
}

describe('job manager (e2e: Nest wiring, FakeSlurm, FakeGitHub over HTTP)', () => {
  let env: JobManagerTestEnv;
  let github: FakeGitHub;
  let config: AppConfig;
  let slurm: FakeSlurm;
  let app: TestingModule;

  quietNestLogger();
  beforeEach(async () => {
    env = await createJobManagerTestEnv();
    github = new FakeGitHub({
      appId: TEST_APP_ID,
      installationId: TEST_INSTALLATION_ID,
      publicKey: env.publicKey,
    });
    await github.start();
    config = env.config(github.url, 0.05);
    slurm = new FakeSlurm({ firstJobId: 5000 });
    app = await bootJobManager(config, slurm, false);
  });

  afterEach(async () => {
    await app.close();
    await github.stop();
    await env.remove();
  });

  /** The event handler's part: sbatch --hold, job records, the comment with its first row. */
  async function submit(
    prNumber = 42,
    files: Partial<Parameters<typeof createTrackedJob>[0]> = {},
  ): Promise<JobFixture> {
    const { jobId } = await slurm.submit({
      workDir: '/unused',
      schedulerArgs: ['--hold'],
      jobName: config.buildenv.jobName,
      script: config.buildenv.buildJobScript,
      scriptArgs: [],
    });
    const job = await createTrackedJob({
      jobIdsDir: env.jobIdsDir,
      jobsBaseDir: env.jobsBaseDir,
      jobId,
      prNumber,
      rows: ['submitted'],
      ...files,
    });
    await app.get(JobCommentsService).ensureComment(job, job.meta!, 'first');
    return job;
  }

  async function commentOf(job: JobFixture) {
    const meta = await app.get(JobStore).readMetadata(job.jobId, job.jobDir);
    return github.comment(meta!.commentId!)!;
  }

  function tableRows(body: string): string[] {
    return body.split('\n').filter((line) => /^\|[^-|]/.test(line) && !line.startsWith('|date|'));
  }

  const exists = (path: string) =>
    lstat(path).then(
      () => true,
      () => false,
    );

  it('keeps the full comment history of a job from submitted to finished', async () => {
    const jobManager = app.get(JobManagerService);
    const job = await submit(42, {
      slurmOutput: 'building...\nNo missing modules!\n',
      tarballs: [{ name: TARBALL, sizeBytes: 3 * 2 ** 29 }],
    });

    await jobManager.tick(); // released
    await jobManager.tick(); // nothing new
    slurm.start(job.jobId);
    await jobManager.tick(); // running
    await jobManager.tick(); // nothing new
    slurm.finish(job.jobId, 'COMPLETED');
    await jobManager.tick(); // finished

    const comment = await commentOf(job);
    expect(comment.history.map((body) => tableRows(body).map((row) => row.split('|')[2]))).toEqual([
      ['submitted'],
      ['submitted', 'released'],
      ['submitted', 'released', 'running'],
      ['submitted', 'released', 'running', 'finished'],
    ]);
    const rows = tableRows(comment.body);
    expect(rows[0]).toMatch(/^\|\w{3} \d{2} \d{2}:\d{2}:\d{2} UTC \d{4}\|submitted\|/);
    expect(rows[1]).toMatch(/\|released\|job awaits launch by Slurm scheduler\|$/);
    expect(rows[2]).toMatch(/\|running\|job is running\|$/);
    expect(rows[3]).toMatch(
      new RegExp(
        `\\|finished\\|:grin: SUCCESS tarball \`${TARBALL.replace(/\./g, '\\.')}\` \\(1\\.500 GiB\\) in job dir\\|$`,
      ),
    );
    expect(comment.body).toContain(`<!-- bot:job ${job.jobId} ${config.github.appName} -->`);
    // 1 create + 3 updates; everything else was token minting.
    expect(github.requestCount({ path: /^\/repos\// })).toBe(4);
    expect(github.requestCount({ path: /^\/repos\//, method: 'PATCH' })).toBe(3);
    expect(await exists(join(env.jobIdsDir, 'finished', job.jobId))).toBe(true);
    expect(await exists(join(env.jobIdsDir, 'submitted', job.jobId))).toBe(false);
  });

  it('rides out squeue being down for several polls, a foreign held job and a restart', async () => {
    const foreign = slurm.addForeignJob({ name: 'not-the-bot', held: true });
    const job = await submit(43, { slurmOutput: 'no luck\n' });
    const first = app.get(JobManagerService);
    await first.tick();
    slurm.start(job.jobId);
    slurm.setUnavailable(true);
    for (let i = 0; i < 3; i++) {
      expect((await first.tick()).skipped).toBe(true);
    }
    slurm.finish(job.jobId, 'FAILED', '1:0');

    // Restart: a new process over the same directories, Slurm reachable again.
    await app.close();
    slurm.setUnavailable(false);
    app = await bootJobManager(config, slurm, false);
    const report = await app.get(JobManagerService).tick();
    expect(report.finished).toEqual([job.jobId]);
    const rows = tableRows((await commentOf(job)).body);
    // The running phase fell into the squeue outage: it is not invented afterwards.
    expect(rows.map((row) => row.split('|')[2])).toEqual(['submitted', 'released', 'finished']);
    expect(rows[2]).toContain(':cry: FAILURE');
    expect(rows[2]).toContain('job exited with an error (Slurm state FAILED, exit code `1:0`)');
    expect(slurm.job(foreign)?.held).toBe(true);
    expect(slurm.callsOf('release').map((c) => c.args[0])).toEqual([job.jobId]);
  });

  it('job-manager -i 1 -j ID touches only that job; -i 0 does nothing', async () => {
    const a = await submit(44);
    const b = await submit(45);
    const jobManager = app.get(JobManagerService);
    github.clearRequests();

    const none = await runJobManager(jobManager, { iterations: 0, pollIntervalSeconds: 0.05 });
    expect(none.ticks).toBe(0);
    expect(slurm.calls.filter((c) => c.method !== 'submit')).toHaveLength(0);
    expect(github.requestCount()).toBe(0);

    const one = await runJobManager(jobManager, {
      iterations: 1,
      jobIds: [b.jobId],
      pollIntervalSeconds: 0.05,
    });
    expect(one.ticks).toBe(1);
    expect(slurm.callsOf('listJobs')).toHaveLength(1);
    expect(slurm.callsOf('release').map((c) => c.args[0])).toEqual([b.jobId]);
    expect(slurm.job(a.jobId)?.held).toBe(true);
    expect(tableRows((await commentOf(a)).body)).toHaveLength(1);
    expect(tableRows((await commentOf(b)).body)).toHaveLength(2);
    expect(github.requestCount({ path: /^\/repos\// })).toBe(1);
    expect(github.requests.find((r) => r.path.startsWith('/repos/'))?.path).toBe(
      `/repos/${REPO}/issues/comments/${(await commentOf(b)).id}`,
    );
  });

  it('polls on its own in serve mode and stops when the app closes', async () => {
    await app.close();
    app = await bootJobManager(config, slurm, true);
    const job = await submit(46);
    expect(app.get(SchedulerRegistry).doesExist('timeout', JOB_MANAGER_TIMER)).toBe(true);
    const deadline = Date.now() + 3000;
    while (slurm.job(job.jobId)?.held && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(slurm.job(job.jobId)?.held).toBe(false);
    await app.close();
    const polls = slurm.callsOf('listJobs').length;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(slurm.callsOf('listJobs')).toHaveLength(polls);
    app = await bootJobManager(config, slurm, false); // for afterEach
  });
});
