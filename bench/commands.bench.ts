/**
 * Commands benchmark (issue #13), on the 20,000-file repository of the builds benchmark: the
 * whole app (AppModule: intake, dispatcher, commands, builds) on 127.0.0.1 with FakeGitHub and
 * FakeSlurm, a v0.9 config with 4 node types, and signed `issue_comment` deliveries of
 * `bot: build for:arch=x86_64/amd/zen4`, which matches all 4.
 *
 * - first reply: from sending the delivery to the reply comment existing on FakeGitHub
 *   (target: within 2 s);
 * - webhook answer of the command delivery, against the answers of ordinary deliveries
 *   (a non-build label) in the same run (target: as fast);
 * - POST → reply edited with the 4 jobs (submitted and commented), for scale.
 *
 * Run by bench/run.ts; alone: `node --expose-gc dist-bench/bench/commands.bench.js`.
 */
import { Logger, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Agent, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { AppModule } from '../src/app.module.js';
import type { AppConfig, NodeType } from '../src/config/app-config.js';
import { GITHUB_CLIENT_OPTIONS } from '../src/github/github.client.js';
import { EventDispatcher } from '../src/intake/event-dispatcher.js';
import { SLURM } from '../src/slurm/slurm.tokens.js';
import { FakeGitHub, FAST_GITHUB_CLIENT_OPTIONS } from '../test/fakes/fake-github.server.js';
import { FakeSlurm } from '../test/fakes/fake-slurm.js';
import type { GitFixture } from '../test/support/git-fixture.js';
import { generateAppKeys, makeConfig } from '../test/support/make-config.js';
import {
  fixturePullRequest,
  labeledPullRequestPayload,
  pullRequestCommentPayload,
} from '../test/support/payloads.js';
import { signBody } from '../test/support/signed-delivery.js';
import { createFixtureRemote, post } from './builds.bench.js';

const RUNS = 3;
const PROBES = 20;
const SECRET = 'bench-secret';
const REPOS = ['repo-a', 'repo-b', 'repo-c', 'repo-d'];
/** Four node types of one CPU subdir, one repository each: the command builds on all 4. */
const NODE_TYPES: NodeType[] = REPOS.map((repo, i) => ({
  name: `zen4-${i + 1}`,
  os: 'linux',
  cpuSubdir: 'x86_64/amd/zen4',
  slurmParams: `--partition zen4-${i + 1}`,
  repoTargets: [repo],
  accel: [],
}));

const round = (n: number) => Math.round(n * 100) / 100;
const sorted = (xs: readonly number[]) => [...xs].sort((a, b) => a - b);
const quantile = (xs: readonly number[], q: number) =>
  sorted(xs)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function benchConfig(root: string, github: FakeGitHub, privateKey: string): AppConfig {
  return makeConfig({
    root,
    github: { privateKey, apiUrl: github.url, webhookSecret: SECRET, appName: 'bench' },
    buildenv: { buildPermission: ['alice'], slurmParams: '--hold' },
    architectureTargets: { archTargetMap: {} },
    rest: {
      generation: 'v09',
      nodeTypes: NODE_TYPES,
      repoTargets: { repos: {} },
      botControl: {
        commandPermission: ['alice'],
        commandResponseFmt: '{app_name}\n{comment_response}\n{comment_result}',
        chatlevel: 'basic',
      },
    },
  });
}

let deliveries = 0;

async function send(
  agent: Agent,
  port: number,
  event: string,
  payload: unknown,
): Promise<{ ms: number; id: string }> {
  const body = JSON.stringify(payload);
  const id = `bench-commands-${++deliveries}`;
  const headers = {
    'content-type': 'application/json',
    'x-github-event': event,
    'x-github-delivery': id,
    'x-hub-signature-256': await signBody(SECRET, body),
  };
  const t0 = performance.now();
  const status = await post(agent, port, body, headers);
  const ms = performance.now() - t0;
  if (status !== 202) {
    throw new Error(`webhook answered ${status}, expected 202`);
  }
  return { ms, id };
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 120_000): Promise<number> {
  const t0 = performance.now();
  while (!check()) {
    if (performance.now() - t0 > timeoutMs) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await sleep(2);
  }
  return performance.now();
}

export async function benchCommands(): Promise<Record<string, number | string>> {
  const fixture: GitFixture = createFixtureRemote();
  const restoreEnv = fixture.useEnv();
  const keys = generateAppKeys();
  const github = new FakeGitHub({ appId: 1, installationId: 2, publicKey: keys.publicKey });
  const root = await mkdtemp(join(tmpdir(), 'eessi-bot-bench-commands-'));
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  let app: INestApplication | undefined;
  try {
    await github.start();
    const pr = fixture.cleanPr;
    github.seedPullRequest(fixture.repo, pr, fixturePullRequest(fixture, pr, fixture.headSha[pr]));
    const config = benchConfig(root, github, keys.privateKey);
    const slurm = new FakeSlurm();
    const moduleRef = await Test.createTestingModule({
      imports: [AppModule.register({ config, eventHandler: true, jobManagerAutostart: false })],
    })
      .overrideProvider(SLURM)
      .useValue(slurm)
      .overrideProvider(GITHUB_CLIENT_OPTIONS)
      .useValue(FAST_GITHUB_CLIENT_OPTIONS)
      .compile();
    app = moduleRef.createNestApplication({ bodyParser: false, logger: ['error'] });
    await app.listen(0, '127.0.0.1');
    const port = ((app.getHttpServer() as Server).address() as AddressInfo).port;
    const dispatcher = app.get(EventDispatcher);
    const label = (n: number) =>
      labeledPullRequestPayload({ label: 'bug', sender: 'alice', repo: fixture.repo, number: n });

    // Warm-up, then the baseline: ordinary deliveries (a label nobody acts on), nothing running.
    for (let i = 0; i < 10; i++) {
      await send(agent, port, 'pull_request', label(100 + i));
    }
    await dispatcher.drain();
    const ordinary: number[] = [];
    for (let i = 0; i < PROBES; i++) {
      ordinary.push((await send(agent, port, 'pull_request', label(200 + i))).ms);
    }
    await dispatcher.drain();

    const answers: number[] = [];
    /** An ordinary delivery sent right before each command: the same moment's conditions. */
    const paired: number[] = [];
    const firstReplies: number[] = [];
    const complete: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const jobsBefore = slurm.jobs().length;
      const payload = pullRequestCommentPayload({
        body: 'bot: build for:arch=x86_64/amd/zen4',
        sender: 'alice',
        repo: fixture.repo,
        number: pr,
      });
      paired.push((await send(agent, port, 'pull_request', label(300 + run))).ms);
      await dispatcher.drain();
      const t0 = performance.now();
      const { ms, id } = await send(agent, port, 'issue_comment', payload);
      answers.push(ms);
      const reply = () =>
        github.comments(fixture.repo, pr).find((c) => c.body.includes(`bot:reply ${id} `));
      firstReplies.push((await waitFor('the first reply', () => reply() !== undefined)) - t0);
      complete.push(
        (await waitFor('the reply with the jobs', () => (reply()?.history.length ?? 0) >= 2)) - t0,
      );
      await dispatcher.drain();
      const jobs = slurm.jobs().length - jobsBefore;
      if (jobs !== NODE_TYPES.length) {
        throw new Error(`${jobs} jobs, expected ${NODE_TYPES.length}`);
      }
      // 20,000 files per job dir add up: every run starts from an empty jobs dir.
      await rm(config.buildenv.jobsBaseDir, { recursive: true, force: true });
    }
    const all = (xs: number[]) => xs.map((x) => Math.round(x)).join(' / ');
    return {
      'base repository files': 20_003,
      'node types matched by the command': NODE_TYPES.length,
      runs: RUNS,
      'ordinary delivery: webhook answered p50 / max ms': `${round(quantile(ordinary, 0.5))} / ${round(Math.max(...ordinary))}`,
      'ordinary delivery right before each command: answered ms': paired.map(round).join(' / '),
      'bot: build delivery: webhook answered ms (all runs)': answers.map(round).join(' / '),
      'delivery → first reply ms (all runs; target < 2000)': all(firstReplies),
      'delivery → reply edited with 4 jobs ms (all runs)': all(complete),
    };
  } finally {
    agent.destroy();
    await app?.close();
    await github.stop();
    restoreEnv();
    fixture.cleanup();
    await rm(root, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  Logger.overrideLogger(['error']);
  benchCommands().then(
    (result) => {
      console.table(result);
      process.exit(0);
    },
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
