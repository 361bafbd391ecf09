/**
 * What the bot needs from a batch scheduler, in the bot's words (not sbatch's flags).
 * SlurmCliAdapter implements it with sbatch/squeue/scontrol; test/fakes/fake-slurm.ts in memory.
 */
export interface SubmitRequest {
  /** Job directory; the job runs there and Slurm writes slurm-<ID>.out there. */
  readonly workDir: string;
  /** Operator-given scheduler args: slurm_params words followed by the target's words. */
  readonly schedulerArgs: readonly string[];
  /** --job-name that marks the job as this bot instance's. */
  readonly jobName: string;
  /** The job script and its own arguments. */
  readonly script: string;
  readonly scriptArgs: readonly string[];
  /**
   * Submit held, for the job manager to release (hold_release; the default). false: the job
   * may start on its own (delayed_begin, whose --begin is in schedulerArgs); it is never held.
   */
  readonly hold?: boolean;
}

/** A job as the scheduler's queue shows it. */
export interface QueuedJob {
  readonly id: string;
  readonly name: string;
  /** Slurm's state name: PENDING, RUNNING, COMPLETING, CONFIGURING, SUSPENDED, ... */
  readonly state: string;
  /** Slurm's reason, e.g. JobHeldUser, Resources, None. */
  readonly reason: string;
  /** Held by user or admin: the job manager must release it before it can start. */
  readonly held: boolean;
  /**
   * Where the job runs (sbatch's --chdir): how a submission interrupted before its id was
   * recorded is found again. Absent when the scheduler did not say.
   */
  readonly workDir?: string;
  /** Cluster, partition(s) and EligibleTime: only with the v0.9 queue format (squeue --Format). */
  readonly cluster?: string;
  readonly partition?: string;
  /** When the job may start, as Slurm prints it (e.g. 2026-06-02T14:03:20); absent for N/A. */
  readonly eligibleTime?: string;
}

/** What the scheduler still knows of a job that may have left the queue. */
export interface JobEndInfo {
  /** COMPLETED, FAILED, CANCELLED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, ... */
  readonly state: string;
  /** "exit:signal" as Slurm prints it, when known. */
  readonly exitCode?: string;
}

export interface SlurmPort {
  /**
   * Submits a job; unless `req.hold` is false it stays held until release(), whatever
   * schedulerArgs say, and with `hold: false` it is never held.
   */
  submit(req: SubmitRequest): Promise<{ jobId: string }>;
  /** ONE queue query: this user's jobs named jobName. Throws SlurmCommandError when the scheduler cannot be asked. */
  listJobs(jobName: string): Promise<QueuedJob[]>;
  /** `queued`: the job's row from listJobs (its cluster, partition, … may be needed to address it). */
  release(jobId: string, queued?: QueuedJob): Promise<void>;
  cancel(jobId: string): Promise<void>;
  /**
   * End state if the scheduler still remembers the job; undefined if it does not. `queued`: the
   * job's last row from listJobs, when the caller saw one.
   */
  endState(jobId: string, queued?: QueuedJob): Promise<JobEndInfo | undefined>;
}
