import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import {
  BOT_BUILD_JOB_SCRIPT,
  V09_SOFTWARE_LAYER,
  type JobDir,
  type MakeJobDirOptions,
  makeJobDir,
  readWithConfigparser,
  removeTree,
  v09JobCfgText,
} from '../support/job-dir.js';
import {
  SLURM_COMMANDS,
  requireSlurmCluster,
  run,
  scancel,
  scancelByName,
  waitUntil,
  type SlurmCluster,
} from '../support/slurm-cluster.js';

/*
 * scripts/slurm/bot-build.slurm (the v0.9 job protocol) submitted with the real sbatch to the
 * local Slurm of scripts/dev/slurm-local.sh: the job runs the bot/ scripts of
 * test/fixtures/software-layer-v09 on the node, and Slurm records the script's exit status.
 * Needs SLURM_CONF (see docs/testing.md); fails with instructions without it.
 */

const jobName = `eessi-bot-v09-script-${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
const CASE_TIMEOUT_MS = 90_000;
let cluster: SlurmCluster;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  cluster = await requireSlurmCluster();
}, 30_000);

afterEach(async () => {
  await scancelByName(jobName);
  while (cleanups.length > 0) {
    await cleanups.pop()!();
  }
}, 30_000);

afterAll(async () => {
  await scancelByName(jobName);
});

async function scratchDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'eessi-bot-slurm-scratch-'));
  cleanups.push(() => removeTree(dir));
  return dir;
}

async function jobDir(
  opts: { files?: MakeJobDirOptions['files']; remove?: string[] } = {},
): Promise<JobDir & { localTmp: string }> {
  const localTmp = await scratchDir();
  const dir = await makeJobDir({
    repo: V09_SOFTWARE_LAYER,
    jobCfg: null,
    files: {
      'cfg/job.cfg': v09JobCfgText({ site_config: { local_tmp: `${localTmp}/$USER` } }),
      ...opts.files,
    },
  });
  cleanups.push(() => dir.remove());
  for (const path of opts.remove ?? []) {
    await rm(join(dir.dir, path));
  }
  return { ...dir, localTmp };
}

interface EndedJob {
  readonly id: string;
  readonly state: string;
  /** The batch script's exit status (ExitCode=<status>:<signal> of the job completion log). */
  readonly exitStatus: number;
  readonly log: string;
}

async function sbatch(dir: string): Promise<string> {
  const result = await run(
    SLURM_COMMANDS.sbatch,
    ['--parsable', `--job-name=${jobName}`, '--time=00:05:00', BOT_BUILD_JOB_SCRIPT],
    { cwd: dir },
  );
  const id = result.stdout.trim().split(';')[0];
  if (result.code !== 0 || !/^\d+$/.test(id)) {
    throw new Error(`sbatch exited ${result.code}: ${result.stderr}${result.stdout}`);
  }
  return id;
}

/** Waits for the job's line in the job completion log (written once the job has ended). */
async function waitForEnd(dir: string, id: string): Promise<EndedJob> {
  const line = await waitUntil(
    `job ${id} to end`,
    () => cluster.completedJobLines(jobName).find((l) => l.startsWith(`JobId=${id} `)),
    { timeoutMs: 60_000 },
  ).catch((error: Error) => {
    throw new Error(`${error.message}\nslurmctld.log:\n${cluster.logTail()}`);
  });
  const exit = /\bExitCode=(\d+):\d+/.exec(line);
  const state = /\bJobState=(\S+)/.exec(line);
  const logPath = join(dir, `slurm-${id}.out`);
  return {
    id,
    state: state?.[1] ?? '?',
    exitStatus: Number(exit?.[1] ?? NaN),
    log: existsSync(logPath) ? readFileSync(logPath, 'utf8') : '<no slurm-ID.out>',
  };
}

async function runOnSlurm(dir: string): Promise<EndedJob> {
  return waitForEnd(dir, await sbatch(dir));
}

function jobFile(dir: string, id: string, kind: 'result' | 'test', log: string) {
  const path = join(dir, `_bot_job${id}.${kind}`);
  if (!existsSync(path)) {
    throw new Error(`${path} does not exist; job log:\n${log}`);
  }
  return readWithConfigparser(path);
}

const tarballs = (dir: string) =>
  readdirSync(dir).filter((f) => /^eessi-.*-software-.*\.tar\./.test(f));

describe('bot-build.slurm on a real Slurm', () => {
  it(
    'success: SUCCESS result naming the .tar.zst, [TEST] file, COMPLETED with exit 0',
    async () => {
      const job = await jobDir();

      const ended = await runOnSlurm(job.dir);

      expect({ state: ended.state, exit: ended.exitStatus }).toEqual({
        state: 'COMPLETED',
        exit: 0,
      });
      const built = tarballs(job.dir);
      expect(built).toEqual([
        expect.stringMatching(/^eessi-2025\.06-software-linux-x86_64-amd-zen4-\d{11}\.tar\.zst$/),
      ]);
      const result = jobFile(job.dir, ended.id, 'result', ended.log);
      expect(result.RESULT.status).toBe('SUCCESS');
      expect(result.RESULT.artefacts.trim()).toBe(built[0]);
      expect(jobFile(job.dir, ended.id, 'test', ended.log).TEST.comment_description).toBe(
        ':grin: SUCCESS: 2 tests passed',
      );
      // local_tmp named $USER, expanded on the node; the job's TMPDIR under it is gone.
      const user = process.env.USER || userInfo().username;
      expect(ended.log).toMatch(
        new RegExp(`^build\\.sh: TMPDIR=${job.localTmp}/${user}/eessi_job\\.\\w{10}$`, 'm'),
      );
      expect(readdirSync(join(job.localTmp, user))).toEqual([]);
    },
    CASE_TIMEOUT_MS,
  );

  it(
    'failed build: FAILURE result, the job FAILED with the build status',
    async () => {
      const job = await jobDir({ files: { 'bot/FAIL': 'fail\n' } });

      const ended = await runOnSlurm(job.dir);

      expect({ state: ended.state, exit: ended.exitStatus }).toEqual({
        state: 'FAILED',
        exit: 1,
      });
      expect(tarballs(job.dir)).toEqual([]);
      expect(jobFile(job.dir, ended.id, 'result', ended.log).RESULT.status).toBe('FAILURE');
      expect(jobFile(job.dir, ended.id, 'test', ended.log).TEST.status).toBe('SUCCESS');
    },
    CASE_TIMEOUT_MS,
  );

  it(
    'missing bot/check-build.sh: default UNKNOWN result, the build still succeeds',
    async () => {
      const job = await jobDir({ remove: ['bot/check-build.sh'] });

      const ended = await runOnSlurm(job.dir);

      expect(ended.exitStatus).toBe(0);
      expect(tarballs(job.dir)).toHaveLength(1);
      const { RESULT } = jobFile(job.dir, ended.id, 'result', ended.log);
      expect(RESULT.status).toBe('UNKNOWN');
      expect(RESULT.artefacts).toBe('');
      expect(RESULT.comment_description).toContain('Did not find `bot/check-build.sh`');
    },
    CASE_TIMEOUT_MS,
  );

  it(
    'SKIP_TESTS=yes from cfg/export_vars.sh: bot/test.sh does not run',
    async () => {
      const job = await jobDir({ files: { 'cfg/export_vars.sh': "export SKIP_TESTS='yes'\n" } });

      const ended = await runOnSlurm(job.dir);

      expect(ended.exitStatus).toBe(0);
      expect(ended.log).toContain('SKIP_TESTS=yes: not running bot/test.sh');
      expect(ended.log).not.toContain('test.sh: 2 passed');
      expect(jobFile(job.dir, ended.id, 'test', ended.log).TEST.comment_description).toBe(
        ':shrug: UNKNOWN: the tests did not run',
      );
    },
    CASE_TIMEOUT_MS,
  );

  it(
    'scancel during the build: the private TMPDIR is removed, no result is invented',
    async () => {
      const job = await jobDir({
        files: {
          'bot/build.sh': {
            content: '#!/usr/bin/env bash\necho "build.sh: TMPDIR=$TMPDIR"\nexec sleep 120\n',
            mode: 0o755,
          },
        },
      });
      const id = await sbatch(job.dir);
      const logPath = join(job.dir, `slurm-${id}.out`);
      const tmp = await waitUntil('the build to start', () => {
        const log = existsSync(logPath) ? readFileSync(logPath, 'utf8') : '';
        return /^build\.sh: TMPDIR=(.+)$/m.exec(log)?.[1];
      });
      expect(existsSync(tmp)).toBe(true);

      await scancel(id);
      const ended = await waitForEnd(job.dir, id);
      // slurmctld records the end as soon as it signalled the job; the script's trap runs after.
      const log = await waitUntil('the job script to finish', () => {
        const text = readFileSync(logPath, 'utf8');
        return text.includes('finished with exit status') && text;
      });

      expect(ended.state).toBe('CANCELLED');
      expect(log).toContain('finished with exit status 143');
      expect(existsSync(tmp)).toBe(false);
      expect(existsSync(join(job.dir, `_bot_job${id}.result`))).toBe(false);
    },
    CASE_TIMEOUT_MS,
  );
});
