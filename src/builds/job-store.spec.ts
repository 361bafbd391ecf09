import { beforeEach, describe, expect, it } from '@jest/globals';
import { decode } from 'ini';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanupAfterEach, quietNestLogger } from '../../test/support/test-kit.js';
import { JobDirGoneError } from './job-dir-gone.js';
import { JobStore, type JobMetadata, type StatusRow } from './job-store.js';

const META: JobMetadata = {
  repo: 'EESSI/software-layer',
  prNumber: 42,
  target: 'linux/x86_64/amd/zen2',
  appName: 'eessi-bot-test',
  jobName: 'eessi-bot-test-job',
  deliveryId: 'd6f1c3a0-1111-2222-3333-444455556666',
};

function row(kind: StatusRow['kind'], comment = `${kind} text`): StatusRow {
  return { kind, date: 'Nov 28 01:02:03 UTC 2026', status: kind, comment };
}

quietNestLogger();

describe('JobStore', () => {
  const cleanup = cleanupAfterEach();
  let root: string;
  let jobIdsDir: string;
  let prDir: string;
  let store: JobStore;

  beforeEach(async () => {
    root = await cleanup.tempDir('eessi-bot-store-');
    jobIdsDir = join(root, 'job_ids');
    prDir = join(root, 'jobs', '2026.11', 'pr_42');
    store = new JobStore(jobIdsDir);
  });

  /** A job dir in the builds module's layout: pr_<N>/event_<id>/run_<NNN>/<os_arch>. */
  async function jobDirFor(jobId: string): Promise<string> {
    const dir = join(prDir, `event_delivery-${jobId}`, 'run_001', 'linux_x86_64');
    await mkdir(dir, { recursive: true });
    return dir;
  }

  describe('prDirOf', () => {
    it('is the pr_<N> directory three levels above a seed job dir', () => {
      expect(JobStore.prDirOf('/jobs/2026.11/pr_7/event_abc/run_001/linux_x86_64')).toBe(
        '/jobs/2026.11/pr_7',
      );
    });

    it('is the parent of event_<id> in a v0.9 job dir, however deep the arch and accelerator nest', () => {
      expect(
        JobStore.prDirOf(
          '/jobs/2026.11/pr_7/event_abc/run_002/x86_64/amd/zen4/nvidia/cc70+nvidia/cc80/EESSI',
        ),
      ).toBe('/jobs/2026.11/pr_7');
      // A repo id or CPU subdir named like an event dir does not confuse it.
      expect(JobStore.prDirOf('/jobs/2026.11/pr_7/event_abc/run_002/x86_64/generic/event_x')).toBe(
        '/jobs/2026.11/pr_7',
      );
    });
  });

  describe('recordSubmitted', () => {
    it("writes the seed's [PR] metadata, the pr_<N>/<ID> link and submitted/<ID>", async () => {
      const jobDir = await jobDirFor('1234');
      await store.recordSubmitted('1234', jobDir, META);

      const text = await readFile(join(jobDir, '_bot_job1234.metadata'), 'utf8');
      const parsed = decode(text) as Record<string, Record<string, unknown>>;
      expect(parsed.PR).toEqual({
        repo: 'EESSI/software-layer',
        pr_number: '42',
        pr_comment_id: '0',
      });
      expect(parsed.JOB).toMatchObject({
        job_id: '1234',
        target: META.target,
        event: META.deliveryId,
      });

      expect(await readlink(join(prDir, '1234'))).toBe(jobDir);
      expect(await readlink(join(jobIdsDir, 'submitted', '1234'))).toBe(jobDir);
    });

    it('can be repeated after a crash without error, leaving the same state', async () => {
      const jobDir = await jobDirFor('1234');
      await store.recordSubmitted('1234', jobDir, META);
      await store.recordSubmitted('1234', jobDir, META);

      expect(await readdir(join(jobIdsDir, 'submitted'))).toEqual(['1234']);
      expect(await store.readMetadata('1234', jobDir)).toEqual({ ...META, commentId: undefined });
    });

    it('writes [PR] byte for byte as v0.9 (configparser) does, and a v0.9 job’s build in [JOB]', async () => {
      const jobDir = await jobDirFor('4321');
      await store.recordSubmitted('4321', jobDir, {
        ...META,
        commentId: 99,
        requester: 'alice',
        build: {
          nodeType: 'zen4-h100',
          forArch: 'x86_64/amd/zen4',
          forAccel: ['nvidia/cc80', 'nvidia/cc90'],
          onArch: 'x86_64/amd/zen4',
          onAccel: ['nvidia/cc90'],
          repoId: 'eessi.io-2023.06-software',
        },
      });
      const text = await readFile(join(jobDir, '_bot_job4321.metadata'), 'utf8');
      expect(text).toBe(
        '[PR]\nrepo = EESSI/software-layer\npr_number = 42\npr_comment_id = 99\n\n' +
          `[JOB]\njob_id = 4321\ntarget = linux/x86_64/amd/zen2\napp_name = eessi-bot-test\njob_name = eessi-bot-test-job\nevent = ${META.deliveryId}\n` +
          'requester = alice\nnode_type = zen4-h100\nfor_arch = x86_64/amd/zen4\nfor_accel = nvidia/cc80+nvidia/cc90\non_arch = x86_64/amd/zen4\non_accel = nvidia/cc90\nrepo_id = eessi.io-2023.06-software\n\n',
      );
      expect((await store.readMetadata('4321', jobDir))?.build).toEqual({
        nodeType: 'zen4-h100',
        forArch: 'x86_64/amd/zen4',
        forAccel: ['nvidia/cc80', 'nvidia/cc90'],
        onArch: 'x86_64/amd/zen4',
        onAccel: ['nvidia/cc90'],
        repoId: 'eessi.io-2023.06-software',
      });
    });

    it.each(['../1', '1;rm', '1 2', '', '12a', '1/2'])('rejects the job id %j', async (jobId) => {
      const jobDir = await jobDirFor('1');
      await expect(store.recordSubmitted(jobId, jobDir, META)).rejects.toThrow(
        `invalid job id '${jobId}'`,
      );
      await expect(store.finish(jobId)).rejects.toThrow('invalid job id');
      expect(await readdir(jobDir)).toEqual([]);
    });

    it('accepts array job ids (123_4)', async () => {
      const jobDir = await jobDirFor('123_4');
      await store.recordSubmitted('123_4', jobDir, META);
      expect(await readlink(join(jobIdsDir, 'submitted', '123_4'))).toBe(jobDir);
    });
  });

  describe('readMetadata', () => {
    it('round-trips what recordSubmitted wrote, including text ini treats specially', async () => {
      const jobDir = await jobDirFor('77');
      const odd: JobMetadata = { ...META, deliveryId: 'x;y#z "q"', appName: 'bot = a' };
      await store.recordSubmitted('77', jobDir, odd);
      expect(await store.readMetadata('77', jobDir)).toEqual({ ...odd, commentId: undefined });
    });

    it('reads a file in the seed format (spaces around =, no [JOB] section)', async () => {
      const jobDir = await jobDirFor('5');
      await writeFile(
        join(jobDir, '_bot_job5.metadata'),
        '[PR]\nrepo = EESSI/software-layer\npr_number = 12\npr_comment_id = 987654\n',
      );
      expect(await store.readMetadata('5', jobDir)).toEqual({
        repo: 'EESSI/software-layer',
        prNumber: 12,
        commentId: 987654,
        target: '',
        appName: '',
        jobName: '',
        deliveryId: '',
      });
    });

    it('returns undefined when the job has no metadata', async () => {
      const jobDir = await jobDirFor('5');
      expect(await store.readMetadata('5', jobDir)).toBeUndefined();
    });

    it.each([
      ['garbage', '\u0000\u0001garbage{}\n[[[\n'],
      ['no pr_number', '[PR]\nrepo=EESSI/software-layer\n'],
      ['pr_number not a number', '[PR]\nrepo=EESSI/software-layer\npr_number=abc\n'],
      // ini reads a bare key as `true` and an empty value as '': neither may become PR #1 or #0.
      ['truncated pr_number line', '[PR]\nrepo=EESSI/software-layer\npr_number\n'],
      ['empty pr_number', '[PR]\nrepo=EESSI/software-layer\npr_number=\n'],
      ['empty repo', '[PR]\nrepo=\npr_number=3\n'],
    ])('throws an error naming the file for corrupt metadata (%s)', async (_, text) => {
      const jobDir = await jobDirFor('5');
      const path = join(jobDir, '_bot_job5.metadata');
      await writeFile(path, text);
      await expect(store.readMetadata('5', jobDir)).rejects.toThrow(path);
    });

    it('treats a truncated pr_comment_id line as no comment id, not comment 1', async () => {
      const jobDir = await jobDirFor('5');
      await writeFile(
        join(jobDir, '_bot_job5.metadata'),
        '[PR]\nrepo=EESSI/software-layer\npr_number=3\npr_comment_id\n',
      );
      expect((await store.readMetadata('5', jobDir))?.commentId).toBeUndefined();
    });
  });

  describe('setCommentId', () => {
    it('records the comment id and keeps every other field', async () => {
      const jobDir = await jobDirFor('88');
      await store.recordSubmitted('88', jobDir, META);

      await store.setCommentId('88', jobDir, META, 5551234);

      expect(await store.readMetadata('88', jobDir)).toEqual({ ...META, commentId: 5551234 });
      const parsed = decode(await readFile(JobStore.metadataPath(jobDir, '88'), 'utf8'));
      expect(parsed.PR).toMatchObject({ pr_comment_id: '5551234' });
    });

    it("writes the first metadata with the id, and the job is tracked only once it is linked (the event handler's order)", async () => {
      const jobDir = await jobDirFor('88');

      await store.setCommentId('88', jobDir, META, 42);
      expect(await store.readMetadata('88', jobDir)).toEqual({ ...META, commentId: 42 });
      expect(await store.listSubmitted()).toEqual([]);

      await store.linkSubmitted('88', jobDir);
      expect(await store.listSubmitted()).toEqual([{ jobId: '88', jobDir }]);
      expect(await readlink(join(JobStore.prDirOf(jobDir), '88'))).toBe(jobDir);
    });
  });

  describe('listSubmitted', () => {
    it('is empty before any job was recorded', async () => {
      expect(await store.listSubmitted()).toEqual([]);
    });

    it('lists jobs in numeric order with their dirs, ignoring temp names', async () => {
      const ids = ['100', '9', '1000', '10', '123_10', '123_9'];
      const dirs = new Map<string, string>();
      for (const id of ids) {
        const dir = await jobDirFor(id);
        dirs.set(id, dir);
        await store.recordSubmitted(id, dir, META);
      }
      // What an interrupted symlinkAtomic leaves behind.
      await symlink(dirs.get('9')!, join(jobIdsDir, 'submitted', `.9.tmp-${process.pid}-abcd1234`));

      const jobs = await store.listSubmitted();

      expect(jobs.map((j) => j.jobId)).toEqual(['9', '10', '100', '123_9', '123_10', '1000']);
      for (const job of jobs) {
        expect(job.jobDir).toBe(dirs.get(job.jobId));
      }
    });
  });

  describe('finish', () => {
    it('moves submitted/<ID> to finished/<ID>, keeping the target', async () => {
      const jobDir = await jobDirFor('321');
      await store.recordSubmitted('321', jobDir, META);
      expect(await store.isFinished('321')).toBe(false);

      await store.finish('321');

      expect(await store.isFinished('321')).toBe(true);
      expect(await readlink(join(jobIdsDir, 'finished', '321'))).toBe(jobDir);
      expect(await readdir(join(jobIdsDir, 'submitted'))).toEqual([]);
      expect(await store.listSubmitted()).toEqual([]);
    });

    it('is idempotent: a second call does not throw and changes nothing', async () => {
      const jobDir = await jobDirFor('321');
      await store.recordSubmitted('321', jobDir, META);
      await store.finish('321');
      await expect(store.finish('321')).resolves.toBeUndefined();
      expect(await readlink(join(jobIdsDir, 'finished', '321'))).toBe(jobDir);
    });

    it('throws for a job that was never tracked', async () => {
      await expect(store.finish('999')).rejects.toThrow();
      expect(await store.isFinished('999')).toBe(false);
    });
  });

  describe('rows', () => {
    it('adds a row once per kind: a second add returns false and keeps the first content', async () => {
      const jobDir = await jobDirFor('55');

      expect(await store.addRow('55', jobDir, row('released', 'first'))).toBe(true);
      expect(await store.addRow('55', jobDir, row('released', 'second'))).toBe(false);

      expect(await store.rows('55', jobDir)).toEqual([row('released', 'first')]);
    });

    it('writes nothing into a job dir that moved away: no empty copy of it comes back', async () => {
      const jobDir = await jobDirFor('55');
      await store.recordSubmitted('55', jobDir, META);
      await rm(jobDir, { recursive: true });

      await expect(store.addRow('55', jobDir, row('finished'))).rejects.toBeInstanceOf(
        JobDirGoneError,
      );
      await expect(store.setPostedHash('55', jobDir, 'x')).rejects.toBeInstanceOf(JobDirGoneError);
      await expect(store.setCheckedHash('55', jobDir, 'x')).rejects.toBeInstanceOf(JobDirGoneError);
      await expect(store.setCommentId('55', jobDir, META, 7)).rejects.toBeInstanceOf(
        JobDirGoneError,
      );
      expect(existsSync(jobDir)).toBe(false);
    });

    it('returns rows in kind order whatever the order they were added in', async () => {
      const jobDir = await jobDirFor('55');
      for (const kind of ['finished', 'running', 'submitted', 'released'] as const) {
        await store.addRow('55', jobDir, row(kind));
      }
      expect((await store.rows('55', jobDir)).map((r) => r.kind)).toEqual([
        'submitted',
        'released',
        'running',
        'finished',
      ]);
    });

    it('places received after submitted and test after finished, in files whose names never change', async () => {
      const jobDir = await jobDirFor('55');
      for (const kind of ['test', 'finished', 'running', 'received', 'submitted'] as const) {
        await store.addRow('55', jobDir, row(kind));
      }

      expect((await store.rows('55', jobDir)).map((r) => r.kind)).toEqual([
        'submitted',
        'received',
        'running',
        'finished',
        'test',
      ]);
      // Rows written by earlier versions keep their names: 0-submitted … 3-finished.
      expect((await readdir(join(jobDir, '_bot_job55.rows'))).sort()).toEqual([
        '0-submitted',
        '2-running',
        '3-finished',
        '4-test',
        '5-received',
      ]);
    });

    it('is empty for a job without rows, and skips an unreadable row', async () => {
      const jobDir = await jobDirFor('55');
      expect(await store.rows('55', jobDir)).toEqual([]);

      await store.addRow('55', jobDir, row('submitted'));
      await writeFile(join(jobDir, '_bot_job55.rows', '2-running'), '{not json');
      expect(await store.rows('55', jobDir)).toEqual([row('submitted')]);
    });

    it('keeps deploy rows after the others, in name order, each name written once', async () => {
      const jobDir = await jobDirFor('55');
      await store.addDeployRow('55', jobDir, '1700000002000-0000', row('deploy', 'second deploy'));
      await store.addDeployRow('55', jobDir, '1700000001000-0001', row('deploy', 'first, b'));
      await store.addDeployRow('55', jobDir, '1700000001000-0000', row('deploy', 'first, a'));
      await store.addRow('55', jobDir, row('finished'));

      expect(
        await store.addDeployRow('55', jobDir, '1700000001000-0000', row('deploy', 'again')),
      ).toBe(false);
      expect((await store.rows('55', jobDir)).map((r) => r.comment)).toEqual([
        row('finished').comment,
        'first, a',
        'first, b',
        'second deploy',
      ]);
      await expect(store.addDeployRow('55', jobDir, '../x', row('deploy'))).rejects.toThrow(
        'invalid deploy row name',
      );
    });

    it('concurrent adds of one kind store exactly one row', async () => {
      const jobDir = await jobDirFor('55');
      const added = await Promise.all(
        Array.from({ length: 10 }, (_, i) => store.addRow('55', jobDir, row('running', `w${i}`))),
      );
      expect(added.filter(Boolean)).toHaveLength(1);
      expect(await store.rows('55', jobDir)).toEqual([row('running', `w${added.indexOf(true)}`)]);
    });
  });

  describe('posted hash', () => {
    it('is undefined until set, then reads back', async () => {
      const jobDir = await jobDirFor('66');
      expect(await store.postedHash('66', jobDir)).toBeUndefined();
      await store.setPostedHash('66', jobDir, 'abc123');
      expect(await store.postedHash('66', jobDir)).toBe('abc123');
    });
  });
});
