import { availableParallelism } from 'node:os';
import { Logger, type OnModuleDestroy } from '@nestjs/common';
import { errorMessage } from '../common/error-message.js';
import {
  isAlive,
  processIdentity,
  readProcStart,
  type ProcessIdentity,
} from '../common/process-identity.js';
import {
  LocalJobStore,
  type EndRecord,
  type FileKind,
  type RunningProcess,
  type StartClaim,
} from './local-job-store.js';
import {
  assertJobId,
  assertJobName,
  checkSubmission,
  refusal,
  unavailable,
} from './local-executor.checks.js';
import { outputPath, recordJobEnd } from './local-job-end.js';
import { assertSupervisorPresent, JobSupervisors, signalGroup } from './local-job-supervisor.js';
import { SlurmCommandError } from './slurm.errors.js';
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
 * LocalJobStore reads and writes those files; each job runs under its own supervisor process
 * (supervise-job.cjs), started by local-job-supervisor.ts with argument arrays, never a
 * shell: script arguments carry data from pull requests.
 */
export class LocalExecutor implements SlurmPort, OnModuleDestroy {
  private readonly logger = new Logger(LocalExecutor.name);
  private readonly store: LocalJobStore;
  private readonly maxConcurrent: number;
  private readonly pollIntervalMs: number;
  private readonly self: ProcessIdentity;
  private readonly supervisors: JobSupervisors;
  private readonly inflight = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private startedUp = false;
  private closed = false;
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
    assertSupervisorPresent();
    this.store = new LocalJobStore(options.stateDir, this.logger);
    this.maxConcurrent = maxConcurrent;
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.self = processIdentity();
    this.supervisors = new JobSupervisors(
      this.logger,
      this.self.host,
      options.killGraceMs ?? 10_000,
    );
  }

  // ----- SlurmPort

  async submit(req: SubmitRequest): Promise<{ jobId: string }> {
    assertJobName(req.jobName);
    const { workDir, script } = await checkSubmission(req);
    this.startUp();
    const id = await this.store
      .allocate((jobId) => ({
        id: jobId,
        name: req.jobName,
        workDir,
        script,
        scriptArgs: [...req.scriptArgs],
        schedulerArgs: [...req.schedulerArgs],
        submittedAt: new Date().toISOString(),
      }))
      .catch((error: unknown) => {
        throw unavailable(this.store.root, 'submit', [], error);
      });
    this.logger.debug(`submitted job ${id} (${req.jobName}) in ${workDir}, held`);
    return { jobId: id };
  }

  async listJobs(jobName: string): Promise<QueuedJob[]> {
    assertJobName(jobName);
    this.startUp();
    try {
      // Brings the queue up to date first: ended jobs leave it, released ones start.
      await this.sweep();
      const files = await this.store.scan();
      const pending: string[] = [];
      let running = 0;
      for (const [id, kinds] of files) {
        if (!kinds.has('json') || kinds.has('end')) continue;
        if (kinds.has('started')) {
          if ((await this.store.claim(id)).host === this.self.host) running += 1;
        } else if (kinds.has('released') && !kinds.has('cancel')) pending.push(id);
      }
      const slotsFull = running >= this.maxConcurrent;
      const jobs: QueuedJob[] = [];
      for (const [id, kinds] of files) {
        if (!kinds.has('json') || kinds.has('end') || kinds.has('exit')) continue;
        const record = await this.store.record(id);
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
      throw unavailable(this.store.root, 'list jobs', [jobName], error);
    }
  }

  async release(jobId: string): Promise<void> {
    assertJobId(jobId);
    this.startUp();
    const kinds = await this.store.kindsOf(jobId);
    if (!kinds.has('json')) {
      throw refusal('release', jobId, `Invalid job id specified for job ${jobId}`);
    }
    if (kinds.has('end') || kinds.has('exit') || kinds.has('cancel')) {
      throw refusal('release', jobId, `Job has already finished for job ${jobId}`);
    }
    await this.store.create(jobId, 'released', { at: new Date().toISOString() });
    this.requestSweep();
  }

  async cancel(jobId: string): Promise<void> {
    assertJobId(jobId);
    this.startUp();
    const kinds = await this.store.kindsOf(jobId);
    // Like scancel: an unknown or finished job is no error.
    if (!kinds.has('json') || kinds.has('end') || kinds.has('exit')) return;
    await this.store.create(jobId, 'cancel', { at: new Date().toISOString(), by: this.self });
    const neverStarts = await this.store.create(jobId, 'started', {
      ...this.self,
      at: new Date().toISOString(),
      cancelled: true,
    } satisfies StartClaim);
    if (neverStarts) {
      await this.finalize(jobId);
      return;
    }
    const proc = await this.store.process(jobId);
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
      let kinds = await this.store.kindsOf(jobId);
      if (!kinds.has('json')) return undefined;
      if (!kinds.has('end') && kinds.has('started')) {
        if (await this.checkRunning(jobId, kinds)) kinds = await this.store.kindsOf(jobId);
      }
      if (kinds.has('end')) {
        const end = await this.store.read<EndRecord>(jobId, 'end');
        return end.exitCode === undefined
          ? { state: end.state }
          : { state: end.state, exitCode: end.exitCode };
      }
      // As `scontrol show job` for a queued job: its current state.
      return { state: kinds.has('started') ? 'RUNNING' : 'PENDING' };
    } catch (error) {
      throw unavailable(this.store.root, 'read the end state of', [jobId], error);
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
    this.supervisors.detachAll();
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  private async killRunning(): Promise<void> {
    this.supervisors.stopKillTimers();
    const files = await this.store.scan().catch(() => new Map<string, Set<FileKind>>());
    const ended: Promise<unknown>[] = [];
    for (const [id, kinds] of files) {
      if (!kinds.has('started') || kinds.has('end')) continue;
      const proc = await this.store.process(id).catch(() => undefined);
      if (proc === undefined || proc.host !== this.self.host || !isAlive(proc, this.self)) continue;
      await this.store.create(id, 'cancel', { at: new Date().toISOString(), by: this.self });
      signalGroup(proc.pid, 'SIGKILL');
      const own = this.supervisors.exited(id);
      ended.push(
        (own ?? waitUntil(() => !isAlive(proc, this.self), 5000)).then(() => this.finalize(id)),
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
        this.logger.error(
          `cannot look after the jobs in ${this.store.jobsDir}: ${errorMessage(error)}`,
        ),
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
    const files = await this.store.scan();
    let running = 0;
    const pending: string[] = [];
    for (const [id, kinds] of files) {
      if (!kinds.has('json') || kinds.has('end')) continue;
      if (kinds.has('started')) {
        const ended = await this.checkRunning(id, kinds);
        if (!ended && (await this.store.claim(id)).host === this.self.host) running += 1;
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
    if (this.supervisors.isOwn(id)) {
      // Its exit event records the end; here only a cancel from another process needs acting on.
      const proc = this.store.knownProcess(id);
      if (kinds.has('cancel') && proc) await this.terminate(id, proc);
      return false;
    }
    const claim = await this.store.claim(id);
    if (claim.cancelled) {
      await this.finalize(id);
      return true;
    }
    const proc = kinds.has('pid') ? await this.store.process(id) : undefined;
    if (proc === undefined) {
      // Claimed but no pid: being started now, or its starter died before the job began.
      if (claim.host !== this.self.host || isAlive(claim, this.self)) return false;
      if (await this.store.has(id, 'pid')) return false; // written just now; next pass
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
    const job = await this.store.record(id);
    const claimed = await this.store.create(id, 'started', {
      ...this.self,
      at: new Date().toISOString(),
    } satisfies StartClaim);
    if (!claimed) return false; // another process started (or cancelled) it
    const started = await this.supervisors.launch(
      job,
      { out: outputPath(job), exit: this.store.path(id, 'exit') },
      () => this.onSupervisorExit(id),
    );
    if ('failure' in started) {
      await this.finalize(id, started.failure);
      return false;
    }
    const { pid } = started;
    const proc: RunningProcess = {
      pid,
      host: this.self.host,
      bootId: this.self.bootId,
      procStart: readProcStart(pid),
      startedAt: new Date().toISOString(),
    };
    await this.store.writeProcess(id, proc);
    this.logger.log(`job ${id} (${job.name}) started: pid ${pid}, in ${job.workDir}`);
    if (await this.store.has(id, 'cancel')) await this.terminate(id, proc);
    return true;
  }

  private onSupervisorExit(id: string): void {
    this.inBackground(
      this.finalize(id)
        .then(
          () => undefined,
          (error: unknown) =>
            this.logger.error(`job ${id}: cannot record how it ended: ${errorMessage(error)}`),
        )
        .finally(() => this.requestSweep()),
    );
  }

  private terminate(id: string, proc: RunningProcess): Promise<void> {
    return this.supervisors.terminate(id, proc.pid, async () =>
      outputPath(await this.store.record(id)),
    );
  }

  private async finalize(id: string, lostNote?: string): Promise<EndRecord> {
    const end = await recordJobEnd(this.store, this.logger, id, lostNote);
    // An ended job is read from its .end file from now on.
    this.supervisors.forget(id);
    return end;
  }
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) {
    await new Promise((done) => setTimeout(done, 20));
  }
}
