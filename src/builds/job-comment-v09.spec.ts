import { describe, expect, it } from '@jest/globals';
import { DEFAULT_TEMPLATES } from '../config/upstream-defaults.js';
import {
  awaitsReleaseMessage,
  jobMarker,
  renderJobComment,
  submittedJobHeader,
  type SubmittedJobValues,
} from './job-comment.js';

const templates = DEFAULT_TEMPLATES.submittedJob;

const cpuJob: SubmittedJobValues = {
  appName: 'site-a',
  jobId: '4242',
  build: {
    nodeType: 'zen4',
    forArch: 'x86_64/amd/zen4',
    forAccel: [],
    onArch: 'x86_64/amd/zen4',
    onAccel: [],
    repoId: 'eessi.io-2023.06-software',
  },
  symlink: '/jobs/2025.01/pr_7/4242',
  delaySeconds: 120,
};

const gpuJob: SubmittedJobValues = {
  ...cpuJob,
  build: {
    ...cpuJob.build,
    nodeType: 'zen4-h100',
    forAccel: ['nvidia/cc80', 'nvidia/cc90'],
    onAccel: ['nvidia/cc90'],
  },
};

describe('submitted-job comment from [submitted_job_comments]', () => {
  it('renders v0.9’s default lines, the release row and the marker', () => {
    const body = renderJobComment({
      jobId: '4242',
      appName: 'site-a',
      target: 'linux/x86_64/amd/zen4',
      jobDirLink: cpuJob.symlink,
      header: submittedJobHeader(templates, cpuJob),
      rows: [
        {
          kind: 'submitted',
          date: 'Jan 15 12:00:00 UTC 2025',
          status: 'submitted',
          comment: awaitsReleaseMessage(templates, 'hold_release', cpuJob),
        },
      ],
    });
    expect(body).toBe(
      [
        'New job on instance `site-a` for repository `eessi.io-2023.06-software`',
        'Building on: `x86_64/amd/zen4`',
        'Building for: `x86_64/amd/zen4`',
        'Job dir: `/jobs/2025.01/pr_7/4242`',
        '|date|job status|comment|',
        '|----------|----------|------------------------|',
        '|Jan 15 12:00:00 UTC 2025|submitted|job id `4242` awaits release by job manager|',
        '',
        jobMarker('4242', 'site-a'),
      ].join('\n'),
    );
  });

  it('fills with_accelerator for each side that has accelerators', () => {
    expect(submittedJobHeader(templates, gpuJob).slice(1, 3)).toEqual([
      'Building on: `x86_64/amd/zen4`&nbsp;and accelerator `nvidia/cc90`',
      'Building for: `x86_64/amd/zen4`&nbsp;and accelerator `nvidia/cc80+nvidia/cc90`',
    ]);
  });

  it('delayed_begin says when the job may start', () => {
    expect(awaitsReleaseMessage(templates, 'delayed_begin', cpuJob)).toBe(
      'job id `4242` will be eligible to start in about 120 seconds',
    );
  });

  it('an operator’s templates: any placeholder on any line, braces escaped, nothing evaluated', () => {
    const custom = {
      ...templates,
      newJobInstanceRepo: '{{literal}} {app_name}/{job_id} {app_name.__class__}',
      jobdir: 'dir {symlink} in {delay_seconds}s',
    };
    const header = submittedJobHeader(custom, cpuJob);
    expect(header[0]).toBe('{literal} site-a/4242 {app_name.__class__}');
    expect(header[3]).toBe('dir /jobs/2025.01/pr_7/4242 in 120s');
  });

  it('a value with backticks cannot close the template’s code span', () => {
    const header = submittedJobHeader(templates, { ...cpuJob, symlink: '/jobs/a`b' });
    expect(header[3]).toBe('Job dir: ``/jobs/a`b``');
  });
});
