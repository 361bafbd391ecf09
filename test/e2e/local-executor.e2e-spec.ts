import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { ResultAnalyzer } from '../../src/builds/result-analyzer.js';
import { LocalExecutor, type LocalExecutorOptions } from '../../src/slurm/local-executor.js';
import type { QueuedJob, SubmitRequest } from '../../src/slurm/slurm.port.js';
import {
  BUILD_JOB_SCRIPT,
  EXAMPLE_SOFTWARE_LAYER,
  REPO_ROOT,
  makeJobDir,
  removeTree,
  type MakeJobDirOptions,
} from '../support/job-dir.js';
import { cleanupAfterEach, quietNestLogger } from '../support/test-kit.js';

// The local executor with the real parts around it: the bot's job script building the example
// software-layer repository, the result analyzer judging the job dir, and a bot process that
// dies with SIGKILL while its job runs.

const NAME = 'bot-e2e';
const cleanup = cleanupAfterEach();
quietNestLogger();

function scratchDir(prefix = 'local-executor-e2e-'): Promise<string> {
  return cleanup.tempDir(prefix);
}

async function jobDir(options: MakeJobDirOptions = {}): Promise<string> {
  const dir = await makeJobDir({ repo: EXAMPLE_SOFTWARE_LAYER, ...options });
  cleanup.defer(() => dir.remove());
  return dir.dir;
}

function executor(stateDir: string, options: Partial<LocalExecutorOptions> = {}): LocalExecutor {
  const ex = new LocalExecutor({ stateDir, pollIntervalMs: 50, killGraceMs: 2000, ...options });
  cleanup.defer(() => ex.shutdown({ killRunning: true }));
  return ex;
}

/** What the bot submits for a target (build-plan.ts): the job script with its own options. */
async function buildRequest(workDir: string): Promise<SubmitRequest> {
  return {
    workDir,
    schedulerArgs: ['--nodes=1', '--time=1:00:00'],
    jobName: NAME,
    script: BUILD_JOB_SCRIPT,
    scriptArgs: ['--tmpdir', await scratchDir('local-executor-e2e-tmp-')],
  };
}

async function waitFor(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting until ${what}`);
    }
    await new Promise((done) => setTimeout(done, 20));
  }
}

/** Running, or at least not yet ended: a zombie has ended (this container's init reaps late). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] !== 'Z';
  } catch {
    return false;
  }
}

/** A bot/build.sh that waits for a file `go` in the job dir, then runs the example build. */
async function gatedBuild(): Promise<MakeJobDirOptions['files']> {
  const original = await readFile(join(EXAMPLE_SOFTWARE_LAYER, 'bot', 'build.sh'), 'utf8');
  return {
    'bot/example-build.sh': { content: original, mode: 0o755 },
    'bot/build.sh': {
      content:
        '#!/bin/sh\necho "build waits for go"\nwhile [ ! -e go ]; do sleep 0.05; done\nexec bot/example-build.sh "$@"\n',
      mode: 0o755,
    },
  };
}

describe('LocalExecutor running the bot job script (e2e)', () => {
  const analyzer = new ResultAnalyzer();

  it('holds jobs until released, runs one at a time with maxConcurrent 1, and the exit status reaches the result', async () => {
    const ex = executor(await scratchDir(), { maxConcurrent: 1 });
    const goodDir = await jobDir();
    const badDir = await jobDir({ files: { 'bot/FAIL': 'make this build fail\n' } });
    const good = (await ex.submit(await buildRequest(goodDir))).jobId;
    const bad = (await ex.submit(await buildRequest(badDir))).jobId;

    const held = (id: string, workDir: string): QueuedJob => ({
      id,
      name: NAME,
      state: 'PENDING',
      reason: 'JobHeldUser',
      held: true,
      workDir,
    });
    expect(await ex.listJobs(NAME)).toEqual([held(good, goodDir), held(bad, badDir)]);
    await new Promise((done) => setTimeout(done, 300));
    expect(await readdir(goodDir)).not.toContain(`slurm-${good}.out`);
    expect(await readdir(badDir)).not.toContain(`slurm-${bad}.out`);

    await ex.release(good);
    await ex.release(bad);
    const seen: QueuedJob[][] = [];
    await waitFor('both jobs finished', async () => {
      const queue = await ex.listJobs(NAME);
      seen.push(queue);
      return queue.length === 0;
    });

    expect(Math.max(...seen.map((q) => q.filter((j) => j.state === 'RUNNING').length))).toBe(1);
    expect(seen).toContainEqual([
      { id: good, name: NAME, state: 'RUNNING', reason: 'None', held: false, workDir: goodDir },
      { id: bad, name: NAME, state: 'PENDING', reason: 'Resources', held: false, workDir: badDir },
    ]);

    const goodEnd = await ex.endState(good);
    expect(goodEnd).toEqual({ state: 'COMPLETED', exitCode: '0:0' });
    const goodResult = await analyzer.analyze(good, goodDir, goodEnd, 'RUNNING');
    expect(goodResult.status).toBe('SUCCESS');
    expect(goodResult.artefacts.map((a) => a.name)).toEqual([
      expect.stringMatching(/^eessi-2023\.06-software-linux-x86_64-amd-zen2-\d+\.tar\.gz$/),
    ]);

    const badEnd = await ex.endState(bad);
    expect(badEnd).toEqual({ state: 'FAILED', exitCode: '1:0' });
    const badResult = await analyzer.analyze(bad, badDir, badEnd, 'RUNNING');
    expect(badResult.status).toBe('FAILURE');
    expect(badResult.summary).toContain('bot/build.sh exited with status 1');
  }, 30_000);

  it('cancels a running build: the job script cleans up and the result says CANCELLED', async () => {
    const ex = executor(await scratchDir());
    const dir = await jobDir({ files: await gatedBuild() });
    const request = await buildRequest(dir);
    const { jobId } = await ex.submit(request);
    await ex.release(jobId);
    const out = join(dir, `slurm-${jobId}.out`);
    await waitFor('the build runs', async () =>
      (await readFile(out, 'utf8').catch(() => '')).includes('build waits for go'),
    );

    await ex.cancel(jobId);
    await waitFor('the job left the queue', async () => (await ex.listJobs(NAME)).length === 0);

    const end = await ex.endState(jobId);
    // The job script turns SIGTERM into exit 143 after removing its temporary directory.
    expect(end).toEqual({ state: 'CANCELLED', exitCode: '143:0' });
    const log = await readFile(out, 'utf8');
    expect(log).toMatch(/eessi-bot-build: removed temporary directory /);
    expect(await readdir(request.scriptArgs[1])).toEqual([]);
    const result = await analyzer.analyze(jobId, dir, end, 'RUNNING');
    expect(result.status).toBe('CANCELLED');
    // Also without the scheduler's word, from Slurm's line in the output alone.
    expect((await analyzer.analyze(jobId, dir, undefined, 'RUNNING')).status).toBe('CANCELLED');
  }, 30_000);

  describe('when the bot process is killed while its job runs', () => {
    let compiled: string;

    beforeAll(async () => {
      compiled = await compileExecutorForNode();
    }, 30_000);

    afterAll(() => removeTree(compiled));

    /** Starts a bot process that submits and releases one job, and returns once that job runs. */
    async function botStartingJob(stateDir: string, request: SubmitRequest) {
      const bot = spawn(
        process.execPath,
        [join(compiled, 'bot.js'), stateDir, JSON.stringify(request)],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      cleanup.defer(async () => {
        bot.kill('SIGKILL');
      });
      let stdout = '';
      bot.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      await waitFor('the bot reports its job running', () => /^running \d+$/m.test(stdout));
      return { bot, jobId: /^running (\d+)$/m.exec(stdout)![1] };
    }

    it('a new bot process follows the job to its real end: SUCCESS, nothing lost', async () => {
      const stateDir = await scratchDir();
      const dir = await jobDir({ files: await gatedBuild() });
      const { bot, jobId } = await botStartingJob(stateDir, await buildRequest(dir));

      bot.kill('SIGKILL');
      await new Promise((done) => bot.once('exit', done));
      const restarted = executor(stateDir);
      expect(await restarted.listJobs(NAME)).toEqual([
        { id: jobId, name: NAME, state: 'RUNNING', reason: 'None', held: false, workDir: dir },
      ]);
      await writeFile(join(dir, 'go'), '');
      await waitFor(
        'the job left the queue',
        async () => (await restarted.listJobs(NAME)).length === 0,
      );

      const end = await restarted.endState(jobId);
      expect(end).toEqual({ state: 'COMPLETED', exitCode: '0:0' });
      expect((await analyzer.analyze(jobId, dir, end, 'RUNNING')).status).toBe('SUCCESS');
    }, 30_000);

    it('a job killed together with the bot is reported as failed, with the reason in its output', async () => {
      const stateDir = await scratchDir();
      const dir = await jobDir({ files: await gatedBuild() });
      const { bot, jobId } = await botStartingJob(stateDir, await buildRequest(dir));
      const pid = JSON.parse(
        await readFile(join(stateDir, 'local-executor', 'jobs', `${jobId}.pid`), 'utf8'),
      ) as { pid: number };

      // A power cut, as far as the job is concerned: bot and job die at once.
      bot.kill('SIGKILL');
      process.kill(-pid.pid, 'SIGKILL');
      await new Promise((done) => bot.once('exit', done));
      await waitFor('the job is gone', () => !alive(pid.pid));
      const restarted = executor(stateDir);

      expect(await restarted.listJobs(NAME)).toEqual([]);
      const end = await restarted.endState(jobId);
      expect(end).toEqual({ state: 'FAILED' });
      const result = await analyzer.analyze(jobId, dir, end, 'RUNNING');
      expect(result.status).toBe('FAILURE');
      expect(await readFile(join(dir, `slurm-${jobId}.out`), 'utf8')).toContain(
        'local-executor: error: the local executor restarted while the job ran',
      );
    }, 30_000);
  });
});

/**
 * The executor as plain JavaScript for a separate bot process (Jest compiles TypeScript only in
 * its own process): src/slurm/local-executor.ts and what it imports, transpiled to a temporary
 * directory that sees this repository's node_modules.
 */
async function compileExecutorForNode(): Promise<string> {
  const out = await mkdtemp(join(tmpdir(), 'local-executor-bot-'));
  await symlink(join(REPO_ROOT, 'node_modules'), join(out, 'node_modules'));
  await writeFile(join(out, 'package.json'), '{ "type": "module" }\n');
  const queue = [join(REPO_ROOT, 'src', 'slurm', 'local-executor.ts')];
  const done = new Set<string>();
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (done.has(file)) {
      continue;
    }
    done.add(file);
    const source = await readFile(file, 'utf8');
    const { outputText } = ts.transpileModule(source, {
      fileName: file,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    const target = join(out, relative(REPO_ROOT, file).replace(/\.ts$/, '.js'));
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, outputText);
    for (const [, path] of source.matchAll(
      /^import (?!type )[^;]*? from '(\.{1,2}\/[^']+)\.js';/gms,
    )) {
      queue.push(resolve(dirname(file), `${path}.ts`));
    }
  }
  await writeFile(
    join(out, 'bot.js'),
    [
      "import { Logger } from '@nestjs/common';",
      "import { LocalExecutor } from './src/slurm/local-executor.js';",
      'Logger.overrideLogger(false);',
      'const [stateDir, request] = process.argv.slice(2);',
      'const req = JSON.parse(request);',
      'const executor = new LocalExecutor({ stateDir, pollIntervalMs: 50 });',
      'const { jobId } = await executor.submit(req);',
      'await executor.release(jobId);',
      'for (;;) {',
      '  const jobs = await executor.listJobs(req.jobName);',
      "  if (jobs.some((job) => job.id === jobId && job.state === 'RUNNING')) break;",
      '  await new Promise((done) => setTimeout(done, 20));',
      '}',
      'process.stdout.write(`running ${jobId}\\n`);',
      '// Lives on, as a bot does, until it is killed.',
      'setInterval(() => {}, 60_000);',
      '',
    ].join('\n'),
  );
  expect(existsSync(join(out, 'src', 'common', 'atomic-file.js'))).toBe(true);
  return out;
}
