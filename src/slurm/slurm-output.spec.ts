import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import {
  isValidJobId,
  parseSbatchOutput,
  parseScontrolShowJob,
  parseSqueueOutput,
} from './slurm-output.js';

function fixture(name: string): string {
  return readFileSync(new URL(`../../test/fixtures/slurm/${name}`, import.meta.url), 'utf8');
}

describe('parseSbatchOutput', () => {
  it('reads the id from "Submitted batch job N"', () => {
    expect(parseSbatchOutput(fixture('sbatch-submitted.txt'))).toBe('1');
  });

  it('reads the id from --parsable output, with or without a cluster', () => {
    expect(parseSbatchOutput(fixture('sbatch-parsable.txt'))).toBe('2');
    expect(parseSbatchOutput('4711;cluster-a\n')).toBe('4711');
  });

  it('reads the id in a multi-cluster setup and after other lines', () => {
    expect(parseSbatchOutput('Submitted batch job 42 on cluster east\n')).toBe('42');
    expect(parseSbatchOutput('sbatch: note: using defaults\nSubmitted batch job 43\n')).toBe('43');
  });

  it('finds no id in error output or unrelated text', () => {
    expect(parseSbatchOutput('')).toBeUndefined();
    expect(parseSbatchOutput(fixture('sbatch-invalid-feature.stderr.txt'))).toBeUndefined();
    expect(parseSbatchOutput('Submitted batch job\n')).toBeUndefined();
    expect(parseSbatchOutput('Submitted batch job 12abc\n')).toBeUndefined();
  });
});

describe('parseSqueueOutput', () => {
  it('reads held (user and admin), pending, running and foreign jobs', () => {
    expect(parseSqueueOutput(fixture('squeue-mixed.txt'))).toEqual([
      { id: '7', state: 'PENDING', reason: 'Resources', name: 'bot-job', held: false },
      { id: '4', state: 'PENDING', reason: 'JobHeldAdmin', name: 'bot-job', held: true },
      { id: '3', state: 'PENDING', reason: 'JobHeldUser', name: 'bot-job', held: true },
      { id: '5', state: 'RUNNING', reason: 'None', name: 'bot-job', held: false },
      {
        id: '6',
        state: 'RUNNING',
        reason: 'None',
        name: 'name with spaces|and pipe',
        held: false,
      },
    ]);
  });

  it('reads array task ids as printed with --array', () => {
    expect(parseSqueueOutput(fixture('squeue-array.txt')).map((job) => job.id)).toEqual([
      '8_1',
      '8_2',
    ]);
  });

  it('returns an empty list for an empty queue', () => {
    expect(fixture('squeue-empty.txt')).toBe('');
    expect(parseSqueueOutput(fixture('squeue-empty.txt'))).toEqual([]);
    expect(parseSqueueOutput('\n\n')).toEqual([]);
  });

  it('keeps a name that ends in blanks or is empty, and ignores CRLF line ends', () => {
    expect(parseSqueueOutput('9|PENDING|Priority| pad \r\n10|PENDING|Priority|\n')).toEqual([
      { id: '9', state: 'PENDING', reason: 'Priority', name: ' pad ', held: false },
      { id: '10', state: 'PENDING', reason: 'Priority', name: '', held: false },
    ]);
  });

  it('counts a held reason as held only while the job is pending', () => {
    const [job] = parseSqueueOutput('19|CANCELLED|JobHeldUser|x\n');
    expect(job.held).toBe(false);
  });

  it('rejects output in another format instead of reading it as no jobs', () => {
    const defaultFormat =
      '                 5     batch   c5a_eq     root PD       0:00      1 (JobHeldUser)\n';
    expect(() => parseSqueueOutput(defaultFormat)).toThrow(/line 1 is not/);
    expect(() => parseSqueueOutput('1|PENDING|JobHeldUser|ok\nabc|PENDING|None|x\n')).toThrow(
      /line 2 is not .*abc\|PENDING/,
    );
    expect(() => parseSqueueOutput('8_[1-2]|PENDING|JobHeldUser|arr\n')).toThrow(/line 1/);
    expect(() => parseSqueueOutput('1|PENDING|None\n')).toThrow(/line 1/);
  });
});

describe('parseScontrolShowJob', () => {
  it.each([
    ['scontrol-show-job-held.txt', { jobId: '1', state: 'PENDING', exitCode: '0:0' }],
    ['scontrol-show-job-completed.txt', { jobId: '1', state: 'COMPLETED', exitCode: '0:0' }],
    ['scontrol-show-job-failed-launch.txt', { jobId: '14', state: 'FAILED', exitCode: '0:53' }],
    ['scontrol-show-job-failed-oneline.txt', { jobId: '15', state: 'FAILED', exitCode: '3:0' }],
    ['scontrol-show-job-running-oneline.txt', { jobId: '2', state: 'RUNNING', exitCode: '0:0' }],
    ['scontrol-show-job-cancelled.txt', { jobId: '1', state: 'CANCELLED', exitCode: '0:0' }],
    ['scontrol-show-job-timeout.txt', { jobId: '2', state: 'TIMEOUT', exitCode: '0:15' }],
  ])('reads %s', (file, expected) => {
    expect(parseScontrolShowJob(fixture(file))).toEqual(expected);
  });

  it('cannot be fooled by a job name that looks like fields', () => {
    const multiLine = fixture('scontrol-show-job-completed.txt').replace(
      'JobName=NAME_A',
      'JobName=x JobState=FAILED ExitCode=9:0',
    );
    expect(parseScontrolShowJob(multiLine)).toEqual({
      jobId: '1',
      state: 'COMPLETED',
      exitCode: '0:0',
    });
    const oneLine = fixture('scontrol-show-job-failed-oneline.txt').replace(
      'JobName=fails',
      'JobName=x JobState=COMPLETED ExitCode=0:0',
    );
    expect(parseScontrolShowJob(oneLine)).toEqual({
      jobId: '15',
      state: 'FAILED',
      exitCode: '3:0',
    });
  });

  it('reads only the first record when several are printed', () => {
    const two = `${fixture('scontrol-show-job-timeout.txt')}${fixture('scontrol-show-job-completed.txt')}`;
    expect(parseScontrolShowJob(two)).toEqual({ jobId: '2', state: 'TIMEOUT', exitCode: '0:15' });
  });

  it('returns undefined for output without a job', () => {
    expect(parseScontrolShowJob('')).toBeUndefined();
    expect(
      parseScontrolShowJob(fixture('scontrol-show-job-invalid-id.stderr.txt')),
    ).toBeUndefined();
  });
});

describe('isValidJobId', () => {
  it('accepts job ids and array task ids only', () => {
    expect(['1', '123456', '8_1'].every(isValidJobId)).toBe(true);
    for (const bad of ['', '-1', '1 2', '8_[1-2]', '1;rm', '--help', '1_', '_1', '１']) {
      expect(isValidJobId(bad)).toBe(false);
    }
  });
});
