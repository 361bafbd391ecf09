import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeTree } from '../../test/support/job-dir.js';
import { createTrackedJob } from '../../test/support/job-fixture.js';
import { formatRowDate } from './job-comment.js';
import { JobIndex } from './job-index.js';
import { JobStore, type RowKind, type StatusRow } from './job-store.js';

/** The fixture's job dirs are in 2026.11; the index is asked at the end of that month. */
const NOW = Date.UTC(2026, 10, 30, 12, 0, 0);
const HOUR = 3_600_000;

function row(kind: RowKind, at: number, comment: string = kind): StatusRow {
  return { kind, date: formatRowDate(new Date(at)), status: kind, comment };
}

describe('JobIndex', () => {
  let root: string;
  let jobIdsDir: string;
  let jobsBaseDir: string;
  let now: number;
  let store: JobStore;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'job-index-'));
    jobIdsDir = join(root, 'ids');
    jobsBaseDir = join(root, 'jobs');
    store = new JobStore(jobIdsDir);
    now = NOW;
  });

  afterEach(() => removeTree(root));

  const index = (maxAgeMs = 0) => new JobIndex(store, jobIdsDir, { now: () => now, maxAgeMs });

  it('lists the jobs of the last 14 days newest first, with state, result and comment', async () => {
    await createTrackedJob({
      jobIdsDir,
      jobsBaseDir,
      jobId: '101',
      prNumber: 7,
      commentId: 555,
      rows: [row('submitted', NOW - 3 * HOUR), row('released', NOW - 2 * HOUR)],
    });
    const done = await createTrackedJob({
      jobIdsDir,
      jobsBaseDir,
      jobId: '102',
      prNumber: 8,
      target: 'linux/aarch64/generic',
      rows: [
        row('submitted', NOW - HOUR),
        row('running', NOW - HOUR / 2),
        row('finished', NOW - HOUR / 4, ':cry: FAILURE <ul><li>no tarball</li></ul>'),
      ],
    });
    await store.finish(done.jobId);

    const jobs = await index().jobs();

    expect(jobs).toEqual([
      {
        jobId: '102',
        repo: 'EESSI/software-layer',
        prNumber: 8,
        target: 'linux/aarch64/generic',
        state: 'finished',
        result: 'FAILURE',
        submittedAt: NOW - HOUR,
        updatedAt: NOW - HOUR / 4,
        jobDir: done.jobDir,
        tracked: false,
      },
      expect.objectContaining({
        jobId: '101',
        prNumber: 7,
        state: 'released',
        commentId: 555,
        submittedAt: NOW - 3 * HOUR,
        tracked: true,
      }),
    ]);
  });

  it('leaves out finished jobs before the window, by their month or their first row', async () => {
    const old = await createTrackedJob({
      jobIdsDir,
      jobsBaseDir,
      jobId: '90',
      rows: [row('submitted', NOW - 20 * 24 * HOUR), row('finished', NOW - 19 * 24 * HOUR)],
    });
    await store.finish(old.jobId);
    // A record from August: recognised by its directory, not read.
    const augustDir = join(jobsBaseDir, '2026.08', 'pr_1', 'event_x', 'run_001', 'linux_x86_64');
    await mkdir(augustDir, { recursive: true });
    await store.recordSubmitted('80', augustDir, {
      repo: 'EESSI/software-layer',
      prNumber: 1,
      target: 'linux/x86_64',
      appName: 'a',
      jobName: 'j',
      deliveryId: 'x',
    });
    await store.finish('80');

    expect(await index().jobs()).toEqual([]);
  });

  it('serves a fresh listing from memory, then sees rows added and jobs finished', async () => {
    const job = await createTrackedJob({
      jobIdsDir,
      jobsBaseDir,
      jobId: '103',
      rows: [row('submitted', NOW - HOUR)],
    });
    const jobs = index(60_000);
    expect((await jobs.jobs()).map((j) => j.state)).toEqual(['submitted']);

    await store.addRow(job.jobId, job.jobDir, row('running', NOW));
    expect((await jobs.jobs()).map((j) => j.state)).toEqual(['submitted']);

    now += 61_000;
    expect((await jobs.jobs()).map((j) => j.state)).toEqual(['running']);

    await store.addRow(job.jobId, job.jobDir, row('finished', NOW, ':grin: SUCCESS tarball'));
    await store.finish(job.jobId);
    now += 61_000;
    expect(await jobs.jobs()).toEqual([
      expect.objectContaining({ state: 'finished', result: 'SUCCESS', tracked: false }),
    ]);

    // Two weeks on, it has left the window.
    now += 14 * 24 * HOUR;
    expect(await jobs.jobs()).toEqual([]);
  });
});
