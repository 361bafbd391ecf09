/**
 * Builds benchmark (issue #3), against a local base repository of ~20,000 files (a bare repository
 * with a base branch and `refs/pull/1/head`, reached through git's `url.<path>.insteadOf`):
 *
 * 1. Time from a `pull_request.labeled` `bot:build` delivery to all jobs submitted and commented,
 *    for 1 and for 4 targets (real BuildsService, real git, real GitHubClient against FakeGitHub,
 *    FakeSlurm). Target: 4 targets < 1.5 × one target (one fetch per event, local clones).
 *    Baseline in the same run: one plain `git clone` of the same repository.
 * 2. Webhook answer latency while a 4-target preparation runs: the whole app (AppModule, intake and
 *    the builds handler) on 127.0.0.1, one signed `bot:build` delivery, then 50 signed deliveries of
 *    a non-build label spread over the preparation. Target: answered within 20 ms. Baseline: the
 *    same 50 deliveries with nothing running.
 *
 * Run by bench/run.ts; alone: `node --expose-gc dist-bench/bench/builds.bench.js`.
 */
import { Logger, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { execFile } from 'node:child_process';
import { Agent, request, type Server } from 'node:http';
import { accessSync, constants, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { AppModule } from '../src/app.module.js';
import type { BuildsService } from '../src/builds/builds.service.js';
import type { AppConfig } from '../src/config/app-config.js';
import { EventDispatcher } from '../src/intake/event-dispatcher.js';
import { GitHubClient, GITHUB_CLIENT_OPTIONS } from '../src/github/github.client.js';
import { SLURM } from '../src/slurm/slurm.tokens.js';
import { FakeGitHub, FAST_GITHUB_CLIENT_OPTIONS } from '../test/fakes/fake-github.server.js';
import { FakeSlurm } from '../test/fakes/fake-slurm.js';
import { newBuildsService } from '../test/support/builds-module.js';
import { createGitFixture, type GitFixture } from '../test/support/git-fixture.js';
import { generateAppKeys, makeConfig, type AppKeys } from '../test/support/make-config.js';
import { labeledPullRequestPayload } from '../test/support/payloads.js';
import { signedDelivery } from '../test/support/signed-delivery.js';
import { githubAppSettingsOf } from '../src/app-options.js';

const EXTRA_FILES = 20_000;
const RUNS = 3;
const PROBES = 50;
const SECRET = 'bench-secret';
const TARGETS_4: Record<string, string> = {
  'linux/x86_64/amd/zen2': '--constraint shape=c5a.2xlarge',
  'linux/x86_64/amd/zen3': '--constraint shape=c6a.2xlarge',
  'linux/x86_64/intel/haswell': '--constraint shape=c4.2xlarge',
  'linux/aarch64/generic': '--partition arm --constraint shape=c6g.2xlarge',
};
const TARGETS_1: Record<string, string> = {
  'linux/x86_64/amd/zen2': TARGETS_4['linux/x86_64/amd/zen2'],
};

const execFileAsync = promisify(execFile);
/** USER_HZ: what /proc reports times in; 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS = 100;
const round = (n: number) => Math.round(n * 100) / 100;
const sorted = (xs: readonly number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: readonly number[]) => sorted(xs)[Math.floor(xs.length / 2)];
const quantile = (xs: readonly number[], q: number) =>
  sorted(xs)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Env {
  readonly fixture: GitFixture;
  readonly keys: AppKeys;
  readonly github: FakeGitHub;
}

function benchConfig(env: Env, root: string, targets: Record<string, string>): AppConfig {
  return makeConfig({
    root,
    github: { privateKey: env.keys.privateKey, apiUrl: env.github.url, webhookSecret: SECRET },
    buildenv: {
      slurmParams: '--hold --time=4:0:0',
      httpProxy: 'http://proxy:3128',
      cvmfsCustomizations: { '/etc/cvmfs/default.local': 'CVMFS_HTTP_PROXY="http://proxy:3128"' },
    },
    architectureTargets: { archTargetMap: targets },
  });
}

function payloadJson(env: Env, label: string, number: number): string {
  return JSON.stringify(
    labeledPullRequestPayload({
      label,
      sender: 'alice',
      repo: env.fixture.repo,
      base: { ref: env.fixture.baseRef },
      number,
      head: { sha: env.fixture.headSha[number] ?? 'f'.repeat(40) },
    }),
  );
}

/** Job comments land on the build PR only (the probes use other PRs and post nothing). */
function commentsOnPr(env: Env): number {
  return env.github.comments(env.fixture.repo, env.fixture.cleanPr).length;
}

// ---------------------------------------------------------------- 1. labeled → all jobs commented

interface Case {
  readonly name: string;
  readonly targets: number;
  readonly config: AppConfig;
  readonly slurm: FakeSlurm;
  readonly builds: BuildsService;
}

function makeCase(
  env: Env,
  client: GitHubClient,
  root: string,
  name: string,
  targets: Record<string, string>,
): Case {
  const config = benchConfig(env, root, targets);
  const slurm = new FakeSlurm();
  const builds = newBuildsService(config, slurm, client);
  return { name, targets: Object.keys(targets).length, config, slurm, builds };
}

let deliveries = 0;

/**
 * CPU seconds (user + sys) of every git the bot ran: those of this process's finished children
 * (the plain clone) and those of the command helper's (runCommand forks git from
 * common/command-helper.cjs), with the helper's own. Unlike wall time, barely moved by other load
 * on the machine. Linux only (undefined elsewhere).
 */
function childCpuSeconds(): number | undefined {
  try {
    // Fields after the parenthesised command name: utime, stime, cutime, cstime are the
    // 14th to 17th of proc(5), so 11 to 14 here.
    const fieldsOf = (pid: string) => {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat
        .slice(stat.lastIndexOf(')') + 2)
        .split(' ')
        .map(Number);
    };
    const own = fieldsOf('self');
    let ticks = own[13] + own[14];
    for (const pid of childPids()) {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('command-helper.cjs')) {
        const helper = fieldsOf(pid);
        ticks += helper[11] + helper[12] + helper[13] + helper[14];
      }
    }
    return ticks / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** Pids of this process's running children (all its threads'). */
function childPids(): string[] {
  return readdirSync('/proc/self/task').flatMap((tid) =>
    readFileSync(`/proc/self/task/${tid}/children`, 'utf8').split(' ').filter(Boolean),
  );
}

interface Timed {
  readonly ms: number;
  readonly gitCpuS: number;
}

/** One delivery handled to the end; fails unless every target got a job and a comment. */
async function timeDelivery(env: Env, c: Case): Promise<Timed> {
  const payload = JSON.parse(payloadJson(env, 'bot:build', env.fixture.cleanPr)) as Record<
    string,
    unknown
  >;
  const jobsBefore = c.slurm.jobs().length;
  const commentsBefore = commentsOnPr(env);
  const id = `bench-builds-${c.name}-${++deliveries}`;
  const cpu0 = childCpuSeconds() ?? NaN;
  const t0 = performance.now();
  await c.builds.handleLabeled({ id, receivedAt: new Date().toISOString(), payload });
  const ms = performance.now() - t0;
  const gitCpuS = (childCpuSeconds() ?? NaN) - cpu0;
  const jobs = c.slurm.jobs().length - jobsBefore;
  const comments = commentsOnPr(env) - commentsBefore;
  if (jobs !== c.targets || comments !== c.targets) {
    throw new Error(`${id}: ${jobs} jobs and ${comments} comments, expected ${c.targets} of each`);
  }
  // 20,000 files per target dir add up quickly; the next run starts from an empty jobs dir.
  await rm(c.config.buildenv.jobsBaseDir, { recursive: true, force: true });
  return { ms, gitCpuS };
}

/** What any implementation costs at least: one clone (fetch + checkout) of the repository. */
async function timePlainClone(env: Env, root: string): Promise<Timed> {
  const dir = join(root, 'plain-clone');
  const cpu0 = childCpuSeconds() ?? NaN;
  const t0 = performance.now();
  await execFileAsync('git', ['clone', '--quiet', '--', env.fixture.url, dir]);
  const ms = performance.now() - t0;
  const gitCpuS = (childCpuSeconds() ?? NaN) - cpu0;
  await rm(dir, { recursive: true, force: true });
  return { ms, gitCpuS };
}

async function benchPreparation(env: Env): Promise<Record<string, number | string>> {
  const root = await mkdtemp(join(tmpdir(), 'eessi-bot-bench-builds-'));
  try {
    // One client for both cases, as in the app, with its installation token minted beforehand:
    // neither case pays for the token.
    const client = new GitHubClient(
      githubAppSettingsOf(benchConfig(env, root, TARGETS_1)),
      FAST_GITHUB_CLIENT_OPTIONS,
    );
    await client.installationToken();
    const one = makeCase(env, client, join(root, 'one'), 'one', TARGETS_1);
    const four = makeCase(env, client, join(root, 'four'), 'four', TARGETS_4);
    const clone: Timed[] = [];
    const ms1: Timed[] = [];
    const ms4: Timed[] = [];
    // Interleaved, so that drift of the machine (page cache, other load) hits every case alike;
    // the plain clone goes first and also warms the page cache for the repository's objects.
    for (let i = 0; i < RUNS; i++) {
      clone.push(await timePlainClone(env, root));
      if (i % 2 === 0) {
        ms1.push(await timeDelivery(env, one));
        ms4.push(await timeDelivery(env, four));
      } else {
        ms4.push(await timeDelivery(env, four));
        ms1.push(await timeDelivery(env, one));
      }
    }
    const wall = (xs: Timed[]) => median(xs.map((x) => x.ms));
    const cpu = (xs: Timed[]) => median(xs.map((x) => x.gitCpuS));
    const all = (xs: Timed[]) => xs.map((x) => Math.round(x.ms)).join(' / ');
    return {
      'base repository files': EXTRA_FILES + 3,
      runs: RUNS,
      'baseline: one plain git clone ms (median)': Math.round(wall(clone)),
      'plain git clone ms (all runs)': all(clone),
      '1 target: labeled → submitted + commented ms (median)': Math.round(wall(ms1)),
      '1 target ms (all runs)': all(ms1),
      '4 targets: labeled → submitted + commented ms (median)': Math.round(wall(ms4)),
      '4 targets ms (all runs)': all(ms4),
      'ratio 4 targets / 1 target, of medians (target < 1.5)': round(wall(ms4) / wall(ms1)),
      // Runs i of both cases are adjacent in time: their ratios suffer least from outside load.
      'ratio 4 / 1 per run (adjacent pairs)': ms4
        .map((x, i) => round(x.ms / ms1[i].ms))
        .join(' / '),
      'ratio 4 / 1, best run of each': round(
        Math.min(...ms4.map((x) => x.ms)) / Math.min(...ms1.map((x) => x.ms)),
      ),
      'ratio 1 target / plain clone': round(wall(ms1) / wall(clone)),
      'git CPU s, plain clone / 1 target / 4 targets (median)': [clone, ms1, ms4]
        .map((xs) => round(cpu(xs)))
        .join(' / '),
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- 2. webhook latency meanwhile

export function post(agent: Agent, port: number, body: string, headers: Record<string, string>) {
  return new Promise<number>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/',
        method: 'POST',
        agent,
        headers: { ...headers, 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

interface Sender {
  /** Posts one signed pull_request delivery; resolves with its answer time in ms. */
  send(label: string, number: number): Promise<number>;
  close(): void;
}

function sender(env: Env, port: number): Sender {
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  return {
    async send(label, number) {
      const { body, headers } = await signedDelivery(payloadJson(env, label, number), {
        secret: SECRET,
        id: `bench-intake-${++deliveries}`,
      });
      const t0 = performance.now();
      const status = await post(agent, port, body, headers);
      const ms = performance.now() - t0;
      if (status !== 202) {
        throw new Error(`webhook answered ${status}, expected 202`);
      }
      return ms;
    },
    close: () => agent.destroy(),
  };
}

/**
 * The 50 probes, one at a time, `gapMs` apart. Other PRs than the build's: each runs the builds
 * handler (label `bug`: nothing to do) in its own dispatcher lane while the preparation goes on.
 */
async function probe(send: Sender, fsyncDir: string, gapMs: number, inProgress: () => boolean) {
  const all: number[] = [];
  /** Probes sent and answered while the preparation was still running. */
  const during: number[] = [];
  const fsyncs: number[] = [];
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < PROBES; i++) {
    const before = inProgress();
    const ms = await send.send('bug', 100 + i);
    all.push(ms);
    if (before && inProgress()) {
      during.push(ms);
    }
    fsyncs.push(await timeFsync(join(fsyncDir, `probe-${i}`)));
    await sleep(gapMs);
  }
  loop.disable();
  const cpu = process.cpuUsage(cpu0);
  return {
    all,
    during,
    fsyncs,
    loopP99Ms: loop.percentile(99) / 1e6,
    loopMaxMs: loop.max / 1e6,
    /** The bot's own CPU (this process: intake, dispatcher, handler, FakeGitHub, the probes). */
    processCpuMs: (cpu.user + cpu.system) / 1000,
  };
}

/**
 * What the disk alone costs the intake: it answers only after fsync-ing each delivery. A small
 * file written and fsync-ed beside the inbox, right after each probe.
 */
async function timeFsync(path: string): Promise<number> {
  const t0 = performance.now();
  const file = await open(path, 'w');
  try {
    await file.writeFile('x'.repeat(1024));
    await file.sync();
  } finally {
    await file.close();
  }
  return performance.now() - t0;
}

async function benchWebhookDuringPreparation(
  env: Env,
  expectedPrepMs: number,
): Promise<Record<string, number | string>> {
  const root = await mkdtemp(join(tmpdir(), 'eessi-bot-bench-builds-intake-'));
  const config = benchConfig(env, root, TARGETS_4);
  const slurm = new FakeSlurm();
  const moduleRef = await Test.createTestingModule({
    imports: [AppModule.register({ config, eventHandler: true, jobManagerAutostart: false })],
  })
    .overrideProvider(SLURM)
    .useValue(slurm)
    .overrideProvider(GITHUB_CLIENT_OPTIONS)
    .useValue(FAST_GITHUB_CLIENT_OPTIONS)
    .compile();
  const app: INestApplication = moduleRef.createNestApplication({
    bodyParser: false,
    logger: ['error'],
  });
  await app.listen(0, '127.0.0.1');
  const port = ((app.getHttpServer() as Server).address() as AddressInfo).port;
  const send = sender(env, port);
  const dispatcher = app.get(EventDispatcher);
  try {
    // Warm-up and baseline: nothing else running.
    for (let i = 0; i < 20; i++) {
      await send.send('bug', 100 + i);
    }
    await dispatcher.drain();
    const fsyncDir = join(root, 'fsync-probe');
    await mkdir(fsyncDir, { recursive: true });
    const idle = await probe(send, fsyncDir, 5, () => false);
    await dispatcher.drain();

    const commentsBefore = commentsOnPr(env);
    const building = () => commentsOnPr(env) - commentsBefore < Object.keys(TARGETS_4).length;
    const t0 = performance.now();
    const buildAnswerMs = await send.send('bot:build', env.fixture.cleanPr);
    // Spread the probes over most of the preparation, checkouts included.
    const busy = await probe(send, fsyncDir, (expectedPrepMs * 0.7) / PROBES, building);
    while (building()) {
      if (performance.now() - t0 > 120_000) {
        throw new Error('the build delivery never completed');
      }
      await sleep(5);
    }
    const endToEndMs = performance.now() - t0;
    await dispatcher.drain();
    if (slurm.jobs().length !== 4) {
      throw new Error(`${slurm.jobs().length} jobs, expected 4`);
    }
    if (busy.during.length === 0) {
      throw new Error('the preparation ended before any probe was answered: nothing measured');
    }

    return {
      probes: PROBES,
      'idle: webhook p50 ms': round(quantile(idle.all, 0.5)),
      'idle: webhook p99 ms': round(quantile(idle.all, 0.99)),
      'idle: bare 1 KB write+fsync p50 / p99 ms': `${round(quantile(idle.fsyncs, 0.5))} / ${round(quantile(idle.fsyncs, 0.99))}`,
      'idle: event loop delay p99 / max ms': `${round(idle.loopP99Ms)} / ${round(idle.loopMaxMs)}`,
      'bot:build delivery answered in ms': round(buildAnswerMs),
      'probes answered while the 4-target preparation ran': `${busy.during.length}/${PROBES}`,
      'during preparation: webhook p50 ms': round(quantile(busy.during, 0.5)),
      'during preparation: webhook p99 ms (target <= 20)': round(quantile(busy.during, 0.99)),
      'during preparation: webhook max ms': round(Math.max(...busy.during)),
      'during preparation: bare 1 KB write+fsync p50 / p99 ms': `${round(quantile(busy.fsyncs, 0.5))} / ${round(quantile(busy.fsyncs, 0.99))}`,
      'during preparation: event loop delay p99 / max ms': `${round(busy.loopP99Ms)} / ${round(busy.loopMaxMs)}`,
      'during preparation: node process CPU ms': Math.round(busy.processCpuMs),
      'via webhook: POST → 4 jobs commented ms': Math.round(endToEndMs),
    };
  } finally {
    send.close();
    await app.close();
    await rm(root, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- both

/**
 * The base repository stands for GitHub, whose disk is not the bot's: it goes to tmpfs when there
 * is one, which saves most of the set-up time (20,000 files written and added), while the bot's
 * own directories stay in the ordinary temp dir, on the disk the measurements are about.
 */
export function createFixtureRemote(): GitFixture {
  const tmpfs = '/dev/shm';
  const saved = process.env.TMPDIR;
  try {
    if (statSync(tmpfs, { throwIfNoEntry: false })?.isDirectory()) {
      accessSync(tmpfs, constants.W_OK);
      // createGitFixture names its directory after os.tmpdir(), which reads TMPDIR each call.
      process.env.TMPDIR = tmpfs;
    }
  } catch {
    // Not writable: the ordinary temp dir, as everything else.
  }
  try {
    return createGitFixture({ extraFiles: EXTRA_FILES });
  } finally {
    if (saved === undefined) {
      delete process.env.TMPDIR;
    } else {
      process.env.TMPDIR = saved;
    }
  }
}

export async function benchBuilds(): Promise<Record<string, number | string>> {
  const t0 = performance.now();
  const loadAtStart = loadavg()[0];
  const fixture = createFixtureRemote();
  const restoreEnv = fixture.useEnv();
  const keys = generateAppKeys();
  const github = new FakeGitHub({ appId: 1, installationId: 2, publicKey: keys.publicKey });
  try {
    await github.start();
    const env: Env = { fixture, keys, github };
    const fixtureSeconds = (performance.now() - t0) / 1000;
    const preparation = await benchPreparation(env);
    const webhook = await benchWebhookDuringPreparation(
      env,
      Number(preparation['4 targets: labeled → submitted + commented ms (median)']),
    );
    return {
      'fixture setup s': round(fixtureSeconds),
      'fixture (stands for GitHub) in': dirname(fixture.root),
      'bot dirs in': tmpdir(),
      'load average 1 min, start / end': `${round(loadAtStart)} / ${round(loadavg()[0])}`,
      ...preparation,
      ...webhook,
    };
  } finally {
    await github.stop();
    restoreEnv();
    fixture.cleanup();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  Logger.overrideLogger(['error']);
  const started = performance.now();
  benchBuilds().then(
    (result) => {
      console.table(result);
      console.log(`total ${Math.round((performance.now() - started) / 1000)} s`);
      process.exit(0);
    },
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
