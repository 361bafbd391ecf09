import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { FakeGitHub, type FakeComment } from '../fakes/fake-github.server.js';
import {
  PROJECT_ROOT,
  describeExit,
  freePort,
  startBot,
  startServer,
  type BotProcess,
  type BotServer,
} from '../support/bot-process.js';
import { createGitFixture, type GitFixture } from '../support/git-fixture.js';
import { generateAppKeys, type AppKeys } from '../support/make-config.js';
import { labeledPullRequestPayload } from '../support/payloads.js';
import {
  SLURM_COMMANDS,
  queue,
  requireSlurmCluster,
  sbatchHeld,
  scancel,
  scancelByName,
  sleep,
  waitUntil,
  type QueueEntry,
  type SlurmCluster,
} from '../support/slurm-cluster.js';

/*
 * The whole chain on a real Slurm, driving the BUILT bot as operators run it:
 *   signed webhook → `node dist/main.js serve` → merged checkout → `sbatch --hold` (real) →
 *   job manager releases → scripts/slurm/eessi-bot-build.slurm runs the PR's build on the node →
 *   result → PR comments on FakeGitHub.
 *
 * Needs `npm run build` and the local cluster of scripts/dev/slurm-local.sh (SLURM_CONF set);
 * without it every case fails with instructions (see docs/testing.md). Each case has its own
 * temporary root (app.cfg, job dirs, state, local_tmp, git remote), its own FakeGitHub and its own
 * Slurm job name, and cancels that name's jobs when it ends, so cases never see each other's jobs.
 * On failure the error carries the bot's output, the PR's comments, the queue and slurmctld's log.
 */

const APP_NAME = 'slurm-e2e';
const APP_ID = 1;
const INSTALLATION_ID = 2;
const SECRET = 'slurm-e2e-webhook-secret';
const REPO = 'EESSI/software-layer';
const GENERIC = 'linux/x86_64/generic';
const ZEN2 = 'linux/x86_64/amd/zen2';
const ARCH_TARGET_MAP = {
  [GENERIC]: '--constraint shape=c4.2xlarge',
  [ZEN2]: '--constraint shape=c5a.2xlarge',
};
const FEATURES: Record<string, string> = {
  'x86_64-generic': 'shape=c4.2xlarge',
  'x86_64-amd-zen2': 'shape=c5a.2xlarge',
};
const JOB_SCRIPT = join(PROJECT_ROOT, 'scripts', 'slurm', 'eessi-bot-build.slurm');
const EXAMPLE_LAYER = join(PROJECT_ROOT, 'examples', 'software-layer');

/** The rows a job comment goes through when everything works, in order. */
const ALL_ROWS = ['submitted', 'released', 'running', 'finished'];
const TEXT = {
  submitted: 'job waits for release by job manager',
  released: 'job awaits launch by Slurm scheduler',
  running: 'job is running',
};

/** Generous but bounded: a loaded CI machine boots Nest and runs git slowly. */
const WAIT_MS = 60_000;
const CASE_TIMEOUT_MS = 180_000;

let cluster: SlurmCluster;
/** Every job name a case used: cancelled again after the suite, whatever happened. */
const startedNames = new Set<string>();
let keys: AppKeys;
const runId = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;

beforeAll(async () => {
  // Throws (the suite fails, never skips) when there is no cluster, with how to start one.
  cluster = await requireSlurmCluster();
  if (!existsSync(join(PROJECT_ROOT, 'dist', 'main.js'))) {
    throw new Error('dist/main.js does not exist: run `npm run build` before the slurm tests');
  }
  keys = generateAppKeys();
}, 60_000);

afterAll(async () => {
  // Belt and braces: a case that died in its own cleanup must not leave jobs for the next suite.
  for (const name of startedNames) {
    await scancelByName(name);
  }
}, 30_000);

// ---------------------------------------------------------------------------------------------
// One case's world: temp root, app.cfg, FakeGitHub, git remote, job name, processes.

interface World {
  readonly root: string;
  readonly jobName: string;
  readonly configPath: string;
  readonly jobIdsDir: string;
  readonly localTmp: string;
  readonly github: FakeGitHub;
  readonly fixture: GitFixture;
  readonly env: NodeJS.ProcessEnv;
  /** Every bot process of this case, for the failure report. */
  readonly bots: BotProcess[];
  /** Further job names this case submitted under, cancelled at the end. */
  readonly extraJobNames: string[];
  serve(jobManager: boolean): Promise<BotServer>;
  jobManager(): BotProcess;
  /** Pushes refs/pull/<n>/head: the base branch plus `change`; returns the head sha. */
  pullRequest(n: number, change: PullRequestChange): string;
  /** Delivers the signed `bot:build` label event for PR n and expects 202. */
  labelBuild(server: BotServer, n: number, headSha: string): Promise<void>;
  jobComments(n: number): JobComment[];
  jobDir(jobId: string): string;
}

interface PullRequestChange {
  /** Directories of examples/software-layer to copy into the PR, with their file modes. */
  readonly fromExample?: readonly string[];
  /** Files to add: content, or content and mode. */
  readonly files?: Readonly<Record<string, string | { content: string; mode: number }>>;
}

interface Row {
  readonly date: string;
  readonly status: string;
  readonly comment: string;
}

interface JobComment {
  readonly commentId: number;
  readonly jobId: string;
  /** As the comment names it, e.g. x86_64-amd-zen2. */
  readonly arch: string;
  readonly rows: Row[];
  /** The row statuses of every body the comment has had, oldest first. */
  readonly history: string[][];
}

function rowsOf(body: string): Row[] {
  return body
    .split('\n')
    .filter(
      (line) => /^\|.*\|$/.test(line) && !line.startsWith('|date|') && !line.startsWith('|---'),
    )
    .map((line) => {
      const [, date, status, ...comment] = line.split(/(?<!\\)\|/);
      return { date, status, comment: comment.slice(0, -1).join('|') };
    });
}

function toJobComment(c: FakeComment): JobComment | undefined {
  const marker = /<!-- bot:job (\S+) (\S+) -->/.exec(c.body);
  if (!marker || marker[2] !== APP_NAME) {
    return undefined;
  }
  return {
    commentId: c.id,
    jobId: marker[1],
    arch: /for architecture `([^`]+)`/.exec(c.body)?.[1] ?? '?',
    rows: rowsOf(c.body),
    history: c.history.map((body) => rowsOf(body).map((row) => row.status)),
  };
}

function git(args: string[], cwd: string, env: NodeJS.ProcessEnv): string {
  return execFileSync('git', args, { cwd, env, encoding: 'utf8' }).trim();
}

async function createWorld(slug: string): Promise<World> {
  const root = mkdtempSync(join(tmpdir(), `eessi-bot-slurm-e2e-${slug}-`));
  const jobName = `eessi-bot-e2e-${runId}-${slug}`;
  startedNames.add(jobName);
  const github = new FakeGitHub({
    appId: APP_ID,
    installationId: INSTALLATION_ID,
    publicKey: keys.publicKey,
  });
  await github.start();
  const fixture = createGitFixture({ repo: REPO });
  const keyPath = join(root, 'app.pem');
  writeFileSync(keyPath, keys.privateKey);
  chmodSync(keyPath, 0o600);
  const jobIdsDir = join(root, 'job-ids');
  const localTmp = join(root, 'local-tmp');
  const configPath = join(root, 'app.cfg');
  writeFileSync(
    configPath,
    [
      '[github]',
      `app_id = ${APP_ID}`,
      `app_name = ${APP_NAME}`,
      `installation_id = ${INSTALLATION_ID}`,
      `private_key = ${keyPath}`,
      `api_url = ${github.url}`,
      '',
      '[buildenv]',
      `build_job_script = ${JOB_SCRIPT}`,
      `jobs_base_dir = ${join(root, 'jobs')}`,
      // \$SLURM_JOB_ID reaches the job script unexpanded; it expands it on the node.
      `local_tmp = ${localTmp}/\\$SLURM_JOB_ID`,
      'http_proxy =',
      'https_proxy =',
      'load_modules =',
      'slurm_params = --hold',
      `submit_command = ${SLURM_COMMANDS.sbatch}`,
      `job_name = ${jobName}`,
      '',
      '[architecturetargets]',
      'arch_target_map = {',
      ...Object.entries(ARCH_TARGET_MAP).map(
        ([target, params], i, all) =>
          `    ${JSON.stringify(target)}: ${JSON.stringify(params)}${i < all.length - 1 ? ',' : ' }'}`,
      ),
      '',
      '[job_manager]',
      `job_ids_dir = ${jobIdsDir}`,
      `poll_command = ${SLURM_COMMANDS.squeue}`,
      'poll_interval = 1',
      `scontrol_command = ${SLURM_COMMANDS.scontrol}`,
      `scancel_command = ${SLURM_COMMANDS.scancel}`,
      'command_timeout = 20',
      '',
      '[event_handler]',
      `state_dir = ${join(root, 'state')}`,
      '',
    ].join('\n'),
  );
  // Only what the bot needs; the jobs inherit it through sbatch (--export=ALL).
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    USER: process.env.USER,
    LANG: 'C.UTF-8',
    // Plain log lines: they are matched by the tests and printed in failure reports.
    NO_COLOR: '1',
    SLURM_CONF: cluster.conf,
    GITHUB_APP_SECRET_TOKEN: SECRET,
    ...fixture.env,
  };
  const gitEnv: NodeJS.ProcessEnv = {
    ...process.env,
    ...fixture.env,
    GIT_AUTHOR_NAME: 'PR Author',
    GIT_AUTHOR_EMAIL: 'pr-author@example.invalid',
    GIT_COMMITTER_NAME: 'PR Author',
    GIT_COMMITTER_EMAIL: 'pr-author@example.invalid',
  };
  const bots: BotProcess[] = [];
  let serveCount = 0;
  const world: World = {
    root,
    jobName,
    configPath,
    jobIdsDir,
    localTmp,
    github,
    fixture,
    env,
    bots,
    extraJobNames: [],
    async serve(jobManager) {
      const server = await startServer({
        config: configPath,
        env,
        jobManager,
        label: `serve#${++serveCount}${jobManager ? '' : ' --no-job-manager'}`,
      });
      bots.push(server);
      return server;
    },
    jobManager() {
      const bot = startBot(['job-manager', '--config', configPath, '-i', '-1'], {
        env,
        label: 'job-manager -i -1',
      });
      bots.push(bot);
      return bot;
    },
    pullRequest(n, change) {
      const work = mkdtempSync(join(root, `pr-${n}-`));
      git(['clone', '--quiet', '--branch', fixture.baseRef, fixture.bareDir, work], root, gitEnv);
      for (const dir of change.fromExample ?? []) {
        cpSync(join(EXAMPLE_LAYER, dir), join(work, dir), { recursive: true });
      }
      for (const [path, file] of Object.entries(change.files ?? {})) {
        const full = join(work, path);
        mkdirSync(dirname(full), { recursive: true });
        const { content, mode } = typeof file === 'string' ? { content: file, mode: 0o644 } : file;
        writeFileSync(full, content);
        chmodSync(full, mode);
      }
      git(['add', '--all'], work, gitEnv);
      git(['commit', '--quiet', '-m', `pull request ${n}`], work, gitEnv);
      git(['push', '--quiet', '--force', 'origin', `HEAD:refs/pull/${n}/head`], work, gitEnv);
      return git(['rev-parse', 'HEAD'], work, gitEnv);
    },
    async labelBuild(server, n, headSha) {
      const payload = labeledPullRequestPayload({
        label: 'bot:build',
        sender: 'alice',
        number: n,
        repo: REPO,
        base: { ref: fixture.baseRef },
        head: { sha: headSha },
      });
      expect(await server.deliver('pull_request', payload, SECRET)).toBe(202);
    },
    jobComments(n) {
      return github
        .comments(REPO, n)
        .map(toJobComment)
        .filter((c): c is JobComment => c !== undefined);
    },
    jobDir(jobId) {
      for (const where of ['finished', 'submitted']) {
        const link = join(jobIdsDir, where, jobId);
        if (existsSync(link)) {
          return readlinkSync(link);
        }
      }
      throw new Error(`job ${jobId} is in neither ${jobIdsDir}/submitted nor finished`);
    },
  };
  return world;
}

async function diagnostics(w: World): Promise<string> {
  const parts: string[] = [`case root: ${w.root}`, `job name: ${w.jobName}`];
  for (const bot of w.bots) {
    const state = bot.exited ? describeExit(bot.exited) : `running (pid ${bot.pid})`;
    const lines = bot.output().split('\n');
    parts.push(
      `----- ${bot.label}: node dist/main.js ${bot.args.join(' ')} [${state}], last ${Math.min(lines.length, 200)} of ${lines.length} lines`,
      lines.slice(-200).join('\n'),
    );
  }
  parts.push('----- comments on FakeGitHub');
  for (const c of w.github.comments()) {
    parts.push(`#${c.issueNumber} comment ${c.id} (${c.history.length} versions):\n${c.body}`);
  }
  try {
    const jobs = (await queue()).filter((job) => job.name.startsWith(w.jobName));
    parts.push('----- queue', JSON.stringify(jobs, null, 1));
  } catch (error) {
    parts.push(`----- queue unavailable: ${(error as Error).message}`);
  }
  parts.push(`----- ${cluster.logDir}/slurmctld.log (tail)`, cluster.logTail('slurmctld.log', 40));
  parts.push(`----- ${cluster.logDir}/slurmd.log (tail)`, cluster.logTail('slurmd.log', 15));
  return parts.join('\n');
}

async function cleanup(w: World): Promise<void> {
  // Stopped first, so that no manager reacts to the cancellations below.
  await Promise.all(w.bots.map((bot) => bot.stop()));
  const names = [w.jobName, ...w.extraJobNames];
  for (const name of names) {
    await scancelByName(name);
  }
  // The next case starts on an idle node: cancelled jobs leave the queue within seconds.
  await waitUntil(
    `the jobs of ${names.join(', ')} to leave the queue`,
    async () => (await queue()).every((job) => !names.includes(job.name)),
    { timeoutMs: 30_000 },
  ).catch(() => undefined);
  await w.github.stop();
  w.fixture.cleanup();
  if (!process.env.SLURM_E2E_KEEP) {
    rmSync(w.root, { recursive: true, force: true });
  }
}

/** A case with its own world; a failure carries the diagnostics, the world is always cleaned. */
function botCase(name: string, slug: string, body: (w: World) => Promise<void>): void {
  it(
    name,
    async () => {
      const w = await createWorld(slug);
      try {
        await body(w);
      } catch (error) {
        const original = error instanceof Error ? error : new Error(String(error));
        const wrapped = new Error(`${original.message}\n\n${await diagnostics(w)}`);
        wrapped.stack = `${wrapped.message}\n${original.stack?.split('\n').slice(1).join('\n') ?? ''}`;
        throw wrapped;
      } finally {
        await cleanup(w);
      }
    },
    CASE_TIMEOUT_MS,
  );
}

// ---------------------------------------------------------------------------------------------
// Pull requests

/**
 * The example layer's bot scripts and easystack plus five more easyconfigs: the example build
 * takes 0.5 s per easyconfig, so ~4 s in all, several polls (1 s) in which to see it running.
 */
/**
 * About 7 s of build (0.5 s per easyconfig): long enough that both jobs are seen running
 * together even though the second one's comment, and so its release, comes ~3 s later (GitHub
 * paces comment creation).
 */
function slowEnoughBuild(): PullRequestChange {
  const easyconfigs = [
    'GCC-13.2.0.eb',
    'Python-3.11.5-GCCcore-13.2.0.eb',
    'CMake-3.27.6-GCCcore-13.2.0.eb',
    'OpenMPI-4.1.6-GCC-13.2.0.eb',
    'SciPy-bundle-2023.11-gfbf-2023b.eb',
    'HDF5-1.14.3-gompi-2023b.eb',
    'netCDF-4.9.2-gompi-2023b.eb',
    'Boost-1.83.0-GCC-13.2.0.eb',
    'FFTW-3.3.10-GCC-13.2.0.eb',
    'OpenBLAS-0.3.24-GCC-13.2.0.eb',
    'Rust-1.73.0-GCCcore-13.2.0.eb',
    'LLVM-16.0.6-GCCcore-13.2.0.eb',
    'Perl-5.38.0-GCCcore-13.2.0.eb',
  ];
  return {
    fromExample: ['bot', 'easystacks'],
    files: {
      'easystacks/software.eessi.io/2023.06/eessi-2023.06-eb-4.9.0-2023b.yml':
        'easyconfigs:\n' + easyconfigs.map((ec) => `  - ${ec}\n`).join(''),
    },
  };
}

const executable = (content: string) => ({ content, mode: 0o755 });

/** The seed's EESSI pilot scripts, as stand-ins that do in a blink what the real ones do. */
const PILOT_STAND_INS: PullRequestChange = {
  files: {
    'init/minimal_eessi_env': 'export EESSI_PILOT_VERSION=2021.12\nexport EESSI_OS_TYPE=linux\n',
    // The real one asks archspec; the stand-in answers by the flag the job script passes.
    'eessi_software_subdir.py':
      'import sys\nprint("x86_64/generic" if "--generic" in sys.argv else "x86_64/amd/zen2")\n',
    'build_container.sh': executable(
      '#!/bin/bash\n# Stand-in: runs the command here instead of in a container.\n' +
        'echo "build_container.sh $*"\n[ "$1" = run ] && shift 2\nexec "$@"\n',
    ),
    'install_software_layer.sh': executable(
      '#!/bin/bash\necho "install_software_layer.sh $*"\nsleep 2\necho "No missing modules!"\n',
    ),
    'create_tarball.sh': executable(
      '#!/bin/bash\nset -euo pipefail\ntmpdir=$1 version=$2 subdir=$3 target=$4\n' +
        'mkdir -p "$tmpdir/$version/software/linux/$subdir/modules/all"\n' +
        'echo "module" > "$tmpdir/$version/software/linux/$subdir/modules/all/example.lua"\n' +
        'tar -czf "$target" -C "$tmpdir" "$version"\n',
    ),
  },
};

// ---------------------------------------------------------------------------------------------
// Waiting and asserting

/** Both jobs (one per target) have a comment; returns them sorted by arch. */
async function waitForJobComments(
  w: World,
  n: number,
  what: string,
  done: (c: JobComment) => boolean,
): Promise<JobComment[]> {
  return waitUntil(
    `two job comments on PR #${n} where ${what}`,
    () => {
      const comments = w.jobComments(n);
      return comments.length === 2 && comments.every(done)
        ? comments.sort((a, b) => a.arch.localeCompare(b.arch))
        : undefined;
    },
    { timeoutMs: WAIT_MS },
  );
}

const lastStatus = (c: JobComment) => c.rows.at(-1)?.status;
const hasRow = (status: string) => (c: JobComment) => c.rows.some((row) => row.status === status);

/** Both jobs finished and moved to job_ids_dir/finished/ (the manager's very last step). */
async function waitForFinished(w: World, n: number): Promise<JobComment[]> {
  const comments = await waitForJobComments(
    w,
    n,
    'the last row is "finished"',
    (c) => lastStatus(c) === 'finished',
  );
  await waitUntil(
    `jobs ${comments.map((c) => c.jobId).join(', ')} to move to ${w.jobIdsDir}/finished`,
    () => comments.every((c) => existsSync(join(w.jobIdsDir, 'finished', c.jobId))),
    { timeoutMs: WAIT_MS },
  );
  return comments;
}

function finishedRow(c: JobComment): Row {
  const row = c.rows.find((r) => r.status === 'finished');
  if (!row) {
    throw new Error(`job ${c.jobId} has no finished row`);
  }
  return row;
}

function tarballsIn(dir: string): string[] {
  return readdirSync(dir).filter((name) => /^eessi-.*software-.*\.tar\.gz$/.test(name));
}

/**
 * Every step, each one shown on its own: for jobs whose comment existed before any job manager
 * ran (serve --no-job-manager first), so the comment got one edit per step.
 */
function expectFullHistory(c: JobComment): void {
  expect(c.history).toEqual(ALL_ROWS.map((_, i) => ALL_ROWS.slice(0, i + 1)));
  expect(c.rows.map((r) => r.comment).slice(0, 3)).toEqual([
    TEXT.submitted,
    TEXT.released,
    TEXT.running,
  ]);
}

/**
 * Every step, rows only ever added in order, each edit a change. When serve runs the job manager
 * from the start, the manager may release a job (its metadata is on disk) before the event handler
 * has created the comment, which then starts with two rows.
 */
function expectAllSteps(c: JobComment): void {
  expect(c.rows.map((r) => r.status)).toEqual(ALL_ROWS);
  expect(c.rows.map((r) => r.comment).slice(0, 3)).toEqual([
    TEXT.submitted,
    TEXT.released,
    TEXT.running,
  ]);
  c.history.forEach((statuses, i) => {
    expect(statuses).toEqual(ALL_ROWS.slice(0, statuses.length));
    if (i > 0) {
      expect(statuses.length).toBeGreaterThan(c.history[i - 1].length);
    }
  });
}

async function ourQueue(w: World): Promise<QueueEntry[]> {
  return (await queue({ name: w.jobName })).sort((a, b) => Number(a.id) - Number(b.id));
}

// ---------------------------------------------------------------------------------------------

describe('the built bot on a real Slurm', () => {
  botCase(
    'success: jobs stay held until the job manager releases them, then run and report SUCCESS with the tarball',
    'success',
    async (w) => {
      const head = w.pullRequest(11, slowEnoughBuild());
      const server = await w.serve(false);

      await w.labelBuild(server, 11, head);
      const submitted = await waitForJobComments(
        w,
        11,
        'the job is submitted',
        hasRow('submitted'),
      );
      expect(submitted.map((c) => c.arch)).toEqual(['x86_64-amd-zen2', 'x86_64-generic']);

      // Held in Slurm, with each target's constraint, in its own job dir.
      const held = await ourQueue(w);
      expect(held.map((j) => j.id).sort()).toEqual(submitted.map((c) => c.jobId).sort());
      for (const c of submitted) {
        const job = held.find((j) => j.id === c.jobId)!;
        expect(job).toMatchObject({
          state: 'PENDING',
          reason: 'JobHeldUser',
          features: FEATURES[c.arch],
        });
        expect(job.workDir).toBe(w.jobDir(c.jobId));
        expect(
          job.workDir.endsWith(
            c.arch === 'x86_64-generic' ? 'linux_x86_64_generic' : 'linux_x86_64_amd_zen2',
          ),
        ).toBe(true);
      }
      // Without a job manager nobody releases them: still held a few polls later, no new row.
      await sleep(3_000);
      expect((await ourQueue(w)).map((j) => [j.state, j.reason])).toEqual([
        ['PENDING', 'JobHeldUser'],
        ['PENDING', 'JobHeldUser'],
      ]);
      expect(w.jobComments(11).map((c) => c.history)).toEqual([[['submitted']], [['submitted']]]);

      const manager = w.jobManager();
      const finished = await waitForFinished(w, 11);

      for (const c of finished) {
        expectFullHistory(c);
        const dir = w.jobDir(c.jobId);
        const [tarball, ...more] = tarballsIn(dir);
        expect(more).toEqual([]);
        expect(tarball).toMatch(
          new RegExp(`^eessi-2023\\.06-software-linux-${c.arch}-\\d+\\.tar\\.gz$`),
        );
        expect(finishedRow(c).comment).toContain(':grin: SUCCESS');
        expect(finishedRow(c).comment).toContain(`<code>${tarball}</code>`);
        expect(readFileSync(join(dir, `slurm-${c.jobId}.out`), 'utf8')).toContain(
          'No missing modules!',
        );
        // The job's private temporary directory under local_tmp/$SLURM_JOB_ID is gone.
        expect(readdirSync(join(w.localTmp, c.jobId))).toEqual([]);
      }
      // Released by the manager, once each; one comment per job, never a second one.
      for (const c of finished) {
        expect(manager.linesMatching(new RegExp(`job ${c.jobId} .*: released`))).toHaveLength(1);
      }
      expect(w.github.requestCount({ method: 'POST', path: /\/comments$/ })).toBe(2);
      expect(
        cluster.completedJobLines(w.jobName).map((l) => /JobState=(\S+)/.exec(l)?.[1]),
      ).toEqual(['COMPLETED', 'COMPLETED']);
    },
  );

  botCase(
    'failed build: a PR adding bot/FAIL is reported as FAILURE with the reason',
    'failure',
    async (w) => {
      const head = w.pullRequest(12, {
        fromExample: ['bot', 'easystacks'],
        files: { 'bot/FAIL': 'please fail\n' },
      });
      const server = await w.serve(true);

      await w.labelBuild(server, 12, head);
      const finished = await waitForFinished(w, 12);

      for (const c of finished) {
        expect(c.rows.slice(0, 2).map((r) => r.status)).toEqual(['submitted', 'released']);
        const { comment } = finishedRow(c);
        expect(comment).toContain(':cry: FAILURE');
        expect(comment).toContain('bot/build.sh exited with status 1');
        expect(comment).not.toContain('SUCCESS');
        const dir = w.jobDir(c.jobId);
        expect(tarballsIn(dir)).toEqual([]);
        expect(readFileSync(join(dir, `slurm-${c.jobId}.out`), 'utf8')).toContain(
          'bot/build.sh: ERROR: build of',
        );
      }
      expect(
        cluster.completedJobLines(w.jobName).map((l) => /JobState=(\S+)/.exec(l)?.[1]),
      ).toEqual(['FAILED', 'FAILED']);
    },
  );

  botCase(
    "the seed's pilot protocol: stand-in pilot scripts build, the tarball is found, SUCCESS",
    'pilot',
    async (w) => {
      const head = w.pullRequest(13, PILOT_STAND_INS);
      const server = await w.serve(true);

      await w.labelBuild(server, 13, head);
      const finished = await waitForFinished(w, 13);

      for (const c of finished) {
        const dir = w.jobDir(c.jobId);
        expect(existsSync(join(dir, 'bot', 'build.sh'))).toBe(false);
        const [tarball, ...more] = tarballsIn(dir);
        expect(more).toEqual([]);
        // Named by the seed's rule, from the version in init/minimal_eessi_env and the subdir the
        // stand-in printed (--generic passed for the generic target only).
        expect(tarball).toMatch(
          new RegExp(`^eessi-2021\\.12-software-linux-${c.arch}-\\d+\\.tar\\.gz$`),
        );
        const log = readFileSync(join(dir, `slurm-${c.jobId}.out`), 'utf8');
        expect(log).toContain(`${dir}/${tarball} created!`);
        // No result file in the pilot protocol: the seed's rule (log + one tarball) judged it.
        expect(existsSync(join(dir, `_bot_job${c.jobId}.result`))).toBe(false);
        const { comment } = finishedRow(c);
        expect(comment).toContain(':grin: SUCCESS');
        expect(comment).toContain(`\`${tarball}\``);
      }
    },
  );

  botCase(
    'a running job cancelled with scancel is reported as cancelled, not as a failed build',
    'cancel',
    async (w) => {
      const head = w.pullRequest(14, {
        fromExample: ['bot', 'easystacks'],
        files: {
          // The zen2 job builds "forever"; the generic one builds as usual, for contrast.
          'bot/build.sh': executable(
            '#!/bin/bash\nset -euo pipefail\n' +
              'if [[ ${EESSI_SOFTWARE_SUBDIR_OVERRIDE:-} == x86_64/amd/zen2 ]]; then\n' +
              '  echo "bot/build.sh: building for a long time"\n  sleep 600\nfi\n' +
              'exec bot/example-build.sh\n',
          ),
          'bot/example-build.sh': executable(
            readFileSync(join(EXAMPLE_LAYER, 'bot', 'build.sh'), 'utf8'),
          ),
        },
      });
      const server = await w.serve(true);

      await w.labelBuild(server, 14, head);
      // The generic build may come and go between two polls; the zen2 one runs until cancelled.
      const zen2 = await waitUntil(
        'the zen2 job comment to show it running',
        () => w.jobComments(14).find((c) => c.arch === 'x86_64-amd-zen2' && hasRow('running')(c)),
        { timeoutMs: WAIT_MS },
      );
      expect((await ourQueue(w)).find((j) => j.id === zen2.jobId)?.state).toBe('RUNNING');

      await scancel(zen2.jobId);
      const finished = await waitForFinished(w, 14);

      const cancelled = finished.find((c) => c.jobId === zen2.jobId)!;
      expectAllSteps(cancelled);
      expect(finishedRow(cancelled).comment).toMatch(/CANCELLED/);
      expect(finishedRow(cancelled).comment).not.toMatch(/FAILURE|SUCCESS/);
      expect(tarballsIn(w.jobDir(zen2.jobId))).toEqual([]);
      // The other job was not touched by the cancellation.
      const other = finished.find((c) => c.jobId !== zen2.jobId)!;
      expect(other.arch).toBe('x86_64-generic');
      expect(finishedRow(other).comment).toContain(':grin: SUCCESS');
      const states = Object.fromEntries(
        cluster
          .completedJobLines(w.jobName)
          .map((l) => [/JobId=(\d+)/.exec(l)?.[1], /JobState=(\S+)/.exec(l)?.[1]]),
      );
      expect(states).toEqual({ [zen2.jobId]: 'CANCELLED', [other.jobId]: 'COMPLETED' });
    },
  );

  botCase(
    'slurmctld down for a few polls: nothing is reported finished meanwhile, then the jobs finish normally',
    'outage',
    async (w) => {
      const head = w.pullRequest(15, slowEnoughBuild());
      const server = await w.serve(true);

      await w.labelBuild(server, 15, head);
      const running = await waitForJobComments(w, 15, 'the job is running', hasRow('running'));
      const dirs = running.map((c) => w.jobDir(c.jobId));
      const skippedBefore = server.linesMatching(/squeue failed, skipping this poll/).length;

      // Checked all along the outage, not only at its end.
      const nothingFinished = () => {
        expect(
          w
            .jobComments(15)
            .filter(hasRow('finished'))
            .map((c) => c.jobId),
        ).toEqual([]);
        expect(readdirSync(join(w.jobIdsDir, 'submitted')).sort()).toEqual(
          running.map((c) => c.jobId).sort(),
        );
      };
      await cluster.stopCtld();
      try {
        // The builds end while the controller is away: their result files appear...
        await waitUntil(
          'both builds to write their result file',
          () => running.every((c, i) => existsSync(join(dirs[i], `_bot_job${c.jobId}.result`))),
          { timeoutMs: WAIT_MS, check: nothingFinished },
        );
        // ...and the manager, unable to ask the queue, skips poll after poll.
        await waitUntil(
          'three polls skipped because squeue failed',
          () =>
            server.linesMatching(/squeue failed, skipping this poll/).length >= skippedBefore + 3,
          { timeoutMs: WAIT_MS, check: nothingFinished },
        );
        nothingFinished();
        expect(
          existsSync(join(w.jobIdsDir, 'finished'))
            ? readdirSync(join(w.jobIdsDir, 'finished'))
            : [],
        ).toEqual([]);
      } finally {
        await cluster.startCtld();
      }

      const finished = await waitForFinished(w, 15);
      for (const c of finished) {
        expectAllSteps(c);
        expect(finishedRow(c).comment).toContain(':grin: SUCCESS');
      }
    },
  );

  botCase(
    'bot SIGKILLed between submission and release: after a restart the jobs are released once, no duplicates',
    'sigkill',
    async (w) => {
      const head = w.pullRequest(16, slowEnoughBuild());
      const first = await w.serve(false);

      await w.labelBuild(first, 16, head);
      const submitted = await waitForJobComments(
        w,
        16,
        'the job is submitted',
        hasRow('submitted'),
      );
      const jobIds = submitted.map((c) => c.jobId).sort();
      expect((await ourQueue(w)).map((j) => [j.id, j.reason])).toEqual(
        jobIds.map((id) => [id, 'JobHeldUser']),
      );

      // A second server on the same state directory would run the same deliveries: refused.
      const intruder = startBot(
        ['serve', '--config', w.configPath, '--port', String(await freePort())],
        { env: w.env, label: 'serve (second, refused)' },
      );
      w.bots.push(intruder);
      expect(describeExit(await intruder.waitForExit())).toBe('exit code 2');
      expect(intruder.output()).toContain(`in use by eessi-bot pid ${first.pid}`);

      expect(describeExit(await first.kill('SIGKILL'))).toBe('signal SIGKILL');
      // The lock the killed server left is taken over: its pid is gone.
      const second = await w.serve(true);
      const finished = await waitForFinished(w, 16);

      expect(finished.map((c) => c.jobId).sort()).toEqual(jobIds);
      for (const c of finished) {
        expectFullHistory(c);
        expect(finishedRow(c).comment).toContain(':grin: SUCCESS');
        expect(second.linesMatching(new RegExp(`job ${c.jobId} .*: released`))).toHaveLength(1);
      }
      // One comment per job, one Slurm job per target: nothing was redone after the restart.
      expect(w.github.comments(REPO, 16)).toHaveLength(2);
      expect(w.github.requestCount({ method: 'POST', path: /\/comments$/ })).toBe(2);
      expect(cluster.completedJobLines(w.jobName)).toHaveLength(2);
      expect(await ourQueue(w)).toEqual([]);
      const health = (await (await fetch(`${second.url}/health`)).json()) as { inbox?: unknown };
      expect(health.inbox).toEqual({ pending: 0, failed: 0 });
    },
  );

  botCase(
    "foreign held jobs of the same user (another name; the bot's name without metadata) are left alone",
    'foreign',
    async (w) => {
      const foreignName = `${w.jobName}-foreign`;
      w.extraJobNames.push(foreignName);
      const elsewhere = mkdtempSync(join(w.root, 'foreign-'));
      const otherName = await sbatchHeld({ jobName: foreignName, cwd: elsewhere, wrap: 'sleep 1' });
      const sameName = await sbatchHeld({ jobName: w.jobName, cwd: elsewhere, wrap: 'sleep 1' });
      const head = w.pullRequest(17, { fromExample: ['bot', 'easystacks'] });
      const server = await w.serve(true);

      await w.labelBuild(server, 17, head);
      const finished = await waitForFinished(w, 17);
      for (const c of finished) {
        expect(finishedRow(c).comment).toContain(':grin: SUCCESS');
      }
      // A few more polls with the foreign jobs in the queue.
      await sleep(3_000);

      const left = (await queue()).filter((j) => [otherName, sameName].includes(j.id));
      expect(left.map((j) => [j.id, j.state, j.reason]).sort()).toEqual(
        [
          [otherName, 'PENDING', 'JobHeldUser'],
          [sameName, 'PENDING', 'JobHeldUser'],
        ].sort(),
      );
      expect(server.linesMatching(new RegExp(`job (${otherName}|${sameName})\\b`))).toEqual([]);
      expect(existsSync(join(w.jobIdsDir, 'submitted', sameName))).toBe(false);
    },
  );
});
