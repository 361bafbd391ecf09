import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CommandRunner } from '../../src/common/command-runner.js';
import { SlurmCliAdapter } from '../../src/slurm/slurm-cli.adapter.js';
import { SlurmCommandError, SlurmUnavailableError } from '../../src/slurm/slurm.errors.js';
import type { JobEndInfo, QueuedJob, SubmitRequest } from '../../src/slurm/slurm.port.js';
import type { CapturingLogger } from '../support/capturing-logger.js';
import { captureNestLogs } from '../support/test-kit.js';

/*
 * SlurmCliAdapter against a real Slurm 22.05: the private single-node cluster of
 * scripts/dev/slurm-local.sh. Start it first:
 *
 *   eval "$(scripts/dev/slurm-local.sh start)"      # prints export SLURM_CONF=…
 *   NODE_OPTIONS=--experimental-vm-modules npx jest --selectProjects slurm --runInBand
 *
 * The controller-outage test stops and restarts that cluster's slurmctld.
 */

const SCRIPT = fileURLToPath(new URL('../../scripts/dev/slurm-local.sh', import.meta.url));
const TEST_TIMEOUT = 90_000;
const COMMAND_TIMEOUT_MS = 20_000;
const TERMINAL = new Set([
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'TIMEOUT',
  'OUT_OF_MEMORY',
  'NODE_FAIL',
]);

const runner = new CommandRunner();
const slurm = new SlurmCliAdapter(runner, {
  submit: 'sbatch',
  poll: 'squeue',
  scontrol: 'scontrol',
  scancel: 'scancel',
  timeoutMs: COMMAND_TIMEOUT_MS,
});
// Unique per run, so jobs left by an earlier run never show up in this one.
const jobName = `eessi-bot-test-${process.pid}-${Date.now()}`;

let clusterDir: string;
let workDir: string;
let jobScript: string;
const submitted: string[] = [];
let logs: CapturingLogger;

function request(overrides: Partial<SubmitRequest> = {}): SubmitRequest {
  return {
    workDir,
    schedulerArgs: [],
    jobName,
    script: jobScript,
    scriptArgs: ['0', '0'],
    ...overrides,
  };
}

async function submit(overrides: Partial<SubmitRequest> = {}): Promise<string> {
  const { jobId } = await slurm.submit(request(overrides));
  submitted.push(jobId);
  return jobId;
}

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    last = await probe();
    if (last !== undefined) {
      return last as T;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
}

async function ourJob(jobId: string): Promise<QueuedJob | undefined> {
  return (await slurm.listJobs(jobName)).find((job) => job.id === jobId);
}

/** Polls scontrol until the job ended; MinJobAge=2 leaves a few seconds before it is purged. */
async function waitForEnd(jobId: string): Promise<JobEndInfo> {
  return waitFor(`job ${jobId} to end`, async () => {
    const info = await slurm.endState(jobId);
    if (info === undefined) {
      throw new Error(`Slurm forgot job ${jobId} before its end was seen`);
    }
    return TERMINAL.has(info.state) ? info : undefined;
  });
}

async function cluster(command: 'stop-ctld' | 'start-ctld'): Promise<void> {
  const result = await runner.run('bash', [SCRIPT, command, clusterDir], { timeoutMs: 60_000 });
  if (result.exitCode !== 0) {
    throw new Error(`slurm-local.sh ${command} exited ${result.exitCode}:\n${result.stderr}`);
  }
}

describe('SlurmCliAdapter against a real Slurm', () => {
  beforeAll(async () => {
    logs = captureNestLogs();
    const conf = process.env.SLURM_CONF;
    if (!conf || !existsSync(conf)) {
      throw new Error(
        `SLURM_CONF is ${conf ? `${conf}, which does not exist` : 'not set'}: these tests need the local Slurm. ` +
          'Start it with `eval "$(scripts/dev/slurm-local.sh start)"` (as root; `scripts/dev/slurm-local.sh install` ' +
          'installs the Debian packages), then run them with SLURM_CONF set.',
      );
    }
    // slurm-local.sh lays out DIR/etc/slurm.conf.
    clusterDir = dirname(dirname(conf));
    const ping = await runner.run('scontrol', ['ping'], { timeoutMs: 20_000 });
    if (ping.exitCode !== 0) {
      throw new Error(
        `slurmctld for ${conf} is not answering (${ping.stdout.trim()} ${ping.stderr.trim()}); run scripts/dev/slurm-local.sh start ${clusterDir}`,
      );
    }
    workDir = mkdtempSync(join(tmpdir(), 'slurm-spec-'));
    jobScript = join(workDir, 'job.sh');
    // job.sh SLEEP EXIT [ARGS...]: records what it got and where it ran, then sleeps and exits.
    writeFileSync(
      jobScript,
      [
        '#!/bin/bash',
        'printf "arg:%s\\n" "$@"',
        'echo "pwd:$(pwd)"',
        'sleep "$1"',
        'exit "$2"',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
  }, 30_000);

  afterAll(async () => {
    // The adapter logs each submission (at debug level) with the id sbatch gave it.
    const logged = logs.lines.flatMap(
      (line) => /^DEBUG submitted job (\d+) /.exec(line)?.[1] ?? [],
    );
    expect(logged.length).toBeGreaterThan(0);
    expect(logged.filter((id) => !submitted.includes(id))).toEqual([]);
    for (const id of submitted) {
      await slurm.cancel(id).catch(() => undefined);
    }
    if (workDir) {
      rmSync(workDir, { recursive: true, force: true });
    }
  }, 30_000);

  it(
    'submits a held job that listJobs shows held; a job of another name is not listed',
    async () => {
      const id = await submit({ schedulerArgs: ['--constraint', 'shape=c4.2xlarge'] });
      const foreign = await runner.run(
        'sbatch',
        ['--hold', '--parsable', '--job-name', `${jobName}-other`, jobScript, '0', '0'],
        { cwd: workDir, timeoutMs: COMMAND_TIMEOUT_MS },
      );
      expect(foreign.exitCode).toBe(0);
      submitted.push(foreign.stdout.trim());

      const jobs = await slurm.listJobs(jobName);

      // With its work dir: how a submission interrupted before its id was recorded is found again.
      expect(jobs).toEqual([
        { id, name: jobName, state: 'PENDING', reason: 'JobHeldUser', held: true, workDir },
      ]);
      // Held means it stays put: it is still pending a moment later.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(await ourJob(id)).toMatchObject({ state: 'PENDING', held: true });
      await slurm.cancel(id);
    },
    TEST_TIMEOUT,
  );

  it(
    'releases a job, which runs in its directory with its arguments, leaves the queue and is COMPLETED',
    async () => {
      const hostile = 'a b; $(touch pwned) `id` *';
      const id = await submit({ scriptArgs: ['3', '0', hostile] });
      expect((await ourJob(id))?.held).toBe(true);

      await slurm.release(id);

      await waitFor(`job ${id} to run`, async () =>
        (await ourJob(id))?.state === 'RUNNING' ? true : undefined,
      );
      await waitFor(`job ${id} to leave the queue`, async () =>
        (await ourJob(id)) === undefined ? true : undefined,
      );
      expect(await waitForEnd(id)).toEqual({ state: 'COMPLETED', exitCode: '0:0' });
      // cwd = workDir, so Slurm wrote slurm-<ID>.out there; the arguments arrived unsplit.
      const out = readFileSync(join(workDir, `slurm-${id}.out`), 'utf8');
      expect(out).toBe(`arg:3\narg:0\narg:${hostile}\npwd:${workDir}\n`);
      expect(existsSync(join(workDir, 'pwned'))).toBe(false);
    },
    TEST_TIMEOUT,
  );

  it(
    'reports a job whose script exits 3 as FAILED with exit code 3:0',
    async () => {
      const id = await submit({ scriptArgs: ['0', '3'] });
      await slurm.release(id);
      expect(await waitForEnd(id)).toEqual({ state: 'FAILED', exitCode: '3:0' });
    },
    TEST_TIMEOUT,
  );

  it(
    'cancels a held job: it leaves the queue as CANCELLED',
    async () => {
      const id = await submit();
      await slurm.cancel(id);
      expect(await waitForEnd(id)).toMatchObject({ state: 'CANCELLED' });
      expect(await ourJob(id)).toBeUndefined();
    },
    TEST_TIMEOUT,
  );

  it(
    'returns no end state for a job id Slurm does not know',
    async () => {
      await expect(slurm.endState('999999')).resolves.toBeUndefined();
    },
    TEST_TIMEOUT,
  );

  it(
    'throws SlurmCommandError with sbatch stderr for a constraint no node has',
    async () => {
      const error = await slurm
        .submit(request({ schedulerArgs: ['--constraint', 'shape=c6i.large'] }))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SlurmCommandError);
      expect(error).not.toBeInstanceOf(SlurmUnavailableError);
      expect(error).toMatchObject({
        exitCode: 1,
        stderr: 'sbatch: error: Batch job submission failed: Invalid feature specification\n',
        message:
          'sbatch exited 1: sbatch: error: Batch job submission failed: Invalid feature specification',
      });
    },
    TEST_TIMEOUT,
  );

  it(
    'throws instead of listing nothing when squeue exits 0 with an error (unknown user)',
    async () => {
      const stranger = new SlurmCliAdapter(runner, {
        submit: 'sbatch',
        poll: 'squeue',
        scontrol: 'scontrol',
        scancel: 'scancel',
        timeoutMs: COMMAND_TIMEOUT_MS,
        user: 'nosuchuser',
      });
      await expect(stranger.listJobs(jobName)).rejects.toThrow(
        'squeue exited 0: squeue: error: Invalid user: nosuchuser',
      );
    },
    TEST_TIMEOUT,
  );

  it(
    'throws SlurmUnavailableError within the timeout while slurmctld is down, and recovers',
    async () => {
      const id = await submit();
      await cluster('stop-ctld');
      try {
        const started = Date.now();
        const error = await slurm.listJobs(jobName).catch((e: unknown) => e);
        expect(Date.now() - started).toBeLessThan(COMMAND_TIMEOUT_MS);
        expect(error).toBeInstanceOf(SlurmUnavailableError);
        expect((error as SlurmUnavailableError).stderr).toContain(
          'Unable to contact slurm controller',
        );
        await expect(slurm.release(id)).rejects.toBeInstanceOf(SlurmUnavailableError);
        await expect(slurm.endState(id)).rejects.toBeInstanceOf(SlurmUnavailableError);
      } finally {
        await cluster('start-ctld');
      }
      // The held job survived the outage, still held.
      expect(await ourJob(id)).toMatchObject({ state: 'PENDING', held: true });
      await slurm.cancel(id);
    },
    TEST_TIMEOUT,
  );
});
