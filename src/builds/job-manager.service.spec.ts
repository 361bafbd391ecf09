import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { lstat, mkdir, readlink, rename, rm } from 'node:fs/promises';
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
import type { AppConfig } from '../config/app-config.js';
import { GitHubClient } from '../github/github.client.js';
import type { JobEndInfo, QueuedJob, SlurmPort, SubmitRequest } from '../slurm/slurm.port.js';
import { JobCommentsService } from './job-comments.service.js';
import {
  JOB_MANAGER_TIMER,
  JobManagerService,
  RELEASED_TEXT,
  RUNNING_TEXT,
  RELEASE_WITHOUT_COMMENT_AFTER_MS,
} from './job-manager.service.js';
import { JobStore } from './job-store.js';
import { githubAppSettingsOf } from '../app-options.js';

/** A real FakeSlurm behind hooks: slow calls, and end states still listed (squeue --states=all). */
class InstrumentedSlurm implements SlurmPort {
  delayMs = 0;
  active = 0;
  maxActive = 0;
  readonly extraQueued: QueuedJob[] = [];
  /** Runs after the queue snapshot is taken, before it is returned. */
  afterSnapshot?: () => Promise<void>;
  constructor(readonly inner: FakeSlurm) {}
  submit(req: SubmitRequest) {
    return this.inner.submit(req);
  }
  async listJobs(jobName: string): Promise<QueuedJob[]> {
    this.active += 1;
    this.maxActive = Math.max(this.maxActive, this.active);
    try {
      await new Promise((resolve) => setTimeout(resolve, this.delayMs));
      const snapshot = [...(await this.inner.listJobs(jobName)), ...this.extraQueued];
      await this.afterSnapshot?.();
      return snapshot;
    } finally {
      this.active -= 1;
    }
  }
  release(jobId: string) {
    return this.inner.release(jobId);
  }
  cancel(jobId: string) {
    return this.inner.cancel(jobId);
  }
  endState(jobId: string): Promise<JobEndInfo | undefined> {
    return this.inner.endState(jobId);
  }
}

const REPO = 'EESSI/software-layer';
const commentRequests = { path: /^\/repos\// };

describe('JobManagerService.tick', () => {
  let env: JobManagerTestEnv;
  let github: FakeGitHub;
  let config: AppConfig;
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

  beforeEach(async () => {
    // Fresh job tree and GitHub per test: FakeSlurm ids restart at 1000, so markers would repeat.
    await env.remove();
    github = new FakeGitHub({
      appId: TEST_APP_ID,
      installationId: TEST_INSTALLATION_ID,
      publicKey: env.publicKey,
    });
    await github.start();
    config = env.config(github.url);
    slurm = new FakeSlurm();
    store = new JobStore(config.jobManager.jobIdsDir);
    // No retries: each failing request in these tests is exactly one request.
    const client = new GitHubClient(githubAppSettingsOf(config), {
      ...FAST_GITHUB_CLIENT_OPTIONS,
      retries: 0,
    });
    comments = new JobCommentsService(config, client, store);
    jobManager = newJobManager(slurm);
    logs = new CapturingLogger();
    Logger.overrideLogger(logs);
  });

  afterEach(async () => {
    await jobManager.onModuleDestroy();
    await github.stop();
  });

  function newJobManager(port: SlurmPort, autostart = false, registry?: SchedulerRegistry) {
    return new JobManagerService(config, port, store, comments, autostart, registry);
  }

  /** What the event handler does: sbatch (held), record the job, post its comment. */
  async function submitJob(
    opts: Partial<JobFixtureOptions> & { comment?: boolean } = {},
  ): Promise<JobFixture> {
    const { jobId } = await slurm.submit({
      workDir: '/unused',
      schedulerArgs: [],
      jobName: config.buildenv.jobName,
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
    if (opts.comment !== false && job.meta) {
      await comments.ensureComment(job, job.meta, 'first');
    }
    return job;
  }

  async function commentOf(job: JobFixture) {
    const meta = await store.readMetadata(job.jobId, job.jobDir);
    expect(meta?.commentId).toBeDefined();
    return github.comment(meta!.commentId!)!;
  }

  async function isLink(path: string): Promise<boolean> {
    return lstat(path).then(
      (s) => s.isSymbolicLink(),
      () => false,
    );
  }

  const exists = (path: string) =>
    lstat(path).then(
      () => true,
      () => false,
    );
  const submittedLink = (id: string) => join(env.jobIdsDir, 'submitted', id);
  const finishedLink = (id: string) => join(env.jobIdsDir, 'finished', id);

  it('follows a job held → released → running → gone, one comment edit per change', async () => {
    const job = await submitJob({
      slurmOutput: 'building...\nNo missing modules!\n',
      tarballs: [
        {
          name: 'eessi-2023.06-software-linux-x86_64-amd-zen2-1700000000.tar.gz',
          sizeBytes: 123 * 2 ** 20,
        },
      ],
    });
    const comment = await commentOf(job);
    github.clearRequests();

    const first = await jobManager.tick();
    expect(first.released).toEqual([job.jobId]);
    expect(slurm.callsOf('release').map((c) => c.args)).toEqual([[job.jobId]]);
    expect(slurm.job(job.jobId)?.held).toBe(false);
    expect((await store.rows(job.jobId, job.jobDir)).map((r) => r.kind)).toEqual([
      'submitted',
      'released',
    ]);
    expect(github.comment(comment.id)!.body).toContain(`|released|${RELEASED_TEXT}|`);
    expect(github.requestCount(commentRequests)).toBe(1);

    // Still pending, nothing changed: no release again, no request.
    const idle = await jobManager.tick();
    expect(idle.released).toEqual([]);
    expect(slurm.callsOf('release')).toHaveLength(1);
    expect(github.requestCount(commentRequests)).toBe(1);

    slurm.start(job.jobId);
    const running = await jobManager.tick();
    expect(running.running).toEqual([job.jobId]);
    expect(github.comment(comment.id)!.body).toContain(`|running|${RUNNING_TEXT}|`);
    expect(github.requestCount(commentRequests)).toBe(2);
    await jobManager.tick();
    expect(github.requestCount(commentRequests)).toBe(2);

    slurm.finish(job.jobId, 'COMPLETED');
    const done = await jobManager.tick();
    expect(done.finished).toEqual([job.jobId]);
    const body = github.comment(comment.id)!.body;
    expect(body).toMatch(
      /\|finished\|:grin: SUCCESS tarball `eessi-2023\.06-software-linux-x86_64-amd-zen2-1700000000\.tar\.gz` \(0\.120 GiB\) in job dir\|/,
    );
    expect(body.indexOf('|submitted|')).toBeLessThan(body.indexOf('|released|'));
    expect(body.indexOf('|released|')).toBeLessThan(body.indexOf('|running|'));
    expect(body.indexOf('|running|')).toBeLessThan(body.indexOf('|finished|'));
    expect(await isLink(submittedLink(job.jobId))).toBe(false);
    expect(await readlink(finishedLink(job.jobId))).toBe(job.jobDir);

    // Exactly 1 create + 3 updates beyond token minting, over the whole life of the job.
    expect(github.comment(comment.id)!.history).toHaveLength(4);
    expect(github.requestCount({ method: 'PATCH', path: /^\/repos\// })).toBe(3);

    // A finished job is no longer looked at.
    const after = await jobManager.tick();
    expect(after.tracked).toBe(0);
    expect(github.requestCount(commentRequests)).toBe(3);

    const actions = logs.lines.filter((l) => l.includes(`job ${job.jobId} (${REPO}#42)`));
    expect(actions.some((l) => /released/.test(l))).toBe(true);
    expect(actions.some((l) => /: running$/.test(l))).toBe(true);
    expect(actions.some((l) => /finished: SUCCESS \(Slurm COMPLETED\)/.test(l))).toBe(true);
    expect(actions.some((l) => /moved to .*finished/.test(l))).toBe(true);
  });

  it('skips polls while squeue fails and declares nothing finished', async () => {
    const job = await submitJob();
    await jobManager.tick();
    slurm.start(job.jobId);
    slurm.setUnavailable(true);
    github.clearRequests();

    for (let i = 0; i < 3; i++) {
      const report = await jobManager.tick();
      expect(report.skipped).toBe(true);
      expect(report.skipReason).toMatch(/Unable to contact slurm controller/);
      expect(report.finished).toEqual([]);
    }
    expect(await isLink(submittedLink(job.jobId))).toBe(true);
    expect((await store.rows(job.jobId, job.jobDir)).map((r) => r.kind)).toEqual([
      'submitted',
      'released',
    ]);
    expect(github.requestCount(commentRequests)).toBe(0);
    expect(
      logs.lines.filter((l) => /^WARN squeue failed, skipping this poll: /.test(l)),
    ).toHaveLength(3);

    slurm.setUnavailable(false);
    const back = await jobManager.tick();
    expect(back.running).toEqual([job.jobId]);
    expect(back.finished).toEqual([]);
  });

  it('never touches jobs that are not ours', async () => {
    const foreignName = slurm.addForeignJob({ name: 'someone-else', held: true });
    // Our job name, in the queue, but never recorded by this bot instance.
    const { jobId: unrecorded } = await slurm.submit({
      workDir: '/elsewhere',
      schedulerArgs: [],
      jobName: config.buildenv.jobName,
      script: 'other.slurm',
      scriptArgs: [],
    });
    const ours = await submitJob();
    github.clearRequests();

    const report = await jobManager.tick();
    expect(report.released).toEqual([ours.jobId]);
    expect(slurm.callsOf('release').map((c) => c.args[0])).toEqual([ours.jobId]);
    expect(slurm.callsOf('cancel')).toHaveLength(0);
    expect(slurm.job(foreignName)?.held).toBe(true);
    expect(slurm.job(unrecorded)?.held).toBe(true);
    expect(github.requestCount(commentRequests)).toBe(1);
  });

  it('leaves a job seen before its metadata for the next poll', async () => {
    const early = await submitJob({ metadata: false });
    const report = await jobManager.tick();
    expect(report.waiting).toEqual([early.jobId]);
    expect(report.released).toEqual([]);
    expect(slurm.job(early.jobId)?.held).toBe(true);
    expect(await isLink(submittedLink(early.jobId))).toBe(true);

    // The event handler catches up: the next poll releases it.
    await store.recordSubmitted(early.jobId, early.jobDir, {
      repo: REPO,
      prNumber: 42,
      target: 'linux/x86_64/amd/zen2',
      appName: config.github.appName,
      jobName: config.buildenv.jobName,
      deliveryId: 'd-1',
    });
    await comments.ensureComment(
      early,
      (await store.readMetadata(early.jobId, early.jobDir))!,
      'first',
    );
    const next = await jobManager.tick();
    expect(next.released).toEqual([early.jobId]);
  });

  it('goes on with other jobs when GitHub fails for one, and retries it next poll', async () => {
    const a = await submitJob();
    const b = await submitJob();
    const commentA = await commentOf(a);
    const commentB = await commentOf(b);
    github.failNext(1, {
      status: 502,
      method: 'PATCH',
      path: `/repos/${REPO}/issues/comments/${commentA.id}`,
    });

    const report = await jobManager.tick();
    expect(report.released).toEqual([a.jobId, b.jobId]);
    expect(report.failed.map((f) => f.jobId)).toEqual([a.jobId]);
    expect(github.comment(commentA.id)!.body).not.toContain('|released|');
    expect(github.comment(commentB.id)!.body).toContain('|released|');
    expect(
      logs.lines.some((l) =>
        l.startsWith(`ERROR job ${a.jobId} (${REPO}#42): updating its PR comment failed`),
      ),
    ).toBe(true);

    github.clearRequests();
    const retry = await jobManager.tick();
    expect(retry.failed).toEqual([]);
    expect(github.comment(commentA.id)!.body).toContain('|released|');
    expect(github.requestCount(commentRequests)).toBe(1);
  });

  it('keeps a finished job in submitted/ until its result is on GitHub', async () => {
    const job = await submitJob({ slurmOutput: 'oops\n' });
    const comment = await commentOf(job);
    await jobManager.tick();
    slurm.finish(job.jobId, 'FAILED', '2:0');
    github.failNext(1, { status: 503, method: 'PATCH' });

    const failed = await jobManager.tick();
    expect(failed.finished).toEqual([]);
    expect(await isLink(submittedLink(job.jobId))).toBe(true);
    expect((await store.rows(job.jobId, job.jobDir)).map((r) => r.kind)).toContain('finished');

    slurm.purge(job.jobId); // the analysis is not redone: what Slurm forgot meanwhile does not matter
    const retried = await jobManager.tick();
    expect(retried.finished).toEqual([job.jobId]);
    expect(await isLink(finishedLink(job.jobId))).toBe(true);
    const body = github.comment(comment.id)!.body;
    expect(body).toContain(':cry: FAILURE');
    expect(body).toContain('job exited with an error (Slurm state FAILED, exit code `2:0`)');
    expect(slurm.callsOf('endState')).toHaveLength(1);
  });

  it('does not finish a job while another process is still creating its comment', async () => {
    const job = await submitJob({ comment: false, slurmOutput: 'x\n' });
    slurm.finish(job.jobId, 'FAILED');
    // The event handler's claim on the comment (JobCommentsService's exclusive mkdir), fresh.
    await mkdir(join(job.jobDir, `_bot_job${job.jobId}.commenting`));
    const report = await jobManager.tick();
    expect(report.finished).toEqual([]);
    expect(await isLink(submittedLink(job.jobId))).toBe(true);
    expect(github.requestCount(commentRequests)).toBe(0);

    await rm(join(job.jobDir, `_bot_job${job.jobId}.commenting`), { recursive: true });
    const next = await jobManager.tick();
    expect(next.finished).toEqual([job.jobId]);
    expect((await commentOf(job)).body).toContain('|finished|:cry: FAILURE');
  });

  it('after a restart, reports jobs that ended while it was down', async () => {
    const job = await submitJob({ slurmOutput: 'No missing modules!\n' });
    await jobManager.tick();
    slurm.start(job.jobId);
    await jobManager.tick();
    await jobManager.onModuleDestroy();

    slurm.finish(job.jobId, 'CANCELLED', '0:15');
    const restarted = newJobManager(slurm);
    const report = await restarted.tick();
    expect(report.finished).toEqual([job.jobId]);
    expect((await commentOf(job)).body).toContain(
      '|finished|:no_entry_sign: CANCELLED job was cancelled (Slurm state CANCELLED)|',
    );
    await restarted.onModuleDestroy();
  });

  it('re-checks every job once after a restart without writing to GitHub', async () => {
    const job = await submitJob();
    await jobManager.tick();
    slurm.start(job.jobId);
    await jobManager.tick();
    github.clearRequests();
    const restarted = newJobManager(slurm);
    const report = await restarted.tick();
    expect(report.running).toEqual([]);
    expect(report.failed).toEqual([]);
    expect(github.requestCount()).toBe(0);
    await restarted.onModuleDestroy();
  });

  it('acts only on the given job ids (-j)', async () => {
    const a = await submitJob();
    const b = await submitJob();
    const report = await jobManager.tick({ jobIds: [b.jobId, '99999'] });
    expect(report.tracked).toBe(1);
    expect(report.released).toEqual([b.jobId]);
    expect(slurm.job(a.jobId)?.held).toBe(true);
    expect((await store.rows(a.jobId, a.jobDir)).map((r) => r.kind)).toEqual(['submitted']);
    expect(logs.lines.some((l) => l.includes('job 99999: not tracked'))).toBe(true);

    slurm.finish(a.jobId, 'CANCELLED');
    const again = await jobManager.tick({ jobIds: [b.jobId] });
    expect(again.finished).toEqual([]);
    expect(await isLink(submittedLink(a.jobId))).toBe(true);
  });

  it('runs overlapping tick() calls one after another', async () => {
    const slow = new InstrumentedSlurm(slurm);
    slow.delayMs = 30;
    const serial = newJobManager(slow);
    await submitJob();
    const reports = await Promise.all([serial.tick(), serial.tick(), serial.tick()]);
    expect(slow.maxActive).toBe(1);
    expect(slurm.callsOf('listJobs')).toHaveLength(3);
    // The first released the job; the later ones saw it released, not held again.
    expect(reports.map((r) => r.released.length)).toEqual([1, 0, 0]);
    expect(slurm.callsOf('release')).toHaveLength(1);
    await serial.onModuleDestroy();
  });

  it('does not mistake a job recorded while squeue runs for one that left the queue', async () => {
    const racing = new InstrumentedSlurm(slurm);
    const raced = newJobManager(racing);
    const first = await submitJob();
    let late: JobFixture | undefined;
    racing.afterSnapshot = async () => {
      racing.afterSnapshot = undefined;
      late = await submitJob(); // sbatch + records land after the snapshot was taken
    };
    const report = await raced.tick();
    expect(report.released).toEqual([first.jobId]);
    expect(report.finished).toEqual([]);
    expect(await isLink(submittedLink(late!.jobId))).toBe(true);
    expect((await store.rows(late!.jobId, late!.jobDir)).map((r) => r.kind)).toEqual(['submitted']);
    const next = await raced.tick();
    expect(next.released).toEqual([late!.jobId]);
    await raced.onModuleDestroy();
  });

  it('stops at a job whose dir moves to the trash bin mid-tick (its PR closed) and never makes the dir again', async () => {
    const job = await submitJob();
    const comment = await commentOf(job);
    const prDir = JobStore.prDirOf(job.jobDir);
    const trashed = join(env.root, 'trash', 'pr_42');
    // The PR closes (here or on another host) while the released row is on its way to GitHub.
    const patch = github.holdNext({ method: 'PATCH', path: /\/issues\/comments\// });
    const ticking = jobManager.tick();
    await patch.reached;
    await mkdir(join(env.root, 'trash'), { recursive: true });
    await rename(prDir, trashed);
    await store.finish(job.jobId);
    patch.release();
    const report = await ticking;

    expect(report.failed).toEqual([]);
    expect(await exists(prDir)).toBe(false);
    expect(await exists(join(trashed, `event_delivery-${job.jobId}`))).toBe(true);
    expect(github.comment(comment.id)!.body).toContain(`|released|${RELEASED_TEXT}|`);
    expect(logs.lines.filter((line) => /^(ERROR|WARN)/.test(line))).toEqual([]);
    // Nothing left to follow: no request, no error on the next polls.
    github.clearRequests();
    expect((await jobManager.tick()).tracked).toBe(0);
    expect(github.requestCount()).toBe(0);
  });

  it('with check_runs, a job that ran and ended between two polls costs one check-run update, no in_progress', async () => {
    const checks: AppConfig = { ...config, github: { ...config.github, checkRuns: true } };
    const client = new GitHubClient(githubAppSettingsOf(checks), FAST_GITHUB_CLIENT_OPTIONS);
    const withChecks = new JobCommentsService(checks, client, store);
    const manager = new JobManagerService(checks, slurm, store, withChecks);
    const job = await submitJob({ comment: false, slurmOutput: 'No missing modules!\n' });
    await store.recordSubmitted(job.jobId, job.jobDir, { ...job.meta!, headSha: 'c'.repeat(40) });
    await withChecks.ensureComment(
      job,
      (await store.readMetadata(job.jobId, job.jobDir))!,
      'first',
    );
    github.clearRequests();

    await manager.tick(); // released: the check stays queued, so the comment waits too
    expect(github.requestCount()).toBe(0);
    slurm.start(job.jobId);
    slurm.finish(job.jobId);
    await manager.tick(); // gone: one edit each, the comment with its released row

    expect(github.checkRuns(REPO).map((run) => run.history.map((s) => s.status))).toEqual([
      ['queued', 'completed'],
    ]);
    expect(github.requestCount({ path: /\/check-runs\// })).toBe(1);
    expect(github.requestCount({ path: /\/issues\/comments\// })).toBe(1);
    expect(github.requestCount()).toBe(2);
    const body = github.comments(REPO).at(-1)!.body;
    expect(body).toContain(`|released|${RELEASED_TEXT}|`);
    expect(body).toContain('|finished|');
    await manager.onModuleDestroy();
  });

  it('reports a job that squeue still lists with an end state as finished', async () => {
    const listed = new InstrumentedSlurm(slurm);
    const viaStates = newJobManager(listed);
    const job = await submitJob();
    await viaStates.tick();
    slurm.finish(job.jobId, 'TIMEOUT');
    slurm.purge(job.jobId);
    listed.extraQueued.push({
      id: job.jobId,
      name: config.buildenv.jobName,
      state: 'TIMEOUT',
      reason: 'TimeLimit',
      held: false,
    });
    const report = await viaStates.tick();
    expect(report.finished).toEqual([job.jobId]);
    expect((await commentOf(job)).body).toContain('job hit its time limit (Slurm state TIMEOUT)');
    await viaStates.onModuleDestroy();
  });

  it('creates the comment of a job that has none, once, and releases it only then', async () => {
    const job = await submitJob({ comment: false });
    github.clearRequests();
    const first = await jobManager.tick();
    expect(first.released).toEqual([]);
    expect(slurm.job(job.jobId)?.held).toBe(true);
    expect(github.requestCount({ method: 'POST', path: /^\/repos\// })).toBe(1);
    expect((await commentOf(job)).body).toContain('|submitted|');
    expect((await commentOf(job)).body).not.toContain('|released|');

    const second = await jobManager.tick();
    expect(second.released).toEqual([job.jobId]);
    expect((await commentOf(job)).body).toContain('|released|');
    expect(github.requestCount({ method: 'POST', path: /^\/repos\// })).toBe(1);
  });

  it('waits for the event handler to post the comment, but not for ever', async () => {
    const job = await submitJob({ comment: false });
    // Another writer holds the comment claim (the event handler, about to post).
    const { mkdir, utimes } = await import('node:fs/promises');
    await mkdir(join(job.jobDir, `_bot_job${job.jobId}.commenting`));
    const waiting = await jobManager.tick();
    expect(waiting.released).toEqual([]);
    expect(waiting.waiting).toContain(job.jobId);
    expect(slurm.job(job.jobId)?.held).toBe(true);

    // Recorded longer ago than RELEASE_WITHOUT_COMMENT_AFTER_MS: GitHub down must not stop builds.
    const past = new Date(Date.now() - RELEASE_WITHOUT_COMMENT_AFTER_MS - 1000);
    await utimes(join(job.jobDir, `_bot_job${job.jobId}.metadata`), past, past);
    const late = await jobManager.tick();
    expect(late.released).toEqual([job.jobId]);
  });

  it('does not retry a comment that no longer exists on GitHub', async () => {
    const job = await submitJob({ comment: false, commentId: 987654 });
    github.clearRequests();
    await jobManager.tick();
    expect(github.requestCount({ method: 'PATCH', status: 404 })).toBe(1);
    slurm.finish(job.jobId, 'COMPLETED');
    const report = await jobManager.tick();
    expect(report.finished).toEqual([job.jobId]);
    expect(github.requestCount({ method: 'PATCH', status: 404 })).toBe(2);
    expect(logs.lines.some((l) => /comment 987654 is gone \(HTTP 404\)/.test(l))).toBe(true);
  });

  it('keeps polling when a job dir cannot be read', async () => {
    const broken = await submitJob({ comment: false });
    const good = await submitJob();
    // Metadata that no longer parses: one job fails, the other is handled.
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(broken.jobDir, `_bot_job${broken.jobId}.metadata`), '[PR]\nrepo = \n');
    const report = await jobManager.tick();
    expect(report.failed.map((f) => f.jobId)).toEqual([broken.jobId]);
    expect(report.released).toEqual([good.jobId]);
    expect(slurm.job(broken.jobId)?.held).toBe(true);
  });

  it('polls on its own only when autostarted, and stops on shutdown', async () => {
    const fast = env.config(github.url, 0.02);
    await submitJob();
    const idle = new JobManagerService(
      fast,
      slurm,
      store,
      comments,
      false,
      new SchedulerRegistry(),
    );
    idle.onApplicationBootstrap();
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(slurm.callsOf('listJobs')).toHaveLength(0);

    const registry = new SchedulerRegistry();
    const auto = new JobManagerService(fast, slurm, store, comments, true, registry);
    auto.onApplicationBootstrap();
    expect(registry.doesExist('timeout', JOB_MANAGER_TIMER)).toBe(true);
    await waitFor(() => slurm.callsOf('listJobs').length >= 3);
    await auto.onModuleDestroy();
    expect(registry.doesExist('timeout', JOB_MANAGER_TIMER)).toBe(false);
    const calls = slurm.callsOf('listJobs').length;
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(slurm.callsOf('listJobs')).toHaveLength(calls);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) {
      throw new Error('condition not met in time');
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
