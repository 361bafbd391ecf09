import { Inject, Injectable, Logger } from '@nestjs/common';
import { mkdir } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { fillTemplate } from '../common/fill-template.js';
import { KeyedLock } from '../common/keyed-lock.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import type { QueuedJob, SlurmPort } from '../slurm/slurm.port.js';
import { SLURM } from '../slurm/slurm.tokens.js';
import {
  parsePullRequestDelivery,
  type LabeledDelivery,
  type PullRequestContext,
} from './build-plan.js';
import { where } from './build-runner.js';
import { EventNotices } from './event-notices.js';
import { EventProgress } from './event-progress.js';
import { codeSpan, formatRowDate } from './job-comment.js';
import { JobCommentsService } from './job-comments.service.js';
import { JobStore, type JobMetadata, type TrackedJob } from './job-store.js';
import { freeTarget, moveDir, prDirsOf, trashBinDirFor, trashTargetOf } from './trash-bin.js';

/** A tracked job of this instance for one PR, with its metadata. */
interface PrJob extends TrackedJob {
  readonly meta: JobMetadata;
}

/** Where the progress of `pull_request` deliveries lives: outside the PR dirs, which move. */
const LIFECYCLE_EVENTS_DIR = 'pr_events';

/**
 * What happens to a PR's jobs when the PR changes under them: closed or merged (cancel the
 * unfinished jobs, move the job dirs to the trash bin, say where), or a new push (cancel the jobs
 * still waiting that build the old head). Each job's comment gets a `cancelled` row, and its
 * tracking ends (submitted/<ID> → finished/<ID>) so the job manager never follows a moved dir.
 * Crash-safe and idempotent per delivery; see docs/builds.md.
 */
@Injectable()
export class PrLifecycleService {
  private readonly logger = new Logger(PrLifecycleService.name);
  private readonly lock = new KeyedLock();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(SLURM) private readonly slurm: SlurmPort,
    private readonly store: JobStore,
    private readonly comments: JobCommentsService,
    private readonly notices: EventNotices,
  ) {}

  /** `pull_request` / `closed` (merged or not). */
  async handleClosed(delivery: LabeledDelivery): Promise<void> {
    const ctx = parsePullRequestDelivery(delivery);
    const merged = (delivery.payload as { pull_request: { merged?: unknown } }).pull_request.merged;
    const how = merged === true ? 'merged' : 'closed';
    await this.lock.run(ctx.deliveryId, () => this.closed(ctx, how));
  }

  /** `pull_request` / `synchronize`: a new head was pushed. */
  async handleSynchronize(delivery: LabeledDelivery): Promise<void> {
    const ctx = parsePullRequestDelivery(delivery);
    if (!this.config.buildenv.cancelOnPush) {
      this.logger.log(`${where(ctx)}: new head ${ctx.headSha}; cancel_on_push is off`);
      return;
    }
    await this.lock.run(ctx.deliveryId, () => this.superseded(ctx));
  }

  private async closed(ctx: PullRequestContext, how: 'merged' | 'closed'): Promise<void> {
    const eventDir = join(
      this.config.jobManager.jobIdsDir,
      LIFECYCLE_EVENTS_DIR,
      `event_${ctx.deliveryId}`,
    );
    await mkdir(eventDir, { recursive: true });
    const progress = await EventProgress.open(eventDir, ctx);
    if (progress.data.done) {
      this.logger.log(`${where(ctx)}: already handled (${progress.path}): nothing to do`);
      return;
    }
    const jobs = await this.jobsOfPr(ctx);
    if (this.config.cleanUp.cancelOnClose && jobs.length > 0) {
      const queue = await this.queue();
      for (const job of jobs) {
        const queued = queue.get(job.jobId);
        // A job that already left the queue is the job manager's to report, not a cancellation.
        if (queued && !isEnded(queued)) {
          await this.cancel(job, `PR ${how}: job cancelled`, ctx);
        }
      }
    }
    const { trashBinDir } = this.config.cleanUp;
    if (trashBinDir !== undefined) {
      await this.moveJobDirs(ctx, progress, trashBinDir);
    }
    await progress.update((data) => (data.done = true));
  }

  /** Moves every `YYYY.MM/pr_<N>` of the PR into the trash bin; targets chosen and recorded once. */
  private async moveJobDirs(
    ctx: PullRequestContext,
    progress: EventProgress,
    trashBinRoot: string,
  ): Promise<void> {
    if (!progress.data.cleanUp) {
      // The day the PR closed (the delivery's arrival), not the day a resume runs.
      const trashBinDir = trashBinDirFor(trashBinRoot, ctx.repo, ctx.receivedAt);
      const stillTracked = (await this.jobsOfPr(ctx)).map((job) => job.jobDir);
      const moves: { from: string; to: string }[] = [];
      for (const from of await prDirsOf(this.config.buildenv.jobsBaseDir, ctx.prNumber)) {
        const busy = stillTracked.filter((dir) => dir.startsWith(from + sep));
        if (busy.length > 0) {
          // Moving it would leave the job manager following a dir that is gone.
          this.logger.warn(
            `${where(ctx)}: ${from} left in place: ${busy.length} job(s) in it are still followed by the job manager`,
          );
          continue;
        }
        moves.push({ from, to: await freeTarget(trashTargetOf(from, trashBinDir)) });
      }
      await progress.update((data) => (data.cleanUp = { trashBinDir, moves }));
    }
    const { trashBinDir, moves } = progress.data.cleanUp!;
    if (moves.length === 0) {
      this.logger.log(`${where(ctx)}: no job dirs to move`);
      return;
    }
    for (const { from, to } of moves) {
      await moveDir(from, to);
      this.logger.log(`${where(ctx)}: moved ${from} to ${to}`);
    }
    if (this.config.botControl.chatlevel !== 'chatty') {
      return;
    }
    const body = fillTemplate(
      this.config.cleanUp.movedJobDirsComment,
      { job_dirs: moves.map((move) => move.from).join(', '), trash_bin_dir: trashBinDir },
      { codeSpan },
    );
    await this.notices.post(ctx, progress, 'moved-job-dirs', (marker) => `${body}\n\n${marker}`);
  }

  private async superseded(ctx: PullRequestContext): Promise<void> {
    const jobs = (await this.jobsOfPr(ctx)).filter(
      // Jobs recorded before the head was kept cannot be told apart: left alone.
      (job) => job.meta.headSha !== undefined && job.meta.headSha !== ctx.headSha,
    );
    if (jobs.length === 0) {
      return;
    }
    const queue = await this.queue();
    for (const job of jobs) {
      const queued = queue.get(job.jobId);
      // Running jobs finish: their result for the old head is still worth reading.
      if (queued && (queued.held || queued.state === 'PENDING')) {
        await this.cancel(
          job,
          `job cancelled: superseded by commit ${codeSpan(ctx.headSha)} (was ${codeSpan(job.meta.headSha!)})`,
          ctx,
        );
      }
    }
  }

  /**
   * scancel, the `cancelled` row, the comment, then the end of tracking. Each step may be
   * repeated: scancel of a gone job succeeds, the row is written once, the comment is sent only
   * when it changed, and finish() accepts a job already finished.
   */
  private async cancel(job: PrJob, text: string, ctx: PullRequestContext): Promise<void> {
    await this.slurm.cancel(job.jobId);
    await this.store.addRow(job.jobId, job.jobDir, {
      kind: 'cancelled',
      date: formatRowDate(new Date()),
      status: 'cancelled',
      comment: text,
    });
    await this.publish(job);
    await this.store.finish(job.jobId);
    this.logger.log(`${where(ctx)}: job ${job.jobId} cancelled (${text})`);
  }

  private async publish(job: PrJob): Promise<void> {
    const commentId =
      job.meta.commentId ?? (await this.comments.ensureComment(job, job.meta, 'adopt'));
    if (commentId === undefined) {
      // Being created right now by the event handler: it renders every row on disk.
      return;
    }
    const meta = { ...job.meta, commentId };
    try {
      await this.comments.sync(job, meta);
    } catch (error) {
      const status = (error as { status?: unknown }).status;
      if (status !== 404 && status !== 410) {
        throw error;
      }
      await this.comments.markPosted(job, meta);
    }
  }

  /** This instance's tracked jobs of the PR (job_ids_dir/submitted + metadata). */
  private async jobsOfPr(ctx: PullRequestContext): Promise<PrJob[]> {
    const jobs: PrJob[] = [];
    for (const tracked of await this.store.listSubmitted()) {
      const meta = await this.store.readMetadata(tracked.jobId, tracked.jobDir);
      if (meta && meta.repo === ctx.repo && meta.prNumber === ctx.prNumber) {
        jobs.push({ ...tracked, meta });
      }
    }
    return jobs;
  }

  private async queue(): Promise<Map<string, QueuedJob>> {
    const jobs = await this.slurm.listJobs(this.config.buildenv.jobName);
    return new Map(jobs.map((job) => [job.id, job]));
  }
}

/** squeue --states=all may still list ended jobs. */
function isEnded(queued: QueuedJob): boolean {
  return !['PENDING', 'RUNNING', 'COMPLETING', 'CONFIGURING', 'SUSPENDED'].includes(queued.state);
}
