import { availableParallelism } from 'node:os';
import { Logger, type OnModuleDestroy } from '@nestjs/common';
import { processIdentity, type ProcessIdentity } from '../common/process-identity.js';
import { LocalJobRunner, type ShutdownOptions } from './local-job-runner.js';
import { LocalJobStore, type EndRecord } from './local-job-store.js';
import {
  assertJobId,
  assertJobName,
  checkSubmission,
  refusal,
  unavailable,
} from './local-executor.checks.js';
import { assertSupervisorPresent, JobSupervisors } from './local-job-supervisor.js';
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
 * LocalJobStore reads and writes those files, LocalJobRunner makes the transitions (start, end,
 * cancel), and each job runs under its own supervisor process (supervise-job.cjs), started by
 * local-job-supervisor.ts with argument arrays, never a shell: script arguments carry data from
 * pull requests.
 */
export class LocalExecutor implements SlurmPort, OnModuleDestroy {
  private readonly logger = new Logger(LocalExecutor.name);
  private readonly store: LocalJobStore;
  private readonly self: ProcessIdentity;
  private readonly runner: LocalJobRunner;

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
    this.self = processIdentity();
    this.runner = new LocalJobRunner(
      this.store,
      new JobSupervisors(this.logger, this.self.host, options.killGraceMs ?? 10_000),
      this.self,
      this.logger,
      maxConcurrent,
      options.pollIntervalMs ?? 1000,
    );
  }

  // ----- SlurmPort

  async submit(req: SubmitRequest): Promise<{ jobId: string }> {
    assertJobName(req.jobName);
    const { workDir, script } = await checkSubmission(req);
    this.runner.startUp();
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
    if (req.hold === false) {
      // delayed_begin: nobody releases the job, so it is eligible at once (there is no --begin
      // here: the local executor starts it when a slot is free).
      await this.store.create(id, 'released', { at: new Date().toISOString() });
      this.runner.requestSweep();
    }
    this.logger.debug(
      `submitted job ${id} (${req.jobName}) in ${workDir}${req.hold === false ? '' : ', held'}`,
    );
    return { jobId: id };
  }

  async listJobs(jobName: string): Promise<QueuedJob[]> {
    assertJobName(jobName);
    this.runner.startUp();
    try {
      // Brings the queue up to date first: ended jobs leave it, released ones start.
      await this.runner.sweep();
      const files = await this.store.scan();
      const pending: string[] = [];
      let running = 0;
      for (const [id, kinds] of files) {
        if (!kinds.has('json') || kinds.has('end')) {
          continue;
        }
        if (kinds.has('started')) {
          if ((await this.store.claim(id)).host === this.self.host) {
            running += 1;
          }
        } else if (kinds.has('released') && !kinds.has('cancel')) {
          pending.push(id);
        }
      }
      const slotsFull = running >= this.runner.maxConcurrent;
      const jobs: QueuedJob[] = [];
      for (const [id, kinds] of files) {
        if (!kinds.has('json') || kinds.has('end') || kinds.has('exit')) {
          continue;
        }
        const record = await this.store.record(id);
        if (record.name !== jobName) {
          continue;
        }
        const { workDir } = record;
        if (kinds.has('started')) {
          // Claimed by cancel() a moment ago: as good as gone.
          if (kinds.has('cancel') && !kinds.has('pid')) {
            continue;
          }
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
      if (error instanceof SlurmCommandError) {
        throw error;
      }
      throw unavailable(this.store.root, 'list jobs', [jobName], error);
    }
  }

  async release(jobId: string): Promise<void> {
    assertJobId(jobId);
    this.runner.startUp();
    const kinds = await this.store.kindsOf(jobId);
    if (!kinds.has('json')) {
      throw refusal('release', jobId, `Invalid job id specified for job ${jobId}`);
    }
    if (kinds.has('end') || kinds.has('exit') || kinds.has('cancel')) {
      throw refusal('release', jobId, `Job has already finished for job ${jobId}`);
    }
    await this.store.create(jobId, 'released', { at: new Date().toISOString() });
    this.runner.requestSweep();
  }

  async cancel(jobId: string): Promise<void> {
    assertJobId(jobId);
    this.runner.startUp();
    await this.runner.cancel(jobId);
  }

  async endState(jobId: string): Promise<JobEndInfo | undefined> {
    assertJobId(jobId);
    this.runner.startUp();
    try {
      let kinds = await this.store.kindsOf(jobId);
      if (!kinds.has('json')) {
        return undefined;
      }
      if (!kinds.has('end') && kinds.has('started')) {
        if (await this.runner.checkRunning(jobId, kinds)) {
          kinds = await this.store.kindsOf(jobId);
        }
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
  shutdown(options: ShutdownOptions): Promise<void> {
    return this.runner.shutdown(options);
  }

  /** Stops the executor and leaves running jobs alone. */
  close(): Promise<void> {
    return this.shutdown({ killRunning: false });
  }

  onModuleDestroy(): Promise<void> {
    return this.close();
  }
}
