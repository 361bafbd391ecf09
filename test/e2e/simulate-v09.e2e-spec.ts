import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { execFile } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { AppConfig } from '../../src/config/app-config.js';
import { simulate } from '../../src/simulate/simulate.js';
import { writeBotConfig } from '../support/bot-config.js';
import { createGitFixture, type GitFixture } from '../support/git-fixture.js';
import { testAppKeys } from '../support/job-manager-env.js';
import { makeConfig } from '../support/make-config.js';
import { labeledPullRequestPayload } from '../support/payloads.js';

/**
 * `simulate --build` drives a v0.9-format config end to end from the terminal: the request is
 * planned, the job dir laid out, the job submitted to the local executor, its comment printed from
 * [submitted_job_comments], and the job manager runs until the job wrote its `.result`.
 */

jest.setTimeout(60_000);

let fixture: GitFixture;
let restoreEnv: () => void;
let root: string;

beforeAll(() => {
  Logger.overrideLogger(false);
  fixture = createGitFixture();
  restoreEnv = fixture.useEnv();
  root = mkdtempSync(join(tmpdir(), 'eessi-bot-simulate-v09-'));
});

afterAll(() => {
  restoreEnv();
  fixture.cleanup();
  rmSync(root, { recursive: true, force: true });
});

function v09Config(dir: string): AppConfig {
  const script = join(dir, 'bot-build.sh');
  // A stand-in for bot-build.slurm: reads job.cfg and reports the build as v0.9's scripts do.
  writeFileSync(
    script,
    [
      '#!/bin/sh',
      'grep -q "^software_subdir = x86_64/amd/zen4$" cfg/job.cfg || exit 3',
      'printf "[RESULT]\\nstatus = SUCCESS\\ncomment_description = :grin: SUCCESS built for zen4\\nartefacts = \\n" > "_bot_job${SLURM_JOB_ID}.result"',
      '',
    ].join('\n'),
  );
  chmodSync(script, 0o755);
  return makeConfig({
    root: dir,
    github: { appName: 'site-a' },
    buildenv: { scheduler: 'local', buildJobScript: script, buildPermission: ['alice'] },
    jobManager: { pollIntervalSeconds: 1 },
    architectureTargets: { archTargetMap: {} },
    rest: {
      generation: 'v09',
      nodeTypes: [
        {
          name: 'zen4',
          os: 'linux',
          cpuSubdir: 'x86_64/amd/zen4',
          slurmParams: '',
          repoTargets: ['eessi.io-2023.06-software'],
          accel: [],
        },
      ],
    },
  });
}

function eventFile(dir: string): string {
  const path = join(dir, 'pr.json');
  const payload = labeledPullRequestPayload({
    sender: 'alice',
    repo: fixture.repo,
    number: fixture.cleanPr,
    base: { ref: fixture.baseRef },
    head: { sha: fixture.headSha[fixture.cleanPr] },
  });
  writeFileSync(path, JSON.stringify(payload));
  return path;
}

describe('simulate --build', () => {
  it('runs a v0.9 build request to a finished, successful job', async () => {
    const dir = mkdtempSync(join(root, 'ok-'));
    const config = v09Config(dir);
    let output = '';
    const status = await simulate(
      { event: eventFile(dir), build: 'for:arch=x86_64/amd/zen4' },
      config,
      (text) => (output += text),
    );
    expect(output).toContain(
      'build for:arch=x86_64/amd/zen4 on instance site-a:\n  eessi.io-2023.06-software for:arch=x86_64/amd/zen4 on zen4: job 1\n',
    );
    expect(output).toContain(
      'New job on instance `site-a` for repository `eessi.io-2023.06-software`\nBuilding on: `x86_64/amd/zen4`\n',
    );
    expect(output).toContain(':grin: SUCCESS built for zen4');
    expect(output).toMatch(
      /summary:\n {2}job 1 eessi\.io-2023\.06-software for linux\/x86_64\/amd\/zen4: SUCCESS \(.*\/run_001\/x86_64\/amd\/zen4\/eessi\.io-2023\.06-software\)\n/,
    );
    expect(status).toBe(0);
  });

  it('says why nothing was built, and writes nothing', async () => {
    const dir = mkdtempSync(join(root, 'none-'));
    const config = v09Config(dir);
    let output = '';
    const status = await simulate(
      { event: eventFile(dir), build: 'for:arch=x86_64/amd/zen5' },
      config,
      (text) => (output += text),
    );
    expect(output).toContain(
      '  no job: no node type has CPU subdir x86_64/amd/zen5 (for:arch=x86_64/amd/zen5)\n  closest node types: zen4 (x86_64/amd/zen4)\n',
    );
    expect(status).toBe(1);
    expect(existsSync(config.buildenv.jobsBaseDir)).toBe(false);
  });

  it('refuses a malformed request, and a v0.9 config without --build, with a hint', async () => {
    const dir = mkdtempSync(join(root, 'usage-'));
    const config = v09Config(dir);
    let output = '';
    expect(
      await simulate(
        { event: eventFile(dir), build: 'for:arch=$(id)' },
        config,
        (t) => (output += t),
      ),
    ).toBe(1);
    expect(output).toBe(
      '--build: for:arch=$(id): "$(id)" is not a CPU subdir such as x86_64/amd/zen4\n',
    );
    output = '';
    expect(await simulate({ event: eventFile(dir) }, config, (t) => (output += t))).toBe(1);
    expect(output).toMatch(/is v0\.9-format: builds are asked for with `bot: build`; pass --build/);
  });
});

const MAIN = join(import.meta.dirname, '..', '..', 'dist', 'main.js');

describe('the built bot: simulate --build with a v0.9-format app.cfg', () => {
  it('reads node_type_map, repos_cfg_dir and the comment templates from the file and runs the job to SUCCESS', async () => {
    if (!existsSync(MAIN)) {
      throw new Error(`${MAIN} is missing: run npx tsc -p tsconfig.build.json`);
    }
    const dir = mkdtempSync(join(root, 'built-'));
    const script = join(dir, 'bot-build.sh');
    // What bot-build.slurm relies on: job.cfg, the repos config copy, export_vars.sh.
    writeFileSync(
      script,
      [
        '#!/bin/bash',
        'set -e',
        'grep -qx "repo_version = 2023.06" cfg/job.cfg',
        'grep -qx "node_type = cpu_zen4" cfg/job.cfg',
        'test -f cfg/repos.cfg',
        'source cfg/export_vars.sh',
        'test "$SKIP_TESTS" = yes',
        'printf "[RESULT]\\nstatus = SUCCESS\\ncomment_description = :grin: SUCCESS on %s\\nartefacts = \\n" "$SLURM_JOB_ID" > "_bot_job${SLURM_JOB_ID}.result"',
        '',
      ].join('\n'),
    );
    chmodSync(script, 0o755);
    const nodeTypes = {
      cpu_zen4: {
        os: 'linux',
        cpu_subdir: 'x86_64/amd/zen4',
        slurm_params: '-p genoa',
        repo_targets: ['eessi.io-2023.06-software'],
      },
      gpu_h100: {
        os: 'linux',
        cpu_subdir: 'x86_64/amd/zen4',
        accel: 'nvidia/cc90',
        slurm_params: '-p gpu',
        repo_targets: ['eessi.io-2023.06-software'],
      },
    };
    const config = writeBotConfig({
      root: dir,
      privateKey: testAppKeys().privateKey,
      appName: 'site-a',
      buildJobScript: script,
      buildenv: {
        slurm_params: '--hold',
        job_handover_protocol: 'delayed_begin',
        build_permission: 'alice',
        allowed_exportvars: '["SKIP_TESTS=yes"]',
      },
      nodeTypeMap: nodeTypes,
      repos: {
        'eessi.io-2023.06-software': { repo_name: 'software.eessi.io', repo_version: '2023.06' },
      },
      pollIntervalSeconds: 1,
      sections: {
        bot_control: { command_permission: 'alice' },
        submitted_job_comments: {
          new_job_instance_repo: 'Job on {app_name} for {repo_id}',
          build_on_arch: 'On {on_arch}{on_accelerator}',
          build_for_arch: 'For {for_arch}{for_accelerator}',
          jobdir: 'In {symlink}',
          with_accelerator: 'with {accelerator}',
          awaits_release_hold_release_msg: 'held',
          awaits_release_delayed_begin_msg: 'starts in {delay_seconds} s',
        },
      },
    });
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        MAIN,
        'simulate',
        '--config',
        config,
        '--event',
        eventFile(dir),
        '--repo',
        fixture.bareDir,
        '--build',
        'for:arch=x86_64/amd/zen4 exp:SKIP_TESTS=yes',
      ],
      { timeout: 50_000 },
    );
    expect(stdout).toContain(
      'eessi.io-2023.06-software for:arch=x86_64/amd/zen4 on cpu_zen4: job 1\n',
    );
    const prDir = join(dir, 'jobs');
    expect(stdout).toMatch(
      new RegExp(
        `Job on site-a for eessi\\.io-2023\\.06-software\\nOn x86_64/amd/zen4\\nFor x86_64/amd/zen4\\nIn ${prDir}/\\d{4}\\.\\d{2}/pr_1/1\\n`,
      ),
    );
    // delayed_begin: int(2 × 1 s), the default factor times poll_interval.
    expect(stdout).toContain('|submitted|starts in 2 s|');
    expect(stdout).toContain(':grin: SUCCESS on 1');
    expect(stdout).toMatch(
      /job 1 eessi\.io-2023\.06-software for linux\/x86_64\/amd\/zen4: SUCCESS/,
    );
    const [month] = readdirSync(join(dir, 'jobs')).filter((n) => /^\d{4}\.\d{2}$/.test(n));
    const metadata = readFileSync(
      join(dir, 'jobs', month, 'pr_1', '1', '_bot_job1.metadata'),
      'utf8',
    );
    expect(metadata).toContain('requester = alice\nnode_type = cpu_zen4\n');
  });
});
