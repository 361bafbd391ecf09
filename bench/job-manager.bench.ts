/**
 * Job manager benchmark (issue #4): one tick over 5,000 tracked jobs that are all RUNNING, with
 * their `running` rows already on GitHub, must cost under 100 ms of CPU and no GitHub request.
 * Also measures the first tick after a restart (every job re-checked from disk once), a baseline
 * (reading submitted/ the way JobStore.listSubmitted does: readdir + one readlink per job), and
 * the GitHub requests of one full job lifecycle (must be 1 create + 3 updates).
 *
 * Run by bench/run.ts; alone: `node dist-bench/bench/job-manager.bench.js`.
 */
import { createHash } from 'node:crypto';
import { readdir, readlink, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { JobCommentsService } from '../src/builds/job-comments.service.js';
import { JobManagerService } from '../src/builds/job-manager.service.js';
import { JobStore } from '../src/builds/job-store.js';
import { GitHubClient } from '../src/github/github.client.js';
import { FakeGitHub, FAST_GITHUB_CLIENT_OPTIONS } from '../test/fakes/fake-github.server.js';
import { FakeSlurm } from '../test/fakes/fake-slurm.js';
import { createTrackedJob } from '../test/support/job-fixture.js';
import {
  createJobManagerTestEnv,
  TEST_APP_ID,
  TEST_INSTALLATION_ID,
} from '../test/support/job-manager-env.js';
import { githubAppSettingsOf } from '../src/app-options.js';

const JOBS = 5_000;
const WARM_TICKS = 5;
/** Setting up is bound by fsync latency (every JobStore write is durable), not by CPU. */
const SETUP_CONCURRENCY = 128;
const CPU_BUDGET_MS = 100;

function cpuMs(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
}

async function measure<T>(fn: () => Promise<T>): Promise<{ cpu: number; wall: number; value: T }> {
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  const value = await fn();
  return { cpu: cpuMs(cpu0), wall: performance.now() - wall0, value };
}

const round = (n: number) => Math.round(n * 10) / 10;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function inPool<T>(items: readonly T[], size: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      await fn(items[next++]);
    }
  };
  await Promise.all(Array.from({ length: size }, worker));
}

export async function benchJobManager(): Promise<Record<string, number | string>> {
  const env = await createJobManagerTestEnv();
  const github = new FakeGitHub({
    appId: TEST_APP_ID,
    installationId: TEST_INSTALLATION_ID,
    publicKey: env.publicKey,
  });
  await github.start();
  try {
    const config = env.config(github.url);
    const store = new JobStore(config.jobManager.jobIdsDir);
    const client = new GitHubClient(githubAppSettingsOf(config), {
      ...FAST_GITHUB_CLIENT_OPTIONS,
      retries: 0,
    });
    const comments = new JobCommentsService(config, client, store);
    const slurm = new FakeSlurm({ firstJobId: 100_000 });

    // ---- 5,000 running jobs whose rows are all on GitHub already
    const setup = performance.now();
    const ids: string[] = [];
    for (let i = 0; i < JOBS; i++) {
      const { jobId } = await slurm.submit({
        workDir: '/unused',
        schedulerArgs: [],
        jobName: config.buildenv.jobName,
        script: 'bot-build.slurm',
        scriptArgs: [],
      });
      await slurm.release(jobId);
      slurm.start(jobId);
      ids.push(jobId);
    }
    await inPool(ids, SETUP_CONCURRENCY, async (jobId) => {
      const prNumber = 1 + (Number(jobId) % 300);
      const comment = github.seedComment('EESSI/software-layer', prNumber, 'seeded');
      const job = await createTrackedJob({
        jobIdsDir: env.jobIdsDir,
        jobsBaseDir: env.jobsBaseDir,
        jobId,
        prNumber,
        commentId: comment.id,
        rows: ['submitted', 'released', 'running'],
      });
      // "Already posted": JobCommentsService keeps the sha256 of the last body it sent.
      const body = await comments.render(job, job.meta!);
      await store.setPostedHash(jobId, job.jobDir, createHash('sha256').update(body).digest('hex'));
    });
    const setupMs = performance.now() - setup;
    github.clearRequests();

    // ---- baseline: list submitted/ as JobStore.listSubmitted does
    const submitted = join(config.jobManager.jobIdsDir, 'submitted');
    const baselines: number[] = [];
    for (let i = 0; i < 3; i++) {
      const { cpu } = await measure(async () => {
        for (const name of await readdir(submitted)) {
          await readlink(join(submitted, name));
        }
      });
      baselines.push(cpu);
    }
    const readdirOnly = median(
      await Promise.all([0, 1, 2].map(async () => (await measure(() => readdir(submitted))).cpu)),
    );

    // ---- the first tick after a (re)start re-checks every job from disk
    const jobManager = new JobManagerService(config, slurm, store, comments, false);
    const cold = await measure(() => jobManager.tick());
    if (cold.value.tracked !== JOBS || cold.value.failed.length > 0) {
      throw new Error(
        `cold tick saw ${cold.value.tracked} jobs, ${cold.value.failed.length} failed: ` +
          JSON.stringify(cold.value.failed.slice(0, 3)),
      );
    }
    const coldRequests = github.requestCount({ path: /^\/repos\// });

    // ---- idle ticks: nothing changed
    const warm: number[] = [];
    const warmWall: number[] = [];
    for (let i = 0; i < WARM_TICKS; i++) {
      const tick = await measure(() => jobManager.tick());
      warm.push(tick.cpu);
      warmWall.push(tick.wall);
    }
    const idleRequests = github.requestCount({ path: /^\/repos\// }) - coldRequests;
    await jobManager.onModuleDestroy();

    // ---- one job's whole life: requests beyond token minting
    github.clearRequests();
    const { jobId } = await slurm.submit({
      workDir: '/unused',
      schedulerArgs: [],
      jobName: config.buildenv.jobName,
      script: 'bot-build.slurm',
      scriptArgs: [],
    });
    const job = await createTrackedJob({
      jobIdsDir: env.jobIdsDir,
      jobsBaseDir: env.jobsBaseDir,
      jobId,
      prNumber: 999,
      rows: ['submitted'],
      slurmOutput: 'No missing modules!\n',
      tarballs: ['eessi-2023.06-software-linux-x86_64-amd-zen2-1.tar.gz'],
    });
    await comments.ensureComment(job, job.meta!, 'first');
    const lifecycle = new JobManagerService(config, slurm, store, comments, false);
    await lifecycle.tick({ jobIds: [jobId] });
    slurm.start(jobId);
    await lifecycle.tick({ jobIds: [jobId] });
    await lifecycle.tick({ jobIds: [jobId] });
    slurm.finish(jobId, 'COMPLETED');
    await lifecycle.tick({ jobIds: [jobId] });
    const lifecycleRequests = github.requestCount({ path: /^\/repos\// });
    await lifecycle.onModuleDestroy();

    const idleCpu = median(warm);
    const baseline = median(baselines);
    return {
      jobs: JOBS,
      setupSeconds: round(setupMs / 1000),
      idleTickCpuMsMedian: round(idleCpu),
      idleTickCpuMsMax: round(Math.max(...warm)),
      idleTickWallMsMedian: round(median(warmWall)),
      idleTickGithubRequests: idleRequests,
      idleTickCpuBudgetMs: CPU_BUDGET_MS,
      idleTickWithinBudget: idleCpu < CPU_BUDGET_MS && idleRequests === 0 ? 'yes' : 'NO',
      baselineReaddirReadlinkCpuMs: round(baseline),
      baselineReaddirOnlyCpuMs: round(readdirOnly),
      idleTickToBaselineRatio: round(idleCpu / baseline),
      firstTickAfterRestartCpuMs: round(cold.cpu),
      firstTickAfterRestartWallMs: round(cold.wall),
      firstTickAfterRestartGithubRequests: coldRequests,
      lifecycleGithubRequests: lifecycleRequests,
      lifecycleWithinBudget: lifecycleRequests <= 4 ? 'yes' : 'NO',
    };
  } finally {
    await github.stop();
    // Nothing read-only in here: a plain recursive rm is much faster than env.remove().
    await rm(env.root, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  benchJobManager().then(
    (result) => console.log(JSON.stringify(result, null, 2)),
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
