import { userInfo } from 'node:os';
import { beforeEach, describe, expect, it } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { CapturingLogger } from '../../test/support/capturing-logger.js';
import { slurmFixture, StubRunner } from '../../test/support/stub-runner.js';
import { CommandStartError, CommandTimeoutError } from '../common/command-runner.js';
import { SlurmCliAdapter, type SlurmCommands } from './slurm-cli.adapter.js';
import { SlurmCommandError, SlurmUnavailableError } from './slurm.errors.js';
import type { SubmitRequest } from './slurm.port.js';

const fixture = slurmFixture;

const commands: SlurmCommands = {
  submit: '/usr/bin/sbatch',
  poll: '/usr/bin/squeue',
  scontrol: '/usr/bin/scontrol',
  scancel: '/usr/bin/scancel',
  timeoutMs: 7_000,
  user: 'eessibot',
};

const request: SubmitRequest = {
  workDir: '/jobs/2024.01/pr_7/event_abc/run_000/linux_x86_64_amd_zen2',
  schedulerArgs: ['--time=4:0:0', '--constraint', 'shape=c5a.2xlarge'],
  jobName: 'bot-job',
  script: '/opt/bot/bot-build.slurm',
  // PR-derived text must reach the script as single, uninterpreted words.
  scriptArgs: ['--pr', '$(rm -rf ~) ; `id`'],
};

const squeueArgs = [
  '--noheader',
  '--array',
  '--user=eessibot',
  '--name=bot-job',
  '--format=%i|%T|%r|%j|%Z',
];

describe('SlurmCliAdapter', () => {
  let runner: StubRunner;
  let slurm: SlurmCliAdapter;
  let logs: CapturingLogger;

  beforeEach(() => {
    runner = new StubRunner();
    slurm = new SlurmCliAdapter(runner, commands);
    logs = new CapturingLogger();
    Logger.overrideLogger(logs);
  });

  describe('submit', () => {
    it('runs sbatch held, named, in the job directory, and returns the job id', async () => {
      runner.reply({ stdout: fixture('sbatch-submitted.txt') });

      await expect(slurm.submit(request)).resolves.toEqual({ jobId: '1' });
      expect(logs.lines).toEqual([`DEBUG submitted job 1 (bot-job) in ${request.workDir}`]);

      expect(runner.calls).toEqual([
        {
          command: '/usr/bin/sbatch',
          args: [
            '--time=4:0:0',
            '--constraint',
            'shape=c5a.2xlarge',
            '--hold',
            '--job-name=bot-job',
            '/opt/bot/bot-build.slurm',
            '--pr',
            '$(rm -rf ~) ; `id`',
          ],
          opts: { cwd: request.workDir, timeoutMs: 7_000 },
        },
      ]);
    });

    it.each([['--hold'], ['-H']])(
      'does not add --hold when the parameters have %s',
      async (hold) => {
        runner.reply({ stdout: fixture('sbatch-submitted.txt') });
        await slurm.submit({ ...request, schedulerArgs: [hold, '-p', 'batch'] });
        expect(runner.calls[0].args).toEqual([
          hold,
          '-p',
          'batch',
          '--job-name=bot-job',
          '/opt/bot/bot-build.slurm',
          '--pr',
          '$(rm -rf ~) ; `id`',
        ]);
      },
    );

    it('accepts --parsable output', async () => {
      runner.reply({ stdout: fixture('sbatch-parsable.txt') });
      await expect(slurm.submit({ ...request, schedulerArgs: ['--parsable'] })).resolves.toEqual({
        jobId: '2',
      });
    });

    it('throws SlurmCommandError with sbatch stderr when Slurm rejects the job', async () => {
      runner.reply({ exitCode: 1, stderr: fixture('sbatch-invalid-feature.stderr.txt') });

      const error = await slurm.submit(request).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(SlurmCommandError);
      expect(error).not.toBeInstanceOf(SlurmUnavailableError);
      expect(error).toMatchObject({
        message:
          'sbatch exited 1: sbatch: error: Batch job submission failed: Invalid feature specification',
        command: '/usr/bin/sbatch',
        exitCode: 1,
        stderr: 'sbatch: error: Batch job submission failed: Invalid feature specification\n',
        args: runner.calls[0].args,
      });
    });

    it('throws SlurmUnavailableError when the controller cannot be reached', async () => {
      runner.reply({ exitCode: 1, stderr: fixture('sbatch-controller-down.stderr.txt') });
      const error = await slurm.submit(request).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SlurmUnavailableError);
      expect((error as Error).message).toBe(
        'sbatch exited 1: sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)',
      );
    });

    it('throws SlurmCommandError when sbatch succeeds without printing a job id', async () => {
      runner.reply({ stdout: 'sbatch: queued somewhere\n' });
      const error = await slurm.submit(request).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SlurmCommandError);
      expect(error).not.toBeInstanceOf(SlurmUnavailableError);
      expect((error as SlurmCommandError).message).toBe(
        'sbatch printed no job id (expected "Submitted batch job N"): sbatch: queued somewhere',
      );
      expect((error as SlurmCommandError).stdout).toBe('sbatch: queued somewhere\n');
    });

    it('refuses a job name that squeue --name could not match, before running anything', async () => {
      await expect(slurm.submit({ ...request, jobName: 'a,b' })).rejects.toThrow(
        /invalid Slurm job name "a,b"/,
      );
      expect(runner.calls).toEqual([]);
    });
  });

  describe('listJobs', () => {
    it("asks squeue once for this user's jobs of that name and reads them", async () => {
      runner.reply({ stdout: fixture('squeue-mixed.txt') });

      const jobs = await slurm.listJobs('bot-job');

      expect(runner.calls).toEqual([
        {
          command: '/usr/bin/squeue',
          args: squeueArgs,
          opts: { cwd: undefined, timeoutMs: 7_000 },
        },
      ]);
      // The fixture also holds a foreign job: it must be filtered out even if squeue did not.
      // (Captured in the format used before work dirs were asked for: none is reported.)
      expect(jobs).toEqual([
        { id: '7', name: 'bot-job', state: 'PENDING', reason: 'Resources', held: false },
        { id: '4', name: 'bot-job', state: 'PENDING', reason: 'JobHeldAdmin', held: true },
        { id: '3', name: 'bot-job', state: 'PENDING', reason: 'JobHeldUser', held: true },
        { id: '5', name: 'bot-job', state: 'RUNNING', reason: 'None', held: false },
      ]);
    });

    it("reads each job's work dir, whatever characters it holds, and drops foreign names", async () => {
      runner.reply({ stdout: fixture('squeue-workdir.txt') });

      const jobs = await slurm.listJobs('bot-job');

      expect(jobs).toEqual([
        {
          id: '280',
          name: 'bot-job',
          state: 'PENDING',
          reason: 'JobHeldUser',
          held: true,
          workDir: '/tmp/fx.wAMe/job|b',
        },
        {
          id: '279',
          name: 'bot-job',
          state: 'PENDING',
          reason: 'JobHeldUser',
          held: true,
          workDir: '/tmp/fx.wAMe/job a',
        },
      ]);
    });

    it('asks for the user this process runs as by default', async () => {
      const { user: _user, ...withoutUser } = commands;
      slurm = new SlurmCliAdapter(runner, withoutUser);
      runner.reply({ stdout: '' });
      await slurm.listJobs('bot-job');
      expect(runner.calls[0].args).toContain(`--user=${userInfo().username}`);
    });

    it('returns an empty list only when squeue answered with no jobs', async () => {
      runner.reply({ stdout: fixture('squeue-empty.txt') });
      await expect(slurm.listJobs('bot-job')).resolves.toEqual([]);
    });

    it.each([
      ['controller down', 'squeue-controller-down.stderr.txt'],
      ['munge down', 'squeue-munge-down.stderr.txt'],
    ])('throws SlurmUnavailableError with the %s output', async (_what, file) => {
      runner.reply({ exitCode: 1, stderr: fixture(file) });
      const error = await slurm.listJobs('bot-job').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SlurmUnavailableError);
      expect((error as SlurmCommandError).stderr).toBe(fixture(file));
    });

    it('throws when squeue exits 0 but printed an error (it does for an unknown user)', async () => {
      runner.reply({ exitCode: 0, stderr: fixture('squeue-invalid-user.stderr.txt') });
      const error = await slurm.listJobs('bot-job').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SlurmCommandError);
      expect((error as Error).message).toBe(
        'squeue exited 0: squeue: error: Invalid user: nosuchuser',
      );
    });

    it('throws on output it cannot read instead of reporting an empty queue', async () => {
      runner.reply({ stdout: 'JOBID PARTITION NAME\n  5 batch bot-job\n' });
      const error = await slurm.listJobs('bot-job').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SlurmCommandError);
      expect((error as Error).message).toMatch(
        /^squeue printed output that cannot be read: line 1/,
      );
    });

    it('turns a timeout into SlurmUnavailableError naming the limit', async () => {
      runner.reply(new CommandTimeoutError('/usr/bin/squeue', squeueArgs, 7_000));
      const error = await slurm.listJobs('bot-job').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SlurmUnavailableError);
      expect((error as Error).message).toBe(
        'squeue did not answer within 7 s and was killed; is slurmctld reachable? (the limit is [job_manager] command_timeout)',
      );
      expect((error as Error).cause).toBeInstanceOf(CommandTimeoutError);
    });

    it('turns a missing command into SlurmUnavailableError naming the config key', async () => {
      runner.reply(new CommandStartError('/usr/bin/squeue', squeueArgs, 'ENOENT', 'not found'));
      const error = await slurm.listJobs('bot-job').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SlurmUnavailableError);
      expect((error as Error).message).toBe(
        '/usr/bin/squeue could not be started (ENOENT): not found; check [job_manager] poll_command in app.cfg',
      );
    });
  });

  describe('release', () => {
    it('runs scontrol release <id>', async () => {
      runner.reply({});
      await slurm.release('1234');
      expect(runner.calls.map((c) => [c.command, c.args])).toEqual([
        ['/usr/bin/scontrol', ['release', '1234']],
      ]);
    });

    it('throws SlurmCommandError when the job already finished', async () => {
      runner.reply({ exitCode: 1, stderr: fixture('scontrol-release-finished.stderr.txt') });
      const error = await slurm.release('2').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SlurmCommandError);
      expect(error).not.toBeInstanceOf(SlurmUnavailableError);
      expect((error as Error).message).toBe(
        'scontrol exited 1: Job has already finished for job 2 | slurm_suspend error: Job has already finished',
      );
    });

    it('throws SlurmUnavailableError when the controller is down', async () => {
      runner.reply({ exitCode: 1, stderr: fixture('scontrol-release-controller-down.stderr.txt') });
      await expect(slurm.release('3')).rejects.toBeInstanceOf(SlurmUnavailableError);
    });
  });

  describe('cancel', () => {
    it('runs scancel <id>', async () => {
      runner.reply({});
      await slurm.cancel('8_2');
      expect(runner.calls.map((c) => [c.command, c.args])).toEqual([['/usr/bin/scancel', ['8_2']]]);
    });

    it('throws SlurmUnavailableError when the controller is down (scancel exits 8)', async () => {
      runner.reply({ exitCode: 8, stderr: fixture('scancel-controller-down.stderr.txt') });
      await expect(slurm.cancel('3')).rejects.toBeInstanceOf(SlurmUnavailableError);
    });
  });

  describe('endState', () => {
    it.each([
      ['scontrol-show-job-completed.txt', '1', { state: 'COMPLETED', exitCode: '0:0' }],
      ['scontrol-show-job-failed-launch.txt', '14', { state: 'FAILED', exitCode: '0:53' }],
      ['scontrol-show-job-cancelled.txt', '1', { state: 'CANCELLED', exitCode: '0:0' }],
      ['scontrol-show-job-timeout.txt', '2', { state: 'TIMEOUT', exitCode: '0:15' }],
    ])('reads %s', async (file, id, expected) => {
      runner.reply({ stdout: fixture(file) });
      await expect(slurm.endState(id)).resolves.toEqual(expected);
      expect(runner.calls.map((c) => [c.command, c.args])).toEqual([
        ['/usr/bin/scontrol', ['show', 'job', id]],
      ]);
    });

    it('returns undefined once Slurm has forgotten the job', async () => {
      runner.reply({ exitCode: 1, stderr: fixture('scontrol-show-job-invalid-id.stderr.txt') });
      await expect(slurm.endState('999999')).resolves.toBeUndefined();
    });

    it('throws SlurmUnavailableError when the controller is down', async () => {
      runner.reply({ exitCode: 1, stderr: fixture('squeue-controller-down.stderr.txt') });
      await expect(slurm.endState('3')).rejects.toBeInstanceOf(SlurmUnavailableError);
    });

    it('throws when the output describes another job or none', async () => {
      runner.reply({ stdout: fixture('scontrol-show-job-completed.txt') });
      await expect(slurm.endState('77')).rejects.toThrow(
        /^scontrol show job 77 printed no JobState for that job: JobId=1 /,
      );
      runner.reply({ stdout: '' });
      await expect(slurm.endState('77')).rejects.toBeInstanceOf(SlurmCommandError);
    });
  });

  it.each(['', '12 13', '-1', '--help', '1;reboot', '$(id)', '8_[1-2]'])(
    'refuses job id %p before running anything',
    async (id) => {
      for (const call of [
        () => slurm.release(id),
        () => slurm.cancel(id),
        () => slurm.endState(id),
      ]) {
        await expect(call()).rejects.toThrow(/refusing to pass .* to Slurm: a job id is digits/);
      }
      expect(runner.calls).toEqual([]);
    },
  );
});
