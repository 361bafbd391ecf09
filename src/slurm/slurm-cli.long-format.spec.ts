import { beforeEach, describe, expect, it } from '@jest/globals';
import { slurmFixture, StubRunner } from '../../test/support/stub-runner.js';
import { SlurmCliAdapter, type SlurmCommands } from './slurm-cli.adapter.js';
import { SQUEUE_LONG_FORMAT } from './squeue-long-format.js';

// SlurmCliAdapter as a v0.9-format config wires it: squeue --Format, scontrol_command arguments.

const commands: SlurmCommands = {
  submit: '/usr/bin/sbatch',
  poll: '/usr/bin/squeue',
  scontrol: '/usr/bin/scontrol',
  scancel: '/usr/bin/scancel',
  timeoutMs: 7_000,
  user: 'eessibot',
  squeueFormat: 'long',
  scontrolArgs: ['--clusters=%(cluster)s'],
};

describe('SlurmCliAdapter with the long squeue format and scontrol_command arguments', () => {
  let runner: StubRunner;
  let slurm: SlurmCliAdapter;

  beforeEach(() => {
    runner = new StubRunner();
    slurm = new SlurmCliAdapter(runner, commands);
  });

  it('lists jobs with squeue --Format and --name, times in standard form', async () => {
    runner.reply({ stdout: slurmFixture('squeue-v09-format-25.11.handmade.txt') });

    const jobs = await slurm.listJobs('eessi-bot-snellius');

    expect(runner.calls).toHaveLength(1);
    expect(runner.calls[0].command).toBe('/usr/bin/squeue');
    expect(runner.calls[0].args).toEqual([
      '--noheader',
      '--user=eessibot',
      '--name=eessi-bot-snellius',
      `--Format=${SQUEUE_LONG_FORMAT}`,
    ]);
    expect(runner.calls[0].opts.env?.SLURM_TIME_FORMAT).toBe('standard');
    expect(jobs.map((j) => [j.id, j.cluster])).toEqual([
      ['8123456', 'snellius'],
      ['8123457', 'snellius'],
      ['8123458', 'snellius-gpu'],
      ['8123459', 'snellius'],
      ['8123460', 'snellius'],
      ['8123461', 'snellius'],
    ]);
  });

  it('drops jobs of another name even if squeue listed them', async () => {
    runner.reply({ stdout: slurmFixture('squeue-v09-format-22.05.txt') });

    expect(await slurm.listJobs('eessi-bot v09')).toEqual([]);
  });

  it("releases with the job's cluster filled into scontrol_command's arguments", async () => {
    runner.reply({ stdout: slurmFixture('squeue-v09-format-25.11.handmade.txt') }).reply({});
    const [, , gpuJob] = await slurm.listJobs('eessi-bot-snellius');

    await slurm.release(gpuJob.id, gpuJob);

    expect(runner.calls[1].command).toBe('/usr/bin/scontrol');
    expect(runner.calls[1].args).toEqual(['--clusters=snellius-gpu', 'release', '8123458']);
  });

  it('asks for the end state with the last row seen, and refuses to guess a missing cluster', async () => {
    runner.reply({ stdout: slurmFixture('scontrol-show-job-completed.txt') });

    await slurm.endState('1', {
      id: '1',
      name: 'n',
      state: 'RUNNING',
      reason: 'None',
      held: false,
      cluster: 'c1',
    });

    expect(runner.calls[0].args).toEqual(['--clusters=c1', 'show', 'job', '1']);
    await expect(slurm.endState('1')).rejects.toThrow(
      /scontrol_command needs %\(cluster\)s for job 1/,
    );
    await expect(slurm.release('1')).rejects.toThrow(/needs %\(cluster\)s/);
    expect(runner.calls).toHaveLength(1);
  });
});
