import { beforeEach, describe, expect, it } from '@jest/globals';
import { FakeSlurm } from '../../test/fakes/fake-slurm.js';
import { SlurmCommandError, SlurmUnavailableError } from './slurm.errors.js';
import type { SubmitRequest } from './slurm.port.js';

// FakeSlurm stands in for Slurm in other modules' tests; it must behave like the real adapter.
const request: SubmitRequest = {
  workDir: '/jobs/run_000/x86_64',
  schedulerArgs: ['--constraint', 'shape=c4.2xlarge'],
  jobName: 'bot-job',
  script: '/bot/job.sh',
  scriptArgs: ['--pr', '7'],
};

describe('FakeSlurm', () => {
  let slurm: FakeSlurm;
  beforeEach(() => {
    slurm = new FakeSlurm();
  });

  it('submits held jobs with increasing ids and lists them under their name', async () => {
    const a = await slurm.submit(request);
    const b = await slurm.submit({ ...request, schedulerArgs: [] });
    expect([a.jobId, b.jobId]).toEqual(['1000', '1001']);
    expect(await slurm.listJobs('bot-job')).toEqual([
      { id: '1000', name: 'bot-job', state: 'PENDING', reason: 'JobHeldUser', held: true },
      { id: '1001', name: 'bot-job', state: 'PENDING', reason: 'JobHeldUser', held: true },
    ]);
    expect(slurm.job('1000')).toMatchObject({
      workDir: request.workDir,
      scriptArgs: ['--pr', '7'],
    });
  });

  it('goes held → released → running → finished, remembering the end state until purged', async () => {
    const { jobId } = await slurm.submit(request);
    expect(() => slurm.start(jobId)).toThrow(/still held/);
    await slurm.release(jobId);
    expect((await slurm.listJobs('bot-job'))[0]).toMatchObject({ held: false, reason: 'None' });
    slurm.start(jobId);
    expect((await slurm.listJobs('bot-job'))[0].state).toBe('RUNNING');
    slurm.finish(jobId, 'FAILED', '3:0');
    expect(await slurm.listJobs('bot-job')).toEqual([]);
    expect(await slurm.endState(jobId)).toEqual({ state: 'FAILED', exitCode: '3:0' });
    slurm.purge(jobId);
    expect(await slurm.endState(jobId)).toBeUndefined();
  });

  it('rejects releasing a finished job like scontrol, and cancels like scancel', async () => {
    const { jobId } = await slurm.submit(request);
    await slurm.cancel(jobId);
    expect(await slurm.endState(jobId)).toEqual({ state: 'CANCELLED', exitCode: '0:0' });
    await expect(slurm.release(jobId)).rejects.toBeInstanceOf(SlurmCommandError);
    await expect(slurm.cancel(jobId)).resolves.toBeUndefined();
  });

  it('throws loudly on ids it never issued', async () => {
    await expect(slurm.release('4711')).rejects.toThrow(/never issued that job id/);
    await expect(slurm.cancel('4711')).rejects.toThrow(/never issued that job id/);
    expect(() => slurm.finish('4711')).toThrow(/no such job/);
  });

  it('lists a foreign job only under its own name', async () => {
    const foreign = slurm.addForeignJob({ name: 'someone-else', held: true });
    await slurm.submit(request);
    expect((await slurm.listJobs('bot-job')).map((j) => j.id)).toEqual(['1001']);
    expect((await slurm.listJobs('someone-else')).map((j) => j.id)).toEqual([foreign]);
  });

  it('fails the next submit only, with the given stderr', async () => {
    slurm.failNextSubmit(
      'sbatch: error: Batch job submission failed: Invalid partition name specified',
    );
    await expect(slurm.submit(request)).rejects.toThrow(
      'sbatch exited 1: sbatch: error: Batch job submission failed: Invalid partition name specified',
    );
    await expect(slurm.submit(request)).resolves.toEqual({ jobId: '1000' });
  });

  it('throws SlurmUnavailableError from every call while unavailable', async () => {
    const { jobId } = await slurm.submit(request);
    slurm.setUnavailable(true);
    await expect(slurm.listJobs('bot-job')).rejects.toBeInstanceOf(SlurmUnavailableError);
    await expect(slurm.release(jobId)).rejects.toBeInstanceOf(SlurmUnavailableError);
    await expect(slurm.endState(jobId)).rejects.toBeInstanceOf(SlurmUnavailableError);
    await expect(slurm.submit(request)).rejects.toBeInstanceOf(SlurmUnavailableError);
    slurm.setUnavailable(false);
    expect(await slurm.listJobs('bot-job')).toHaveLength(1);
  });

  it('logs every call in order, failed ones included', async () => {
    const { jobId } = await slurm.submit(request);
    await slurm.listJobs('bot-job');
    await slurm.release('999').catch(() => undefined);
    expect(slurm.calls.map((c) => [c.method, c.args[0]])).toEqual([
      ['submit', request],
      ['listJobs', 'bot-job'],
      ['release', '999'],
    ]);
    expect(slurm.callsOf('release')).toHaveLength(1);
    expect(jobId).toBe('1000');
  });
});
