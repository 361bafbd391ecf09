import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Test } from '@nestjs/testing';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { githubModuleOptionsOf } from '../../src/app-options.js';
import { BuildsModule } from '../../src/builds/builds.module.js';
import { BuildsService } from '../../src/builds/builds.service.js';
import { jobMarker } from '../../src/builds/job-comment.js';
import { JobManagerModule } from '../../src/builds/job-manager.module.js';
import { JobManagerService } from '../../src/builds/job-manager.service.js';
import { JobStore } from '../../src/builds/job-store.js';
import { PrLifecycleService } from '../../src/builds/pr-lifecycle.service.js';
import type { AppConfig, ChatLevel } from '../../src/config/app-config.js';
import { ConfigModule } from '../../src/config/config.module.js';
import { DEFAULT_BOT_CONTROL, DEFAULT_CLEAN_UP } from '../../src/config/upstream-defaults.js';
import { GITHUB_CLIENT_OPTIONS } from '../../src/github/github.client.js';
import { GitHubModule } from '../../src/github/github.module.js';
import { SLURM } from '../../src/slurm/slurm.tokens.js';
import { FakeGitHub, FAST_GITHUB_CLIENT_OPTIONS } from '../fakes/fake-github.server.js';
import { FakeSlurm } from '../fakes/fake-slurm.js';
import { createGitFixture, type GitFixture } from '../support/git-fixture.js';
import { generateAppKeys, makeConfig, type AppKeys } from '../support/make-config.js';
import { labeledPullRequestPayload, type Json } from '../support/payloads.js';
import { cleanupAfterEach, quietNestLogger } from '../support/test-kit.js';

/**
 * A PR's life after its build: closed or merged (jobs cancelled, job dirs to the trash bin) and
 * new pushes (superseded jobs cancelled), end to end with real git, the real GitHubClient against
 * FakeGitHub, FakeSlurm, and the job manager ticking in between.
 */

const BUILT_AT = '2024-03-31T23:59:59.000Z';
const MONTH = '2024.03';
const CLOSED_AT = '2024-04-02T10:00:00.000Z';
const TRASH_DAY = '2024.04.02';
const TARGETS = {
  'linux/x86_64/amd/zen2': '--constraint shape=c5a',
  'linux/aarch64/generic': '--partition arm',
};
const NEW_HEAD = 'a'.repeat(40);

jest.setTimeout(30_000);

let fixture: GitFixture;
let restoreEnv: () => void;
let keys: AppKeys;
const cleanup = cleanupAfterEach();

quietNestLogger();
beforeAll(() => {
  fixture = createGitFixture();
  restoreEnv = fixture.useEnv();
  keys = generateAppKeys();
});

afterAll(() => {
  restoreEnv();
  fixture.cleanup();
});

interface WorldOptions {
  readonly chatlevel?: ChatLevel;
  readonly cancelOnClose?: boolean;
  readonly cancelOnPush?: boolean;
  readonly checkRuns?: boolean;
}

async function world(opts: WorldOptions = {}) {
  const root = await cleanup.tempDir('eessi-bot-lifecycle-e2e-');
  const github = new FakeGitHub({ appId: 1, installationId: 2, publicKey: keys.publicKey });
  await github.start();
  cleanup.defer(() => github.stop());
  const trashBinDir = join(root, 'trash');
  const config: AppConfig = makeConfig({
    root,
    github: { privateKey: keys.privateKey, apiUrl: github.url, checkRuns: opts.checkRuns ?? false },
    buildenv: { cancelOnPush: opts.cancelOnPush ?? false },
    architectureTargets: { archTargetMap: TARGETS },
    rest: {
      botControl: { ...DEFAULT_BOT_CONTROL, chatlevel: opts.chatlevel ?? 'chatty' },
      cleanUp: {
        ...DEFAULT_CLEAN_UP,
        trashBinDir,
        cancelOnClose: opts.cancelOnClose ?? true,
      },
    },
  });
  const slurm = new FakeSlurm();
  const moduleRef = await Test.createTestingModule({
    imports: [
      ConfigModule.forConfig(config),
      GitHubModule.register(githubModuleOptionsOf(config)),
      BuildsModule,
      JobManagerModule.register({ autostart: false }),
    ],
  })
    .overrideProvider(SLURM)
    .useValue(slurm)
    .overrideProvider(GITHUB_CLIENT_OPTIONS)
    .useValue(FAST_GITHUB_CLIENT_OPTIONS)
    .compile();
  cleanup.defer(() => moduleRef.close());
  const pr = fixture.cleanPr;
  const payload = (action: string, extra: (p: Json) => void = () => undefined): Json => {
    const p = labeledPullRequestPayload({
      label: 'bot:build',
      sender: 'alice',
      repo: fixture.repo,
      base: { ref: fixture.baseRef },
      number: pr,
      head: { sha: fixture.headSha[pr] },
    });
    p.action = action;
    extra(p);
    return p;
  };
  const lifecycle = moduleRef.get(PrLifecycleService);
  return {
    root,
    config,
    github,
    slurm,
    trashBinDir,
    store: moduleRef.get(JobStore),
    manager: moduleRef.get(JobManagerService),
    prDir: join(config.buildenv.jobsBaseDir, MONTH, `pr_${pr}`),
    trashPrDir: join(trashBinDir, fixture.repo, TRASH_DAY, MONTH, `pr_${pr}`),
    build: () =>
      moduleRef.get(BuildsService).handleLabeled({
        id: 'build-1',
        receivedAt: BUILT_AT,
        payload: payload('labeled'),
      }),
    close: (id = 'close-1', merged = true) =>
      lifecycle.handleClosed({
        id,
        receivedAt: CLOSED_AT,
        payload: payload('closed', (p) => {
          delete p.label;
          p.pull_request.state = 'closed';
          p.pull_request.merged = merged;
        }),
      }),
    push: (id = 'push-1') =>
      lifecycle.handleSynchronize({
        id,
        receivedAt: CLOSED_AT,
        payload: payload('synchronize', (p) => {
          delete p.label;
          p.before = fixture.headSha[pr];
          p.after = NEW_HEAD;
          p.pull_request.head.sha = NEW_HEAD;
        }),
      }),
    jobComment: (jobId: string) =>
      github
        .comments(fixture.repo, pr)
        .find((c) => c.body.includes(jobMarker(jobId, config.github.appName)))!,
    otherComments: () =>
      github.comments(fixture.repo, pr).filter((c) => !c.body.includes('<!-- bot:job ')),
  };
}

type World = Awaited<ReturnType<typeof world>>;

function jobIds(w: World): string[] {
  return w.slurm
    .jobs()
    .map((job) => job.id)
    .sort();
}

/** Every file under `dir`, relative, sorted: what a move must keep. */
function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) =>
      entry.isDirectory() && !entry.isSymbolicLink()
        ? filesUnder(join(dir, entry.name), `${prefix}${entry.name}/`)
        : [`${prefix}${entry.name}`],
    )
    .sort();
}

describe('a PR closed or merged', () => {
  it('cancels its running and waiting jobs, moves its job dirs to the trash bin and says where once', async () => {
    const w = await world();
    await w.build();
    const [running, waiting] = w.slurm.jobs().map((job) => job.id);
    expect((await w.manager.tick()).released).toEqual([running, waiting]);
    w.slurm.start(running);
    expect((await w.manager.tick()).running).toEqual([running]);
    const before = filesUnder(w.prDir);

    await w.close();

    expect(w.slurm.callsOf('cancel').map((call) => call.args[0])).toEqual([running, waiting]);
    for (const jobId of [running, waiting]) {
      expect(w.jobComment(jobId).body).toMatch(/\|cancelled\|PR merged: job cancelled\|/);
      expect(await w.store.isFinished(jobId)).toBe(true);
    }
    expect(await w.store.listSubmittedIds()).toEqual([]);
    // Moved whole, nothing lost, nothing left behind.
    expect(existsSync(w.prDir)).toBe(false);
    const after = filesUnder(w.trashPrDir);
    expect(after.filter((name) => !name.endsWith('/6-cancelled'))).toEqual(before);
    expect(after.filter((name) => name.endsWith('/6-cancelled'))).toHaveLength(2);
    const moved = w.otherComments();
    expect(moved).toHaveLength(1);
    expect(moved[0].body).toContain(
      `PR merged! Moved \`${w.prDir}\` to \`${join(w.trashBinDir, fixture.repo, TRASH_DAY)}\``,
    );

    // The same delivery again (a redelivery, a resume): nothing more.
    const requests = w.github.requestCount();
    await w.close();
    expect(w.github.requestCount()).toBe(requests);
    expect(w.slurm.callsOf('cancel')).toHaveLength(2);
    // The job manager has nothing left to chase: no squeue, no GitHub request.
    expect((await w.manager.tick()).tracked).toBe(0);
    expect(w.github.requestCount()).toBe(requests);
  });

  it('cancels held jobs right after submission, and at chatlevel basic posts no move comment', async () => {
    const w = await world({ chatlevel: 'basic' });
    await w.build();
    const ids = jobIds(w);
    expect(w.slurm.jobs().every((job) => job.held)).toBe(true);

    await w.close('close-1', false);

    for (const jobId of ids) {
      expect(w.jobComment(jobId).body).toMatch(/\|cancelled\|PR closed: job cancelled\|/);
    }
    expect(w.slurm.jobs().every((job) => job.state === 'CANCELLED')).toBe(true);
    expect(existsSync(w.prDir)).toBe(false);
    expect(existsSync(w.trashPrDir)).toBe(true);
    expect(w.otherComments()).toEqual([]);
  });

  it('after a crash between the moves and the comment, completes both once', async () => {
    const w = await world();
    await w.build();
    const before = filesUnder(w.prDir);
    const trashDay = join(w.trashBinDir, fixture.repo, TRASH_DAY);
    // What the first attempt left: targets recorded, the dir moved, the comment being posted.
    const eventDir = join(w.config.jobManager.jobIdsDir, 'pr_events', 'event_close-1');
    mkdirSync(join(trashDay, MONTH), { recursive: true });
    renameSync(w.prDir, w.trashPrDir);
    mkdirSync(eventDir, { recursive: true });
    writeFileSync(
      join(eventDir, 'progress.json'),
      JSON.stringify({
        version: 1,
        deliveryId: 'close-1',
        repo: fixture.repo,
        prNumber: fixture.cleanPr,
        targets: {},
        notices: { 'moved-job-dirs': { posting: true } },
        cleanUp: { trashBinDir: trashDay, moves: [{ from: w.prDir, to: w.trashPrDir }] },
      }),
    );

    await w.close();
    await w.close();

    expect(filesUnder(w.trashPrDir)).toEqual(before);
    expect(w.otherComments()).toHaveLength(1);
  });

  it('with cancel_on_close = false leaves unfinished jobs running and their dirs in place', async () => {
    const w = await world({ cancelOnClose: false });
    await w.build();
    const ids = jobIds(w);

    await w.close();

    expect(w.slurm.callsOf('cancel')).toEqual([]);
    expect((await w.store.listSubmittedIds()).sort()).toEqual(ids);
    expect(existsSync(w.prDir)).toBe(true);
    expect(w.otherComments()).toEqual([]);
    for (const jobId of ids) {
      expect(w.jobComment(jobId).body).not.toContain('cancelled');
    }
  });
});

describe('a new push to a PR', () => {
  it('with cancel_on_push cancels the waiting jobs of the old head, naming the new commit', async () => {
    const w = await world({ cancelOnPush: true });
    await w.build();
    const [running, held] = w.slurm.jobs().map((job) => job.id);
    await w.manager.tick();
    w.slurm.start(running);
    await w.manager.tick();
    w.slurm.hold(held, 'user');

    await w.push();

    expect(w.slurm.callsOf('cancel').map((call) => call.args[0])).toEqual([held]);
    expect(w.jobComment(held).body).toContain(
      `|cancelled|job cancelled: superseded by commit \`${NEW_HEAD}\` (was \`${fixture.headSha[fixture.cleanPr]}\`)|`,
    );
    expect(w.jobComment(running).body).not.toContain('cancelled');
    expect(await w.store.listSubmittedIds()).toEqual([running]);
    // Dirs stay: the PR is still open.
    expect(existsSync(w.prDir)).toBe(true);
  });

  it('without cancel_on_push (the default) leaves every job alone', async () => {
    const w = await world();
    await w.build();
    const ids = jobIds(w);

    await w.push();

    expect(w.slurm.callsOf('cancel')).toEqual([]);
    expect(w.slurm.callsOf('listJobs')).toEqual([]);
    expect((await w.store.listSubmittedIds()).sort()).toEqual(ids);
  });
});

describe('check runs ([github] check_runs = true)', () => {
  it('follow each job queued → in_progress → completed, sending requests only when a job changes', async () => {
    const w = await world({ checkRuns: true });
    await w.build();
    const [done, cancelled] = w.slurm.jobs().map((job) => job.id);
    const head = fixture.headSha[fixture.cleanPr];
    const name = (target: string) => `${w.config.github.appName}: ${target}`;
    const runs = () => w.github.checkRuns(fixture.repo);
    expect(runs().map((run) => [run.name, run.headSha, run.status])).toEqual([
      [name('linux/x86_64/amd/zen2'), head, 'queued'],
      [name('linux/aarch64/generic'), head, 'queued'],
    ]);
    const ids = runs().map((run) => run.id);
    for (const [i, jobId] of [done, cancelled].entries()) {
      const dir = await w.store.submittedJobDir(jobId);
      expect(readFileSync(join(dir, `_bot_job${jobId}.metadata`), 'utf8')).toContain(
        `check_run_id = ${ids[i]}`,
      );
    }

    const beforeRelease = w.github.requestCount();
    await w.manager.tick(); // released: the checks stay queued, and so do the comments
    expect(w.github.requestCount()).toBe(beforeRelease);
    w.slurm.start(done);
    await w.manager.tick(); // running
    const dir = await w.store.submittedJobDir(done);
    writeFileSync(join(dir, `slurm-${done}.out`), 'No missing modules!\n');
    writeFileSync(join(dir, 'eessi-2023.06-software-linux-x86_64-amd-zen2-1.tar.gz'), 'x');
    w.slurm.finish(done);
    await w.manager.tick(); // finished
    const idle = w.github.requestCount();
    await w.manager.tick();
    await w.manager.tick();
    expect(w.github.requestCount()).toBe(idle);
    await w.close();

    const [first, second] = runs();
    expect(first.history.map((s) => s.status)).toEqual(['queued', 'in_progress', 'completed']);
    expect(first.conclusion).toBe('success');
    expect(first.summary).toContain('SUCCESS tarball');
    expect(first.summary).toContain(`job dir \`${join(w.prDir, done)}\``);
    expect(second.history.map((s) => s.status)).toEqual(['queued', 'completed']);
    expect(second.conclusion).toBe('cancelled');
    expect(second.summary).toContain('PR merged: job cancelled');
    // Held back while the jobs waited, the released rows still reached both comments.
    const jobComments = w.github
      .comments(fixture.repo)
      .filter((c) => c.body.includes('|submitted|'));
    expect(jobComments).toHaveLength(2);
    for (const comment of jobComments) {
      expect(comment.body).toContain('|released|');
    }

    // Requests over the jobs' lives. Comments: the finished job 3 (create; running with the
    // released row; finished), the cancelled one 2 (create; cancelled with the released row),
    // plus the move comment. Check runs: 3 (create queued; in_progress; completed) and 2 (create;
    // completed): each sent in the tick that edits the comment, none on an idle tick. So the job
    // manager sends at most 4 per job: 2 comment edits and 2 check-run updates.
    const checkRequests = w.github.requestCount({ path: /\/check-runs/ });
    const commentRequests = w.github.requestCount({ path: /\/comments/ });
    expect({ checkRequests, commentRequests }).toEqual({
      checkRequests: 3 + 2,
      commentRequests: 3 + 2 + 1,
    });
  });

  it('are not created when check_runs is off', async () => {
    const w = await world();
    await w.build();
    await w.manager.tick();
    expect(w.github.checkRuns()).toEqual([]);
    expect(w.github.requestCount({ path: /\/check-runs/ })).toBe(0);
  });
});
