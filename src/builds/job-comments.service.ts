import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { CommentPoster } from '../github/comment-poster.js';
import { GitHubClient } from '../github/github.client.js';
import { checkRunName, checkRunState } from './job-check-run.js';
import { assertJobDir } from './job-dir-gone.js';
import { jobMarker, renderJobComment, submittedJobHeader } from './job-comment.js';
import {
  JobStore,
  type JobMetadata,
  type RowKind,
  type StatusRow,
  type TrackedJob,
} from './job-store.js';
import { delaySeconds } from './submit-options.js';

/** Job comments are what a build is for: posted at every chatlevel but incognito. */
const JOB_COMMENT_LEVEL = 'minimal';

/** Rows of a job that Slurm has not started: its check run says `queued` through all of them. */
const NOT_STARTED_ROWS: ReadonlySet<RowKind> = new Set(['submitted', 'released', 'received']);

/** How long a comment claim protects an in-flight creation before others may recover it. */
export const COMMENT_CLAIM_STALE_MS = 5 * 60 * 1000;

/**
 * Publishes each job's comment from the rows recorded on disk. The comment is always rendered
 * from the full row set, so whichever process writes last still shows every row, and a PATCH is
 * sent only when the rendered body differs from the one last posted (no request on idle ticks).
 */
@Injectable()
export class JobCommentsService {
  private readonly logger = new Logger(JobCommentsService.name);
  private readonly poster: CommentPoster;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly github: GitHubClient,
    private readonly store: JobStore,
    @Optional() poster?: CommentPoster,
  ) {
    this.poster = poster ?? new CommentPoster(github, config.botControl.chatlevel);
  }

  /**
   * Whether job comments are posted at all (chatlevel minimal or above). At `incognito` a job
   * lives on disk only: nobody waits for, adopts or syncs its comment.
   */
  get posts(): boolean {
    return this.poster.allows(JOB_COMMENT_LEVEL);
  }

  async render(job: TrackedJob, meta: JobMetadata, rows?: StatusRow[]): Promise<string> {
    const appName = meta.appName || this.config.github.appName;
    const jobDirLink = join(JobStore.prDirOf(job.jobDir), job.jobId);
    return renderJobComment({
      jobId: job.jobId,
      appName,
      target: meta.target,
      jobDirLink,
      rows: rows ?? (await this.store.rows(job.jobId, job.jobDir)),
      // A job submitted for a v0.9 request keeps v0.9's comment, whoever renders it.
      header:
        meta.build &&
        submittedJobHeader(this.config.templates.submittedJob, {
          appName,
          jobId: job.jobId,
          build: meta.build,
          symlink: jobDirLink,
          delaySeconds: delaySeconds(
            this.config.buildenv,
            this.config.jobManager.pollIntervalSeconds,
          ),
        }),
    });
  }

  /**
   * Makes sure the job has exactly one comment and returns its id, or undefined when another
   * writer is creating it right now. Modes:
   * - `first`: the event handler's first attempt; posts without searching.
   * - `resume`: the event handler resuming after a crash; takes over its own claim and looks for
   *   the marker first, so a comment posted just before the crash is adopted, not posted twice.
   * - `adopt`: the job manager finding a job without comment id; acts only when nobody holds a
   *   fresh claim, and looks for the marker first.
   * The claim (an exclusive mkdir) is released on success and on failure, so a failed attempt
   * is picked up by the next one; only a crash leaves it, and it goes stale after a while.
   */
  async ensureComment(
    job: TrackedJob,
    meta: JobMetadata,
    mode: 'first' | 'resume' | 'adopt',
  ): Promise<number | undefined> {
    if (meta.commentId) {
      return meta.commentId;
    }
    if (!this.posts) {
      return undefined;
    }
    const claim = join(job.jobDir, `_bot_job${job.jobId}.commenting`);
    if (!(await this.claim(claim)) && mode !== 'resume') {
      if (mode === 'first' || !(await this.isStale(claim))) {
        return undefined;
      }
      this.logger.warn(
        `job ${job.jobId}: stale comment claim, recovering the comment on ${meta.repo}#${meta.prNumber}`,
      );
    }
    try {
      const body = await this.render(job, meta);
      let commentId: number | undefined;
      if (mode !== 'first') {
        const marker = jobMarker(job.jobId, meta.appName || this.config.github.appName);
        const comments = await this.github.listComments(meta.repo, meta.prNumber);
        // Only a bot's comment: anyone can paste a marker into a comment of their own.
        commentId = comments.find((c) => c.byBot === true && c.body.includes(marker))?.id;
        if (commentId) {
          this.logger.log(
            `job ${job.jobId}: adopted existing comment ${commentId} on ${meta.repo}#${meta.prNumber}`,
          );
        }
      }
      if (!commentId) {
        const posted = await this.poster.post(
          meta.repo,
          meta.prNumber,
          body,
          JOB_COMMENT_LEVEL,
          `job ${job.jobId}'s comment`,
        );
        if (!posted) {
          return undefined;
        }
        commentId = posted.id;
        await this.store.setPostedHash(job.jobId, job.jobDir, hashOf(body));
        this.logger.log(
          `job ${job.jobId}: created comment ${commentId} on ${meta.repo}#${meta.prNumber}`,
        );
      }
      await this.store.setCommentId(job.jobId, job.jobDir, meta, commentId);
      try {
        await this.syncCheckRun(job, meta);
      } catch (error) {
        // Not the comment's concern: the job manager's next sync creates it.
        this.logger.warn(`job ${job.jobId}: check run not created: ${(error as Error).message}`);
      }
      return commentId;
    } finally {
      await rm(claim, { recursive: true, force: true });
    }
  }

  /**
   * Sends the rendered comment if it changed since last posted, then the check run likewise;
   * returns whether the comment was sent. Both are compared with what was last sent (files in
   * the job dir), so an unchanged job costs no request.
   *
   * With a check run, a job that has not started yet keeps its comment as posted: the check run
   * already shows it queued, and its released/received row goes out with the next edit (running,
   * cancelled or finished). That keeps the job manager at 4 requests per job with check runs on
   * (2 comment edits, 2 check-run updates), as the comment alone costs without them.
   */
  async sync(job: TrackedJob, meta: JobMetadata): Promise<boolean> {
    if (!meta.commentId || !this.posts) {
      return false;
    }
    const rows = await this.store.rows(job.jobId, job.jobDir);
    let sent = false;
    if (!(this.hasCheckRun(meta) && rows.every((row) => NOT_STARTED_ROWS.has(row.kind)))) {
      const body = await this.render(job, meta, rows);
      const hash = hashOf(body);
      if ((await this.store.postedHash(job.jobId, job.jobDir)) !== hash) {
        // Checked after rendering: a dir moved away before this point rendered without its rows.
        await assertJobDir(job.jobId, job.jobDir);
        await this.github.updateComment(meta.repo, meta.commentId, body);
        await this.store.setPostedHash(job.jobId, job.jobDir, hash);
        sent = true;
      }
    }
    await this.syncCheckRun(job, meta, rows);
    return sent;
  }

  /** Whether this job has (or is to get) a check run: its head is known and they are on. */
  private hasCheckRun(meta: JobMetadata): meta is JobMetadata & { headSha: string } {
    return this.config.github.checkRuns && Boolean(meta.headSha);
  }

  /**
   * `[github] check_runs`: creates the job's check run on the head it builds, or brings it up to
   * date with the rows. Jobs recorded without their head sha get none.
   */
  private async syncCheckRun(
    job: TrackedJob,
    meta: JobMetadata,
    rows?: StatusRow[],
  ): Promise<void> {
    if (!this.hasCheckRun(meta)) {
      return;
    }
    const jobDirLink = join(JobStore.prDirOf(job.jobDir), job.jobId);
    const state = checkRunState(
      rows ?? (await this.store.rows(job.jobId, job.jobDir)),
      job.jobId,
      jobDirLink,
    );
    const hash = hashOf(JSON.stringify(state));
    if ((await this.store.checkedHash(job.jobId, job.jobDir)) === hash) {
      return;
    }
    await assertJobDir(job.jobId, job.jobDir);
    // The caller's metadata may predate the check run's creation.
    const checkRunId =
      meta.checkRunId ?? (await this.store.readMetadata(job.jobId, job.jobDir))?.checkRunId;
    if (checkRunId === undefined) {
      const name = checkRunName(meta, this.config.github.appName);
      const { id } = await this.github.createCheckRun(meta.repo, name, meta.headSha, state);
      await this.store.setCheckRunId(job.jobId, job.jobDir, id);
      this.logger.log(`job ${job.jobId}: created check run ${id} (${state.status})`);
    } else {
      await this.github.updateCheckRun(meta.repo, checkRunId, state);
    }
    await this.store.setCheckedHash(job.jobId, job.jobDir, hash);
  }

  /** Records the current rendering as sent without sending it (its comment is gone on GitHub). */
  async markPosted(job: TrackedJob, meta: JobMetadata): Promise<void> {
    await this.store.setPostedHash(job.jobId, job.jobDir, hashOf(await this.render(job, meta)));
  }

  private async claim(path: string): Promise<boolean> {
    try {
      await mkdir(path);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
        return false;
      }
      throw error;
    }
  }

  private async isStale(path: string): Promise<boolean> {
    try {
      return Date.now() - (await stat(path)).mtimeMs > COMMENT_CLAIM_STALE_MS;
    } catch {
      return true;
    }
  }
}

function hashOf(body: string): string {
  return createHash('sha256').update(body).digest('hex');
}
