/**
 * A PR's life after its build on a real Slurm, through the built bot (`node dist/main.js serve`)
 * with FakeGitHub and signed GitHub-shaped webhooks: closing the PR scancels its running and held
 * jobs and moves its job dirs to the trash bin; a new push (cancel_on_push) cancels the held jobs
 * of the old head and lets the running ones finish; with check_runs each job's check run follows
 * the job on the cluster, and the GitHub requests each job costs are counted from FakeGitHub's
 * request log (printed as `GitHub requests per job`).
 *
 * Builds are asked for with `bot: build for:arch=x86_64/amd/zen4`, which plans one held job per
 * repository of repos.cfg (two for the lifecycle cases, one for the check-run cases). For the
 * lifecycle cases the server runs without its job manager and `job-manager -j <ID>` releases
 * exactly one job, so a PR has one job running and one held.
 * Needs `npm run build` and the local cluster of scripts/dev/slurm-local.sh (SLURM_CONF set);
 * this suite never starts or stops the cluster, and cancels only its own job names.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jobMarker } from '../../src/builds/job-comment.js';
import { FakeGitHub, type FakeComment, type FakeRequest } from '../fakes/fake-github.server.js';
import { botEnv, writeSlurmBotConfig } from '../support/bot-config.js';
import { startBot, startServer, stopAllBots, type BotServer } from '../support/bot-process.js';
import { createGitFixture, type GitFixture } from '../support/git-fixture.js';
import { generateAppKeys } from '../support/make-config.js';
import {
  fixturePullRequest,
  labeledPullRequestPayload,
  pullRequestCommentPayload,
  type Json,
} from '../support/payloads.js';
import {
  queue,
  requireSlurmCluster,
  sbatchHeld,
  scancelByName,
  SLURM_COMMANDS,
  waitUntil,
  type SlurmCluster,
} from '../support/slurm-cluster.js';

jest.setTimeout(90_000);

const SECRET = 'pr-lifecycle-slurm-secret';
const RUN_ID = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
const FOREIGN_NAME = `not-the-bot-${RUN_ID}`;
const REPO_IDS = ['eessi.io-2023.06-software', 'eessi.io-2023.06-compat'];
const BUILD = 'bot: build for:arch=x86_64/amd/zen4';

let cluster: SlurmCluster;
let fixture: GitFixture;
let github: FakeGitHub;
const keys = generateAppKeys();
const roots: string[] = [];
const jobNames: string[] = [FOREIGN_NAME];

beforeAll(async () => {
  cluster = await requireSlurmCluster();
  fixture = createGitFixture();
  github = new FakeGitHub({ appId: 1, installationId: 2, publicKey: keys.publicKey });
  await github.start();
});

afterAll(async () => {
  await stopAllBots();
  for (const name of jobNames) {
    await scancelByName(name);
  }
  await github?.stop();
  fixture?.cleanup();
  for (const root of roots) {
    rmSync(root, { recursive: true, force: true });
  }
});

interface Instance {
  readonly root: string;
  readonly config: string;
  readonly appName: string;
  readonly jobName: string;
  readonly trashBinDir: string;
  readonly bot: BotServer;
  readonly env: NodeJS.ProcessEnv;
  readonly repoIds: readonly string[];
}

/**
 * One bot instance: its own dirs, app name and Slurm job name. The job script sleeps `sleep`
 * seconds in its job dir, then writes a v0.9 result file saying SUCCESS.
 */
async function startInstance(opts: {
  label: string;
  sleep: number;
  jobManager: boolean;
  checkRuns?: boolean;
  cancelOnPush?: boolean;
  /** Repositories in repos.cfg: one job per repository for each build. */
  repoIds: readonly string[];
}): Promise<Instance> {
  const root = mkdtempSync(join(tmpdir(), `eessi-bot-lifecycle-slurm-${opts.label}-`));
  roots.push(root);
  const appName = `lifecycle-${opts.label}`;
  const jobName = `bot-lifecycle-${opts.label}-${RUN_ID}`;
  jobNames.push(jobName);
  const script = join(root, 'job.sh');
  writeFileSync(
    script,
    [
      '#!/bin/sh',
      `sleep ${opts.sleep}`,
      'printf "[RESULT]\\ncomment_description = :grin: SUCCESS built in %s\\nstatus = SUCCESS\\nartefacts =\\n" "$PWD" > "_bot_job${SLURM_JOB_ID}.result"',
      'printf "[TEST]\\ncomment_description = :grin: SUCCESS: no tests\\n" > "_bot_job${SLURM_JOB_ID}.test"',
      '',
    ].join('\n'),
  );
  chmodSync(script, 0o755);
  const trashBinDir = join(root, 'trash');
  const config = writeSlurmBotConfig({
    root,
    privateKey: keys.privateKey,
    apiUrl: github.url,
    appName,
    jobName,
    buildJobScript: script,
    repoIds: opts.repoIds,
    commands: SLURM_COMMANDS,
    chatlevel: 'chatty',
    checkRuns: opts.checkRuns,
    cancelOnPush: opts.cancelOnPush,
    trashBinDir,
  });
  const env = botEnv(SECRET, {
    USER: process.env.USER ?? 'root',
    LANG: 'C.UTF-8',
    SLURM_CONF: cluster.conf,
    ...fixture.env,
  });
  const bot = await startServer({ config, env, jobManager: opts.jobManager, label: opts.label });
  return { root, config, appName, jobName, trashBinDir, bot, env, repoIds: opts.repoIds };
}

/** A PR of the fixture (a new branch off the base), known to FakeGitHub; returns its head. */
function openPullRequest(pr: number): string {
  const head = fixture.addPullRequest(pr, { [`easystacks/pr-${pr}.yml`]: 'easyconfigs: []\n' });
  github.seedPullRequest(fixture.repo, pr, fixturePullRequest(fixture, pr, head));
  return head;
}

function jobCommentsOf(instance: Instance, pr: number): Map<string, FakeComment> {
  const marker = new RegExp(`<!-- bot:job (\\d+) ${instance.appName} -->`);
  const found = new Map<string, FakeComment>();
  for (const comment of github.comments(fixture.repo, pr)) {
    const id = marker.exec(comment.body)?.[1];
    if (id) {
      found.set(id, comment);
    }
  }
  return found;
}

function jobComment(instance: Instance, jobId: string): FakeComment {
  const comment = github
    .comments()
    .find((c) => c.body.includes(jobMarker(jobId, instance.appName)));
  if (!comment) {
    throw new Error(`no comment of job ${jobId}`);
  }
  return comment;
}

/** The statuses a job's check run went through, and its conclusion. */
function checkRunOf(jobId: string): { statuses: string[]; conclusion?: string } {
  const run = github.checkRuns(fixture.repo).find((r) => r.summary.includes(`Job \`${jobId}\``));
  return { statuses: run?.history.map((s) => s.status) ?? [], conclusion: run?.conclusion };
}

/** The status cells of a job comment's rows, top to bottom. */
function statuses(body: string): string[] {
  return [...body.matchAll(/^\|[^|]+\|([^|]+)\|.*\|$/gm)]
    .map((m) => m[1])
    .filter((status) => status !== 'job status' && !status.startsWith('---'));
}

/** `bot: build` on the PR; resolves with its job ids once their comments and the reply are up. */
async function build(instance: Instance, pr: number): Promise<string[]> {
  const deliveryId = randomUUID();
  const payload = pullRequestCommentPayload({
    body: BUILD,
    sender: 'alice',
    repo: fixture.repo,
    number: pr,
  });
  expect(await instance.bot.deliver('issue_comment', payload, SECRET, deliveryId)).toBe(202);
  const replyMarker = `<!-- bot:reply ${deliveryId} ${instance.appName} -->`;
  return waitUntil(`the jobs of ${BUILD} on PR ${pr}`, () => {
    const reply = github.comments(fixture.repo, pr).find((c) => c.body.includes(replyMarker));
    const jobs = jobCommentsOf(instance, pr);
    return reply && reply.history.length >= 2 && jobs.size === instance.repoIds.length
      ? [...jobs.keys()].sort((a, b) => Number(a) - Number(b))
      : undefined;
  });
}

/** One `job-manager -j <ID>` poll in its own process, as an operator's cron would run it. */
async function managerTick(instance: Instance, jobId: string): Promise<void> {
  const manager = startBot(['job-manager', '-c', instance.config, '-i', '1', '-j', jobId], {
    env: instance.env,
    label: `job-manager -j ${jobId}`,
  });
  const exit = await manager.waitForExit(30_000);
  expect({ exit, errors: manager.linesMatching(/ERROR|WARN/) }).toEqual({
    exit: { code: 0, signal: null },
    errors: [],
  });
}

async function stateOf(instance: Instance, jobId: string): Promise<string | undefined> {
  return (await queue({ name: instance.jobName })).find((job) => job.id === jobId)?.state;
}

/** Releases `jobId` (one manager poll), waits until Slurm runs it, then lets a poll see that. */
async function startRunning(instance: Instance, jobId: string): Promise<void> {
  await managerTick(instance, jobId);
  await waitUntil(`job ${jobId} running`, async () =>
    (await stateOf(instance, jobId)) === 'RUNNING' ? true : undefined,
  );
  await managerTick(instance, jobId);
  expect(statuses(jobComment(instance, jobId).body)).toEqual(['submitted', 'released', 'running']);
}

/** A `pull_request` delivery of `action` for the PR, from the real labeled example. */
function pullRequestPayload(pr: number, action: string, edit: (p: Json) => void): Json {
  const payload = labeledPullRequestPayload({
    sender: 'alice',
    repo: fixture.repo,
    number: pr,
    base: { ref: fixture.baseRef },
  });
  payload.action = action;
  delete payload.label;
  edit(payload);
  return payload;
}

/** Every file under `dir`, relative, sorted. */
function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) =>
      entry.isDirectory()
        ? filesUnder(join(dir, entry.name), `${prefix}${entry.name}/`)
        : [`${prefix}${entry.name}`],
    )
    .sort();
}

function utcDay(date: Date): string {
  return date.toISOString().slice(0, 10).replaceAll('-', '.');
}

function errorLines(instance: Instance): string[] {
  return instance.bot.linesMatching(/ERROR|WARN/);
}

describe('PR lifecycle on a real Slurm (serve without job manager, job-manager -j for one job)', () => {
  let instance: Instance;

  beforeAll(async () => {
    instance = await startInstance({
      label: 'life',
      sleep: 300,
      jobManager: false,
      cancelOnPush: true,
      checkRuns: true,
      repoIds: REPO_IDS,
    });
  });

  it('closing the PR scancels its running and held jobs, moves its job dirs to the trash bin and says so once; a foreign job stays', async () => {
    const pr = 11;
    openPullRequest(pr);
    const [running, held] = await build(instance, pr);
    await startRunning(instance, running);
    expect(await stateOf(instance, held)).toBe('PENDING');
    const foreign = await sbatchHeld({
      jobName: FOREIGN_NAME,
      cwd: instance.root,
      wrap: 'sleep 1',
    });
    const [month] = readdirSync(join(instance.root, 'jobs'));
    const prDir = join(instance.root, 'jobs', month, `pr_${pr}`);
    const before = filesUnder(prDir);

    const closedAt = new Date();
    const payload = pullRequestPayload(pr, 'closed', (p) => {
      p.pull_request.state = 'closed';
      p.pull_request.merged = true;
    });
    expect(await instance.bot.deliver('pull_request', payload, SECRET, randomUUID())).toBe(202);

    const moveComment = await waitUntil('the move comment', () =>
      github.comments(fixture.repo, pr).find((c) => c.body.startsWith('PR merged! Moved')),
    );
    // scancel really happened: both left the queue and Slurm recorded them as cancelled.
    await waitUntil('both jobs gone from squeue', async () =>
      (await queue({ name: instance.jobName })).length === 0 ? true : undefined,
    );
    const ended = await waitUntil('both jobs in the job completion log', () => {
      const lines = cluster.completedJobLines(instance.jobName);
      return lines.length === 2 ? lines : undefined;
    });
    expect(ended.map((line) => /JobState=(\S+)/.exec(line)?.[1])).toEqual([
      'CANCELLED',
      'CANCELLED',
    ]);
    expect(statuses(jobComment(instance, running).body).filter((s) => s !== 'cancelled')).toEqual([
      'submitted',
      'released',
      'running',
    ]);
    for (const jobId of [running, held]) {
      expect(jobComment(instance, jobId).body).toMatch(/\|cancelled\|PR merged: job cancelled\|$/m);
      expect(statuses(jobComment(instance, jobId).body).at(-1)).toBe('cancelled');
    }

    expect(checkRunOf(running)).toEqual({
      statuses: ['queued', 'in_progress', 'completed'],
      conclusion: 'cancelled',
    });
    expect(checkRunOf(held)).toEqual({
      statuses: ['queued', 'completed'],
      conclusion: 'cancelled',
    });

    // Moved whole to trash_bin_dir/<owner>/<repo>/<day>/<month>/pr_<N>, nothing deleted.
    const days = new Set([utcDay(closedAt), utcDay(new Date())]);
    const trashDay = readdirSync(join(instance.trashBinDir, fixture.repo));
    expect(trashDay).toHaveLength(1);
    expect(days.has(trashDay[0])).toBe(true);
    const trashDayDir = join(instance.trashBinDir, fixture.repo, trashDay[0]);
    expect(existsSync(prDir)).toBe(false);
    const after = filesUnder(join(trashDayDir, month, `pr_${pr}`));
    expect(after).toEqual(expect.arrayContaining(before));
    expect(after.filter((name) => !before.includes(name)).sort()).toEqual(
      expect.arrayContaining([expect.stringMatching(/_bot_job\d+\.rows\/6-cancelled$/)]),
    );
    expect(moveComment.body).toContain(`PR merged! Moved \`${prDir}\` to \`${trashDayDir}\``);
    expect(
      github.comments(fixture.repo, pr).filter((c) => c.body.includes('Moved `')),
    ).toHaveLength(1);

    // Not the bot's: still held, untouched.
    expect(await queue({ name: FOREIGN_NAME })).toEqual([
      expect.objectContaining({ id: foreign, state: 'PENDING', reason: 'JobHeldUser' }),
    ]);
    expect(errorLines(instance)).toEqual([]);
  });

  it('a new push (cancel_on_push) cancels the held job of the old head, naming the new commit, and the running job goes on', async () => {
    const pr = 12;
    const oldHead = openPullRequest(pr);
    const [running, held] = await build(instance, pr);
    await startRunning(instance, running);

    const newHead = fixture.addPullRequest(pr, {
      [`easystacks/pr-${pr}.yml`]: 'easyconfigs:\n  - x.eb\n',
    });
    const payload = pullRequestPayload(pr, 'synchronize', (p) => {
      p.before = oldHead;
      p.after = newHead;
      p.pull_request.head.sha = newHead;
    });
    expect(await instance.bot.deliver('pull_request', payload, SECRET, randomUUID())).toBe(202);

    await waitUntil('the held job cancelled', () =>
      jobComment(instance, held).body.includes('|cancelled|') ? true : undefined,
    );
    expect(jobComment(instance, held).body).toContain(
      `|cancelled|job cancelled: superseded by commit \`${newHead}\` (was \`${oldHead}\`)|`,
    );
    await waitUntil(`job ${held} gone from squeue`, async () =>
      (await stateOf(instance, held)) === undefined ? true : undefined,
    );
    expect(await stateOf(instance, running)).toBe('RUNNING');
    expect(statuses(jobComment(instance, running).body)).toEqual([
      'submitted',
      'released',
      'running',
    ]);
    // The check run follows its comment (the bot paces its writes).
    await waitUntil(`the check run of job ${held} completed`, () =>
      checkRunOf(held).conclusion === 'cancelled' ? true : undefined,
    );
    expect(checkRunOf(held).statuses).toEqual(['queued', 'completed']);
    expect(checkRunOf(running)).toEqual({ statuses: ['queued', 'in_progress'] });
    // The PR is still open: its dirs stay.
    const [month] = readdirSync(join(instance.root, 'jobs'));
    expect(existsSync(join(instance.root, 'jobs', month, `pr_${pr}`))).toBe(true);
    expect(errorLines(instance)).toEqual([]);
  });
});

function describeRequest(r: FakeRequest): string {
  return `${r.method} ${r.path} ${r.status}`;
}

/** What one job cost on GitHub: its comment (create + edits) and its check run (create + updates). */
interface JobRequests {
  readonly comment: string[];
  readonly checkRun: string[];
}

function requestsOfJob(instance: Instance, pr: number, jobId: string): JobRequests {
  const marker = jobMarker(jobId, instance.appName);
  const commentPath = `/repos/${fixture.repo}/issues/comments/${jobComment(instance, jobId).id}`;
  const run = github.checkRuns(fixture.repo).find((r) => r.summary.includes(`Job \`${jobId}\``));
  const runPath = run && `/repos/${fixture.repo}/check-runs/${run.id}`;
  const bodyOf = (r: FakeRequest) => r.body as Record<string, unknown>;
  return {
    comment: github.requests
      .filter(
        (r) =>
          r.path === commentPath ||
          (r.method === 'POST' &&
            r.path === `/repos/${fixture.repo}/issues/${pr}/comments` &&
            String(bodyOf(r)?.body).includes(marker)),
      )
      .map(describeRequest),
    checkRun: github.requests
      .filter(
        (r) =>
          (runPath !== undefined && r.path === runPath) ||
          (r.method === 'POST' &&
            r.path === `/repos/${fixture.repo}/check-runs` &&
            String(
              bodyOf(r)?.output && (bodyOf(r).output as { summary?: string }).summary,
            ).includes(`Job \`${jobId}\``)),
      )
      .map(describeRequest),
  };
}

const measured: string[] = [];

describe.each([false, true])(
  'a build followed by the job manager, check_runs = %s',
  (checkRuns) => {
    it('reports each job queued → running → finished on the PR, and counts its GitHub requests', async () => {
      const instance = await startInstance({
        label: checkRuns ? 'checks' : 'nochecks',
        sleep: 4,
        jobManager: true,
        checkRuns,
        // One job: the bot paces its GitHub writes (one a second), so a second job's writes
        // would slow the polls enough to miss a short job's running phase.
        repoIds: REPO_IDS.slice(0, 1),
      });
      const pr = checkRuns ? 13 : 14;
      const head = openPullRequest(pr);
      github.clearRequests();
      const jobIds = await build(instance, pr);
      await waitUntil(
        'the job finished',
        () =>
          jobIds.every((id) => existsSync(join(instance.root, 'job-ids', 'finished', id)))
            ? true
            : undefined,
        { timeoutMs: 45_000 },
      );
      // Nothing more once the jobs are done: idle polls cost no request.
      const done = github.requests.length;
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      expect(github.requests.slice(done)).toEqual([]);

      for (const jobId of jobIds) {
        expect(statuses(jobComment(instance, jobId).body)).toEqual([
          'submitted',
          'released',
          'running',
          'finished',
          'test result',
        ]);
      }
      const runs = github.checkRuns(fixture.repo).filter((run) => run.headSha === head);
      if (checkRuns) {
        expect(runs.map((run) => run.name).sort()).toEqual(
          instance.repoIds.map((repo) => `${instance.appName}: x86_64/amd/zen4, ${repo}`),
        );
        for (const run of runs) {
          expect(run.history.map((state) => state.status)).toEqual([
            'queued',
            'in_progress',
            'completed',
          ]);
          expect(run.conclusion).toBe('success');
          expect(run.summary).toContain(':grin: SUCCESS built in ');
        }
      } else {
        expect(runs).toEqual([]);
      }

      const perJob = jobIds.map((jobId) => requestsOfJob(instance, pr, jobId));
      measured.push(
        `check_runs = ${checkRuns}: ` +
          perJob
            .map(
              (r, i) =>
                `job ${jobIds[i]}: ${r.comment.length} comment + ${r.checkRun.length} check-run requests`,
            )
            .join('; '),
      );
      // With a check run the released row waits for the running edit (the check run shows the
      // job queued meanwhile): the job manager's requests stay at 4 per job either way.
      for (const requests of perJob) {
        expect({
          comment: requests.comment.length,
          checkRun: requests.checkRun.length,
        }).toEqual({ comment: checkRuns ? 3 : 4, checkRun: checkRuns ? 3 : 0 });
      }
      // Everything else was the command's own: the installation token, the PR, the reply.
      const rest = github.requests.map(describeRequest);
      for (const request of perJob.flatMap((r) => [...r.comment, ...r.checkRun])) {
        rest.splice(rest.indexOf(request), 1);
      }
      const repo = `/repos/${fixture.repo}`;
      const reply = github
        .comments(fixture.repo, pr)
        .find((c) => c.body.includes('<!-- bot:reply '))!;
      expect(rest.sort()).toEqual(
        [
          'POST /app/installations/2/access_tokens 201',
          `GET ${repo}/pulls/${pr} 200`,
          `POST ${repo}/issues/${pr}/comments 201`,
          ...reply.history.slice(1).map(() => `PATCH ${repo}/issues/comments/${reply.id} 200`),
        ].sort(),
      );
      expect(errorLines(instance)).toEqual([]);
    });
  },
);

afterAll(() => {
  process.stdout.write(`GitHub requests per job (real Slurm):\n  ${measured.join('\n  ')}\n`);
});
