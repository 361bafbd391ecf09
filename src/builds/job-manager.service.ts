import {
  Inject,
  Injectable,
  Logger,
  Optional,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { join } from 'node:path';
import { BotMetrics } from '../common/metrics/bot-metrics.js';
import { errorMessage } from '../common/error-message.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import type { QueuedJob, SlurmPort } from '../slurm/slurm.port.js';
import { SLURM } from '../slurm/slurm.tokens.js';
import { JobCommentsService } from './job-comments.service.js';
import { JobDirGoneError } from './job-dir-gone.js';
import { JobRows, RUNNING_STATES } from './job-rows.js';
import { JobStore, type JobMetadata, type TrackedJob } from './job-store.js';

export { RELEASED_TEXT, RUNNING_TEXT } from './job-row-texts.js';
export { RELEASE_WITHOUT_COMMENT_AFTER_MS } from './job-rows.js';

/**
 * Whether the job manager polls on its own timer: true for `serve`, false for `serve --no-job-manager`
 * and for the `job-manager` CLI, which drives tick() itself (see job-manager.runner.ts).
 */
export const JOB_MANAGER_AUTOSTART = Symbol('JOB_MANAGER_AUTOSTART');

/** Name of the job manager's timer in @nestjs/schedule's SchedulerRegistry. */
export const JOB_MANAGER_TIMER = 'job-manager';

/** States `squeue --states=all` may still list for a job that has ended. */
const ENDED_STATES = new Set([
  'BOOT_FAIL',
  'CANCELLED',
  'COMPLETED',
  'DEADLINE',
  'FAILED',
  'NODE_FAIL',
  'OUT_OF_MEMORY',
  'PREEMPTED',
  'REVOKED',
  'SPECIAL_EXIT',
  'TIMEOUT',
]);

/** What the manager acts on; a job stays "settled" until its phase changes. */
type Phase = 'held' | 'pending' | 'running' | `other:${string}`;

/** Jobs handled at once within a tick. */
const JOB_CONCURRENCY = 8;

/** Undefined when the job has left the queue (or is listed only with an end state). */
function phaseOf(queued: QueuedJob | undefined): Phase | undefined {
  if (!queued || ENDED_STATES.has(queued.state)) {
    return undefined;
  }
  if (queued.held) {
    return 'held';
  }
  if (RUNNING_STATES.has(queued.state)) {
    return 'running';
  }
  if (queued.state === 'PENDING') {
    return 'pending';
  }
  return `other:${queued.state}`;
}

function numericId(jobId: string): number {
  return Number(jobId.split('_')[0]);
}

export interface TickOptions {
  /** Like the seed's `-j`: act on these job ids only. */
  readonly jobIds?: readonly string[];
}

export interface TickReport {
  /** The queue could not be read: nothing was done, nothing declared finished. */
  readonly skipped: boolean;
  readonly skipReason?: string;
  /** Tracked jobs looked at (after the jobIds filter). */
  readonly tracked: number;
  readonly released: string[];
  /** delayed_begin: jobs seen for the first time (Slurm starts them on its own). */
  readonly received: string[];
  /** Jobs seen running for the first time. */
  readonly running: string[];
  /** Jobs whose result was posted and whose record moved to finished/. */
  readonly finished: string[];
  /** Jobs without metadata yet (or any more): left alone. */
  readonly waiting: string[];
  /** Comments edited on GitHub (a comment the manager had to create or adopt is not counted). */
  readonly commentsUpdated: number;
  readonly failed: { readonly jobId: string; readonly error: string }[];
}

type MutableReport = { -readonly [K in keyof TickReport]: TickReport[K] };

/**
 * The job manager: one tick() = one look at the queue, reconciled with job_ids_dir/submitted/.
 * Held jobs of ours are released, running ones get a row, jobs that left the queue are analysed
 * and reported; each job's PR comment is re-rendered from the rows on disk and sent only when it
 * changed, so an idle tick costs one squeue and no GitHub request.
 *
 * All state lives on disk (JobStore), so a restarted manager, or one on another host, carries on
 * where the last one stopped: a job that ended meanwhile is simply "not in the queue" next tick.
 */
@Injectable()
export class JobManagerService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(JobManagerService.name);
  private readonly jobRows: JobRows;
  /** Ticks run one after another: a slow tick delays the next instead of racing it. */
  private chain: Promise<unknown> = Promise.resolve();
  /** submitted/<ID> link targets already read; a job's dir never changes while it is tracked. */
  private readonly jobDirs = new Map<string, string>();
  /**
   * Jobs fully handled in their current queue phase (rows on disk, comment sent). Kept in memory
   * only: a restarted manager re-checks every job once, which is how it catches up.
   */
  private readonly settled = new Map<string, { phase: Phase; jobDir: string }>();
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(SLURM) private readonly slurm: SlurmPort,
    private readonly store: JobStore,
    private readonly comments: JobCommentsService,
    @Optional() @Inject(JOB_MANAGER_AUTOSTART) private readonly autostart: boolean = false,
    @Optional() private readonly scheduler?: SchedulerRegistry,
    @Optional() private readonly metrics: BotMetrics = new BotMetrics(),
  ) {
    this.jobRows = new JobRows(config, slurm, store);
  }

  onApplicationBootstrap(): void {
    if (!this.autostart) {
      return;
    }
    this.logger.log(
      `polling Slurm every ${this.config.jobManager.pollIntervalSeconds} s for jobs named ` +
        `'${this.config.buildenv.jobName}'`,
    );
    // /health then tells when polls stop completing.
    this.metrics.jobManager.scheduled(this.config.jobManager.pollIntervalSeconds);
    // First poll at once: after a restart, jobs that ended meanwhile are reported without delay.
    this.arm(0);
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    this.disarm();
    // Let a tick in flight finish its writes rather than cut it between release and row.
    await this.chain;
  }

  /** One poll. Never throws: every problem is logged and shows in the report. */
  tick(opts: TickOptions = {}): Promise<TickReport> {
    const run = this.chain.then(() => this.timedTick(opts));
    this.chain = run.catch(() => undefined);
    return run;
  }

  // A timeout re-armed after each tick, not an interval: ticks cannot pile up behind a slow one.
  private arm(delayMs: number): void {
    if (this.stopped) {
      return;
    }
    this.disarm();
    this.timer = setTimeout(() => {
      void this.tick().finally(() => this.arm(this.config.jobManager.pollIntervalSeconds * 1000));
    }, delayMs);
    this.scheduler?.addTimeout(JOB_MANAGER_TIMER, this.timer);
  }

  private disarm(): void {
    if (this.scheduler?.doesExist('timeout', JOB_MANAGER_TIMER)) {
      this.scheduler.deleteTimeout(JOB_MANAGER_TIMER);
    }
    if (this.timer) {
      clearTimeout(this.timer);
    }
    this.timer = undefined;
  }

  private async timedTick(opts: TickOptions): Promise<TickReport> {
    const started = performance.now();
    const report = await this.runTick(opts);
    this.metrics.jobManager.tickEnded((performance.now() - started) / 1000, report.skipped);
    return report;
  }

  private async runTick(opts: TickOptions): Promise<TickReport> {
    const report: MutableReport = {
      skipped: false,
      tracked: 0,
      released: [],
      received: [],
      running: [],
      finished: [],
      waiting: [],
      commentsUpdated: 0,
      failed: [],
    };
    // submitted/ is read BEFORE the queue: a job recorded after squeue ran would otherwise look
    // like one that already left the queue and be reported finished before it even started.
    let tracked: TrackedJob[];
    try {
      tracked = await this.listTracked(opts.jobIds);
    } catch (error) {
      return this.skip(report, `cannot list ${this.submittedDir()}`, errorMessage(error));
    }
    report.tracked = tracked.length;
    if (tracked.length === 0) {
      return report;
    }

    let queue: Map<string, QueuedJob>;
    try {
      const jobs = await this.slurm.listJobs(this.config.buildenv.jobName);
      this.metrics.jobManager.squeueSucceeded();
      queue = new Map(jobs.map((job) => [job.id, job]));
    } catch (error) {
      return this.skip(report, 'squeue failed', errorMessage(error));
    }

    // A few jobs at a time: on NFS/Lustre a job costs several round trips, and after a restart
    // every job is looked at once. GitHub writes are still paced by the client.
    let next = 0;
    const worker = async () => {
      while (next < tracked.length) {
        const job = tracked[next++];
        const queued = queue.get(job.jobId);
        if (queued) {
          this.jobRows.saw(queued);
        }
        const phase = phaseOf(queued);
        const settled = this.settled.get(job.jobId);
        // Nothing changed since this job was fully handled: no file read, no request.
        if (phase && settled?.phase === phase && settled.jobDir === job.jobDir) {
          continue;
        }
        this.settled.delete(job.jobId);
        // A held job is looked at again each poll until released; under delayed_begin the bot
        // never releases, so a job someone else holds is settled like any other.
        const actionable = phase === 'held' && this.jobRows.releasesJobs;
        if ((await this.processJob(job, queued, report)) && phase && !actionable) {
          this.settled.set(job.jobId, { phase, jobDir: job.jobDir });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(JOB_CONCURRENCY, tracked.length) }, worker));
    const lists = [
      report.released,
      report.received,
      report.running,
      report.finished,
      report.waiting,
    ];
    for (const list of lists) {
      list.sort((a, b) => numericId(a) - numericId(b));
    }
    report.failed.sort((a, b) => numericId(a.jobId) - numericId(b.jobId));
    return report;
  }

  private submittedDir(): string {
    return join(this.config.jobManager.jobIdsDir, 'submitted');
  }

  /**
   * The tracked jobs, like JobStore.listSubmitted() but reading a link only for ids not seen
   * before: at 5,000 jobs one readlink each costs more CPU than the rest of an idle tick.
   */
  private async listTracked(only?: readonly string[]): Promise<TrackedJob[]> {
    const dir = this.submittedDir();
    let ids = await this.store.listSubmittedIds();
    if (only) {
      const present = new Set(ids);
      for (const id of only) {
        if (!present.has(id)) {
          this.logger.log(`job ${id}: not tracked in ${dir}, nothing to do`);
        }
      }
      const wanted = new Set(only);
      ids = ids.filter((id) => wanted.has(id));
    }
    const current = new Set(ids);
    for (const id of this.jobDirs.keys()) {
      if (!current.has(id)) {
        this.forget(id);
      }
    }
    const jobs: TrackedJob[] = [];
    for (const jobId of ids) {
      let jobDir = this.jobDirs.get(jobId);
      if (jobDir === undefined) {
        try {
          jobDir = await this.store.submittedJobDir(jobId);
        } catch (error) {
          // Gone meanwhile (another manager finished it) or not a link: not ours to judge.
          this.logger.warn(
            `job ${jobId}: cannot read link ${join(dir, jobId)}: ${errorMessage(error)}`,
          );
          continue;
        }
        this.jobDirs.set(jobId, jobDir);
      }
      jobs.push({ jobId, jobDir });
    }
    return jobs.sort((a, b) => numericId(a.jobId) - numericId(b.jobId));
  }

  /** The job is no longer tracked (finished, or its dir went away): nothing of it stays cached. */
  private forget(jobId: string): void {
    this.jobDirs.delete(jobId);
    this.settled.delete(jobId);
    this.jobRows.forget(jobId);
  }

  private skip(report: MutableReport, what: string, reason: string): TickReport {
    this.logger.warn(`${what}, skipping this poll: ${reason}`);
    report.skipped = true;
    report.skipReason = `${what}: ${reason}`;
    return report;
  }

  /**
   * Every failure stays inside: one bad job dir or API error never stops the others.
   * Returns whether everything for the job's current state is done (rows written, comment sent).
   */
  private async processJob(
    job: TrackedJob,
    queued: QueuedJob | undefined,
    report: MutableReport,
  ): Promise<boolean> {
    const { jobId } = job;
    let where = `job ${jobId}`;
    let step = 'reading metadata';
    try {
      const meta = await this.store.readMetadata(jobId, job.jobDir);
      if (!meta) {
        // Between sbatch and the metadata write, or not ours at all: never touch such a job.
        this.logger.log(`${where}: no metadata in ${job.jobDir} yet, leaving it for the next poll`);
        report.waiting.push(jobId);
        return false;
      }
      where = `job ${jobId} (${meta.repo}#${meta.prNumber})`;
      // Checked first rather than left to addRow: an exclusive create costs a write and an fsync
      // even when the row exists, which is every job on the first poll after a restart.
      step = 'reading its rows';
      const rows = new Set((await this.store.rows(jobId, job.jobDir)).map((row) => row.kind));

      const ended = phaseOf(queued) === undefined;
      if (ended) {
        step = 'analysing its result';
        await this.jobRows.recordEnd(job, queued, rows, where);
      } else {
        step = 'following it in the queue';
        await this.jobRows.followQueued(job, meta, queued!, rows, where, report);
      }

      step = 'updating its PR comment';
      const published = await this.publish(job, meta, where, report);
      if (ended && published) {
        // Only now: a job moved to finished/ drops out of the work list, so its final row must
        // already be on GitHub, else a failed PATCH would never be retried.
        step = 'moving it to finished/';
        await this.store.finish(jobId);
        this.forget(jobId);
        report.finished.push(jobId);
        this.logger.log(`${where}: moved to ${this.config.jobManager.jobIdsDir}/finished/${jobId}`);
      }
      return published;
    } catch (error) {
      if (error instanceof JobDirGoneError) {
        // Its PR closed meanwhile: the close cancelled and finished the job, nothing is left to do.
        this.logger.log(`${where}: ${step} stopped: ${error.message}`);
        this.forget(jobId);
        return false;
      }
      this.logger.error(`${where}: ${step} failed, will retry next poll: ${errorMessage(error)}`);
      report.failed.push({ jobId, error: errorMessage(error) });
      return false;
    }
  }

  /**
   * Brings the comment up to date with the rows; returns whether GitHub now shows every row.
   * A comment that no longer exists (404/410) counts as published: retrying could never succeed
   * and would cost a request every poll; the rows stay on disk.
   */
  private async publish(
    job: TrackedJob,
    meta: JobMetadata,
    where: string,
    report: MutableReport,
  ): Promise<boolean> {
    // chatlevel incognito: the rows on disk are the whole record.
    if (!this.comments.posts) {
      return true;
    }
    let current = meta;
    if (!current.commentId) {
      const commentId = await this.comments.ensureComment(job, meta, 'adopt');
      if (!commentId) {
        this.logger.log(
          `${where}: its comment is being created by another process, next poll then`,
        );
        return false;
      }
      current = { ...meta, commentId };
    }
    try {
      if (await this.comments.sync(job, current)) {
        report.commentsUpdated += 1;
        this.logger.log(`${where}: updated comment ${current.commentId}`);
      }
      return true;
    } catch (error) {
      const status = (error as { status?: unknown }).status;
      if (status !== 404 && status !== 410) {
        throw error;
      }
      this.logger.warn(
        `${where}: comment ${current.commentId} is gone (HTTP ${status}); its rows stay in ` +
          `${job.jobDir} and it is not retried until the next state change`,
      );
      await this.comments.markPosted(job, current);
      return true;
    }
  }
}
