import { beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdir, rename, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { FakeGitHub, FAST_GITHUB_CLIENT_OPTIONS } from '../../test/fakes/fake-github.server.js';
import { generateAppKeys, makeConfig, type AppKeys } from '../../test/support/make-config.js';
import { cleanupAfterEach, quietNestLogger } from '../../test/support/test-kit.js';
import { GitHubApiError } from '../github/github-api-error.js';
import { GitHubClient } from '../github/github.client.js';
import { jobMarker } from './job-comment.js';
import { COMMENT_CLAIM_STALE_MS, JobCommentsService } from './job-comments.service.js';
import { JobDirGoneError } from './job-dir-gone.js';
import { JobStore, type JobMetadata, type StatusRow, type TrackedJob } from './job-store.js';
import { githubAppSettingsOf } from '../app-options.js';

const REPO = 'EESSI/software-layer';
const PR = 42;

const META: JobMetadata = {
  repo: REPO,
  prNumber: PR,
  target: 'linux/x86_64/amd/zen2',
  appName: 'eessi-bot-test',
  jobName: 'eessi-bot-test-job',
  deliveryId: 'delivery-1',
};

const SUBMITTED: StatusRow = {
  kind: 'submitted',
  date: 'Nov 28 01:02:03 UTC 2026',
  status: 'submitted',
  comment: 'job waits for release by job manager',
};

const RELEASED: StatusRow = {
  kind: 'released',
  date: 'Nov 28 01:05:00 UTC 2026',
  status: 'released',
  comment: 'job awaits launch by Slurm scheduler',
};

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

quietNestLogger();

describe('JobCommentsService', () => {
  const cleanup = cleanupAfterEach();
  let keys: AppKeys;
  let root: string;
  let fake: FakeGitHub;
  let store: JobStore;
  let service: JobCommentsService;
  let job: TrackedJob;
  let claimDir: string;

  beforeAll(() => {
    keys = generateAppKeys();
  });

  beforeEach(async () => {
    root = await cleanup.tempDir('eessi-bot-comments-');
    fake = new FakeGitHub({ appId: 1, installationId: 2, publicKey: keys.publicKey });
    await fake.start();
    cleanup.defer(() => fake.stop());
    const config = makeConfig({ root, github: { privateKey: keys.privateKey, apiUrl: fake.url } });
    store = new JobStore(config.jobManager.jobIdsDir);
    service = new JobCommentsService(
      config,
      new GitHubClient(githubAppSettingsOf(config), FAST_GITHUB_CLIENT_OPTIONS),
      store,
    );

    const jobDir = join(
      root,
      'jobs',
      '2026.11',
      `pr_${PR}`,
      'event_delivery-1',
      'run_001',
      'linux_x86_64',
    );
    await mkdir(jobDir, { recursive: true });
    job = { jobId: '1234', jobDir };
    claimDir = join(jobDir, '_bot_job1234.commenting');
    await store.recordSubmitted(job.jobId, jobDir, META);
    await store.addRow(job.jobId, jobDir, SUBMITTED);
  });

  const marker = () => jobMarker('1234', META.appName);
  const meta = async () => (await store.readMetadata(job.jobId, job.jobDir))!;
  const issueRequests = (method?: string) =>
    fake.requestCount({ method, path: /^\/repos\/EESSI\/software-layer\/issues/ });

  /** A claim held by another writer, as an exclusive mkdir leaves it. */
  async function holdClaim(ageMs = 0): Promise<void> {
    await mkdir(claimDir);
    if (ageMs > 0) {
      const then = new Date(Date.now() - ageMs);
      await utimes(claimDir, then, then);
    }
  }

  describe("ensureComment('first')", () => {
    it('creates exactly one comment with the rows and the marker, and records its id', async () => {
      const id = await service.ensureComment(job, META, 'first');

      const comments = fake.comments(REPO, PR);
      expect(comments).toHaveLength(1);
      expect(id).toBe(comments[0].id);
      const body = comments[0].body;
      expect(body).toContain('|date|job status|comment|');
      expect(body).toContain(`|${SUBMITTED.date}|submitted|${SUBMITTED.comment}|`);
      expect(body.endsWith(marker())).toBe(true);
      // Posted without searching first: the event handler's first attempt cannot have a comment yet.
      expect(issueRequests('GET')).toBe(0);

      expect((await meta()).commentId).toBe(id);
      expect(await exists(claimDir)).toBe(false);
    });

    it('returns the recorded id on a second call without any request', async () => {
      const id = await service.ensureComment(job, META, 'first');
      fake.clearRequests();

      expect(await service.ensureComment(job, await meta(), 'first')).toBe(id);
      expect(fake.requestCount()).toBe(0);
      expect(fake.comments(REPO, PR)).toHaveLength(1);
    });

    it('returns undefined and sends nothing while another writer holds the claim', async () => {
      await holdClaim();

      expect(await service.ensureComment(job, META, 'first')).toBeUndefined();

      expect(fake.requestCount()).toBe(0);
      expect(fake.comments(REPO, PR)).toHaveLength(0);
      // The claim is the other writer's: left in place.
      expect(await exists(claimDir)).toBe(true);
      expect((await meta()).commentId).toBeUndefined();
    });

    it('gives exactly one comment when two calls race', async () => {
      const ids = await Promise.all([
        service.ensureComment(job, META, 'first'),
        service.ensureComment(job, META, 'first'),
      ]);

      expect(fake.comments(REPO, PR)).toHaveLength(1);
      expect(ids.filter((id) => id !== undefined)).toEqual([fake.comments(REPO, PR)[0].id]);
    });
  });

  describe("ensureComment('resume')", () => {
    it('adopts a comment that already carries the marker instead of posting again', async () => {
      const seeded = fake.seedComment(REPO, PR, `old body\n\n${marker()}`);
      fake.seedComment(REPO, PR, 'an unrelated comment');

      const id = await service.ensureComment(job, META, 'resume');

      expect(id).toBe(seeded.id);
      expect(issueRequests('POST')).toBe(0);
      expect(fake.comments(REPO, PR)).toHaveLength(2);
      expect((await meta()).commentId).toBe(seeded.id);
    });

    it('does not adopt a user comment that carries a copied marker', async () => {
      const forged = fake.seedComment(REPO, PR, `look at me\n\n${marker()}`, 'mallory');

      const id = await service.ensureComment(job, META, 'resume');

      expect(id).not.toBe(forged.id);
      expect(issueRequests('POST')).toBe(1);
      expect(fake.comment(forged.id)?.body).toBe(`look at me\n\n${marker()}`);
    });

    it('does not adopt the comment of another job whose id starts the same', async () => {
      fake.seedComment(REPO, PR, `job 12345\n\n${jobMarker('12345', META.appName)}`);

      const id = await service.ensureComment(job, META, 'resume');

      expect(issueRequests('POST')).toBe(1);
      expect(fake.comment(id!)?.body.endsWith(marker())).toBe(true);
    });

    it('takes over its own claim left by a crash, then searches before posting', async () => {
      await holdClaim();
      const seeded = fake.seedComment(REPO, PR, `before the crash\n${marker()}`);

      expect(await service.ensureComment(job, META, 'resume')).toBe(seeded.id);

      expect(issueRequests('POST')).toBe(0);
      expect(await exists(claimDir)).toBe(false);
    });

    it('posts a comment when the search finds none', async () => {
      const id = await service.ensureComment(job, META, 'resume');

      expect(issueRequests('GET')).toBeGreaterThan(0);
      expect(fake.comments(REPO, PR).map((c) => c.id)).toEqual([id]);
    });
  });

  describe("ensureComment('adopt')", () => {
    it('leaves a fresh claim alone: undefined and no request', async () => {
      await holdClaim(60 * 1000);

      expect(await service.ensureComment(job, META, 'adopt')).toBeUndefined();

      expect(fake.requestCount()).toBe(0);
      expect(await exists(claimDir)).toBe(true);
    });

    it('takes over a stale claim, finds the comment by its marker and adopts it', async () => {
      await holdClaim(COMMENT_CLAIM_STALE_MS + 60 * 1000);
      const seeded = fake.seedComment(REPO, PR, `posted, then crashed\n\n${marker()}`);

      expect(await service.ensureComment(job, META, 'adopt')).toBe(seeded.id);

      expect(issueRequests('GET')).toBeGreaterThan(0);
      expect(issueRequests('POST')).toBe(0);
      expect((await meta()).commentId).toBe(seeded.id);
      expect(await exists(claimDir)).toBe(false);
    });

    it('takes over a stale claim and posts when no comment carries the marker', async () => {
      await holdClaim(COMMENT_CLAIM_STALE_MS + 60 * 1000);

      const id = await service.ensureComment(job, META, 'adopt');

      expect(fake.comments(REPO, PR).map((c) => c.id)).toEqual([id]);
      expect((await meta()).commentId).toBe(id);
    });
  });

  describe('a GitHub failure', () => {
    it('releases the claim so that the next call creates the comment', async () => {
      // One more failure than the client's retries (3): the whole call fails.
      fake.failNext(1, { status: 500, method: 'POST', path: /\/issues\/42\/comments$/ });

      await expect(service.ensureComment(job, META, 'first')).rejects.toBeInstanceOf(
        GitHubApiError,
      );
      expect(fake.requestCount({ method: 'POST', status: 500 })).toBe(1);
      expect(fake.comments(REPO, PR)).toHaveLength(0);
      expect(await exists(claimDir)).toBe(false);
      expect((await meta()).commentId).toBeUndefined();

      const id = await service.ensureComment(job, META, 'first');
      expect(id).toBeDefined();
      expect(fake.comments(REPO, PR).map((c) => c.id)).toEqual([id]);
      expect((await meta()).commentId).toBe(id);
    });
  });

  describe('sync', () => {
    function serviceWithCheckRuns(): JobCommentsService {
      const config = makeConfig({
        root,
        github: { privateKey: keys.privateKey, apiUrl: fake.url, checkRuns: true },
      });
      return new JobCommentsService(
        config,
        new GitHubClient(githubAppSettingsOf(config), FAST_GITHUB_CLIENT_OPTIONS),
        store,
      );
    }

    it('sends nothing for a job without comment id', async () => {
      expect(await service.sync(job, await meta())).toBe(false);
      expect(fake.requestCount()).toBe(0);
    });

    it('sends nothing until a row changes, then one PATCH, then nothing again', async () => {
      const id = (await service.ensureComment(job, META, 'first'))!;
      fake.clearRequests();

      expect(await service.sync(job, await meta())).toBe(false);
      expect(fake.requestCount()).toBe(0);

      await store.addRow(job.jobId, job.jobDir, RELEASED);
      expect(await service.sync(job, await meta())).toBe(true);
      expect(fake.requestCount({ method: 'PATCH' })).toBe(1);
      expect(issueRequests()).toBe(1);
      const body = fake.comment(id)!.body;
      expect(body).toContain(`|${RELEASED.date}|released|${RELEASED.comment}|`);
      expect(body.indexOf(SUBMITTED.comment)).toBeLessThan(body.indexOf(RELEASED.comment));
      expect(body.endsWith(marker())).toBe(true);

      fake.clearRequests();
      expect(await service.sync(job, await meta())).toBe(false);
      expect(await service.sync(job, await meta())).toBe(false);
      expect(fake.requestCount()).toBe(0);
    });

    it('with check runs, holds a released row back until the job starts: 4 job-manager requests per job', async () => {
      const withChecks = serviceWithCheckRuns();
      await store.recordSubmitted(job.jobId, job.jobDir, { ...META, headSha: 'b'.repeat(40) });
      const id = (await withChecks.ensureComment(job, await meta(), 'first'))!;
      const posted = fake.comment(id)!.body;
      fake.clearRequests();

      // Released: still queued, on the check run as in Slurm; nothing to tell the PR yet.
      await store.addRow(job.jobId, job.jobDir, RELEASED);
      expect(await withChecks.sync(job, await meta())).toBe(false);
      expect(fake.requestCount()).toBe(0);
      expect(fake.comment(id)!.body).toBe(posted);

      await store.addRow(job.jobId, job.jobDir, {
        ...RELEASED,
        kind: 'running',
        status: 'running',
      });
      expect(await withChecks.sync(job, await meta())).toBe(true);
      const body = fake.comment(id)!.body;
      expect(body).toContain(`|${RELEASED.date}|released|${RELEASED.comment}|`);
      expect(body).toContain(`|running|`);
      expect(fake.checkRuns(REPO).map((run) => run.status)).toEqual(['in_progress']);

      await store.addRow(job.jobId, job.jobDir, {
        ...RELEASED,
        kind: 'finished',
        status: 'finished',
        comment: 'SUCCESS',
      });
      expect(await withChecks.sync(job, await meta())).toBe(true);
      expect(fake.checkRuns(REPO).map((run) => run.status)).toEqual(['completed']);
      // Two comment edits and two check-run updates from submission to the end.
      expect(fake.requestCount({ method: 'PATCH' })).toBe(4);
      expect(fake.requestCount()).toBe(4);
    });

    it('sends nothing once the job dir has moved to the trash bin, and never makes the dir again', async () => {
      const withChecks = serviceWithCheckRuns();
      await store.recordSubmitted(job.jobId, job.jobDir, { ...META, headSha: 'a'.repeat(40) });
      const id = (await withChecks.ensureComment(job, await meta(), 'first'))!;
      const posted = fake.comment(id)!.body;
      await store.addRow(job.jobId, job.jobDir, {
        ...RELEASED,
        kind: 'running',
        status: 'running',
      });
      // Read by a job manager just before its PR closed and the PR dir moved away.
      const recorded = await meta();
      await rename(join(root, 'jobs', '2026.11', `pr_${PR}`), join(root, 'trash'));
      fake.clearRequests();

      await expect(withChecks.sync(job, recorded)).rejects.toBeInstanceOf(JobDirGoneError);

      // Not replaced by a comment without rows, the check run not sent back to queued.
      expect(fake.requestCount()).toBe(0);
      expect(fake.comment(id)!.body).toBe(posted);
      expect(fake.checkRuns(REPO).map((run) => run.status)).toEqual(['queued']);
      expect(await exists(job.jobDir)).toBe(false);
    });

    it('re-sends an adopted comment once, since its posted body is unknown', async () => {
      const seeded = fake.seedComment(REPO, PR, `stale text\n${marker()}`);
      await service.ensureComment(job, META, 'resume');
      fake.clearRequests();

      expect(await service.sync(job, await meta())).toBe(true);
      expect(fake.comment(seeded.id)!.body).toContain(SUBMITTED.comment);
      expect(await service.sync(job, await meta())).toBe(false);
      expect(fake.requestCount({ method: 'PATCH' })).toBe(1);
    });
  });
});
