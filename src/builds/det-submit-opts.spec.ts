import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandRunner } from '../slurm/command-runner.js';
import { runDetSubmitOpts, type DetSubmitOptsJob } from './det-submit-opts.js';

// Real python3 processes: what is under test is how the PR's module is run and read.

let dir: string;
const runner = new CommandRunner();

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'eessi-bot-detopts-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function job(): DetSubmitOptsJob {
  return {
    working_dir: dir,
    arch_target: 'x86_64/amd/zen4',
    repo_id: 'eessi.io-2023.06-software',
    slurm_opts: '-p zen4',
    year_month: '2025.01',
    pr_id: 'pr_7',
    accelerator: null,
  };
}

async function module(body: string): Promise<void> {
  await writeFile(join(dir, 'det_submit_opts.py'), body);
}

describe('runDetSubmitOpts', () => {
  it('calls det_submit_opts(job) with v0.9’s Job fields and returns its string', async () => {
    await module(
      [
        'def det_submit_opts(job):',
        '    print("chatter before the answer")',
        '    assert job.working_dir and job.pr_id == "pr_7" and job.accelerator is None',
        '    return job.slurm_opts + " --mem=" + job.arch_target.split("/")[-1]',
      ].join('\n'),
    );
    await expect(runDetSubmitOpts(runner, job())).resolves.toEqual({
      kind: 'answer',
      options: '-p zen4 --mem=zen4',
    });
    // -B: the PR's tree gets no __pycache__ from the bot.
    expect(await readdir(dir)).toEqual(['det_submit_opts.py']);
  });

  it('is absent when the PR has no det_submit_opts.py', async () => {
    await expect(runDetSubmitOpts(runner, job())).resolves.toEqual({ kind: 'absent' });
  });

  it('never sees the bot’s secrets', async () => {
    process.env.GITHUB_APP_SECRET_TOKEN = 'very-secret';
    try {
      await module(
        'import os\ndef det_submit_opts(job):\n    return os.environ.get("GITHUB_APP_SECRET_TOKEN", "none")\n',
      );
      await expect(runDetSubmitOpts(runner, job())).resolves.toEqual({
        kind: 'answer',
        options: 'none',
      });
    } finally {
      delete process.env.GITHUB_APP_SECRET_TOKEN;
    }
  });

  it.each([
    [
      'raises',
      'def det_submit_opts(job):\n    raise RuntimeError("nope")\n',
      /exited 1: RuntimeError: nope/,
    ],
    [
      'returns a list',
      'def det_submit_opts(job):\n    return ["--mem=1G"]\n',
      /returned list, not a string/,
    ],
    [
      'has no such function',
      'x = 1\n',
      /exited 1: ImportError: cannot import name 'det_submit_opts'/,
    ],
    ['exits early', 'import sys\nsys.exit(0)\n', /printed no answer/],
  ])('fails, without throwing, when the module %s', async (_, body, reason) => {
    await module(body);
    const outcome = await runDetSubmitOpts(runner, job());
    expect(outcome.kind).toBe('failed');
    expect(outcome.kind === 'failed' && outcome.reason).toMatch(reason);
  });

  it('kills a module that does not finish within the limit', async () => {
    await module('import time\ntime.sleep(30)\ndef det_submit_opts(job):\n    return ""\n');
    const started = Date.now();
    await expect(runDetSubmitOpts(runner, job(), { timeoutMs: 500 })).resolves.toEqual({
      kind: 'failed',
      reason: 'did not finish within 0.5 s',
    });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('does not follow a det_submit_opts.py symlink', async () => {
    const elsewhere = join(dir, 'elsewhere.py');
    await writeFile(elsewhere, 'def det_submit_opts(job):\n    open("ran", "w")\n    return ""\n');
    await symlink(elsewhere, join(dir, 'det_submit_opts.py'));
    const outcome = await runDetSubmitOpts(runner, job());
    expect(outcome).toEqual({
      kind: 'failed',
      reason: expect.stringMatching(/not a regular file/),
    });
    expect(existsSync(join(dir, 'ran'))).toBe(false);
  });

  it('reports a missing interpreter', async () => {
    await module('def det_submit_opts(job):\n    return ""\n');
    const outcome = await runDetSubmitOpts(runner, job(), { python: '/nonexistent/python3' });
    expect(outcome.kind === 'failed' && outcome.reason).toMatch(/could not be started/);
  });
});
