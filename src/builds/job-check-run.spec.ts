import { describe, expect, it } from '@jest/globals';
import { checkRunName, checkRunState } from './job-check-run.js';
import type { JobMetadata, RowKind, StatusRow } from './job-store.js';

const META: JobMetadata = {
  repo: 'EESSI/software-layer',
  prNumber: 7,
  target: 'linux/x86_64/amd/zen4',
  appName: 'site-a',
  jobName: 'eessi-bot-site-a',
  deliveryId: 'd-1',
};

function rows(...kinds: [RowKind, string?][]): StatusRow[] {
  return kinds.map(([kind, comment = '']) => ({ kind, date: 'now', status: kind, comment }));
}

describe('checkRunName', () => {
  it('names instance, for-arch, accelerator and repo of a v0.9 job', () => {
    const build = {
      nodeType: 'gpu',
      forArch: 'x86_64/amd/zen3',
      forAccel: ['nvidia/cc80'],
      onArch: 'x86_64/amd/zen3',
      onAccel: ['nvidia/cc80'],
      repoId: 'eessi.io-2023.06-software',
    };
    expect(checkRunName({ ...META, build }, 'fallback')).toBe(
      'site-a: x86_64/amd/zen3, nvidia/cc80, eessi.io-2023.06-software',
    );
    expect(checkRunName({ ...META, appName: '' }, 'fallback')).toBe(
      'fallback: linux/x86_64/amd/zen4',
    );
  });
});

describe('checkRunState', () => {
  const state = (r: StatusRow[]) => checkRunState(r, '1001', '/jobs/2024.03/pr_7/1001');

  it('is queued until the job runs, with the same summary whether released or not', () => {
    expect(state(rows(['submitted']))).toEqual(state(rows(['submitted'], ['released'])));
    expect(state(rows(['submitted'])).status).toBe('queued');
  });

  it('is in_progress while running', () => {
    expect(state(rows(['submitted'], ['released'], ['running'])).status).toBe('in_progress');
  });

  it.each([
    [':grin: SUCCESS tarball `x.tar.gz` (1 GiB) in job dir', 'success'],
    [':cry: FAILURE no tarball', 'failure'],
    [':shrug: UNKNOWN job left the queue without output', 'failure'],
    [':x: CANCELLED by the scheduler (Slurm state CANCELLED)', 'cancelled'],
  ])(
    'completes on the finished row %p as %p, with the result and the job dir',
    (text, conclusion) => {
      const s = state(rows(['submitted'], ['running'], ['finished', text], ['test', 'tests ok']));
      expect(s).toMatchObject({ status: 'completed', conclusion });
      expect(s.summary).toBe(
        `${text}\n\ntests ok\n\nJob \`1001\`, job dir \`/jobs/2024.03/pr_7/1001\``,
      );
    },
  );

  it('completes as cancelled when the bot cancelled the job', () => {
    expect(state(rows(['submitted'], ['cancelled', 'PR closed: job cancelled']))).toMatchObject({
      status: 'completed',
      conclusion: 'cancelled',
      title: 'Cancelled',
    });
  });
});
