import { describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanupAfterEach, quietNestLogger } from '../../test/support/test-kit.js';
import { LocalExecutor, type LocalExecutorOptions } from './local-executor.js';
import { SlurmCommandError } from './slurm.errors.js';
import type { QueuedJob, SubmitRequest } from './slurm.port.js';

// Real processes from tiny shell scripts in temporary directories: the executor's whole job is
// to start, watch and stop processes, so nothing here is faked.

const NAME = 'bot-test';
const cleanup = cleanupAfterEach();
quietNestLogger();

function tempDir(prefix = 'local-executor-'): Promise<string> {
  return cleanup.tempDir(prefix);
}

function executor(stateDir: string, options: Partial<LocalExecutorOptions> = {}): LocalExecutor {
  const ex = new LocalExecutor({ stateDir, pollIntervalMs: 50, killGraceMs: 300, ...options });
  cleanup.defer(() => ex.shutdown({ killRunning: true }));
  return ex;
}

/** A job dir holding `job.sh` with this body. */
async function jobWith(body: string): Promise<{ dir: string; script: string }> {
  const dir = await tempDir('local-executor-job-');
  const script = join(dir, 'job.sh');
  await writeFile(script, `#!/bin/sh\n${body}\n`);
  await chmod(script, 0o755);
  return { dir, script };
}

function request(
  job: { dir: string; script: string },
  scriptArgs: string[] = [],
  jobName = NAME,
): SubmitRequest {
  return {
    workDir: job.dir,
    schedulerArgs: ['--time=1:00:00'],
    jobName,
    script: job.script,
    scriptArgs,
  };
}

async function waitFor(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting until ${what}`);
    }
    await sleep(20);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

async function endStateOf(ex: LocalExecutor, id: string, state: string): Promise<void> {
  await waitFor(`job ${id} is ${state}`, async () => (await ex.endState(id))?.state === state);
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

/** Process group of a live process (field 5 of /proc/<pid>/stat). */
function processGroupOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

async function pidIn(path: string): Promise<number> {
  await waitFor(`${path} is written`, async () =>
    (await readFile(path, 'utf8').catch(() => '')).endsWith('\n'),
  );
  return Number((await readFile(path, 'utf8')).trim());
}

const held = (id: string): QueuedJob => ({
  id,
  name: NAME,
  state: 'PENDING',
  reason: 'JobHeldUser',
  held: true,
});

/** Blocks until a file `go` appears in the job dir, then exits with the given status. */
const WAIT_FOR_GO = (status = 0) =>
  `echo started\nwhile [ ! -e go ]; do sleep 0.02; done\necho finished\nexit ${status}`;

/** The queue as compared in most cases here; the work dirs have a case of their own. */
function withoutWorkDirs(jobs: QueuedJob[]): Omit<QueuedJob, 'workDir'>[] {
  return jobs.map(({ workDir: _workDir, ...job }) => job);
}

describe('LocalExecutor', () => {
  it('keeps a job held until release, then runs it in its job dir with Slurm variables and output file', async () => {
    const ex = executor(await tempDir());
    const job = await jobWith(
      [
        'echo "id=$SLURM_JOB_ID name=$SLURM_JOB_NAME submit=$SLURM_SUBMIT_DIR pwd=$(pwd)"',
        'for a in "$@"; do echo "arg=[$a]"; done',
        'echo "secret=${GITHUB_APP_SECRET_TOKEN:-none}"',
        'echo "to stderr" >&2',
        'touch ran',
      ].join('\n'),
    );
    const previousSecret = process.env.GITHUB_APP_SECRET_TOKEN;
    process.env.GITHUB_APP_SECRET_TOKEN = 'webhook-secret';
    cleanup.defer(async () => {
      if (previousSecret === undefined) {
        delete process.env.GITHUB_APP_SECRET_TOKEN;
      } else {
        process.env.GITHUB_APP_SECRET_TOKEN = previousSecret;
      }
    });

    const { jobId } = await ex.submit(request(job, ['two words', '$(touch pwned)', '; echo x']));

    expect(jobId).toBe('1');
    expect(withoutWorkDirs(await ex.listJobs(NAME))).toEqual([held('1')]);
    expect(await ex.endState('1')).toEqual({ state: 'PENDING' });
    await sleep(300); // six scheduler passes
    expect(existsSync(join(job.dir, 'slurm-1.out'))).toBe(false);
    expect(existsSync(join(job.dir, 'ran'))).toBe(false);

    await ex.release(jobId);
    await endStateOf(ex, jobId, 'COMPLETED');

    expect(await ex.endState(jobId)).toEqual({ state: 'COMPLETED', exitCode: '0:0' });
    expect(withoutWorkDirs(await ex.listJobs(NAME))).toEqual([]);
    const out = await readFile(join(job.dir, 'slurm-1.out'), 'utf8');
    expect(out.split('\n')).toEqual([
      `id=1 name=${NAME} submit=${job.dir} pwd=${job.dir}`,
      'arg=[two words]',
      'arg=[$(touch pwned)]',
      'arg=[; echo x]',
      'secret=none',
      'to stderr',
      '',
    ]);
    expect(existsSync(join(job.dir, 'pwned'))).toBe(false);
  });

  it('lists held, pending and running jobs of one name as squeue does; finished jobs leave the list', async () => {
    const ex = executor(await tempDir(), { maxConcurrent: 1 });
    const jobs = [
      await jobWith(WAIT_FOR_GO()),
      await jobWith(WAIT_FOR_GO()),
      await jobWith(WAIT_FOR_GO()),
    ];
    const ids: string[] = [];
    for (const job of jobs) {
      ids.push((await ex.submit(request(job))).jobId);
    }
    const other = await ex.submit(request(await jobWith('exit 0'), [], 'other-bot'));
    const [a, b, c] = ids;
    // As squeue's %Z: where each job runs, so an interrupted submission can be found again.
    expect((await ex.listJobs(NAME)).map((job) => job.workDir)).toEqual(jobs.map((job) => job.dir));

    expect(withoutWorkDirs(await ex.listJobs(NAME))).toEqual([held(a), held(b), held(c)]);
    expect(withoutWorkDirs(await ex.listJobs('other-bot'))).toEqual([
      { ...held(other.jobId), name: 'other-bot' },
    ]);

    for (const id of ids) {
      await ex.release(id);
    }
    await waitFor('a runs', async () => (await ex.listJobs(NAME))[0]?.state === 'RUNNING');
    expect(withoutWorkDirs(await ex.listJobs(NAME))).toEqual([
      { id: a, name: NAME, state: 'RUNNING', reason: 'None', held: false },
      { id: b, name: NAME, state: 'PENDING', reason: 'Resources', held: false },
      { id: c, name: NAME, state: 'PENDING', reason: 'Priority', held: false },
    ]);
    expect(await ex.endState(a)).toEqual({ state: 'RUNNING' });

    await writeFile(join(jobs[0].dir, 'go'), '');
    await waitFor('b runs', async () => (await ex.listJobs(NAME))[0]?.id === b);
    expect(withoutWorkDirs(await ex.listJobs(NAME))).toEqual([
      { id: b, name: NAME, state: 'RUNNING', reason: 'None', held: false },
      { id: c, name: NAME, state: 'PENDING', reason: 'Resources', held: false },
    ]);
    expect(await ex.endState(a)).toEqual({ state: 'COMPLETED', exitCode: '0:0' });

    await writeFile(join(jobs[1].dir, 'go'), '');
    await writeFile(join(jobs[2].dir, 'go'), '');
    await waitFor('all finished', async () => (await ex.listJobs(NAME)).length === 0);
    for (const id of ids) {
      expect(await ex.endState(id)).toEqual({ state: 'COMPLETED', exitCode: '0:0' });
    }
    // Never released: the other bot's job is still held.
    expect(withoutWorkDirs(await ex.listJobs('other-bot'))).toEqual([
      { ...held(other.jobId), name: 'other-bot' },
    ]);
  });

  it("reports the job's exit status as Slurm's end state and exit code", async () => {
    const ex = executor(await tempDir());
    const ok = await ex.submit(request(await jobWith('exit 0')));
    const failed = await ex.submit(request(await jobWith('echo failing; exit 3')));
    const killed = await ex.submit(request(await jobWith('kill -KILL $$')));
    const notExecutable = await jobWith('exit 0');
    await chmod(notExecutable.script, 0o644);
    const cannotRun = await ex.submit(request(notExecutable));

    for (const { jobId } of [ok, failed, killed, cannotRun]) {
      await ex.release(jobId);
    }
    await waitFor('all finished', async () => (await ex.listJobs(NAME)).length === 0);

    expect(await ex.endState(ok.jobId)).toEqual({ state: 'COMPLETED', exitCode: '0:0' });
    expect(await ex.endState(failed.jobId)).toEqual({ state: 'FAILED', exitCode: '3:0' });
    expect(await ex.endState(killed.jobId)).toEqual({ state: 'FAILED', exitCode: '0:9' });
    expect(await ex.endState(cannotRun.jobId)).toEqual({ state: 'FAILED', exitCode: '127:0' });
    const out = await readFile(join(notExecutable.dir, `slurm-${cannotRun.jobId}.out`), 'utf8');
    expect(out).toContain(`cannot run ${notExecutable.script}`);
    expect(out).toContain('chmod +x');
    expect(await ex.endState('999')).toBeUndefined();
  });

  it('runs a job submitted with hold: false (delayed_begin) without a release', async () => {
    const ex = executor(await tempDir());
    const job = await jobWith('touch ran');
    const { jobId } = await ex.submit({ ...request(job), hold: false });
    await endStateOf(ex, jobId, 'COMPLETED');
    expect(existsSync(join(job.dir, 'ran'))).toBe(true);
  });

  it('cancels a held job: it never runs, leaves the queue CANCELLED and cannot be released', async () => {
    const ex = executor(await tempDir());
    const job = await jobWith('touch ran');
    const { jobId } = await ex.submit(request(job));

    await ex.cancel(jobId);

    expect(withoutWorkDirs(await ex.listJobs(NAME))).toEqual([]);
    expect(await ex.endState(jobId)).toEqual({ state: 'CANCELLED', exitCode: '0:0' });
    await expect(ex.release(jobId)).rejects.toThrow(SlurmCommandError);
    await expect(ex.release(jobId)).rejects.toThrow(`Job has already finished for job ${jobId}`);
    await sleep(300);
    expect(existsSync(join(job.dir, 'ran'))).toBe(false);
    // Slurm writes no output for a job that never started; the result analyzer relies on it.
    expect(existsSync(join(job.dir, `slurm-${jobId}.out`))).toBe(false);
    // Like scancel: again, or for an id never issued, is no error.
    await ex.cancel(jobId);
    await ex.cancel('4242');
    await expect(ex.release('4242')).rejects.toThrow('Invalid job id specified for job 4242');
  });

  it("cancels a running job: Slurm's CANCELLED line, SIGTERM to its process group, all processes gone", async () => {
    const ex = executor(await tempDir());
    const job = await jobWith('echo $$ > script.pid\nsleep 30 &\necho $! > child.pid\nwait');
    const { jobId } = await ex.submit(request(job));
    await ex.release(jobId);
    const scriptPid = await pidIn(join(job.dir, 'script.pid'));
    const childPid = await pidIn(join(job.dir, 'child.pid'));
    expect(alive(childPid)).toBe(true);

    await ex.cancel(jobId);
    await endStateOf(ex, jobId, 'CANCELLED');

    expect(await ex.endState(jobId)).toEqual({ state: 'CANCELLED', exitCode: '0:15' });
    expect(alive(scriptPid)).toBe(false);
    expect(alive(childPid)).toBe(false);
    expect(withoutWorkDirs(await ex.listJobs(NAME))).toEqual([]);
    const out = await readFile(join(job.dir, `slurm-${jobId}.out`), 'utf8');
    expect(out).toMatch(
      new RegExp(
        `^slurmstepd: error: \\*\\*\\* JOB ${jobId} ON \\S+ CANCELLED AT \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ \\*\\*\\*$`,
        'm',
      ),
    );
  });

  it('kills a job that ignores SIGTERM once the grace period is over', async () => {
    const ex = executor(await tempDir(), { killGraceMs: 400 });
    const job = await jobWith("trap '' TERM\necho $$ > script.pid\nwhile :; do sleep 0.05; done");
    const { jobId } = await ex.submit(request(job));
    await ex.release(jobId);
    const scriptPid = await pidIn(join(job.dir, 'script.pid'));

    await ex.cancel(jobId);
    await sleep(200);
    expect(alive(scriptPid)).toBe(true);
    await endStateOf(ex, jobId, 'CANCELLED');

    expect(await ex.endState(jobId)).toEqual({ state: 'CANCELLED', exitCode: '0:9' });
    expect(alive(scriptPid)).toBe(false);
  });

  it('never runs more jobs at once than maxConcurrent', async () => {
    /** Runs `count` jobs with this limit; returns the most that ran at once. */
    const mostAtOnce = async (maxConcurrent: number, count: number): Promise<number> => {
      const work = await tempDir();
      const [log, go, script] = ['log', 'go', 'job.sh'].map((name) => join(work, name));
      await writeFile(
        script,
        [
          '#!/bin/sh',
          'echo "start $SLURM_JOB_ID $(date +%s%N)" >> "$1"',
          'while [ ! -e "$2" ]; do sleep 0.02; done',
          'sleep 0.1',
          'echo "end $SLURM_JOB_ID $(date +%s%N)" >> "$1"',
        ].join('\n'),
      );
      await chmod(script, 0o755);
      const starts = async () =>
        (await readFile(log, 'utf8').catch(() => ''))
          .split('\n')
          .filter((l) => l.startsWith('start')).length;
      const ex = executor(await tempDir(), { maxConcurrent });
      const ids: string[] = [];
      for (let i = 0; i < count; i += 1) {
        ids.push((await ex.submit(request({ dir: work, script }, [log, go]))).jobId);
      }
      for (const id of ids) {
        await ex.release(id);
      }

      // The first jobs block until `go`: the limit is reached, and must hold while they run.
      await waitFor(`${maxConcurrent} jobs run`, async () => (await starts()) === maxConcurrent);
      await sleep(300);
      expect(await starts()).toBe(maxConcurrent);
      expect((await ex.listJobs(NAME)).filter((j) => j.state === 'RUNNING')).toHaveLength(
        maxConcurrent,
      );
      await writeFile(go, '');
      await waitFor('all finished', async () => (await ex.listJobs(NAME)).length === 0, 10_000);

      const events = (await readFile(log, 'utf8'))
        .trim()
        .split('\n')
        .map((line) => line.split(' '))
        .map(([kind, id, ns]) => ({ kind, id, at: BigInt(ns) }))
        .sort((x, y) => (x.at < y.at ? -1 : x.at > y.at ? 1 : x.kind === 'end' ? -1 : 1));
      expect(
        events
          .filter((e) => e.kind === 'end')
          .map((e) => e.id)
          .sort(),
      ).toEqual([...ids].sort());
      let now = 0;
      let most = 0;
      for (const event of events) {
        now += event.kind === 'start' ? 1 : -1;
        most = Math.max(most, now);
      }
      return most;
    };

    expect(await mostAtOnce(1, 3)).toBe(1);
    expect(await mostAtOnce(2, 4)).toBe(2);
  }, 20_000);

  it('shutdown({ killRunning: true }) kills running jobs and records them CANCELLED', async () => {
    const stateDir = await tempDir();
    const ex = new LocalExecutor({ stateDir, pollIntervalMs: 50 });
    const job = await jobWith('echo $$ > script.pid\nsleep 30');
    const { jobId } = await ex.submit(request(job));
    await ex.release(jobId);
    const scriptPid = await pidIn(join(job.dir, 'script.pid'));

    await ex.shutdown({ killRunning: true });

    expect(alive(scriptPid)).toBe(false);
    expect(await executor(stateDir).endState(jobId)).toEqual({
      state: 'CANCELLED',
      exitCode: '0:9',
    });
  });

  describe('restart', () => {
    it('a new executor over the same state dir keeps held jobs held, starts pending ones and follows running ones', async () => {
      const stateDir = await tempDir();
      const before = executor(stateDir, { maxConcurrent: 1 });
      const running = await jobWith(WAIT_FOR_GO());
      const pending = await jobWith('exit 0');
      const stillHeld = await jobWith('exit 0');
      const r = (await before.submit(request(running))).jobId;
      const p = (await before.submit(request(pending))).jobId;
      const h = (await before.submit(request(stillHeld))).jobId;
      await before.release(r);
      await before.release(p);
      await waitFor('r runs', () => existsSync(join(running.dir, `slurm-${r}.out`)));
      await before.shutdown({ killRunning: false });

      const after = executor(stateDir, { maxConcurrent: 1 });
      expect(withoutWorkDirs(await after.listJobs(NAME))).toEqual([
        { id: r, name: NAME, state: 'RUNNING', reason: 'None', held: false },
        { id: p, name: NAME, state: 'PENDING', reason: 'Resources', held: false },
        held(h),
      ]);
      await writeFile(join(running.dir, 'go'), '');
      await endStateOf(after, p, 'COMPLETED');
      expect(await after.endState(r)).toEqual({ state: 'COMPLETED', exitCode: '0:0' });
      expect(withoutWorkDirs(await after.listJobs(NAME))).toEqual([held(h)]);

      await after.release(h);
      await endStateOf(after, h, 'COMPLETED');
      expect(await after.submit(request(stillHeld))).toEqual({ jobId: String(Number(h) + 1) });
    });

    it('follows a job that outlived its executor to its real exit status', async () => {
      const stateDir = await tempDir();
      const before = executor(stateDir);
      const job = await jobWith(WAIT_FOR_GO(3));
      const { jobId } = await before.submit(request(job));
      await before.release(jobId);
      await waitFor('the job runs', () => existsSync(join(job.dir, `slurm-${jobId}.out`)));
      await before.shutdown({ killRunning: false });

      const after = executor(stateDir);
      expect(withoutWorkDirs(await after.listJobs(NAME))).toEqual([
        { id: jobId, name: NAME, state: 'RUNNING', reason: 'None', held: false },
      ]);
      await writeFile(join(job.dir, 'go'), '');
      await endStateOf(after, jobId, 'FAILED');

      expect(await after.endState(jobId)).toEqual({ state: 'FAILED', exitCode: '3:0' });
      expect(await readFile(join(job.dir, `slurm-${jobId}.out`), 'utf8')).toBe(
        'started\nfinished\n',
      );
    });

    it('reports a job whose processes died while no executor watched FAILED, with a note in its output', async () => {
      const stateDir = await tempDir();
      const before = executor(stateDir);
      const job = await jobWith('echo $$ > script.pid\nsleep 30');
      const { jobId } = await before.submit(request(job));
      await before.release(jobId);
      const scriptPid = await pidIn(join(job.dir, 'script.pid'));
      await before.shutdown({ killRunning: false });
      // What a reboot or `kill -9` of everything does: no process left to record an exit status.
      const group = processGroupOf(scriptPid);
      process.kill(-group, 'SIGKILL');
      // The group's leader is the job's supervisor; both must be gone.
      await waitFor('the job is gone', () => !alive(scriptPid) && !alive(group));

      const after = executor(stateDir);
      expect(withoutWorkDirs(await after.listJobs(NAME))).toEqual([]);
      expect(await after.endState(jobId)).toEqual({ state: 'FAILED' });
      expect(await readFile(join(job.dir, `slurm-${jobId}.out`), 'utf8')).toMatch(
        /^local-executor: error: the local executor restarted while the job ran/m,
      );
    });

    it('a second executor on the same state dir (the job manager in another process) sees jobs the first runs, without starting them again', async () => {
      const stateDir = await tempDir();
      const runner = executor(stateDir);
      const watcher = executor(stateDir);
      const job = await jobWith(WAIT_FOR_GO());
      const { jobId } = await runner.submit(request(job));
      expect(withoutWorkDirs(await watcher.listJobs(NAME))).toEqual([held(jobId)]);

      await watcher.release(jobId);
      await waitFor('the job runs', () => existsSync(join(job.dir, `slurm-${jobId}.out`)));
      for (let i = 0; i < 5; i += 1) {
        expect(withoutWorkDirs(await runner.listJobs(NAME))).toEqual([
          { id: jobId, name: NAME, state: 'RUNNING', reason: 'None', held: false },
        ]);
        expect(await watcher.listJobs(NAME)).toEqual(await runner.listJobs(NAME));
        await sleep(40);
      }
      await writeFile(join(job.dir, 'go'), '');
      await endStateOf(watcher, jobId, 'COMPLETED');
      expect(await runner.endState(jobId)).toEqual({ state: 'COMPLETED', exitCode: '0:0' });
      expect(await readFile(join(job.dir, `slurm-${jobId}.out`), 'utf8')).toBe(
        'started\nfinished\n',
      );
    });
  });

  it('gives unique, increasing ids to concurrent submitters, across executors on one state dir', async () => {
    const stateDir = await tempDir();
    const [a, b] = [executor(stateDir), executor(stateDir)];
    const job = await jobWith('exit 0');

    const ids = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).submit(request(job))),
    ).then((results) => results.map((r) => r.jobId));

    expect([...ids].sort((x, y) => Number(x) - Number(y))).toEqual(
      Array.from({ length: 20 }, (_, i) => String(i + 1)),
    );
    expect((await a.listJobs(NAME)).map((j) => j.id)).toHaveLength(20);
    expect(await executor(stateDir).submit(request(job))).toEqual({ jobId: '21' });
  });

  it('refuses malformed ids, names and submissions before touching anything', async () => {
    const ex = executor(await tempDir());
    const job = await jobWith('exit 0');

    for (const id of ['', '1;rm -rf /', '-1', '1_2', '../1', '1 ']) {
      await expect(ex.release(id)).rejects.toThrow('is not a job id');
      await expect(ex.cancel(id)).rejects.toThrow('is not a job id');
      await expect(ex.endState(id)).rejects.toThrow('is not a job id');
    }
    await expect(ex.listJobs('a,b')).rejects.toThrow('[buildenv] job_name');
    await expect(ex.submit(request(job, [], ''))).rejects.toThrow('[buildenv] job_name');
    await expect(ex.submit({ ...request(job), workDir: 'relative/dir' })).rejects.toThrow(
      'must be an absolute path',
    );
    await expect(ex.submit({ ...request(job), workDir: join(job.dir, 'missing') })).rejects.toThrow(
      'does not exist',
    );
    await expect(ex.submit({ ...request(job), script: 'no-such.sh' })).rejects.toThrow(
      `unable to open job script ${join(job.dir, 'no-such.sh')}`,
    );
    await expect(ex.submit(request(job, ['a\0b']))).rejects.toThrow(SlurmCommandError);
    expect(withoutWorkDirs(await ex.listJobs(NAME))).toEqual([]);
    expect(() => new LocalExecutor({ stateDir: job.dir, maxConcurrent: 0 })).toThrow('at least 1');
  });
});
