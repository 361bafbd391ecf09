import { Inject, Injectable, Logger } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { GitHubClient } from '../github/github.client.js';
import { jobMarker, renderJobComment, submittedJobHeader } from './job-comment.js';
import { JobStore, type JobMetadata, type TrackedJob } from './job-store.js';
import { delaySeconds } from './submit-options.js';

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

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly github: GitHubClient,
    private readonly store: JobStore,
  ) {}

  async render(job: TrackedJob, meta: JobMetadata): Promise<string> {
    const appName = meta.appName || this.config.github.appName;
    const jobDirLink = join(JobStore.prDirOf(job.jobDir), job.jobId);
    return renderJobComment({
      jobId: job.jobId,
      appName,
      target: meta.target,
      jobDirLink,
      rows: await this.store.rows(job.jobId, job.jobDir),
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
        commentId = (await this.github.createComment(meta.repo, meta.prNumber, body)).id;
        await this.store.setPostedHash(job.jobId, job.jobDir, hashOf(body));
        this.logger.log(
          `job ${job.jobId}: created comment ${commentId} on ${meta.repo}#${meta.prNumber}`,
        );
      }
      await this.store.setCommentId(job.jobId, job.jobDir, commentId);
      return commentId;
    } finally {
      await rm(claim, { recursive: true, force: true });
    }
  }

  /** Sends the rendered comment if it changed since last posted; returns whether it sent. */
  async sync(job: TrackedJob, meta: JobMetadata): Promise<boolean> {
    if (!meta.commentId) {
      return false;
    }
    const body = await this.render(job, meta);
    const hash = hashOf(body);
    if ((await this.store.postedHash(job.jobId, job.jobDir)) === hash) {
      return false;
    }
    await this.github.updateComment(meta.repo, meta.commentId, body);
    await this.store.setPostedHash(job.jobId, job.jobDir, hash);
    return true;
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
