import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode } from 'ini';
import { BuildsService } from '../../src/builds/builds.service.js';
import { codeSpan, jobMarker } from '../../src/builds/job-comment.js';
import { JobStore } from '../../src/builds/job-store.js';
import type { AppConfig } from '../../src/config/app-config.js';
import type { QueuedJob, SubmitRequest } from '../../src/slurm/slurm.port.js';
import { FakeGitHub } from '../fakes/fake-github.server.js';
import { FakeSlurm } from '../fakes/fake-slurm.js';
import { compileBuildsModule } from '../support/builds-module.js';
import { createGitFixture, type GitFixture } from '../support/git-fixture.js';
import {
  generateAppKeys,
  makeConfig,
  type AppKeys,
  type ConfigParts,
} from '../support/make-config.js';
import {
  labeledPullRequestPayload,
  type LabeledPullRequestOverrides,
} from '../support/payloads.js';
import { captureNestLogs, cleanupAfterEach, quietNestLogger } from '../support/test-kit.js';

/**
 * The `bot:build` flow end to end, wired by Nest as in production (ConfigModule, GitHubModule,
 * BuildsModule), with real git against a local bare repository reached through insteadOf, the
 * real GitHubClient against FakeGitHub (a local HTTP server), and FakeSlurm behind the SLURM token.
 */

const RECEIVED_AT = '2024-03-31T23:59:59.000Z';
const MONTH = '2024.03';
const ZEN2 = 'linux/x86_64/amd/zen2';
const ARM = 'linux/aarch64/generic';
const TARGETS = {
  [ZEN2]: '--constraint "shape=c5a.2xlarge"',
  [ARM]: "--partition arm --constraint 'shape=c6g'",
};

// Each case runs real git several times; a slow CI disk must not turn that into a failure.
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

interface World {
  readonly root: string;
  readonly config: AppConfig;
  readonly jobsBaseDir: string;
  readonly github: FakeGitHub;
  readonly slurm: FakeSlurm;
  readonly builds: BuildsService;
  readonly store: JobStore;
  deliver(overrides?: LabeledPullRequestOverrides, id?: string): Promise<void>;
}

interface WorldOptions {
  readonly config?: Omit<ConfigParts, 'root'>;
  readonly slurm?: FakeSlurm;
  /** GitHubClient retries of 5xx/network errors (FakeGitHub answers fast either way). */
  readonly githubRetries?: number;
  readonly onGitHub?: (github: FakeGitHub) => void;
}

async function world(opts: WorldOptions = {}): Promise<World> {
  const root = await cleanup.tempDir('eessi-bot-builds-e2e-');
  const github = new FakeGitHub({ appId: 1, installationId: 2, publicKey: keys.publicKey });
  await github.start();
  cleanup.defer(() => github.stop());
  opts.onGitHub?.(github);
  const parts = opts.config ?? {};
  const config = makeConfig({
    root,
    ...parts,
    github: { privateKey: keys.privateKey, apiUrl: github.url, ...parts.github },
    buildenv: {
      slurmParams: '--hold --time=4:0:0 --mem "8G"',
      httpProxy: 'http://proxy:3128',
      httpsProxy: 'http://proxy:3129',
      loadModules: 'git/2.39',
      cvmfsCustomizations: {
        '/etc/cvmfs/default.local': 'CVMFS_HTTP_PROXY="http://proxy:3128"',
        '/etc/cvmfs/domain.d/eessi.io.local': 'CVMFS_SERVER_URL="http://stratum1/cvmfs/@fqrn@"',
      },
      ...parts.buildenv,
    },
    architectureTargets: { archTargetMap: TARGETS, ...parts.architectureTargets },
  });
  const slurm = opts.slurm ?? new FakeSlurm();
  const moduleRef = await compileBuildsModule(config, slurm, opts.githubRetries ?? 3);
  cleanup.defer(() => moduleRef.close());
  const builds = moduleRef.get(BuildsService);
  let deliveries = 0;
  return {
    root,
    config,
    jobsBaseDir: config.buildenv.jobsBaseDir,
    github,
    slurm,
    builds,
    store: moduleRef.get(JobStore),
    deliver: (overrides = {}, id = `delivery-${++deliveries}`) =>
      builds.handleLabeled({ id, receivedAt: RECEIVED_AT, payload: buildPayload(overrides) }),
  };
}

function buildPayload(overrides: LabeledPullRequestOverrides = {}): Record<string, unknown> {
  const number = overrides.number ?? fixture.cleanPr;
  return labeledPullRequestPayload({
    label: 'bot:build',
    sender: 'alice',
    repo: fixture.repo,
    base: { ref: fixture.baseRef },
    ...overrides,
    number,
    head: { sha: fixture.headSha[number] ?? 'f'.repeat(40), ...overrides.head },
  });
}

function submits(slurm: FakeSlurm): SubmitRequest[] {
  return slurm.callsOf('submit').map((call) => call.args[0] as SubmitRequest);
}

function eventDir(w: World, deliveryId: string, pr = fixture.cleanPr): string {
  return join(w.jobsBaseDir, MONTH, `pr_${pr}`, `event_${deliveryId}`);
}

function git(args: string[], cwd: string): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();
}

/** Every comment on the PR that carries the given job's marker. */
function jobComments(w: World, jobId: string, pr = fixture.cleanPr) {
  return w.github
    .comments(fixture.repo, pr)
    .filter((c) => c.body.includes(jobMarker(jobId, w.config.github.appName)));
}

describe('a bot:build label', () => {
  it('prepares one merged job dir per target, submits each held, records it and comments once', async () => {
    const w = await world();
    await w.deliver({}, 'abc-123');

    const runDir = join(eventDir(w, 'abc-123'), 'run_001');
    expect(readdirSync(runDir).sort()).toEqual(['linux_aarch64_generic', 'linux_x86_64_amd_zen2']);
    const zen2Dir = join(runDir, 'linux_x86_64_amd_zen2');
    const armDir = join(runDir, 'linux_aarch64_generic');

    // The exact scheduler requests, in target order.
    const requests = submits(w.slurm);
    const common = {
      jobName: 'eessi-bot-test-bot',
      script: w.config.buildenv.buildJobScript,
    };
    const scriptArgs = [
      '--tmpdir',
      '/tmp/$USER/EESSI',
      '--http-proxy',
      'http://proxy:3128',
      '--https-proxy',
      'http://proxy:3129',
      '--load-modules',
      'git/2.39',
    ];
    expect(requests).toEqual([
      {
        ...common,
        workDir: zen2Dir,
        schedulerArgs: [
          '--hold',
          '--time=4:0:0',
          '--mem',
          '8G',
          '--constraint',
          'shape=c5a.2xlarge',
        ],
        scriptArgs,
      },
      {
        ...common,
        workDir: armDir,
        schedulerArgs: [
          '--hold',
          '--time=4:0:0',
          '--mem',
          '8G',
          '--partition',
          'arm',
          '--constraint',
          'shape=c6g',
        ],
        scriptArgs: [...scriptArgs, '--generic'],
      },
    ]);
    const jobs = w.slurm.jobs();
    expect(jobs.map((j) => [j.id, j.workDir, j.held])).toEqual([
      ['1000', zen2Dir, true],
      ['1001', armDir, true],
    ]);

    // The checkout: the PR's head merged into the base branch.
    const mergeSha = git(['rev-parse', 'HEAD'], zen2Dir);
    expect(git(['rev-parse', 'HEAD^1', 'HEAD^2'], zen2Dir).split('\n')).toEqual([
      fixture.baseSha,
      fixture.headSha[1],
    ]);
    expect(git(['rev-parse', 'HEAD'], armDir)).toBe(mergeSha);
    expect(existsSync(join(zen2Dir, 'easystacks', 'eessi-2023.06-eb-4.9.0-2023b.yml'))).toBe(true);

    // cfg/job.cfg for the job script.
    const zen2Cfg = decode(readFileSync(join(zen2Dir, 'cfg', 'job.cfg'), 'utf8'));
    expect(zen2Cfg).toEqual({
      site_config: {
        local_tmp: '/tmp/$USER/EESSI',
        http_proxy: 'http://proxy:3128',
        https_proxy: 'http://proxy:3129',
        load_modules: 'git/2.39',
      },
      architecture: { software_subdir: 'x86_64/amd/zen2', os_type: 'linux', generic: false },
      repository: { repo: fixture.repo },
      pr: {
        repo: fixture.repo,
        pr_number: '1',
        base_ref: fixture.baseRef,
        base_sha: fixture.baseSha,
        head_sha: fixture.headSha[1],
        merge_sha: mergeSha,
      },
    });
    expect(decode(readFileSync(join(armDir, 'cfg', 'job.cfg'), 'utf8')).architecture).toEqual({
      software_subdir: 'aarch64/generic',
      os_type: 'linux',
      generic: true,
    });

    // cvmfs customizations, one file per basename.
    expect(readFileSync(join(zen2Dir, 'default.local'), 'utf8')).toBe(
      'CVMFS_HTTP_PROXY="http://proxy:3128"\n',
    );
    expect(readFileSync(join(zen2Dir, 'eessi.io.local'), 'utf8')).toBe(
      'CVMFS_SERVER_URL="http://stratum1/cvmfs/@fqrn@"\n',
    );

    // Records: symlinks and metadata with the comment id.
    for (const [jobId, dir] of [
      ['1000', zen2Dir],
      ['1001', armDir],
    ] as const) {
      expect(readlinkSync(join(w.jobsBaseDir, MONTH, 'pr_1', jobId))).toBe(dir);
      expect(readlinkSync(join(w.config.jobManager.jobIdsDir, 'submitted', jobId))).toBe(dir);
      const comments = jobComments(w, jobId);
      expect(comments).toHaveLength(1);
      const metadata = decode(readFileSync(join(dir, `_bot_job${jobId}.metadata`), 'utf8'));
      expect(metadata.PR).toEqual({
        repo: fixture.repo,
        pr_number: '1',
        pr_comment_id: String(comments[0].id),
      });
      expect(comments[0].body).toContain(`Job \`${jobId}\` on instance \`test-bot\``);
      expect(comments[0].body).toMatch(
        /\|[A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2} UTC \d{4}\|submitted\|job waits for release by job manager\|/,
      );
    }
    expect(jobComments(w, '1000')[0].body).toContain('`x86_64-amd-zen2`');
    expect(w.github.comments()).toHaveLength(2);

    // The per-event git cache is gone once the event is complete; job dirs stand alone.
    expect(existsSync(join(eventDir(w, 'abc-123'), '.git-cache'))).toBe(false);
    expect(git(['status', '--porcelain', '--untracked-files=no'], zen2Dir)).toBe('');
  });

  it('ignores other labels: no directory, no job, no comment', async () => {
    const w = await world();
    await w.deliver({ label: 'bot:deploy' });
    await w.deliver({ label: 'bot: build' });
    expect(existsSync(w.jobsBaseDir)).toBe(false);
    expect(w.slurm.calls).toEqual([]);
    expect(w.github.comments()).toEqual([]);
  });

  it('rejects a malformed payload with an error naming the delivery', async () => {
    const w = await world();
    await expect(
      w.builds.handleLabeled({
        id: 'bad-1',
        receivedAt: RECEIVED_AT,
        payload: { action: 'labeled' },
      }),
    ).rejects.toThrow(/delivery "bad-1": not a well-formed pull_request\.labeled payload/);
    await expect(
      w.builds.handleLabeled({ id: '../../x', receivedAt: RECEIVED_AT, payload: buildPayload() }),
    ).rejects.toThrow(/delivery id/);
    expect(w.slurm.calls).toEqual([]);
  });

  it('refuses a sender without build permission: one comment naming them as code, no job, even when handled twice', async () => {
    const w = await world({ config: { buildenv: { buildPermission: ['bob', 'Carol'] } } });
    const login = 'mallory`$(touch /tmp/x)';
    await w.deliver({ sender: login }, 'refuse-1');
    await w.deliver({ sender: login }, 'refuse-1');
    expect(w.slurm.calls).toEqual([]);
    const comments = w.github.comments(fixture.repo, 1);
    expect(comments).toHaveLength(1);
    expect(comments[0].body).toContain(
      `set by user ${codeSpan(login)}, but this user is not allowed`,
    );
    expect(comments[0].body).not.toContain('{build_labeler}');
    // Refusals leave nothing behind: not even the month or PR directory.
    expect(existsSync(w.jobsBaseDir)).toBe(false);

    // GitHub logins are case-insensitive.
    await w.deliver({ sender: 'carol' }, 'allowed-1');
    expect(submits(w.slurm)).toHaveLength(2);
  });

  it('a merge conflict: no job, one comment saying to rebase, with git’s first lines', async () => {
    const w = await world();
    await w.deliver({ number: fixture.conflictPr }, 'conflict-1');
    await w.deliver({ number: fixture.conflictPr }, 'conflict-1');
    expect(w.slurm.calls).toEqual([]);
    const comments = w.github.comments(fixture.repo, fixture.conflictPr);
    expect(comments).toHaveLength(1);
    expect(comments[0].body).toMatch(/because of conflicts/);
    expect(comments[0].body).toMatch(/Rebase the pull request on the base branch/);
    expect(comments[0].body).toMatch(/```\n[^]*README\.md[^]*\n```/);
    expect(readdirSync(join(eventDir(w, 'conflict-1', fixture.conflictPr), 'run_001'))).toEqual([]);
  });

  it('a PR head GitHub does not serve: no job, one comment about the failed fetch', async () => {
    const w = await world();
    await w.deliver({ number: 4242 }, 'missing-1');
    expect(w.slurm.calls).toEqual([]);
    const [comment, ...more] = w.github.comments(fixture.repo, 4242);
    expect(more).toEqual([]);
    expect(comment.body).toMatch(
      /could not fetch the base branch or the head of this pull request/,
    );
    expect(comment.body).toContain('refs/pull/4242/head');
  });

  it('sbatch refusing one target: the other is submitted, and one comment reports the failure with stderr', async () => {
    const slurm = new FakeSlurm();
    slurm.failNextSubmit(
      'sbatch: error: Batch job submission failed: Invalid feature specification\nsbatch: error: ``` fence in stderr\n',
    );
    const w = await world({ slurm });
    await w.deliver({}, 'sbatch-1');
    await w.deliver({}, 'sbatch-1');
    expect(submits(slurm)).toHaveLength(2);
    expect(slurm.jobs().map((j) => j.workDir)).toEqual([
      join(eventDir(w, 'sbatch-1'), 'run_001', 'linux_aarch64_generic'),
    ]);
    expect(jobComments(w, '1000')).toHaveLength(1);
    const failures = w.github
      .comments(fixture.repo, 1)
      .filter((c) => c.body.includes('could not submit'));
    expect(failures).toHaveLength(1);
    expect(failures[0].body).toContain('`x86_64-amd-zen2`');
    // The stderr sits in a fence longer than the backtick run inside it.
    expect(failures[0].body).toContain(
      '````\nsbatch: error: Batch job submission failed: Invalid feature specification\nsbatch: error: ``` fence in stderr\n````',
    );
    expect(w.github.comments()).toHaveLength(2);
  });

  it('hostile titles, branch names and logins never run, never leave jobs_base_dir, and job.cfg keeps them as data', async () => {
    const marker = join(tmpdir(), `eessi-pwned-${process.pid}-${Date.now()}`);
    const hostileBase = `main;$(touch\${IFS}${marker})\`touch\${IFS}${marker}\``;
    fixture.addBranch(hostileBase);
    const w = await world();
    await w.deliver(
      {
        title: `$(touch ${marker}); \`touch ${marker}\` ../../../etc ünïcødé\nnew line`,
        sender: `x\`$(touch ${marker})\``,
        base: { ref: hostileBase },
        head: { ref: `feature;touch ${marker}` },
      },
      'hostile-1',
    );
    expect(existsSync(marker)).toBe(false);
    expect(readdirSync(w.root).sort()).toEqual(['job_ids', 'jobs']);
    expect(readdirSync(join(w.jobsBaseDir, MONTH))).toEqual(['pr_1']);
    const zen2Dir = join(eventDir(w, 'hostile-1'), 'run_001', 'linux_x86_64_amd_zen2');
    expect(decode(readFileSync(join(zen2Dir, 'cfg', 'job.cfg'), 'utf8')).pr.base_ref).toBe(
      hostileBase,
    );
    expect(git(['rev-parse', 'HEAD^1'], zen2Dir)).toBe(fixture.baseSha);
    expect(submits(w.slurm)).toHaveLength(2);

    // A missing branch whose name is full of backticks: quoted in a fence it cannot close.
    await w.deliver({ base: { ref: `nope\`\`\`\`$(touch\${IFS}${marker})` } }, 'hostile-2');
    expect(existsSync(marker)).toBe(false);
    const failure = w.github
      .comments(fixture.repo, 1)
      .find((c) => c.body.includes('could not fetch'));
    expect(failure?.body).toMatch(/`````\n[^`]*nope````\$\(touch\$\{IFS\}[^\n]*\n[^]*`````/);
  });

  it('a duplicate delivery, sequential or concurrent, submits and comments once', async () => {
    const w = await world();
    await w.deliver({}, 'dup-1');
    await w.deliver({}, 'dup-1');
    await Promise.all([w.deliver({}, 'dup-2'), w.deliver({}, 'dup-2')]);
    expect(submits(w.slurm)).toHaveLength(4);
    expect(w.github.comments()).toHaveLength(4);
    expect(readdirSync(eventDir(w, 'dup-1'))).toEqual(['progress.json', 'run_001']);
    expect(readdirSync(eventDir(w, 'dup-2'))).toEqual(['progress.json', 'run_001']);
  });

  it('concurrent deliveries for one PR get their own directories and jobs', async () => {
    const w = await world();
    await Promise.all([w.deliver({}, 'conc-a'), w.deliver({}, 'conc-b')]);
    const dirs = submits(w.slurm).map((r) => r.workDir);
    expect(new Set(dirs).size).toBe(4);
    expect(dirs.filter((d) => d.startsWith(eventDir(w, 'conc-a') + '/'))).toHaveLength(2);
    expect(dirs.filter((d) => d.startsWith(eventDir(w, 'conc-b') + '/'))).toHaveLength(2);
    expect(w.github.comments()).toHaveLength(4);
    expect(readdirSync(join(w.jobsBaseDir, MONTH, 'pr_1')).sort()).toEqual([
      '1000',
      '1001',
      '1002',
      '1003',
      'event_conc-a',
      'event_conc-b',
    ]);
  });
});

/** FakeSlurm whose queue reports work dirs, as the port would with squeue's %Z (proposed). */
class FakeSlurmWithWorkDir extends FakeSlurm {
  override async listJobs(jobName: string): Promise<QueuedJob[]> {
    const jobs = await super.listJobs(jobName);
    return jobs.map((job) => ({ ...job, workDir: this.job(job.id)?.workDir }));
  }
}

/** The process "dies" in the first submit: before or after the scheduler queued the job. */
function crashingSubmit<T extends FakeSlurm>(
  slurm: T,
  when: 'before-queueing' | 'after-queueing',
): T {
  let crashed = false;
  const submit = slurm.submit.bind(slurm);
  slurm.submit = async (req) => {
    if (crashed) {
      return submit(req);
    }
    crashed = true;
    if (when === 'after-queueing') {
      await submit(req);
    }
    throw new Error('simulated crash');
  };
  return slurm;
}

describe('kill and restart: handling the delivery again completes it exactly once', () => {
  async function expectCompleteOnce(w: World, deliveryId: string): Promise<void> {
    expect(w.slurm.jobs()).toHaveLength(2);
    expect(new Set(w.slurm.jobs().map((j) => j.workDir)).size).toBe(2);
    for (const job of w.slurm.jobs()) {
      expect(jobComments(w, job.id)).toHaveLength(1);
    }
    expect(w.github.comments()).toHaveLength(2);
    expect(readdirSync(eventDir(w, deliveryId)).filter((n) => n.startsWith('run_'))).toEqual([
      'run_001',
    ]);
    const progress = JSON.parse(
      readFileSync(join(eventDir(w, deliveryId), 'progress.json'), 'utf8'),
    );
    expect(progress.done).toBe(true);
    // A third handling does nothing at all.
    const calls = w.slurm.calls.length;
    const requests = w.github.requests.length;
    await w.deliver({}, deliveryId);
    expect(w.slurm.calls.length).toBe(calls);
    expect(w.github.requests.length).toBe(requests);
  }

  it('at the tree step (git cannot run)', async () => {
    const w = await world();
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      await expect(w.deliver({}, 'crash-tree')).rejects.toThrow(/git/);
    } finally {
      process.env.PATH = path;
    }
    expect(w.slurm.calls).toEqual([]);
    await w.deliver({}, 'crash-tree');
    await expectCompleteOnce(w, 'crash-tree');
  });

  it('while sbatch runs, before the job is queued (the queue is empty on resume)', async () => {
    const w = await world({ slurm: crashingSubmit(new FakeSlurm(), 'before-queueing') });
    await expect(w.deliver({}, 'crash-sbatch')).rejects.toThrow('simulated crash');
    expect(w.slurm.jobs()).toEqual([]);
    await w.deliver({}, 'crash-sbatch');
    await expectCompleteOnce(w, 'crash-sbatch');
  });

  it('after sbatch queued the job, before its id was recorded (found again by work dir)', async () => {
    const w = await world({ slurm: crashingSubmit(new FakeSlurmWithWorkDir(), 'after-queueing') });
    await expect(w.deliver({}, 'crash-after-sbatch')).rejects.toThrow('simulated crash');
    expect(w.slurm.jobs()).toHaveLength(1);
    await w.deliver({}, 'crash-after-sbatch');
    expect(submits(w.slurm)).toHaveLength(2);
    await expectCompleteOnce(w, 'crash-after-sbatch');
  });

  it('after sbatch queued the job, when the queue does not show work dirs: never submitted twice, reported', async () => {
    const w = await world({ slurm: crashingSubmit(new FakeSlurm(), 'after-queueing') });
    const logs = captureNestLogs();
    await expect(w.deliver({}, 'crash-unknown')).rejects.toThrow('simulated crash');
    await w.deliver({}, 'crash-unknown');
    await w.deliver({}, 'crash-unknown');
    // The operator is told where to look, once: the third handling finds the delivery done.
    const jobDir = join(eventDir(w, 'crash-unknown'), 'run_001', 'linux_x86_64_amd_zen2');
    expect(logs.lines.filter((line) => line.startsWith('ERROR'))).toEqual([
      `ERROR delivery crash-unknown ${fixture.repo}#${fixture.cleanPr} target ${ZEN2}: interrupted while submitting in ${jobDir}; the queue cannot say whether the job exists (look for a job named ${w.config.buildenv.jobName} with that work dir: squeue -o '%i %Z'); not submitting again`,
    ]);
    expect(submits(w.slurm)).toHaveLength(2);
    expect(w.slurm.jobs()).toHaveLength(2);
    expect(jobComments(w, '1001')).toHaveLength(1);
    const notices = w.github
      .comments()
      .filter((c) => c.body.includes('cannot tell whether the scheduler received it'));
    expect(notices).toHaveLength(1);
    expect(notices[0].body).toContain('`x86_64-amd-zen2`');
    expect(w.github.comments()).toHaveLength(2);
  });

  it('while recording the job (job_ids_dir unusable)', async () => {
    const w = await world();
    const submittedDir = join(w.config.jobManager.jobIdsDir, 'submitted');
    execFileSync('mkdir', ['-p', w.config.jobManager.jobIdsDir]);
    writeFileSync(submittedDir, 'not a directory');
    await expect(w.deliver({}, 'crash-record')).rejects.toThrow();
    expect(w.slurm.jobs()).toHaveLength(1);
    rmSync(submittedDir);
    await w.deliver({}, 'crash-record');
    expect(submits(w.slurm)).toHaveLength(2);
    await expectCompleteOnce(w, 'crash-record');
  });

  it('while GitHub fails the job comments after every retry (jobs stay recorded, comments come later, once)', async () => {
    const w = await world({ githubRetries: 1 });
    // Two jobs, one attempt each (creating a comment is never retried blindly): both fail.
    w.github.failNext(2, { status: 503, method: 'POST', path: /\/comments$/ });
    await w.deliver({}, 'crash-github');
    expect(w.github.requestCount({ method: 'POST', path: /\/comments$/, status: 503 })).toBe(2);
    expect(w.slurm.jobs()).toHaveLength(2);
    expect(w.github.comments()).toEqual([]);
    const meta = await w.store.readMetadata('1000', w.slurm.jobs()[0].workDir);
    expect(meta?.commentId).toBeUndefined();
    await w.deliver({}, 'crash-github');
    await expectCompleteOnce(w, 'crash-github');
  });

  it('after GitHub created a job comment whose answer was lost (adopted by its marker, not posted again)', async () => {
    let lost = 0;
    const w = await world({
      githubRetries: 0,
      onGitHub: (github) =>
        github.addRoute('POST', '/repos/:owner/:repo/issues/:n/comments', (ctx) => {
          const comment = github.seedComment(
            `${ctx.params.owner}/${ctx.params.repo}`,
            Number(ctx.params.n),
            (ctx.body as { body: string }).body,
          );
          if (lost++ === 0) {
            return { status: 502, body: { message: 'Bad Gateway' } };
          }
          return { status: 201, body: { id: comment.id, body: comment.body } };
        }),
    });
    await w.deliver({}, 'crash-lost');
    expect(w.github.comments()).toHaveLength(2);
    await w.deliver({}, 'crash-lost');
    await expectCompleteOnce(w, 'crash-lost');
    const meta = await w.store.readMetadata('1000', w.slurm.jobs()[0].workDir);
    expect(meta?.commentId).toBe(jobComments(w, '1000')[0].id);
  });

  it('after GitHub created the refusal comment whose answer was lost', async () => {
    let lost = 0;
    const w = await world({
      githubRetries: 0,
      config: { buildenv: { buildPermission: ['bob'] } },
      onGitHub: (github) =>
        github.addRoute('POST', '/repos/:owner/:repo/issues/:n/comments', (ctx) => {
          github.seedComment(
            `${ctx.params.owner}/${ctx.params.repo}`,
            Number(ctx.params.n),
            (ctx.body as { body: string }).body,
          );
          return lost++ === 0
            ? { status: 502, body: { message: 'Bad Gateway' } }
            : { status: 500, body: { message: 'posted twice' } };
        }),
    });
    await expect(w.deliver({}, 'crash-refusal')).rejects.toThrow(/502/);
    await w.deliver({}, 'crash-refusal');
    expect(w.github.comments()).toHaveLength(1);
    expect(w.slurm.calls).toEqual([]);
  });
});
