import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppConfig } from '../../src/config/app-config.js';
import { simulate } from '../../src/simulate/simulate.js';
import { createGitFixture, type GitFixture } from '../support/git-fixture.js';
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
