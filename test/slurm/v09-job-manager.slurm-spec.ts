import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JobCommentsService } from '../../src/builds/job-comments.service.js';
import { JobManagerService, type TickReport } from '../../src/builds/job-manager.service.js';
import { JobStore, type JobMetadata, type TrackedJob } from '../../src/builds/job-store.js';
import type { AppConfig, JobHandoverProtocol } from '../../src/config/app-config.js';
import { DEFAULT_TEMPLATES } from '../../src/config/upstream-defaults.js';
import { githubAppSettingsOf } from '../../src/app-options.js';
import { GitHubClient } from '../../src/github/github.client.js';
import { CommandRunner } from '../../src/slurm/command-runner.js';
import { createSlurmPort } from '../../src/slurm/slurm.module.js';
import { FakeGitHub, FAST_GITHUB_CLIENT_OPTIONS } from '../fakes/fake-github.server.js';
import {
  BOT_BUILD_JOB_SCRIPT,
  V09_SOFTWARE_LAYER,
  removeTree,
  v09JobCfgText,
} from '../support/job-dir.js';
import { TEST_APP_ID, TEST_INSTALLATION_ID, testAppKeys } from '../support/job-manager-env.js';
import { makeConfig } from '../support/make-config.js';
import {
  SLURM_COMMANDS,
  queue,
  requireSlurmCluster,
  run,
  scancelByName,
  sleep,
  type SlurmCluster,
} from '../support/slurm-cluster.js';
import { CapturingLogger } from '../support/capturing-logger.js';

/*
 * A v0.9-format job on the real local Slurm, followed by the job manager (in this process, with
 * the real SlurmCliAdapter as createSlurmPort wires it for a v0.9 config: squeue --Format, and
 * scontrol_command arguments `--clusters=%(cluster)s`) until its finished and test result rows:
 * scripts/slurm/bot-build.slurm runs the bot/ scripts of test/fixtures/software-layer-v09.
 *
 * The local cluster has no slurmdbd, which real `--clusters` needs; scontrol_command is therefore
 * a site-style wrapper that records its arguments, checks the cluster against `scontrol show
 * config`, and runs /usr/bin/scontrol without it.
 */

const CASE_TIMEOUT_MS = 120_000;
const runId = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
const names = new Set<string>();
let cluster: SlurmCluster;

let logs: CapturingLogger;

beforeAll(async () => {
  cluster = await requireSlurmCluster();
}, 30_000);

afterAll(async () => {
  for (const name of names) {
    await scancelByName(name);
  }
  Logger.overrideLogger(['log', 'error', 'warn']);
});

interface World {
  readonly root: string;
  readonly jobName: string;
  readonly scontrolLog: string;
  readonly github: FakeGitHub;
  readonly store: JobStore;
  readonly comments: JobCommentsService;
  readonly manager: JobManagerService;
  readonly config: AppConfig;
}

const worlds: World[] = [];

afterEach(async () => {
  for (const world of worlds.splice(0)) {
    await world.manager.onModuleDestroy();
    await scancelByName(world.jobName);
    await world.github.stop();
    if (!process.env.SLURM_E2E_KEEP) {
      await removeTree(world.root);
    }
  }
}, 30_000);

async function makeWorld(protocol: JobHandoverProtocol, caseName: string): Promise<World> {
  logs = new CapturingLogger();
  Logger.overrideLogger(logs);
  const root = await mkdtemp(join(tmpdir(), 'eessi-bot-v09-slurm-'));
  const jobName = `eessi-bot-e2e-${runId}-${caseName}`;
  names.add(jobName);
  const scontrolLog = join(root, 'scontrol-calls.log');
  const wrapper = join(root, 'scontrol-wrapper');
  writeFileSync(
    wrapper,
    [
      '#!/usr/bin/env bash',
      'set -euo pipefail',
      `printf '%s\\n' "$*" >> '${scontrolLog}'`,
      'case ${1:-} in',
      '  --clusters=*)',
      `    name=$(${SLURM_COMMANDS.scontrol} show config | awk '$1 == "ClusterName" { print $3 }')`,
      '    [[ ${1#--clusters=} == "$name" ]] || { echo "wrapper: unknown cluster ${1#--clusters=}" >&2; exit 1; }',
      '    shift ;;',
      'esac',
      `exec ${SLURM_COMMANDS.scontrol} "$@"`,
      '',
    ].join('\n'),
  );
  chmodSync(wrapper, 0o755);

  const keys = testAppKeys();
  const github = new FakeGitHub({
    appId: TEST_APP_ID,
    installationId: TEST_INSTALLATION_ID,
    publicKey: keys.publicKey,
  });
  await github.start();
  const config = makeConfig({
    root,
    github: {
      appId: TEST_APP_ID,
      installationId: TEST_INSTALLATION_ID,
      appName: 'eessi-bot-v09-e2e',
      privateKey: keys.privateKey,
      apiUrl: github.url,
    },
    buildenv: {
      jobsBaseDir: join(root, 'jobs'),
      jobName,
      jobHandoverProtocol: protocol,
      buildJobScript: BOT_BUILD_JOB_SCRIPT,
      submitCommand: SLURM_COMMANDS.sbatch,
    },
    jobManager: {
      jobIdsDir: join(root, 'job_ids'),
      pollIntervalSeconds: 1,
      pollCommand: SLURM_COMMANDS.squeue,
      scontrolCommand: wrapper,
      scontrolArgs: ['--clusters=%(cluster)s'],
      scancelCommand: SLURM_COMMANDS.scancel,
      commandTimeoutSeconds: 30,
    },
    rest: { generation: 'v09', templates: DEFAULT_TEMPLATES },
  });
  const store = new JobStore(config.jobManager.jobIdsDir);
  const client = new GitHubClient(githubAppSettingsOf(config), {
    ...FAST_GITHUB_CLIENT_OPTIONS,
    retries: 0,
  });
  const comments = new JobCommentsService(config, client, store);
  const slurm = createSlurmPort(config, new CommandRunner());
  const manager = new JobManagerService(config, slurm, store, comments);
  const world = { root, jobName, scontrolLog, github, store, comments, manager, config };
  worlds.push(world);
  return world;
}

/** A job dir as the event handler prepares it: the repository and cfg/job.cfg. */
async function prepareJobDir(world: World): Promise<string> {
  const jobDir = join(world.root, 'jobs', '2026.06', 'pr_42', 'event_d1', 'run_001', 'zen4');
  await mkdir(jobDir, { recursive: true });
  await cp(V09_SOFTWARE_LAYER, jobDir, { recursive: true });
  await writeFile(join(jobDir, 'bot', 'SLEEP'), '3\n');
  await mkdir(join(jobDir, 'cfg'), { recursive: true });
  await writeFile(
    join(jobDir, 'cfg', 'job.cfg'),
    v09JobCfgText({ site_config: { local_tmp: join(world.root, 'local_tmp', '$USER') } }),
  );
  return jobDir;
}

/** What the event handler does after sbatch: metadata, links, submitted row, comment. */
async function recordJob(world: World, jobId: string, jobDir: string): Promise<TrackedJob> {
  const meta: JobMetadata = {
    repo: 'EESSI/software-layer',
    prNumber: 42,
    target: 'linux/x86_64/amd/zen4',
    appName: world.config.github.appName,
    jobName: world.jobName,
    deliveryId: 'd1',
  };
  await world.store.recordSubmitted(jobId, jobDir, meta);
  await world.store.addRow(jobId, jobDir, {
    kind: 'submitted',
    date: 'Jun 02 14:00:00 UTC 2026',
    status: 'submitted',
    comment: `job id \`${jobId}\` awaits release by job manager`,
  });
  const job = { jobId, jobDir };
  await world.comments.ensureComment(job, meta, 'first');
  return job;
}

/** Ticks once a second until the job is reported finished; returns every report. */
async function followToTheEnd(world: World, job: TrackedJob): Promise<TickReport[]> {
  const reports: TickReport[] = [];
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    const report = await world.manager.tick();
    reports.push(report);
    if (report.finished.includes(job.jobId)) {
      return reports;
    }
    await sleep(1000);
  }
  throw new Error(
    `job ${job.jobId} was not reported finished within 90 s.\nqueue: ${JSON.stringify(await queue({ name: world.jobName }))}\n` +
      `manager log:\n${logs.lines.join('\n')}\nslurmctld.log:\n${cluster.logTail()}`,
  );
}

function commentBody(world: World): string {
  const [comment] = world.github.comments();
  return comment.body;
}

function rowsOf(body: string): [string, string][] {
  return [...body.matchAll(/^\|[^|]+\|([^|]+)\|(.*)\|$/gm)]
    .map((m): [string, string] => [m[1], m[2]])
    .filter(([status]) => status !== 'job status' && !status.startsWith('---'));
}

function scontrolCalls(world: World): string[] {
  return existsSync(world.scontrolLog)
    ? readFileSync(world.scontrolLog, 'utf8').split('\n').filter(Boolean)
    : [];
}

const TARBALL = /eessi-2025\.06-software-linux-x86_64-amd-zen4-\d{11}\.tar\.zst/;

describe('a v0.9-format job through the job manager on a real Slurm', () => {
  it(
    'hold_release: released through scontrol_command --clusters=<cluster>, then running, finished SUCCESS and test result',
    async () => {
      const world = await makeWorld('hold_release', 'hold');
      const jobDir = await prepareJobDir(world);
      const slurm = createSlurmPort(world.config, new CommandRunner());
      const { jobId } = await slurm.submit({
        workDir: jobDir,
        schedulerArgs: ['--time=00:05:00'],
        jobName: world.jobName,
        script: BOT_BUILD_JOB_SCRIPT,
        scriptArgs: [],
      });
      const job = await recordJob(world, jobId, jobDir);

      const reports = await followToTheEnd(world, job);

      expect(reports.flatMap((r) => r.released)).toEqual([jobId]);
      expect(reports.flatMap((r) => r.running)).toEqual([jobId]);
      const rows = rowsOf(commentBody(world));
      expect(rows.map(([status]) => status)).toEqual([
        'submitted',
        'released',
        'running',
        'finished',
        'test result',
      ]);
      expect(rows[1][1]).toBe('job awaits launch by Slurm scheduler');
      expect(rows[2][1]).toBe(`job \`${jobId}\` is running`);
      expect(rows[3][1]).toMatch(/^<details><summary>:grin: SUCCESS/);
      expect(rows[3][1]).toMatch(TARBALL);
      expect(rows[4][1]).toBe(':grin: SUCCESS: 2 tests passed');
      expect(scontrolCalls(world)).toContain(`--clusters=eessi-bot-local release ${jobId}`);
      expect(existsSync(join(world.config.jobManager.jobIdsDir, 'finished', jobId))).toBe(true);
    },
    CASE_TIMEOUT_MS,
  );

  it(
    'delayed_begin: never released by the bot, a received row with the eligible time, finished and test result',
    async () => {
      const world = await makeWorld('delayed_begin', 'delay');
      const jobDir = await prepareJobDir(world);
      // Submitted as job_handover_protocol = delayed_begin submits: not held, --begin later.
      const submitted = await run(
        SLURM_COMMANDS.sbatch,
        [
          '--parsable',
          '--begin=now+3',
          '--time=00:05:00',
          `--job-name=${world.jobName}`,
          BOT_BUILD_JOB_SCRIPT,
        ],
        { cwd: jobDir },
      );
      const jobId = submitted.stdout.trim().split(';')[0];
      expect({ code: submitted.code, jobId }).toEqual({
        code: 0,
        jobId: expect.stringMatching(/^\d+$/),
      });
      const job = await recordJob(world, jobId, jobDir);

      const reports = await followToTheEnd(world, job);

      expect(reports.flatMap((r) => r.released)).toEqual([]);
      expect(reports.flatMap((r) => r.received)).toEqual([jobId]);
      const rows = rowsOf(commentBody(world));
      expect(rows.map(([status]) => status)).toEqual([
        'submitted',
        'received',
        'running',
        'finished',
        'test result',
      ]);
      expect(rows[1][1]).toMatch(
        /^job awaits launch by Slurm scheduler \(eligible to start from \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\)$/,
      );
      expect(rows[3][1]).toMatch(TARBALL);
      expect(rows[4][1]).toBe(':grin: SUCCESS: 2 tests passed');
      expect(scontrolCalls(world).filter((call) => call.includes('release'))).toEqual([]);
    },
    CASE_TIMEOUT_MS,
  );
});
