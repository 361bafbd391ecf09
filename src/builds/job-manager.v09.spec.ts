import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CapturingLogger } from '../../test/support/capturing-logger.js';
import { FakeGitHub, FAST_GITHUB_CLIENT_OPTIONS } from '../../test/fakes/fake-github.server.js';
import { FakeSlurm } from '../../test/fakes/fake-slurm.js';
import {
  createTrackedJob,
  type JobFixture,
  type JobFixtureOptions,
} from '../../test/support/job-fixture.js';
import {
  createJobManagerTestEnv,
  TEST_APP_ID,
  TEST_INSTALLATION_ID,
  type JobManagerTestEnv,
} from '../../test/support/job-manager-env.js';
import type { AppConfig, JobHandoverProtocol } from '../config/app-config.js';
import { DEFAULT_TEMPLATES } from '../config/upstream-defaults.js';
import { githubAppSettingsOf } from '../app-options.js';
import { GitHubClient } from '../github/github.client.js';
import { JobCommentsService } from './job-comments.service.js';
import { JobManagerService } from './job-manager.service.js';
import { JobStore } from './job-store.js';

// The job manager under a v0.9-format config (generation v09): templates for the rows, the two
// handover protocols, and finished jobs judged from _bot_job<ID>.result / .test.

const TEMPLATES = {
  ...DEFAULT_TEMPLATES,
  awaitsLaunch: 'job awaits launch by Slurm scheduler{extra_info}',
  runningJob: 'job `{job_id}` is running',
};
const RESULT_DESCRIPTION =
  '<details><summary>:grin: SUCCESS _(click triangle for details)_</summary><ul><li>tarball <code>eessi-2025.06-software-linux-x86_64-amd-zen4-17651234567.tar.zst</code></li></ul></details>';
const TARBALL = 'eessi-2025.06-software-linux-x86_64-amd-zen4-17651234567.tar.zst';

describe('JobManagerService with a v0.9-format config', () => {
  let env: JobManagerTestEnv;
  let github: FakeGitHub;
  let slurm: FakeSlurm;
  let store: JobStore;
  let comments: JobCommentsService;
  let jobManager: JobManagerService;
  let logs: CapturingLogger;

  beforeAll(async () => {
    env = await createJobManagerTestEnv();
  });
  afterAll(async () => {
    await env.remove();
    Logger.overrideLogger(['log', 'error', 'warn']);
  });

  async function setUp(protocol: JobHandoverProtocol): Promise<void> {
    const seed = env.config(github.url);
    const config: AppConfig = {
      ...seed,
      generation: 'v09',
      buildenv: { ...seed.buildenv, jobHandoverProtocol: protocol },
      templates: TEMPLATES,
    };
    store = new JobStore(config.jobManager.jobIdsDir);
    const client = new GitHubClient(githubAppSettingsOf(config), {
      ...FAST_GITHUB_CLIENT_OPTIONS,
      retries: 0,
    });
    comments = new JobCommentsService(config, client, store);
    jobManager = new JobManagerService(config, slurm, store, comments);
  }

  beforeEach(async () => {
    await env.remove();
    github = new FakeGitHub({
      appId: TEST_APP_ID,
      installationId: TEST_INSTALLATION_ID,
      publicKey: env.publicKey,
    });
    await github.start();
    slurm = new FakeSlurm({ cluster: 'snellius', partition: 'genoa' });
    logs = new CapturingLogger();
    Logger.overrideLogger(logs);
  });

  afterEach(async () => {
    await jobManager.onModuleDestroy();
    await github.stop();
  });

  /** What the event handler does: sbatch, record the job, post its comment. */
  async function submitJob(opts: Partial<JobFixtureOptions> = {}): Promise<JobFixture> {
    const { jobId } = await slurm.submit({
      workDir: '/unused',
      schedulerArgs: [],
      jobName: env.config(github.url).buildenv.jobName,
      script: 'bot-build.slurm',
      scriptArgs: [],
    });
    const job = await createTrackedJob({
      jobIdsDir: env.jobIdsDir,
      jobsBaseDir: env.jobsBaseDir,
      jobId,
      rows: ['submitted'],
      ...opts,
    });
    await comments.ensureComment(job, job.meta!, 'first');
    return job;
  }

  async function body(job: JobFixture): Promise<string> {
    const meta = await store.readMetadata(job.jobId, job.jobDir);
    return github.comment(meta!.commentId!)!.body;
  }

  async function rowKinds(job: JobFixture): Promise<string[]> {
    return (await store.rows(job.jobId, job.jobDir)).map((row) => row.kind);
  }

  /** What bot/check-build.sh and bot/check-test.sh leave in the job dir. */
  async function writeJobFiles(job: JobFixture): Promise<void> {
    await writeFile(
      join(job.jobDir, `_bot_job${job.jobId}.result`),
      `[RESULT]\ncomment_description = ${RESULT_DESCRIPTION}\nstatus = SUCCESS\nartefacts =\n    ${TARBALL}\n`,
    );
    await writeFile(join(job.jobDir, TARBALL), 'x'.repeat(2048));
    await writeFile(
      join(job.jobDir, `_bot_job${job.jobId}.test`),
      '[TEST]\ncomment_description = :grin: SUCCESS: 2 tests passed\nstatus = SUCCESS\n',
    );
  }

  describe('job_handover_protocol = hold_release', () => {
    beforeEach(() => setUp('hold_release'));

    it('releases with the squeue row, then released, running, finished and test result rows', async () => {
      const job = await submitJob();

      const first = await jobManager.tick();
      expect(first.released).toEqual([job.jobId]);
      const [release] = slurm.callsOf('release');
      expect(release.args).toEqual([job.jobId]);
      // The row fills scontrol_command's %(cluster)s etc. in the adapter.
      expect(release.queued).toMatchObject({
        id: job.jobId,
        cluster: 'snellius',
        partition: 'genoa',
      });
      expect(await body(job)).toContain('|released|job awaits launch by Slurm scheduler|');

      slurm.start(job.jobId);
      expect((await jobManager.tick()).running).toEqual([job.jobId]);
      expect(await body(job)).toContain(`|running|job \`${job.jobId}\` is running|`);
      expect((await jobManager.tick()).running).toEqual([]);

      await writeJobFiles(job);
      slurm.finish(job.jobId, 'COMPLETED');
      const done = await jobManager.tick();

      expect(done.finished).toEqual([job.jobId]);
      expect(await rowKinds(job)).toEqual(['submitted', 'released', 'running', 'finished', 'test']);
      const text = await body(job);
      expect(text).toContain(`|finished|${RESULT_DESCRIPTION}|`);
      expect(text).toContain('|test result|:grin: SUCCESS: 2 tests passed|');
      expect(text.indexOf('|finished|')).toBeLessThan(text.indexOf('|test result|'));
      // scontrol show job got the row last seen, so a multi-cluster site can address the job.
      expect(slurm.callsOf('endState')[0].queued).toMatchObject({
        cluster: 'snellius',
        state: 'RUNNING',
      });
      expect(
        logs.lines.some((l) =>
          l.includes(
            `finished: SUCCESS (Slurm COMPLETED): result file \`_bot_job${job.jobId}.result\`: SUCCESS; artefact \`${TARBALL}\` (0.000 GiB)`,
          ),
        ),
      ).toBe(true);
    });

    it('gives unknown rows naming the files when the job left neither', async () => {
      const job = await submitJob();
      await jobManager.tick();
      slurm.start(job.jobId);
      await jobManager.tick();
      slurm.finish(job.jobId, 'COMPLETED');

      await jobManager.tick();

      const text = await body(job);
      expect(text).toContain(
        `|finished|<details><summary>:shrug: UNKNOWN _(click triangle for detailed information)_</summary><ul><li>Job results file \`_bot_job${job.jobId}.result\` does not exist in job directory, or parsing it failed.</li>`,
      );
      expect(text).toContain(
        `|test result|<details><summary>:shrug: UNKNOWN _(click triangle for detailed information)_</summary><ul><li>Job test file \`_bot_job${job.jobId}.test\` does not exist`,
      );
    });

    it('says a cancelled job was cancelled, and still gives the test row', async () => {
      const job = await submitJob();
      await jobManager.tick();
      await slurm.cancel(job.jobId);

      await jobManager.tick();

      const text = await body(job);
      expect(text).toMatch(
        /\|finished\|:no_entry_sign: CANCELLED job was cancelled before it started \(Slurm state CANCELLED\)\|/,
      );
      expect(text).toContain('|test result|');
    });

    it('adds a test row missing after a crash, without judging the job again', async () => {
      const job = await submitJob({
        rows: ['submitted', 'released', 'running', 'finished'],
      });
      slurm.finish(job.jobId, 'COMPLETED');
      await writeJobFiles(job);

      const report = await jobManager.tick();

      expect(report.finished).toEqual([job.jobId]);
      const rows = await store.rows(job.jobId, job.jobDir);
      expect(rows.map((r) => [r.kind, r.status, r.comment])).toEqual([
        ['submitted', 'submitted', expect.any(String)],
        ['released', 'released', expect.any(String)],
        ['running', 'running', expect.any(String)],
        ['finished', 'finished', ':grin: SUCCESS'],
        ['test', 'test result', ':grin: SUCCESS: 2 tests passed'],
      ]);
    });
  });

  describe('job_handover_protocol = delayed_begin', () => {
    beforeEach(() => setUp('delayed_begin'));

    it('never releases: a received row with the eligible time, then running, finished, test result', async () => {
      const job = await submitJob();
      slurm.delayBegin(job.jobId, '2026-06-02T14:03:20');

      const first = await jobManager.tick();
      expect(first.received).toEqual([job.jobId]);
      expect(first.released).toEqual([]);
      expect(await body(job)).toContain(
        '|received|job awaits launch by Slurm scheduler (eligible to start from 2026-06-02T14:03:20)|',
      );
      github.clearRequests();
      expect((await jobManager.tick()).received).toEqual([]);
      expect(github.requestCount({ path: /^\/repos\// })).toBe(0);

      slurm.start(job.jobId);
      expect((await jobManager.tick()).running).toEqual([job.jobId]);
      await writeJobFiles(job);
      slurm.finish(job.jobId, 'COMPLETED');
      expect((await jobManager.tick()).finished).toEqual([job.jobId]);

      expect(slurm.callsOf('release')).toEqual([]);
      expect(await rowKinds(job)).toEqual(['submitted', 'received', 'running', 'finished', 'test']);
      expect(await body(job)).toContain('|test result|:grin: SUCCESS: 2 tests passed|');
    });

    it('leaves a job someone else holds alone, looking at it once', async () => {
      const job = await submitJob();
      slurm.hold(job.jobId, 'admin');

      const first = await jobManager.tick();
      await jobManager.tick();
      await jobManager.tick();

      expect(slurm.callsOf('release')).toEqual([]);
      expect(first.received).toEqual([job.jobId]);
      expect(await body(job)).toContain('|received|job awaits launch by Slurm scheduler|');
      expect(logs.lines.filter((l) => l.includes('by someone else'))).toEqual([
        `LOG job ${job.jobId} (EESSI/software-layer#42): held (JobHeldAdmin) by someone else; with job_handover_protocol = delayed_begin the bot never releases jobs`,
      ]);
    });

    it('adds both received and running for a job that started before the first poll', async () => {
      const job = await submitJob();
      slurm.delayBegin(job.jobId, '2026-06-02T14:03:20');
      slurm.start(job.jobId);

      const report = await jobManager.tick();

      expect(report.received).toEqual([job.jobId]);
      expect(report.running).toEqual([job.jobId]);
      expect(await rowKinds(job)).toEqual(['submitted', 'received', 'running']);
    });
  });
});
