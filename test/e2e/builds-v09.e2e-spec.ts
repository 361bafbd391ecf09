import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
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
import { join } from 'node:path';
import { pullRequestContext } from '../../src/builds/build-plan.js';
import { parseBuildArguments } from '../../src/builds/build-request.js';
import {
  BuildsService,
  type BuildOutcome,
  type BuildRequestContext,
} from '../../src/builds/builds.service.js';
import { jobMarker } from '../../src/builds/job-comment.js';
import type { AppConfig, NodeType } from '../../src/config/app-config.js';
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
import { labeledPullRequestPayload } from '../support/payloads.js';
import { cleanupAfterEach } from '../support/test-kit.js';

/**
 * A v0.9-format config from a build request to submitted jobs: node types × repo targets, the
 * job dir layout, cfg/ files, the scheduler requests of both handover protocols, the comments
 * built from [submitted_job_comments], and handling the same request again after a crash.
 * Wired by Nest as in production, with real git, FakeGitHub (HTTP) and FakeSlurm.
 */

const RECEIVED_AT = '2025-01-15T12:00:00.000Z';
const MONTH = '2025.01';
const REPO_2023 = 'eessi.io-2023.06-software';
const REPO_2025 = 'eessi.io-2025.06-software';

const NODE_TYPES: NodeType[] = [
  {
    name: 'zen4',
    os: 'linux',
    cpuSubdir: 'x86_64/amd/zen4',
    slurmParams: '-p zen4 --constraint "shape=c7a.2xlarge"',
    repoTargets: [REPO_2023, REPO_2025],
    accel: [],
  },
  {
    name: 'zen4-h100',
    os: 'linux',
    cpuSubdir: 'x86_64/amd/zen4',
    slurmParams: '-p gpu --gpus=1',
    repoTargets: [REPO_2023],
    accel: ['nvidia/cc90'],
  },
  {
    name: 'graviton4',
    os: 'linux',
    cpuSubdir: 'aarch64/neoverse_v2',
    slurmParams: '-p arm',
    repoTargets: ['EESSI'],
    accel: [],
  },
];

jest.setTimeout(30_000);

let fixture: GitFixture;
let restoreEnv: () => void;
let keys: AppKeys;
const cleanup = cleanupAfterEach();

beforeAll(() => {
  Logger.overrideLogger(false);
  fixture = createGitFixture();
  restoreEnv = fixture.useEnv();
  keys = generateAppKeys();
});

afterAll(() => {
  restoreEnv();
  fixture.cleanup();
});

interface World {
  readonly config: AppConfig;
  readonly jobsBaseDir: string;
  readonly reposCfgDir: string;
  readonly github: FakeGitHub;
  readonly slurm: FakeSlurm;
  readonly builds: BuildsService;
  build(
    text: string,
    opts?: { id?: string; index?: number; sender?: string; pr?: number },
  ): Promise<BuildOutcome>;
}

async function world(
  parts: Omit<ConfigParts, 'root'> = {},
  slurm: FakeSlurm = new FakeSlurm(),
): Promise<World> {
  const root = mkdtempSync(join(tmpdir(), 'eessi-bot-v09-e2e-'));
  const github = new FakeGitHub({ appId: 1, installationId: 2, publicKey: keys.publicKey });
  await github.start();
  cleanup.defer(async () => {
    await github.stop();
    rmSync(root, { recursive: true, force: true });
  });
  const reposCfgDir = join(root, 'repos');
  mkdirSync(reposCfgDir);
  writeFileSync(
    join(reposCfgDir, 'repos.cfg'),
    `[${REPO_2023}]\nrepo_name = software.eessi.io\nrepo_version = 2023.06\n`,
  );
  writeFileSync(join(reposCfgDir, 'cvmfs-default.local'), 'CVMFS_HTTP_PROXY=DIRECT\n');
  const config = makeConfig({
    root,
    ...parts,
    github: { privateKey: keys.privateKey, apiUrl: github.url, appName: 'site-a', ...parts.github },
    buildenv: {
      buildPermission: ['alice'],
      slurmParams: '--hold --account=eessi',
      localTmp: '/tmp/$USER/EESSI',
      httpProxy: 'http://proxy:3128',
      buildLogsDir: '/shared/build_logs',
      sharedFsPath: '/shared',
      allowedExportVars: ['SKIP_TESTS=yes'],
      ...parts.buildenv,
    },
    architectureTargets: { archTargetMap: {} },
    rest: {
      generation: 'v09',
      nodeTypes: NODE_TYPES,
      repoTargets: {
        reposCfgDir,
        repos: {
          [REPO_2023]: {
            id: REPO_2023,
            repoName: 'software.eessi.io',
            repoVersion: '2023.06',
            configMap: {},
          },
        },
      },
      ...parts.rest,
    },
  });
  const moduleRef = await compileBuildsModule(config, slurm);
  cleanup.defer(() => moduleRef.close());
  const builds = moduleRef.get(BuildsService);
  let deliveries = 0;
  return {
    config,
    jobsBaseDir: config.buildenv.jobsBaseDir,
    reposCfgDir,
    github,
    slurm,
    builds,
    build: (text, opts = {}) => {
      const sender = opts.sender ?? 'alice';
      return builds.handleBuildRequest(
        context(opts.id ?? `delivery-${++deliveries}`, opts.index ?? 0, sender, opts.pr),
        parseBuildArguments(text, sender),
      );
    },
  };
}

function context(
  id: string,
  index: number,
  sender: string,
  pr = fixture.cleanPr,
): BuildRequestContext {
  const payload = labeledPullRequestPayload({
    sender,
    repo: fixture.repo,
    number: pr,
    base: { ref: fixture.baseRef },
    head: { sha: fixture.headSha[pr] },
  });
  return {
    ...pullRequestContext({
      deliveryId: id,
      receivedAt: RECEIVED_AT,
      sender,
      repository: payload.repository,
      pullRequest: payload.pull_request,
    }),
    requestIndex: index,
  };
}

function submits(slurm: FakeSlurm): SubmitRequest[] {
  return slurm.callsOf('submit').map((call) => call.args[0] as SubmitRequest);
}

function eventDir(w: World, id: string, pr = fixture.cleanPr): string {
  return join(w.jobsBaseDir, MONTH, `pr_${pr}`, `event_${id}`);
}

function git(args: string[], cwd: string): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();
}

function commentOf(w: World, jobId: string) {
  const found = w.github
    .comments(fixture.repo, fixture.cleanPr)
    .filter((c) => c.body.includes(jobMarker(jobId, 'site-a')));
  expect(found).toHaveLength(1);
  return found[0];
}

describe('a v0.9 build request', () => {
  it('native: one job per repo target of the matching CPU node type, laid out, configured, submitted and commented as v0.9 does', async () => {
    const w = await world();
    const outcome = await w.build('for:arch=x86_64/amd/zen4 exp:SKIP_TESTS=yes', { id: 'nat-1' });

    const runDir = join(eventDir(w, 'nat-1'), 'run_001');
    const dir2023 = join(runDir, 'x86_64', 'amd', 'zen4', REPO_2023);
    const dir2025 = join(runDir, 'x86_64', 'amd', 'zen4', REPO_2025);
    expect(outcome).toEqual({
      instance: 'site-a',
      request: 'for:arch=x86_64/amd/zen4 exp:SKIP_TESTS=yes',
      closest: [],
      jobs: [REPO_2023, REPO_2025].map((repoId, i) => ({
        instance: 'site-a',
        nodeType: 'zen4',
        forArch: 'x86_64/amd/zen4',
        forAccel: [],
        onArch: 'x86_64/amd/zen4',
        onAccel: [],
        repoId,
        jobId: String(1000 + i),
        commentId: expect.any(Number),
      })),
    });

    // The scheduler requests: site params, one --hold, the default time, the node's params.
    expect(submits(w.slurm)).toEqual([
      {
        workDir: dir2023,
        schedulerArgs: [
          '--account=eessi',
          '--hold',
          '--time=24:00:00',
          '-p',
          'zen4',
          '--constraint',
          'shape=c7a.2xlarge',
        ],
        jobName: w.config.buildenv.jobName,
        script: w.config.buildenv.buildJobScript,
        scriptArgs: [],
        hold: true,
      },
      expect.objectContaining({ workDir: dir2025 }),
    ]);

    // The PR merged into its base, cfg/ with the repos config, job.cfg and export_vars.sh.
    expect(git(['rev-parse', 'HEAD^1', 'HEAD^2'], dir2023).split('\n')).toEqual([
      fixture.baseSha,
      fixture.headSha[1],
    ]);
    expect(readFileSync(join(dir2023, 'cfg', 'repos.cfg'), 'utf8')).toContain('[eessi.io-2023.06');
    expect(readFileSync(join(dir2023, 'cfg', 'cvmfs-default.local'), 'utf8')).toBe(
      'CVMFS_HTTP_PROXY=DIRECT\n',
    );
    expect(readFileSync(join(dir2023, 'cfg', 'job.cfg'), 'utf8')).toBe(
      '[site_config]\nbuild_logs_dir = /shared/build_logs\nhttp_proxy = http://proxy:3128\nlocal_tmp = /tmp/$USER/EESSI\nshared_fs_path = /shared\n\n' +
        `[repository]\nrepos_cfg_dir = ${dir2023}/cfg\nrepo_id = ${REPO_2023}\nrepo_name = software.eessi.io\nrepo_version = 2023.06\n\n` +
        '[architecture]\nnode_type = zen4\nsoftware_subdir = x86_64/amd/zen4\nos_type = linux\naccelerator = \n\n',
    );
    expect(readFileSync(join(dir2025, 'cfg', 'job.cfg'), 'utf8')).toContain(
      `[repository]\nrepos_cfg_dir = ${dir2025}/cfg\nrepo_id = ${REPO_2025}\n\n`,
    );
    expect(readFileSync(join(dir2023, 'cfg', 'export_vars.sh'), 'utf8')).toBe(
      "export SKIP_TESTS='yes'\n",
    );

    // Records: pr_<N>/<ID> and submitted/<ID> links, v0.9's [PR] metadata plus our [JOB].
    const prDir = join(w.jobsBaseDir, MONTH, 'pr_1');
    expect(readlinkSync(join(prDir, '1000'))).toBe(dir2023);
    expect(readlinkSync(join(w.config.jobManager.jobIdsDir, 'submitted', '1001'))).toBe(dir2025);
    const comment = commentOf(w, '1000');
    const metadata = readFileSync(join(dir2023, '_bot_job1000.metadata'), 'utf8');
    expect(metadata).toMatch(
      new RegExp(
        `^\\[PR\\]\\nrepo = ${fixture.repo}\\npr_number = 1\\npr_comment_id = ${comment.id}\\n\\n\\[JOB\\]\\n`,
      ),
    );
    expect(metadata).toContain('requester = alice\nnode_type = zen4\nfor_arch = x86_64/amd/zen4\n');

    // The comment from [submitted_job_comments] (v0.9's default texts).
    expect(comment.body).toMatch(
      new RegExp(
        [
          `^New job on instance \`site-a\` for repository \`${REPO_2023}\``,
          'Building on: `x86_64/amd/zen4`',
          'Building for: `x86_64/amd/zen4`',
          `Job dir: \`${prDir}/1000\``,
          '\\|date\\|job status\\|comment\\|',
          '\\|-+\\|-+\\|-+\\|',
          '\\|[A-Z][a-z]{2} \\d{2} \\d{2}:\\d{2}:\\d{2} UTC 2\\d{3}\\|submitted\\|job id `1000` awaits release by job manager\\|',
          '',
          `<!-- bot:job 1000 site-a -->$`,
        ].join('\\n'),
      ),
    );
    expect(w.github.comments()).toHaveLength(2);
    expect(existsSync(join(eventDir(w, 'nat-1'), '.git-cache-0'))).toBe(false);
  });

  it('delayed_begin: not held, --begin from the poll interval, and the comment says when it starts', async () => {
    const w = await world({
      buildenv: {
        jobHandoverProtocol: 'delayed_begin',
        jobDelayBeginFactor: 1.5,
        slurmParams: '--hold -t 2:00:00',
      },
      jobManager: { pollIntervalSeconds: 80 },
    });
    await w.build('for:arch=aarch64/neoverse_v2', { id: 'delay-1' });
    const [request] = submits(w.slurm);
    expect(request.schedulerArgs).toEqual(['-t', '2:00:00', '--begin=now+120', '-p', 'arm']);
    expect(request.hold).toBe(false);
    expect(w.slurm.jobs()[0]).toMatchObject({ held: false, reason: 'BeginTime' });
    expect(request.workDir).toBe(
      join(eventDir(w, 'delay-1'), 'run_001', 'aarch64', 'neoverse_v2', 'EESSI'),
    );
    // A repo id without a repos.cfg section: only its id in job.cfg.
    expect(readFileSync(join(request.workDir, 'cfg', 'job.cfg'), 'utf8')).toContain(
      '[repository]\nrepos_cfg_dir = ' + join(request.workDir, 'cfg') + '\nrepo_id = EESSI\n\n',
    );
    expect(commentOf(w, '1000').body).toContain(
      '|submitted|job id `1000` will be eligible to start in about 120 seconds|',
    );
  });

  it('GPU: native on the GPU node type, and compiled for accelerators on a CPU node type, nested by accelerator', async () => {
    const w = await world();
    const native = await w.build('for:arch=x86_64/amd/zen4,accel=nvidia/cc90', { id: 'gpu-1' });
    expect(native.jobs.map((j) => [j.nodeType, j.repoId, j.jobId])).toEqual([
      ['zen4-h100', REPO_2023, '1000'],
    ]);
    const nativeDir = join(
      eventDir(w, 'gpu-1'),
      'run_001',
      'x86_64/amd/zen4/nvidia/cc90',
      REPO_2023,
    );
    expect(submits(w.slurm)[0].workDir).toBe(nativeDir);
    expect(readFileSync(join(nativeDir, 'cfg', 'job.cfg'), 'utf8')).toContain(
      'node_type = zen4-h100\nsoftware_subdir = x86_64/amd/zen4\nos_type = linux\naccelerator = nvidia/cc90\n',
    );
    const body = commentOf(w, '1000').body;
    expect(body).toContain('Building on: `x86_64/amd/zen4`&nbsp;and accelerator `nvidia/cc90`\n');
    expect(body).toContain('Building for: `x86_64/amd/zen4`&nbsp;and accelerator `nvidia/cc90`\n');

    const cross = await w.build(
      'for:arch=x86_64/amd/zen4,accel=nvidia/cc70+nvidia/cc80 on:arch=zen4',
      {
        id: 'gpu-2',
      },
    );
    expect(cross.jobs.map((j) => [j.nodeType, j.repoId])).toEqual([
      ['zen4', REPO_2023],
      ['zen4', REPO_2025],
    ]);
    expect(submits(w.slurm)[1].workDir).toBe(
      join(eventDir(w, 'gpu-2'), 'run_001', 'x86_64/amd/zen4/nvidia/cc70+nvidia/cc80', REPO_2023),
    );
    const crossBody = commentOf(w, '1001').body;
    expect(crossBody).toContain('Building on: `x86_64/amd/zen4`\n');
    expect(crossBody).toContain(
      'Building for: `x86_64/amd/zen4`&nbsp;and accelerator `nvidia/cc70+nvidia/cc80`\n',
    );
  });

  it('builds nothing, writes nothing and posts nothing when it may not or cannot build', async () => {
    const w = await world();
    const refused = await w.build('for:arch=x86_64/amd/zen4', { sender: 'mallory' });
    expect(refused.problem).toBe(
      'mallory has no permission to build ([buildenv] build_permission)',
    );
    const unknown = await w.build('for:arch=x86_64/amd/zen6');
    expect(unknown.problem).toBe(
      'no node type has CPU subdir x86_64/amd/zen6 (for:arch=x86_64/amd/zen6)',
    );
    expect(unknown.closest.map((n) => n.name)).toEqual(['zen4', 'zen4-h100', 'graviton4']);
    const exported = await w.build('for:arch=x86_64/amd/zen4 exp:SKIP_TESTS=no');
    expect(exported.problem).toBe(
      'exportvariable "SKIP_TESTS=no" is not in [buildenv] allowed_exportvars',
    );
    expect(existsSync(w.jobsBaseDir)).toBe(false);
    expect(w.slurm.calls).toEqual([]);
    expect(w.github.requests).toEqual([]);

    // v0.9: an empty build_permission lets nobody build.
    const nobody = await world({ buildenv: { buildPermission: [] } });
    expect((await nobody.build('for:arch=x86_64/amd/zen4')).problem).toMatch(/no permission/);
    expect(existsSync(nobody.jobsBaseDir)).toBe(false);
  });

  it('a merge conflict: no job, one comment with [download_pr_comments] texts, the same outcome when handled again', async () => {
    const w = await world();
    const first = await w.build('for:arch=x86_64/amd/zen4', {
      id: 'conf-1',
      pr: fixture.conflictPr,
    });
    const again = await w.build('for:arch=x86_64/amd/zen4', {
      id: 'conf-1',
      pr: fixture.conflictPr,
    });
    expect(again).toEqual(first);
    expect(first.problem).toBe(
      'the pull request could not be merged into its base branch (conflict)',
    );
    expect(first.jobs.map((j) => j.reason)).toEqual([
      'the pull request could not be prepared',
      'the pull request could not be prepared',
    ]);
    expect(w.slurm.calls).toEqual([]);
    const comments = w.github.comments(fixture.repo, fixture.conflictPr);
    expect(comments).toHaveLength(1);
    expect(comments[0].body).toMatch(
      /^Bot instance `site-a` submitted no build job:\n\n```\n[^]*README\.md[^]*\n```\n/,
    );
    expect(comments[0].body).toContain(
      `\n${w.config.templates.downloadPr.git_apply_failure}\n${w.config.templates.downloadPr.git_apply_tip}\n`,
    );
  });

  it('several build requests of one delivery: a run_NNN and a progress record each', async () => {
    const w = await world();
    await w.build('for:arch=aarch64/neoverse_v2', { id: 'multi-1', index: 0 });
    await w.build('for:arch=x86_64/amd/zen4,accel=nvidia/cc90', { id: 'multi-1', index: 1 });
    expect(readdirSync(eventDir(w, 'multi-1')).sort()).toEqual([
      'progress-0.json',
      'progress-1.json',
      'run_001',
      'run_002',
    ]);
    expect(submits(w.slurm).map((r) => r.workDir)).toEqual([
      join(eventDir(w, 'multi-1'), 'run_001', 'aarch64/neoverse_v2/EESSI'),
      join(eventDir(w, 'multi-1'), 'run_002', 'x86_64/amd/zen4/nvidia/cc90', REPO_2023),
    ]);
  });
});

/** FakeSlurm whose queue reports work dirs, as squeue does with the work dir field. */
class FakeSlurmWithWorkDir extends FakeSlurm {
  override async listJobs(jobName: string): Promise<QueuedJob[]> {
    const jobs = await super.listJobs(jobName);
    return jobs.map((job) => ({ ...job, workDir: this.job(job.id)?.workDir }));
  }
}

describe('crash and resume of a v0.9 build request', () => {
  it('a crash after sbatch queued the second job: handled again, every job is submitted and commented once', async () => {
    const slurm = new FakeSlurmWithWorkDir();
    const submit = slurm.submit.bind(slurm);
    let calls = 0;
    slurm.submit = async (req) => {
      calls += 1;
      const result = await submit(req);
      if (calls === 2) {
        throw new Error('simulated crash after queueing');
      }
      return result;
    };
    const w = await world({}, slurm);
    await expect(w.build('for:arch=x86_64/amd/zen4', { id: 'crash-1' })).rejects.toThrow(
      'simulated crash',
    );
    const outcome = await w.build('for:arch=x86_64/amd/zen4', { id: 'crash-1' });
    expect(outcome.jobs.map((j) => j.jobId)).toEqual(['1000', '1001']);
    expect(slurm.jobs()).toHaveLength(2);
    expect(w.github.comments()).toHaveLength(2);
    for (const id of ['1000', '1001']) {
      commentOf(w, id);
    }

    // Once done, handling it again changes nothing and answers the same.
    const slurmCalls = slurm.calls.length;
    const requests = w.github.requests.length;
    expect(await w.build('for:arch=x86_64/amd/zen4', { id: 'crash-1' })).toEqual(outcome);
    expect(slurm.calls.length).toBe(slurmCalls);
    expect(w.github.requests.length).toBe(requests);
  });

  it('a resume builds the jobs planned the first time, even after the config changed', async () => {
    const slurm = new FakeSlurm();
    const submit = slurm.submit.bind(slurm);
    let fail = true;
    slurm.submit = async (req) => {
      if (fail) {
        fail = false;
        throw new Error('simulated crash before sbatch');
      }
      return submit(req);
    };
    const w = await world({}, slurm);
    await expect(w.build('for:arch=x86_64/amd/zen4', { id: 'plan-1' })).rejects.toThrow();
    // Same state dir, a config whose zen4 node type now builds one repo only.
    const changed = await compileBuildsModule(
      { ...w.config, nodeTypes: [{ ...NODE_TYPES[0], repoTargets: [REPO_2025] }] },
      slurm,
    );
    cleanup.defer(() => changed.close());
    const outcome = await changed
      .get(BuildsService)
      .handleBuildRequest(
        context('plan-1', 0, 'alice'),
        parseBuildArguments('for:arch=x86_64/amd/zen4', 'alice'),
      );
    expect(outcome.jobs.map((j) => [j.repoId, j.jobId])).toEqual([
      [REPO_2023, '1000'],
      [REPO_2025, '1001'],
    ]);
  });
});

describe('v0.9 build options', () => {
  it('clone_git_repo_via = ssh fetches git@github.com:owner/repo.git', async () => {
    const previous = { ...process.env };
    // The fixture serves git@github.com: too, as an operator's insteadOf for a mirror would.
    const index = Number(process.env.GIT_CONFIG_COUNT ?? '0');
    process.env.GIT_CONFIG_COUNT = String(index + 1);
    process.env[`GIT_CONFIG_KEY_${index}`] = `url.file://${fixture.root}/remotes/.insteadOf`;
    process.env[`GIT_CONFIG_VALUE_${index}`] = 'git@github.com:';
    cleanup.defer(() => {
      for (const key of Object.keys(process.env)) {
        if (!(key in previous)) {
          delete process.env[key];
        }
      }
      Object.assign(process.env, previous);
    });
    const w = await world({ buildenv: { cloneGitRepoVia: 'ssh' } });
    const outcome = await w.build('for:arch=aarch64/neoverse_v2', { id: 'ssh-1' });
    expect(outcome.jobs[0].jobId).toBe('1000');
    const dir = submits(w.slurm)[0].workDir;
    expect(git(['remote', 'get-url', 'origin'], dir)).toBe(`git@github.com:${fixture.repo}.git`);
    expect(git(['rev-parse', 'HEAD^2'], dir)).toBe(fixture.headSha[1]);
  });

  it('build_job_script = path@repo clones that repository into the job dir and submits the path inside it', async () => {
    const scripts = mkdtempSync(join(tmpdir(), 'eessi-bot-scripts-'));
    cleanup.defer(() => rmSync(scripts, { recursive: true, force: true }));
    const work = join(scripts, 'work');
    mkdirSync(join(work, 'scripts'), { recursive: true });
    writeFileSync(join(work, 'scripts', 'bot-build.slurm'), '#!/bin/bash\necho build\n');
    chmodSync(join(work, 'scripts', 'bot-build.slurm'), 0o755);
    const env = {
      ...process.env,
      GIT_AUTHOR_NAME: 'a',
      GIT_AUTHOR_EMAIL: 'a@x.invalid',
      GIT_COMMITTER_NAME: 'a',
      GIT_COMMITTER_EMAIL: 'a@x.invalid',
    };
    for (const args of [
      ['init', '--quiet'],
      ['add', '.'],
      ['commit', '--quiet', '-m', 'scripts'],
    ]) {
      execFileSync('git', args, { cwd: work, env });
    }
    const bare = join(scripts, 'software-layer-scripts.git');
    execFileSync('git', ['clone', '--quiet', '--bare', work, bare]);

    const w = await world({
      buildenv: { buildJobScript: 'scripts/bot-build.slurm', buildJobScriptRepo: `file://${bare}` },
    });
    await w.build('for:arch=aarch64/neoverse_v2', { id: 'script-1' });
    const [request] = submits(w.slurm);
    expect(request.script).toBe(
      join(request.workDir, 'software-layer-scripts', 'scripts', 'bot-build.slurm'),
    );
    expect(readFileSync(request.script, 'utf8')).toBe('#!/bin/bash\necho build\n');
  });

  it('allow_update_submit_opts: the PR’s det_submit_opts adds allow-listed options only', async () => {
    const pr = 31;
    fixture.addPullRequest(pr, {
      'det_submit_opts.py': [
        'def det_submit_opts(job):',
        '    return job.slurm_opts + " --mem=64G --partition=big --output=/tmp/x -c 8"',
        '',
      ].join('\n'),
    });
    const w = await world({ buildenv: { allowUpdateSubmitOpts: true } });
    await w.build('for:arch=aarch64/neoverse_v2', { id: 'det-1', pr });
    expect(submits(w.slurm)[0].schedulerArgs).toEqual([
      '--account=eessi',
      '--hold',
      '--time=24:00:00',
      '-p',
      'arm',
      '--mem=64G',
      '--cpus-per-task=8',
    ]);

    // Not allowed: the same PR's script is never run.
    const off = await world();
    await off.build('for:arch=aarch64/neoverse_v2', { id: 'det-2', pr });
    expect(submits(off.slurm)[0].schedulerArgs).not.toContain('--mem=64G');
  });

  it('the bot:build label starts nothing under a v0.9-format config', async () => {
    const w = await world();
    await w.builds.handleLabeled({
      id: 'label-1',
      receivedAt: RECEIVED_AT,
      payload: labeledPullRequestPayload({
        label: 'bot:build',
        sender: 'alice',
        repo: fixture.repo,
        number: fixture.cleanPr,
        base: { ref: fixture.baseRef },
        head: { sha: fixture.headSha[fixture.cleanPr] },
      }),
    });
    expect(existsSync(w.jobsBaseDir)).toBe(false);
    expect(w.slurm.calls).toEqual([]);
  });

  it('a seed-format config builds nothing for a request', async () => {
    const w = await world({ rest: { generation: 'seed' } });
    const outcome: BuildOutcome = await w.build('for:arch=x86_64/amd/zen4');
    expect(outcome.problem).toMatch(/seed-format app.cfg/);
    expect(existsSync(w.jobsBaseDir)).toBe(false);
  });
});
