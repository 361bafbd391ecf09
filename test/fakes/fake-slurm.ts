import { SlurmCommandError, SlurmUnavailableError } from '../../src/slurm/slurm.errors.js';
import type {
  JobEndInfo,
  QueuedJob,
  SlurmPort,
  SubmitRequest,
} from '../../src/slurm/slurm.port.js';

/** A job the fake holds in its queue. */
export interface FakeJob {
  readonly id: string;
  readonly name: string;
  /** Empty for foreign jobs (added with addForeignJob). */
  readonly workDir: string;
  readonly schedulerArgs: readonly string[];
  readonly script: string;
  readonly scriptArgs: readonly string[];
  state: string;
  reason: string;
  held: boolean;
  /** Listed only when set (squeue's long format, v0.9 configs). */
  cluster?: string;
  partition?: string;
  eligibleTime?: string;
}

export type FakeSlurmMethod = 'submit' | 'listJobs' | 'release' | 'cancel' | 'endState';

export interface FakeSlurmCall {
  readonly method: FakeSlurmMethod;
  readonly args: readonly unknown[];
  /** The squeue row the caller passed to release/endState, if any. */
  readonly queued?: QueuedJob;
}

/**
 * An in-memory Slurm for unit and e2e tests, stateful across calls so a test can say "job 1000 is
 * held, then running, then gone" and run the job manager over several ticks:
 *
 *   const slurm = new FakeSlurm();
 *   const { jobId } = await slurm.submit(req);   // held unless req.hold === false, like the adapter
 *   await slurm.release(jobId);                  // the code under test does this
 *   slurm.start(jobId);                          // test: the scheduler started it
 *   slurm.finish(jobId, 'FAILED');               // test: it left the queue
 *
 * Like the real scheduler, it rejects what Slurm would reject (release of a finished job).
 * Calls that only a broken test or bot would make (an id it never issued) throw loudly.
 */
export class FakeSlurm implements SlurmPort {
  /** Every SlurmPort call, in order, including those that threw. */
  readonly calls: FakeSlurmCall[] = [];
  private nextId: number;
  private readonly queue = new Map<string, FakeJob>();
  /** End states of jobs that left the queue and are still remembered (until purge()). */
  private readonly ended = new Map<string, JobEndInfo>();
  private readonly issued = new Set<string>();
  private submitFailure: string | undefined;
  private unavailable = false;

  private readonly location: { cluster?: string; partition?: string };

  /** `cluster`/`partition`: listed for every job submitted, as squeue's long format does. */
  constructor(opts: { firstJobId?: number; cluster?: string; partition?: string } = {}) {
    this.nextId = opts.firstJobId ?? 1000;
    this.location = { cluster: opts.cluster, partition: opts.partition };
  }

  // ----- SlurmPort

  async submit(req: SubmitRequest): Promise<{ jobId: string }> {
    this.record('submit', req);
    this.throwIfUnavailable('sbatch', 'Batch job submission failed: ');
    if (this.submitFailure !== undefined) {
      const stderr = this.submitFailure;
      this.submitFailure = undefined;
      throw new SlurmCommandError({ command: 'sbatch', args: [], exitCode: 1, stderr });
    }
    const id = this.newId();
    this.queue.set(id, {
      id,
      name: req.jobName,
      workDir: req.workDir,
      schedulerArgs: [...req.schedulerArgs],
      script: req.script,
      scriptArgs: [...req.scriptArgs],
      state: 'PENDING',
      // delayed_begin jobs wait for their --begin time, as Slurm reports it.
      reason: req.hold === false ? 'BeginTime' : 'JobHeldUser',
      held: req.hold !== false,
      ...definedOnly(this.location),
    });
    return { jobId: id };
  }

  async listJobs(jobName: string): Promise<QueuedJob[]> {
    this.record('listJobs', jobName);
    this.throwIfUnavailable('squeue', 'slurm_load_jobs error: ');
    return [...this.queue.values()]
      .filter((job) => job.name === jobName)
      .map(({ id, name, state, reason, held, cluster, partition, eligibleTime }) => ({
        id,
        name,
        state,
        reason,
        held,
        ...definedOnly({ cluster, partition, eligibleTime }),
      }));
  }

  async release(jobId: string, queued?: QueuedJob): Promise<void> {
    this.record('release', jobId);
    this.noteRow(queued);
    this.throwIfUnavailable('scontrol', '', 'Unexpected message received');
    this.assertIssued('release', jobId);
    const job = this.queue.get(jobId);
    if (!job) {
      throw new SlurmCommandError({
        command: 'scontrol',
        args: ['release', jobId],
        exitCode: 1,
        stderr: `Job has already finished for job ${jobId}\nslurm_suspend error: Job has already finished\n`,
      });
    }
    if (job.held) {
      job.held = false;
      job.reason = 'None';
    }
  }

  async cancel(jobId: string): Promise<void> {
    this.record('cancel', jobId);
    this.throwIfUnavailable('scancel', `scancel: error: Kill job error on job id ${jobId}: `);
    this.assertIssued('cancel', jobId);
    // scancel of a job that already left the queue succeeds silently, as in Slurm.
    if (this.queue.has(jobId)) {
      this.leaveQueue(jobId, { state: 'CANCELLED', exitCode: '0:0' });
    }
  }

  async endState(jobId: string, lastSeen?: QueuedJob): Promise<JobEndInfo | undefined> {
    this.record('endState', jobId);
    this.noteRow(lastSeen);
    this.throwIfUnavailable('scontrol', 'slurm_load_jobs error: ');
    const queued = this.queue.get(jobId);
    if (queued) {
      return { state: queued.state, exitCode: '0:0' };
    }
    return this.ended.get(jobId);
  }

  // ----- test helpers: what the scheduler does on its own

  /**
   * The job was submitted with `--begin` (job_handover_protocol = delayed_begin) rather than held:
   * pending for BeginTime until `eligibleTime`, then start() it.
   */
  delayBegin(jobId: string, eligibleTime: string): void {
    const job = this.queued(jobId, 'delayBegin');
    job.held = false;
    job.state = 'PENDING';
    job.reason = 'BeginTime';
    job.eligibleTime = eligibleTime;
  }

  /** The scheduler starts a released job. */
  start(jobId: string): void {
    const job = this.queued(jobId, 'start');
    if (job.held) {
      throw new Error(`FakeSlurm.start(${jobId}): the job is still held; release it first`);
    }
    job.state = 'RUNNING';
    job.reason = 'None';
  }

  /** The job leaves the queue; endState() remembers how it ended until purge(). */
  finish(jobId: string, endState = 'COMPLETED', exitCode?: string): void {
    this.queued(jobId, 'finish');
    this.leaveQueue(jobId, {
      state: endState,
      exitCode: exitCode ?? (endState === 'COMPLETED' ? '0:0' : '1:0'),
    });
  }

  /** Slurm forgot the finished job (MinJobAge passed): endState() now returns undefined. */
  purge(jobId: string): void {
    if (!this.ended.delete(jobId)) {
      throw new Error(`FakeSlurm.purge(${jobId}): no finished job with that id`);
    }
  }

  /** An operator (`scontrol hold`: JobHeldAdmin) or user holds a pending job again. */
  hold(jobId: string, by: 'user' | 'admin' = 'admin'): void {
    const job = this.queued(jobId, 'hold');
    job.state = 'PENDING';
    job.held = true;
    job.reason = by === 'admin' ? 'JobHeldAdmin' : 'JobHeldUser';
  }

  /** The next submit() fails as sbatch would, with this stderr. */
  failNextSubmit(
    stderr = 'sbatch: error: Batch job submission failed: Invalid feature specification\n',
  ): void {
    this.submitFailure = stderr;
  }

  /** While true, every call fails as with slurmctld down (SlurmUnavailableError). */
  setUnavailable(unavailable: boolean): void {
    this.unavailable = unavailable;
  }

  /** Another user's or bot's job in the same queue (it has another name). */
  addForeignJob(job: { name: string; state?: string; reason?: string; held?: boolean }): string {
    const id = this.newId();
    const held = job.held ?? false;
    this.queue.set(id, {
      id,
      name: job.name,
      workDir: '',
      schedulerArgs: [],
      script: '',
      scriptArgs: [],
      state: job.state ?? 'PENDING',
      reason: job.reason ?? (held ? 'JobHeldUser' : 'Priority'),
      held,
    });
    return id;
  }

  /** A copy of a queued job, or undefined once it left the queue. */
  job(jobId: string): FakeJob | undefined {
    const job = this.queue.get(jobId);
    return job ? { ...job } : undefined;
  }

  /** Copies of all queued jobs, in submission order. */
  jobs(): FakeJob[] {
    return [...this.queue.values()].map((job) => ({ ...job }));
  }

  /** Calls of one method, e.g. `callsOf('release')`. */
  callsOf(method: FakeSlurmMethod): FakeSlurmCall[] {
    return this.calls.filter((call) => call.method === method);
  }

  // ----- internals

  private record(method: FakeSlurmMethod, ...args: unknown[]): void {
    this.calls.push({ method, args });
  }

  /** Keeps the row a caller passed with the call just recorded (args stay the job id alone). */
  private noteRow(queued: QueuedJob | undefined): void {
    if (queued) {
      this.calls[this.calls.length - 1] = { ...this.calls[this.calls.length - 1], queued };
    }
  }

  private newId(): string {
    const id = String(this.nextId++);
    this.issued.add(id);
    return id;
  }

  private leaveQueue(jobId: string, info: JobEndInfo): void {
    this.queue.delete(jobId);
    this.ended.set(jobId, info);
  }

  private queued(jobId: string, helper: string): FakeJob {
    const job = this.queue.get(jobId);
    if (!job) {
      throw new Error(`FakeSlurm.${helper}(${jobId}): no such job in the queue`);
    }
    return job;
  }

  private assertIssued(method: FakeSlurmMethod, jobId: string): void {
    if (!this.issued.has(jobId)) {
      throw new Error(
        `FakeSlurm.${method}(${JSON.stringify(jobId)}): this fake never issued that job id (ids so far: ${[...this.issued].join(', ') || 'none'})`,
      );
    }
  }

  private throwIfUnavailable(
    command: string,
    prefix: string,
    reason = 'Unable to contact slurm controller (connect failure)',
  ): void {
    if (!this.unavailable) {
      return;
    }
    throw new SlurmUnavailableError({
      command,
      args: [],
      exitCode: 1,
      stderr: `${prefix}${reason}\n`,
    });
  }
}

function definedOnly<T extends object>(values: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(values).filter(([, value]) => value !== undefined),
  ) as Partial<T>;
}
