import { describe, expect, it } from '@jest/globals';
import { expandScontrolArgs } from './scontrol-args.js';
import type { QueuedJob } from './slurm.port.js';

const row: QueuedJob = {
  id: '8123456',
  name: 'eessi-bot-snellius',
  state: 'PENDING',
  reason: 'ReqNodeNotAvail, Reserved for maintenance',
  held: true,
  cluster: 'snellius',
  partition: 'genoa,rome',
};

describe('expandScontrolArgs', () => {
  it('passes words without placeholders on unchanged', () => {
    expect(expandScontrolArgs(['--quiet', '-M', 'all'], '1', row)).toEqual([
      '--quiet',
      '-M',
      'all',
    ]);
    expect(expandScontrolArgs([], '1')).toEqual([]);
  });

  it("fills each word from the job's squeue row, several fields per word too", () => {
    expect(
      expandScontrolArgs(
        ['--clusters=%(cluster)s', '--comment=%(jobid)s@%(partition)s/%(state)s', '%(reason)s'],
        '8123456',
        row,
      ),
    ).toEqual([
      '--clusters=snellius',
      '--comment=8123456@genoa,rome/PENDING',
      'ReqNodeNotAvail, Reserved for maintenance',
    ]);
  });

  it('keeps every value inside its one word, whatever it holds, and never re-reads it', () => {
    const hostile: QueuedJob = {
      ...row,
      cluster: `a b; rm -rf ~ $(id) \`id\` "q" 'q' \n%(jobid)s`,
      reason: '--help',
    };

    expect(expandScontrolArgs(['--clusters=%(cluster)s', 'x%(reason)s'], '5', hostile)).toEqual([
      `--clusters=a b; rm -rf ~ $(id) \`id\` "q" 'q' \n%(jobid)s`,
      'x--help',
    ]);
  });

  it('fills %(jobid)s without a row, and names the field it cannot fill', () => {
    expect(expandScontrolArgs(['--job=%(jobid)s'], '42')).toEqual(['--job=42']);
    expect(() => expandScontrolArgs(['--clusters=%(cluster)s'], '42')).toThrow(
      '[job_manager] scontrol_command needs %(cluster)s for job 42, which squeue has not shown for it',
    );
    expect(() => expandScontrolArgs(['%(cluster)s'], '42', { ...row, cluster: undefined })).toThrow(
      /needs %\(cluster\)s for job 42/,
    );
    expect(() => expandScontrolArgs(['%(account)s'], '42', row)).toThrow(/needs %\(account\)s/);
  });
});
