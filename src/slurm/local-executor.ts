import { spawn, type ChildProcess } from 'node:child_process';
import { appendFile, open, readdir, readFile, stat, type FileHandle } from 'node:fs/promises';
import { availableParallelism, constants as osConstants } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { Logger, type OnModuleDestroy } from '@nestjs/common';
import { writeFileAtomic, writeFileExclusive } from '../common/atomic-file.js';
import {
  isAlive,
  processIdentity,
  readProcStart,
  type ProcessIdentity,
} from '../common/process-identity.js';
import { SlurmCommandError, SlurmUnavailableError } from './slurm.errors.js';
import type { JobEndInfo, QueuedJob, SlurmPort, SubmitRequest } from './slurm.port.js';

export interface LocalExecutorOptions {
  /** The executor keeps its state in `<stateDir>/local-executor/`. */
  readonly stateDir: string;
  /** Jobs running at once on this machine; default: the number of CPUs. */
  readonly maxConcurrent?: number;
  /** Between SIGTERM and SIGKILL when a running job is cancelled (Slurm's KillWait); default 10 s. */
  readonly killGraceMs?: number;
  /** How often jobs started elsewhere, released elsewhere or left behind are looked at; default 1 s. */
  readonly pollIntervalMs?: number;
}

export interface ShutdownOptions {
  /** Kill (SIGKILL) the jobs running on this machine and record them CANCELLED; else leave them running. */
  readonly killRunning: boolean;
}

/** `jobs/<id>.json`: what was submitted. Written once, when the id is claimed; never changed. */
interface JobRecord {
  readonly id: string;
  readonly name: string;
  readonly workDir: string;
  /** Absolute: resolved against workDir at submission, as sbatch reads the script at submission. */
  readonly script: string;
  readonly scriptArgs: readonly string[];
  /** Recorded for operators; the local executor has no use for sbatch options. */
  readonly schedulerArgs: readonly string[];
  readonly submittedAt: string;
}

/** Identifies a process across restarts: the pid alone may be reused after it ended. */
/** `jobs/<id>.started`: the one claim to start the job (or, with `cancelled`, to never start it). */
interface StartClaim extends ProcessIdentity {
  readonly at: string;
  readonly cancelled?: boolean;
}

/** `jobs/<id>.pid`: the job's supervisor, leader of the job's process group. */
interface RunningProcess extends ProcessIdentity {
  readonly startedAt: string;
}

/** `jobs/<id>.exit`: written by the supervisor when the job script ended. */
interface ExitStatus {
  readonly code: number | null;
  readonly signal: string | null;
  /** Set when the script could not be started at all (ENOENT, EACCES, ...). */
  readonly error?: string;
}

/** `jobs/<id>.end`: how the job ended, decided once by whichever process saw the end first. */
interface EndRecord {
  readonly state: 'COMPLETED' | 'FAILED' | 'CANCELLED';
  readonly exitCode?: string;
  readonly endedAt: string;
  readonly note?: string;
}

type FileKind = 'json' | 'released' | 'started' | 'pid' | 'cancel' | 'exit' | 'end';
const STATE_FILE = /^(\d+)\.(json|released|started|pid|cancel|exit|end)$/;
const JOB_ID = /^\d{1,15}$/;
/** Environment variables of the bot that must never reach a job (load-config.ts reads them). */
const SECRET_ENV: readonly string[] = ['GITHUB_APP_SECRET_TOKEN'];

/**
 * Runs the job script and waits for it, detached from the bot (its own session and process
 * group), so that the job keeps running and its exit status is still recorded when the bot is
 * restarted or killed: a restart must not turn a finished build into an unknown one. It ignores
 * the SIGTERM that cancel sends to the whole group, so that it can record how the script ended;
 * at the end it kills what the script left behind, as Slurm ends every process of a job.
 * CommonJS source for `node -e`; argv: <exit file> <script> <args...>.
 */
const SUPERVISOR_SOURCE = `'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const [exitPath, script, ...args] = process.argv.slice(1);
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => {});
let done = false;
function finish(status) {
  if (done) return;
  done = true;
  const tmp = exitPath + '.tmp-' + process.pid;
  const fd = fs.openSync(tmp, 'w');
  fs.writeSync(fd, JSON.stringify(status));
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  fs.renameSync(tmp, exitPath);
  try { process.kill(-process.pid, 'SIGKILL'); } catch {}
  process.exit(0);
}
const child = spawn(script, args, { stdio: ['ignore', 'inherit', 'inherit'] });
child.on('error', (error) => {
  const hint = error.code === 'EACCES' ? '; make it executable (chmod +x)' : '';
  process.stderr.write('local-executor: error: cannot run ' + script + ': ' + error.message + hint + '\\n');
  finish({ code: 127, signal: null, error: String(error.code || error.message) });
});
child.on('exit', (code, signal) => finish({ code, signal }));
`;

/**
 * SlurmPort on this machine, for demos, development and one-machine sites (`[buildenv] scheduler =
 * local`); clusters use Slurm. Slurm's semantics as the bot relies on them: jobs are submitted
 * held, get a numeric id, run in their job dir with output in `slurm-<ID>.out` once released,
 * show as PENDING/RUNNING while queued and leave the queue when done; at most maxConcurrent run
 * at once; cancel ends them with Slurm's own `slurmstepd: ... CANCELLED AT` line.
 *
 * State is files under `<stateDir>/local-executor/jobs/`, one per transition and each created
 * once (exclusively) by whichever process makes that transition: `<id>.json` (submitted, held),
 * `.released`, `.started` (claim), `.pid`, `.cancel`, `.exit` (by the job's supervisor), `.end`.
 * No file is ever rewritten, so two processes (the event handler and a job manager, or a
 * restarted bot) never lose each other's updates, and a new executor over the same directory
 * continues where the last one stopped: held jobs stay held, pending ones start, running ones are
 * watched through their pid (a job can be waited for only by its parent, so others poll).
 *
 * This class, like CommandRunner, starts processes: it is an executor. Always with argument
 * arrays, never a shell: script arguments carry data from pull requests.
 */
export class LocalExecutor implements SlurmPort, OnModuleDestroy {
  private readonly logger = new Logger(LocalExecutor.name);
  private readonly root: string;
  private readonly jobsDir: string;
  private readonly nextIdPath: string;
  private readonly maxConcurrent: number;
  private readonly killGraceMs: number;
  private readonly pollIntervalMs: number;
  private readonly self: ProcessIdentity;
  /** Immutable files, read once. */
  private readonly records = new Map<string, JobRecord>();
  private readonly processes = new Map<string, RunningProcess>();
  private readonly claims = new Map<string, StartClaim>();
  /** Jobs started by this executor: the only ones whose exit it hears of at once. */
  private readonly children = new Map<string, { child: ChildProcess; exited: Promise<void> }>();
  private readonly terminating = new Set<string>();
  private readonly killTimers = new Set<NodeJS.Timeout>();
  private readonly inflight = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private startedUp = false;
  private closed = false;
  private idQueue: Promise<unknown> = Promise.resolve();
  private sweepQueue: Promise<unknown> = Promise.resolve();
  private nextSweep: Promise<void> | undefined;

  constructor(options: LocalExecutorOptions) {
    if (!options.stateDir) {
      throw new Error('local executor: no state directory given');
    }
    const maxConcurrent = options.maxConcurrent ?? availableParallelism();
    if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) {
      throw new Error(
        `local executor: the concurrent job limit must be a whole number of at least 1, not ${maxConcurrent}`,
      );
    }
    this.root = join(resolve(options.stateDir), 'local-executor');
    this.jobsDir = join(this.root, 'jobs');
    this.nextIdPath = join(this.root, 'next-id');
    this.maxConcurrent = maxConcurrent;
    this.killGraceMs = options.killGraceMs ?? 10_000;
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.self = processIdentity();
  }

  // ----- SlurmPort

  async submit(req: SubmitRequest): Promise<{ jobId: string }> {
    assertJobName(req.jobName);
    const { workDir, script } = await this.checkSubmission(req);
    this.startUp();
    const id = await this.allocate((jobId) => ({
      id: jobId,
      name: req.jobName,
      workDir,
      script,
      scriptArgs: [...req.scriptArgs],
      schedulerArgs: [...req.schedulerArgs],
      submittedAt: new Date().toISOString(),
    }));
    if (req.hold === false) {
      // delayed_begin: nobody releases the job, so it is eligible at once (there is no --begin
      // here: the local executor starts it when a slot is free).
      await this.writeState(id, 'released', { at: new Date().toISOString() });
      this.requestSweep();
    }
    this.logger.debug(
      `submitted job ${id} (${req.jobName}) in ${workDir}${req.hold === false ? '' : ', held'}`,
    );
    return { jobId: id };
  }

  async listJobs(jobName: string): Promise<QueuedJob[]> {
    assertJobName(jobName);
    this.startUp();
    try {
      // Brings the queue up to date first: ended jobs leave it, released ones start.
      await this.sweep();
      const files = await this.scan();
      const pending: string[] = [];
      let running = 0;
      for (const [id, kinds] of files) {
        if (!kinds.has('json') || kinds.has('end')) continue;
        if (kinds.has('started')) {
          if ((await this.readClaim(id)).host === this.self.host) running += 1;
        } else if (kinds.has('released') && !kinds.has('cancel')) pending.push(id);
      }
      const slotsFull = running >= this.maxConcurrent;
      const jobs: QueuedJob[] = [];
      for (const [id, kinds] of files) {
        if (!kinds.has('json') || kinds.has('end') || kinds.has('exit')) continue;
        const record = await this.readRecord(id);
        if (record.name !== jobName) continue;
        const { workDir } = record;
        if (kinds.has('started')) {
          // Claimed by cancel() a moment ago: as good as gone.
          if (kinds.has('cancel') && !kinds.has('pid')) continue;
          jobs.push({ id, name: jobName, state: 'RUNNING', reason: 'None', held: false, workDir });
        } else if (kinds.has('cancel')) {
          continue; // being cancelled before it started: as good as gone
        } else if (kinds.has('released')) {
          // As Slurm: the next job in line waits for Resources, those behind it for Priority.
          const reason = !slotsFull ? 'None' : pending[0] === id ? 'Resources' : 'Priority';
          jobs.push({ id, name: jobName, state: 'PENDING', reason, held: false, workDir });
        } else {
          jobs.push({
            id,
            name: jobName,
            state: 'PENDING',
            reason: 'JobHeldUser',
            held: true,
            workDir,
          });
        }
      }
      return jobs;
    } catch (error) {
      if (error instanceof SlurmCommandError) throw error;
      throw this.unavailable('list jobs', [jobName], error);
    }
  }

  async release(jobId: string): Promise<void> {
    assertJobId(jobId);
    this.startUp();
    const kinds = await this.kindsOf(jobId);
    if (!kinds.has('json')) {
      throw this.refusal('release', jobId, `Invalid job id specified for job ${jobId}`);
    }
    if (kinds.has('end') || kinds.has('exit') || kinds.has('cancel')) {
      throw this.refusal('release', jobId, `Job has already finished for job ${jobId}`);
    }
    await this.writeState(jobId, 'released', { at: new Date().toISOString() });
    this.requestSweep();
  }

  async cancel(jobId: string): Promise<void> {
    assertJobId(jobId);
    this.startUp();
    const kinds = await this.kindsOf(jobId);
    // Like scancel: an unknown or finished job is no error.
    if (!kinds.has('json') || kinds.has('end') || kinds.has('exit')) return;
    await this.writeState(jobId, 'cancel', { at: new Date().toISOString(), by: this.self });
    const neverStarts = await writeFileExclusive(
      this.statePath(jobId, 'started'),
      json({ ...this.self, at: new Date().toISOString(), cancelled: true } satisfies StartClaim),
    );
    if (neverStarts) {
      await this.finalize(jobId);
      return;
    }
    const proc = await this.readProcess(jobId);
    // No pid yet: its starter is between spawn and writing the pid, and checks for .cancel after.
    // Another host: its executor sees .cancel on its next poll; only it can signal the job.
    if (proc === undefined || proc.host !== this.self.host) return;
    if (isAlive(proc, this.self)) await this.terminate(jobId, proc);
    else await this.finalize(jobId);
  }

  async endState(jobId: string): Promise<JobEndInfo | undefined> {
    assertJobId(jobId);
    this.startUp();
    try {
      let kinds = await this.kindsOf(jobId);
      if (!kinds.has('json')) return undefined;
      if (!kinds.has('end') && kinds.has('started')) {
        if (await this.checkRunning(jobId, kinds)) kinds = await this.kindsOf(jobId);
      }
      if (kinds.has('end')) {
        const end = await this.readState<EndRecord>(jobId, 'end');
        return end.exitCode === undefined
          ? { state: end.state }
          : { state: end.state, exitCode: end.exitCode };
      }
      // As `scontrol show job` for a queued job: its current state.
      return { state: kinds.has('started') ? 'RUNNING' : 'PENDING' };
    } catch (error) {
      throw this.unavailable('read the end state of', [jobId], error);
    }
  }

  // ----- lifecycle

  /**
   * Stops watching and starting jobs. Running jobs keep running unless killRunning (tests, or an
   * operator stopping a one-machine site for good); the next executor over the same state
   * directory records how they ended.
   */
  async shutdown(options: ShutdownOptions): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    // A start in progress must finish writing its pid, or the job would look half-started.
    await this.sweepQueue;
    if (options.killRunning) await this.killRunning();
    for (const { child } of this.children.values()) child.removeAllListeners('exit');
    this.children.clear();
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  private async killRunning(): Promise<void> {
    for (const timer of this.killTimers) clearTimeout(timer);
    this.killTimers.clear();
    const files = await this.scan().catch(() => new Map<string, Set<FileKind>>());
    const ended: Promise<unknown>[] = [];
    for (const [id, kinds] of files) {
      if (!kinds.has('started') || kinds.has('end')) continue;
      const proc = await this.readProcess(id).catch(() => undefined);
      if (proc === undefined || proc.host !== this.self.host || !isAlive(proc, this.self)) continue;
      await this.writeState(id, 'cancel', { at: new Date().toISOString(), by: this.self });
      signalGroup(proc.pid, 'SIGKILL');
      const own = this.children.get(id);
      ended.push(
        (own ? own.exited : waitUntil(() => !isAlive(proc, this.self), 5000)).then(() =>
          this.finalize(id),
        ),
      );
    }
    await Promise.allSettled(ended);
  }

  /** Stops the executor and leaves running jobs alone. */
  close(): Promise<void> {
    return this.shutdown({ killRunning: false });
  }

  onModuleDestroy(): Promise<void> {
    return this.close();
  }

  // ----- scheduling

  /** Begins watching on first use, so that merely building the executor starts nothing. */
  private startUp(): void {
    if (this.startedUp || this.closed) return;
    this.startedUp = true;
    this.requestSweep();
    this.timer = setInterval(() => this.requestSweep(), this.pollIntervalMs);
    // The bot's lifetime is decided elsewhere; this timer must not keep a process alive.
    this.timer.unref();
  }

  private requestSweep(): void {
    if (this.closed) return;
    this.inBackground(
      this.sweep().catch((error: unknown) =>
        this.logger.error(`cannot look after the jobs in ${this.jobsDir}: ${message(error)}`),
      ),
    );
  }

  /** Work nobody awaits; shutdown() waits for it, so nothing writes state after it returned. */
  private inBackground(work: Promise<void>): void {
    this.inflight.add(work);
    void work.finally(() => this.inflight.delete(work));
  }

  /** One pass, never two at once in a process: record ended jobs, then start what fits. */
  private sweep(): Promise<void> {
    // One waiting pass serves every caller that came while another pass ran: on a slow
    // filesystem, timer ticks must not pile up passes.
    if (this.nextSweep) return this.nextSweep;
    const run = this.sweepQueue.then(() => {
      this.nextSweep = undefined;
      return this.sweepOnce();
    });
    this.nextSweep = run;
    this.sweepQueue = run.catch(() => undefined);
    return run;
  }

  private async sweepOnce(): Promise<void> {
    const files = await this.scan();
    let running = 0;
    const pending: string[] = [];
    for (const [id, kinds] of files) {
      if (!kinds.has('json') || kinds.has('end')) continue;
      if (kinds.has('started')) {
        const ended = await this.checkRunning(id, kinds);
        if (!ended && (await this.readClaim(id)).host === this.self.host) running += 1;
      } else if (kinds.has('cancel')) {
        // cancel() stopped between its two files (a crash): finish what it began.
        await this.cancel(id);
      } else if (kinds.has('released')) {
        pending.push(id);
      }
    }
    if (this.closed) return;
    for (const id of pending) {
      if (running >= this.maxConcurrent) break;
      if (await this.start(id)) running += 1;
    }
  }

  /**
   * Looks at a job that was claimed for starting; records its end when it is over.
   * @returns true when the job has ended
   */
  private async checkRunning(id: string, kinds: ReadonlySet<FileKind>): Promise<boolean> {
    if (kinds.has('exit')) {
      await this.finalize(id);
      return true;
    }
    if (this.children.has(id)) {
      // Its exit event records the end; here only a cancel from another process needs acting on.
      const proc = this.processes.get(id);
      if (kinds.has('cancel') && proc) await this.terminate(id, proc);
      return false;
    }
    const claim = await this.readClaim(id);
    if (claim.cancelled) {
      await this.finalize(id);
      return true;
    }
    const proc = kinds.has('pid') ? await this.readProcess(id) : undefined;
    if (proc === undefined) {
      // Claimed but no pid: being started now, or its starter died before the job began.
      if (claim.host !== this.self.host || isAlive(claim, this.self)) return false;
      if (await this.hasState(id, 'pid')) return false; // written just now; next pass
      await this.finalize(
        id,
        'the local executor stopped while starting the job; it may not have run',
      );
      return true;
    }
    // Only the machine that runs a job can tell whether its process lives.
    if (proc.host !== this.self.host) return false;
    if (isAlive(proc, this.self)) {
      if (kinds.has('cancel')) await this.terminate(id, proc);
      return false;
    }
    await this.finalize(id);
    return true;
  }

  /** @returns true when the job now runs (it may also have ended at once). */
  private async start(id: string): Promise<boolean> {
    const job = await this.readRecord(id);
    const claimed = await writeFileExclusive(
      this.statePath(id, 'started'),
      json({ ...this.self, at: new Date().toISOString() } satisfies StartClaim),
    );
    if (!claimed) return false; // another process started (or cancelled) it
    const outPath = join(job.workDir, `slurm-${id}.out`);
    let out: FileHandle;
    try {
      out = await open(outPath, 'a');
    } catch (error) {
      await this.finalize(id, `cannot open ${outPath}: ${message(error)}; the job did not run`);
      return false;
    }
    let child: ChildProcess;
    try {
      // detached: its own process group, so cancel can signal everything the job started, and
      // it outlives the bot. The output file is the job's stdout and stderr, as with Slurm.
      child = spawn(
        process.execPath,
        [
          '--no-warnings',
          '-e',
          SUPERVISOR_SOURCE,
          '--',
          this.statePath(id, 'exit'),
          job.script,
          ...job.scriptArgs,
        ],
        {
          cwd: job.workDir,
          env: jobEnvironment(job),
          detached: true,
          stdio: ['ignore', out.fd, out.fd],
          shell: false,
        },
      );
    } catch (error) {
      await this.finalize(id, `cannot start the job: ${message(error)}`);
      return false;
    } finally {
      // The child holds its own copy of the descriptor from here on.
      await out.close();
    }
    const pid = child.pid;
    if (pid === undefined) {
      const error = await new Promise<unknown>((done) => child.once('error', done));
      await this.finalize(id, `cannot start the job's supervisor: ${message(error)}`);
      return false;
    }
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    this.children.set(id, { child, exited });
    child.once('exit', () => this.onChildExit(id));
    child.unref();
    const proc: RunningProcess = {
      pid,
      host: this.self.host,
      bootId: this.self.bootId,
      procStart: readProcStart(pid),
      startedAt: new Date().toISOString(),
    };
    this.processes.set(id, proc);
    await writeFileAtomic(this.statePath(id, 'pid'), json(proc));
    this.logger.log(`job ${id} (${job.name}) started: pid ${pid}, in ${job.workDir}`);
    if (await this.hasState(id, 'cancel')) await this.terminate(id, proc);
    return true;
  }

  private onChildExit(id: string): void {
    this.children.delete(id);
    this.inBackground(
      this.finalize(id)
        .then(
          () => undefined,
          (error: unknown) =>
            this.logger.error(`job ${id}: cannot record how it ended: ${message(error)}`),
        )
        .finally(() => this.requestSweep()),
    );
  }

  /** Cancels a running job as Slurm does: its line in the output, SIGTERM, SIGKILL after a grace. */
  private async terminate(id: string, proc: RunningProcess): Promise<void> {
    if (this.terminating.has(id)) return;
    this.terminating.add(id);
    const at = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    // Slurm's wording, which ResultAnalyzer reads to report the job as cancelled.
    const line = `slurmstepd: error: *** JOB ${id} ON ${this.self.host} CANCELLED AT ${at} ***\n`;
    try {
      const job = await this.readRecord(id);
      await appendFile(join(job.workDir, `slurm-${id}.out`), line);
    } catch (error) {
      this.logger.warn(`job ${id}: cannot note the cancellation in its output: ${message(error)}`);
    }
    this.logger.log(`job ${id}: cancelled; sending SIGTERM to process group ${proc.pid}`);
    signalGroup(proc.pid, 'SIGTERM');
    const timer = setTimeout(() => {
      this.killTimers.delete(timer);
      if (groupAlive(proc.pid)) {
        this.logger.warn(
          `job ${id}: still running ${this.killGraceMs / 1000} s after SIGTERM; sending SIGKILL`,
        );
        signalGroup(proc.pid, 'SIGKILL');
      }
    }, this.killGraceMs);
    // A cancel must not keep the bot from exiting; a job left behind is noticed by the next one.
    timer.unref();
    this.killTimers.add(timer);
  }

  /**
   * Records how a job ended, once: the first process to get here decides, all later ones read
   * that. `lostNote` explains an end without an exit status.
   */
  private async finalize(id: string, lostNote?: string): Promise<EndRecord> {
    const endPath = this.statePath(id, 'end');
    const existing = await this.readOptional<EndRecord>(endPath);
    if (existing) return existing;
    const claim = await this.readOptional<StartClaim>(this.statePath(id, 'started'));
    const exit = await this.readOptional<ExitStatus>(this.statePath(id, 'exit'));
    const cancelled = await this.hasState(id, 'cancel');
    const endedAt = new Date().toISOString();
    let end: EndRecord;
    if (claim?.cancelled) {
      end = { state: 'CANCELLED', exitCode: '0:0', endedAt };
    } else if (exit?.error !== undefined) {
      end = {
        state: cancelled ? 'CANCELLED' : 'FAILED',
        exitCode: '127:0',
        endedAt,
        note: `the job script could not be run (${exit.error})`,
      };
    } else if (exit) {
      const exitCode = exit.code !== null ? `${exit.code}:0` : `0:${signalNumber(exit.signal)}`;
      const state = cancelled ? 'CANCELLED' : exit.code === 0 ? 'COMPLETED' : 'FAILED';
      end = { state, exitCode, endedAt };
    } else if (cancelled) {
      // Killed after the grace period, supervisor and all.
      end = { state: 'CANCELLED', exitCode: `0:${osConstants.signals.SIGKILL}`, endedAt };
    } else {
      end = {
        state: 'FAILED',
        endedAt,
        note:
          lostNote ??
          'the local executor restarted while the job ran and found it gone without an exit status (its processes were killed, or the machine rebooted)',
      };
    }
    const decided = await writeFileExclusive(endPath, json(end));
    this.forget(id);
    if (!decided) return (await this.readOptional<EndRecord>(endPath)) ?? end;
    const exitText = end.exitCode ? ` exit code ${end.exitCode}` : '';
    if (end.note) {
      this.logger.warn(`job ${id}: ${end.state}: ${end.note}`);
      // The supervisor itself explains a script that could not be run.
      if (claim && !claim.cancelled && !exit) await this.noteInOutput(id, end.note);
    } else {
      this.logger.log(`job ${id}: ${end.state}${exitText}`);
    }
    return end;
  }

  /** An ended job is read from its .end file from now on. */
  private forget(id: string): void {
    this.terminating.delete(id);
    this.claims.delete(id);
    this.processes.delete(id);
    this.records.delete(id);
  }

  /** Operators and the PR's readers look in slurm-<ID>.out first. */
  private async noteInOutput(id: string, note: string): Promise<void> {
    try {
      const job = await this.readRecord(id);
      await appendFile(join(job.workDir, `slurm-${id}.out`), `local-executor: error: ${note}\n`);
    } catch (error) {
      this.logger.warn(`job ${id}: cannot add a note to its output: ${message(error)}`);
    }
  }

  // ----- job ids

  /**
   * Claims the next id by creating its record exclusively: two submitters, in this process or
   * any other, can never get the same id. The counter only saves scanning; a stale one costs a
   * few EEXIST retries. Records are never deleted, so ids are never reused.
   */
  private allocate(recordFor: (jobId: string) => JobRecord): Promise<string> {
    const run = this.idQueue.then(async () => {
      try {
        let candidate = await this.readNextId();
        while (
          !(await writeFileExclusive(
            this.statePath(String(candidate), 'json'),
            json(recordFor(String(candidate))),
          ))
        ) {
          candidate += 1;
        }
        if ((await this.readNextId()) <= candidate) {
          await writeFileAtomic(this.nextIdPath, `${candidate + 1}\n`);
        }
        return String(candidate);
      } catch (error) {
        throw this.unavailable('submit', [], error);
      }
    });
    this.idQueue = run.catch(() => undefined);
    return run;
  }

  private async readNextId(): Promise<number> {
    let text: string;
    try {
      text = await readFile(this.nextIdPath, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 1;
      throw error;
    }
    const value = Number(text.trim());
    if (!Number.isSafeInteger(value) || value < 1) {
      // Recoverable: the exclusive creates skip every id already taken.
      this.logger.warn(
        `${this.nextIdPath} holds ${JSON.stringify(text)}, not a job id; counting from 1`,
      );
      return 1;
    }
    return value;
  }

  // ----- state files

  private statePath(id: string, kind: FileKind): string {
    return join(this.jobsDir, `${id}.${kind}`);
  }

  /** All state files, by job id in ascending order (the order jobs start in). */
  private async scan(): Promise<Map<string, Set<FileKind>>> {
    let names: string[];
    try {
      names = await readdir(this.jobsDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
      throw error;
    }
    const byId = new Map<string, Set<FileKind>>();
    for (const name of names) {
      const match = STATE_FILE.exec(name);
      if (!match) continue;
      const kinds = byId.get(match[1]) ?? new Set<FileKind>();
      kinds.add(match[2] as FileKind);
      byId.set(match[1], kinds);
    }
    return new Map([...byId].sort(([a], [b]) => Number(a) - Number(b)));
  }

  private async kindsOf(id: string): Promise<Set<FileKind>> {
    const kinds = new Set<FileKind>();
    const all: FileKind[] = ['json', 'released', 'started', 'pid', 'cancel', 'exit', 'end'];
    await Promise.all(
      all.map(async (kind) => {
        if (await this.hasState(id, kind)) kinds.add(kind);
      }),
    );
    return kinds;
  }

  private async hasState(id: string, kind: FileKind): Promise<boolean> {
    try {
      await stat(this.statePath(id, kind));
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
  }

  /** Creates a transition file unless it exists: repeating a transition changes nothing. */
  private async writeState(id: string, kind: FileKind, content: object): Promise<void> {
    await writeFileExclusive(this.statePath(id, kind), json(content));
  }

  private async readRecord(id: string): Promise<JobRecord> {
    const cached = this.records.get(id);
    if (cached) return cached;
    const record = await this.readState<JobRecord>(id, 'json');
    this.records.set(id, record);
    return record;
  }

  private async readClaim(id: string): Promise<StartClaim> {
    const cached = this.claims.get(id);
    if (cached) return cached;
    const claim = await this.readState<StartClaim>(id, 'started');
    this.claims.set(id, claim);
    return claim;
  }

  private async readProcess(id: string): Promise<RunningProcess | undefined> {
    const cached = this.processes.get(id);
    if (cached) return cached;
    const proc = await this.readOptional<RunningProcess>(this.statePath(id, 'pid'));
    if (proc) this.processes.set(id, proc);
    return proc;
  }

  private async readState<T>(id: string, kind: FileKind): Promise<T> {
    const path = this.statePath(id, kind);
    const value = await this.readOptional<T>(path);
    if (value === undefined) throw new Error(`${path} is missing`);
    return value;
  }

  private async readOptional<T>(path: string): Promise<T | undefined> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    try {
      return JSON.parse(text) as T;
    } catch (error) {
      throw new Error(
        `${path} is not valid JSON (${message(error)}); it was edited or damaged by hand: restore it, or remove the job's files to forget the job`,
        { cause: error },
      );
    }
  }

  // ----- input checks and errors

  private async checkSubmission(req: SubmitRequest): Promise<{ workDir: string; script: string }> {
    if (!isAbsolute(req.workDir)) {
      throw this.refusal(
        'submit',
        '',
        `the job directory must be an absolute path, not ${JSON.stringify(req.workDir)}`,
      );
    }
    for (const value of [req.workDir, req.script, ...req.scriptArgs]) {
      if (value.includes('\0')) {
        throw this.refusal(
          'submit',
          '',
          `NUL byte in the job script or its arguments: ${JSON.stringify(value)}`,
        );
      }
    }
    const dirInfo = await stat(req.workDir).catch(() => undefined);
    if (!dirInfo?.isDirectory()) {
      throw this.refusal(
        'submit',
        '',
        `the job directory ${req.workDir} does not exist or is not a directory`,
      );
    }
    // sbatch resolves a relative script against the directory it runs in, and reads it at once.
    const script = resolve(req.workDir, req.script);
    const scriptInfo = await stat(script).catch(() => undefined);
    if (!scriptInfo?.isFile()) {
      throw this.refusal(
        'submit',
        '',
        `unable to open job script ${script}; check [buildenv] build_job_script in app.cfg`,
      );
    }
    return { workDir: req.workDir, script };
  }

  /** The request itself was refused, as sbatch/scontrol refuse it: retrying is futile. */
  private refusal(action: string, jobId: string, reason: string): SlurmCommandError {
    return new SlurmCommandError({
      command: 'local-executor',
      args: jobId ? [action, jobId] : [action],
      exitCode: 1,
      stderr: `${reason}\n`,
      message: `local executor: cannot ${action}${jobId ? ` job ${jobId}` : ''}: ${reason}`,
    });
  }

  /** The state directory cannot be used: nothing can be concluded about any job. */
  private unavailable(
    action: string,
    args: readonly string[],
    error: unknown,
  ): SlurmUnavailableError {
    return new SlurmUnavailableError({
      command: 'local-executor',
      args: [action, ...args],
      stderr: message(error),
      message: `local executor: cannot ${action}${args.length ? ` ${args.join(' ')}` : ''}: ${message(error)}; check that ${this.root} exists and is writable by the bot`,
      cause: error,
    });
  }
}

// ----- processes

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // Already gone.
  }
}

function signalNumber(signal: string | null): number {
  return (signal && osConstants.signals[signal as NodeJS.Signals]) || 0;
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) {
    await new Promise((done) => setTimeout(done, 20));
  }
}

// ----- small helpers

/**
 * The bot's environment, as sbatch passes it on, without the bot's own secrets: the job runs code
 * from the pull request.
 */
function jobEnvironment(job: JobRecord): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of SECRET_ENV) delete env[name];
  return {
    ...env,
    SLURM_JOB_ID: job.id,
    SLURM_JOB_NAME: job.name,
    SLURM_SUBMIT_DIR: job.workDir,
  };
}

function assertJobId(jobId: string): void {
  if (!JOB_ID.test(jobId)) {
    throw new Error(
      `local executor: ${JSON.stringify(jobId)} is not a job id of the local executor (digits only)`,
    );
  }
}

function assertJobName(jobName: string): void {
  // Same rule as for Slurm, so a config that works with one scheduler works with the other.
  if (jobName === '' || /[,\n\r]/.test(jobName)) {
    throw new Error(
      `invalid job name ${JSON.stringify(jobName)}: it must be non-empty without commas or line breaks ([buildenv] job_name)`,
    );
  }
}

function json(value: object): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
