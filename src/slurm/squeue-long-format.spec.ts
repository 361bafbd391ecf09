import { describe, expect, it } from '@jest/globals';
import { slurmFixture } from '../../test/support/stub-runner.js';
import {
  parseSqueueLongFormat,
  SQUEUE_FIELD_SEPARATOR as US,
  SQUEUE_LONG_FORMAT,
} from './squeue-long-format.js';

const V09_DIR =
  '/tmp/eessi bot jobs/2025.06/pr_12/event_d3a1/run_001/x86_64/amd/zen4/eessi.io-2025.06-software';
const SNELLIUS_RUN =
  '/gpfs/work3/0/eessi bot/jobs/2026.06/pr_1234/event_6b2f9e40-4d1a-11f1-8a5c-1c1b0d000000/run_001';

describe('SQUEUE_LONG_FORMAT', () => {
  it('asks for every field in full (width 0), separated by U+001F', () => {
    expect(SQUEUE_LONG_FORMAT).toBe(
      [
        'JobID:0\u001f',
        'Cluster:0\u001f',
        'Partition:0\u001f',
        'State:0\u001f',
        'Reason:0\u001f',
        'EligibleTime:0\u001f',
        'Name:0\u001f',
        'WorkDir:0',
      ].join(','),
    );
  });
});

describe('parseSqueueLongFormat', () => {
  it('reads real Slurm 22.05 output: held, delayed begin, a reason with blanks, running', () => {
    const jobs = parseSqueueLongFormat(slurmFixture('squeue-v09-format-22.05.txt'));

    const common = { name: 'eessi-bot v09|fixture', cluster: 'eessi-bot-local', workDir: V09_DIR };
    expect(jobs).toEqual([
      {
        ...common,
        id: '16',
        partition: 'batch',
        state: 'PENDING',
        reason: 'JobHeldUser',
        held: true,
      },
      {
        ...common,
        id: '17',
        partition: 'debug',
        state: 'PENDING',
        reason: 'BeginTime',
        held: false,
        eligibleTime: '2026-12-06T08:55:00',
      },
      {
        ...common,
        id: '20',
        partition: 'debug',
        state: 'PENDING',
        reason: 'ReqNodeNotAvail, UnavailableNodes:localhost',
        held: false,
        eligibleTime: '2026-12-06T08:45:07',
      },
      {
        ...common,
        id: '15',
        partition: 'debug',
        state: 'RUNNING',
        reason: 'None',
        held: false,
        eligibleTime: '2026-12-06T08:45:00',
      },
    ]);
  });

  it('reads 25.11-shaped output: several clusters, partition lists, long reasons, odd work dirs', () => {
    const jobs = parseSqueueLongFormat(slurmFixture('squeue-v09-format-25.11.handmade.txt'));

    expect(jobs.map((j) => [j.id, j.cluster, j.partition, j.state, j.reason, j.held])).toEqual([
      ['8123456', 'snellius', 'gpu_h100', 'PENDING', 'JobHeldUser', true],
      ['8123457', 'snellius', 'genoa,rome', 'PENDING', 'BeginTime', false],
      [
        '8123458',
        'snellius-gpu',
        'gpu_a100',
        'PENDING',
        'ReqNodeNotAvail, Reserved for maintenance',
        false,
      ],
      [
        '8123459',
        'snellius',
        'genoa',
        'PENDING',
        'Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority partitions',
        false,
      ],
      ['8123460', 'snellius', 'genoa', 'RUNNING', 'None', false],
      ['8123461', 'snellius', 'genoa', 'COMPLETING', 'None', false],
    ]);
    expect(jobs[0].eligibleTime).toBeUndefined();
    expect(jobs[1].eligibleTime).toBe('2026-06-02T14:03:20');
    expect(jobs[0].workDir).toBe(
      `${SNELLIUS_RUN}/x86_64/amd/zen4/accel/nvidia/cc90/eessi.io-2025.06-software`,
    );
    expect(jobs[5].workDir).toBe(
      '/gpfs/work3/0/eessi bot/jobs/2026.06/pr_1234/with|pipe and spaces',
    );
    expect(new Set(jobs.map((j) => j.name))).toEqual(new Set(['eessi-bot-snellius']));
  });

  it('keeps a work dir whole even when it holds the separator, and tolerates CRLF', () => {
    const line = ['7', 'c', 'p', 'PENDING', 'JobHeldAdmin', 'Unknown', 'n', `/a${US}b`].join(US);

    expect(parseSqueueLongFormat(`${line}\r\n`)).toEqual([
      {
        id: '7',
        name: 'n',
        state: 'PENDING',
        reason: 'JobHeldAdmin',
        held: true,
        cluster: 'c',
        partition: 'p',
        workDir: `/a${US}b`,
      },
    ]);
  });

  it('returns no jobs for empty output', () => {
    expect(parseSqueueLongFormat('')).toEqual([]);
    expect(parseSqueueLongFormat('\n')).toEqual([]);
  });

  it.each([
    ['the short format', '16|PENDING|JobHeldUser|bot-job|/tmp/x'],
    ['too few fields', ['16', 'c', 'p', 'PENDING', 'JobHeldUser', 'N/A', 'bot-job'].join(US)],
    [
      'a header line',
      [
        'JOBID',
        'CLUSTER',
        'PARTITION',
        'STATE',
        'REASON',
        'ELIGIBLE_TIME',
        'NAME',
        'WORK_DIR',
      ].join(US),
    ],
    ['a lower-case state', ['16', 'c', 'p', 'pending', 'None', 'N/A', 'n', '/x'].join(US)],
  ])('refuses %s, naming the line', (_what, line) => {
    expect(() => parseSqueueLongFormat(`\n${line}\n`)).toThrow(
      /^line 2 does not have the 8 fields JobID, Cluster/,
    );
  });
});
