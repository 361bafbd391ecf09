import type { Logger } from '@nestjs/common';
import { errorMessage } from '../common/error-message.js';
import { isAlive, readProcStart, type ProcessIdentity } from '../common/process-identity.js';
import { outputPath, recordJobEnd } from './local-job-end.js';
import type {
  EndRecord,
  FileKind,
  LocalJobStore,
  RunningProcess,
  StartClaim,
} from './local-job-store.js';
import { signalGroup, type JobSupervisors } from './local-job-supervisor.js';

export interface ShutdownOptions {
  /** Kill (SIGKILL) the jobs running on this machine and record them CANCELLED; else leave them running. */
  readonly killRunning: boolean;
}

/**
 * The local executor's scheduling: passes over the job files that record ended jobs and start
 * released ones while slots are free, cancellation, and the end of each job recorded once.
 * LocalExecutor is its SlurmPort face.
 */
export class LocalJobRunner {
  private readonly inflight = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private startedUp = false;
  private closed = false;
  private sweepQueue: Promise<unknown> = Promise.resolve();
  private nextSweep: Promise<void> | undefined;

  constructor(
    private readonly store: LocalJobStore,
    private readonly supervisors: JobSupervisors,
    private readonly self: ProcessIdentity,
    private readonly logger: Logger,
    /** Jobs running at once on this machine. */
    readonly maxConcurrent: number,
    private readonly pollIntervalMs: number,
  ) {}

  /** Cancels a job as scancel does: an unknown or finished job is no error. */
  async cancel(jobId: string): Promise<void> {
    const kinds = await this.store.kindsOf(jobId);
    if (!kinds.has('json') || kinds.has('end') || kinds.has('exit')) {
      return;
    }
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
    if (proc === undefined || proc.host !== this.self.host) {
      return;
    }
    if (isAlive(proc, this.self)) {
      await this.terminate(jobId, proc);
    } else {
      await this.finalize(jobId);
    }
  }

  /**
   * Stops watching and starting jobs. Running jobs keep running unless killRunning (tests, or an
   * operator stopping a one-machine site for good); the next executor over the same state
   * directory records how they ended.
   */
  async shutdown(options: ShutdownOptions): Promise<void> {
    this.closed = true;
    if (this.timer) {
      clearInterval(this.timer);
    }
    this.timer = undefined;
    // A start in progress must finish writing its pid, or the job would look half-started.
    await this.sweepQueue;
    if (options.killRunning) {
      await this.killRunning();
    }
    this.supervisors.detachAll();
    while (this.inflight.size > 0) {
      await Promise.allSettled([...this.inflight]);
    }
  }

  private async killRunning(): Promise<void> {
    this.supervisors.stopKillTimers();
    const files = await this.store.scan().catch(() => new Map<string, Set<FileKind>>());
    const ended: Promise<unknown>[] = [];
    for (const [id, kinds] of files) {
      if (!kinds.has('started') || kinds.has('end')) {
        continue;
      }
      const proc = await this.store.process(id).catch(() => undefined);
      if (proc === undefined || proc.host !== this.self.host || !isAlive(proc, this.self)) {
        continue;
      }
      await this.store.create(id, 'cancel', { at: new Date().toISOString(), by: this.self });
      signalGroup(proc.pid, 'SIGKILL');
      const own = this.supervisors.exited(id);
      ended.push(
        (own ?? waitUntil(() => !isAlive(proc, this.self), 5000)).then(() => this.finalize(id)),
      );
    }
    await Promise.allSettled(ended);
  }

  // ----- passes

  /** Begins watching on first use, so that merely building the executor starts nothing. */
  startUp(): void {
    if (this.startedUp || this.closed) {
      return;
    }
    this.startedUp = true;
    this.requestSweep();
    this.timer = setInterval(() => this.requestSweep(), this.pollIntervalMs);
    // The bot's lifetime is decided elsewhere; this timer must not keep a process alive.
    this.timer.unref();
  }

  requestSweep(): void {
    if (this.closed) {
      return;
    }
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
  sweep(): Promise<void> {
    // One waiting pass serves every caller that came while another pass ran: on a slow
    // filesystem, timer ticks must not pile up passes.
    if (this.nextSweep) {
      return this.nextSweep;
    }
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
      if (!kinds.has('json') || kinds.has('end')) {
        continue;
      }
      if (kinds.has('started')) {
        const ended = await this.checkRunning(id, kinds);
        if (!ended && (await this.store.claim(id)).host === this.self.host) {
          running += 1;
        }
      } else if (kinds.has('cancel')) {
        // cancel() stopped between its two files (a crash): finish what it began.
        await this.cancel(id);
      } else if (kinds.has('released')) {
        pending.push(id);
      }
    }
    if (this.closed) {
      return;
    }
    for (const id of pending) {
      if (running >= this.maxConcurrent) {
        break;
      }
      if (await this.start(id)) {
        running += 1;
      }
    }
  }

  /**
   * Looks at a job that was claimed for starting; records its end when it is over.
   * @returns true when the job has ended
   */
  async checkRunning(id: string, kinds: ReadonlySet<FileKind>): Promise<boolean> {
    if (kinds.has('exit')) {
      await this.finalize(id);
      return true;
    }
    if (this.supervisors.isOwn(id)) {
      // Its exit event records the end; here only a cancel from another process needs acting on.
      const proc = this.store.knownProcess(id);
      if (kinds.has('cancel') && proc) {
        await this.terminate(id, proc);
      }
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
      if (claim.host !== this.self.host || isAlive(claim, this.self)) {
        return false;
      }
      if (await this.store.has(id, 'pid')) {
        return false; // written just now; next pass
      }
      await this.finalize(
        id,
        'the local executor stopped while starting the job; it may not have run',
      );
      return true;
    }
    // Only the machine that runs a job can tell whether its process lives.
    if (proc.host !== this.self.host) {
      return false;
    }
    if (isAlive(proc, this.self)) {
      if (kinds.has('cancel')) {
        await this.terminate(id, proc);
      }
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
    if (!claimed) {
      return false; // another process started (or cancelled) it
    }
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
    if (await this.store.has(id, 'cancel')) {
      await this.terminate(id, proc);
    }
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

  async finalize(id: string, lostNote?: string): Promise<EndRecord> {
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
