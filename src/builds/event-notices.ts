import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { GitHubClient } from '../github/github.client.js';
import type { PullRequestContext } from './build-plan.js';
import { eventMarker, type EventNoticeKind } from './event-comments.js';
import type { EventProgress } from './event-progress.js';

/**
 * PR comments about a build as a whole (refused, tree failed, submission failed), each posted
 * once: found again by its hidden marker instead of posted twice after a crash.
 */
@Injectable()
export class EventNotices {
  private readonly logger = new Logger(EventNotices.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly github: GitHubClient,
  ) {}

  /**
   * Posts an event-level comment exactly once: the attempt is recorded before the comment is
   * created, and a resumed attempt looks for the comment's marker before posting.
   */
  async post(
    ctx: PullRequestContext,
    progress: EventProgress,
    kind: EventNoticeKind,
    render: (marker: string) => string,
  ): Promise<void> {
    const notice = progress.notice(kind);
    if (notice.commentId) {
      return;
    }
    const marker = this.noticeMarker(ctx, progress, kind);
    if (notice.posting) {
      const existing = await this.findNotice(ctx, marker);
      if (existing) {
        await progress.update(() => (notice.commentId = existing));
        this.logger.log(`${where(ctx)}: ${kind} comment ${existing} found after an interruption`);
        return;
      }
    } else {
      await progress.update(() => (notice.posting = true));
    }
    const { id } = await this.github.createComment(ctx.repo, ctx.prNumber, render(marker));
    await progress.update(() => (notice.commentId = id));
    this.logger.log(`${where(ctx)}: posted ${kind} comment ${id}`);
  }

  /**
   * Posts an event-level comment once without writing anything to disk (refusals leave nothing
   * behind): it looks for the comment's marker first, every time. Returns the comment id.
   */
  async postStateless(
    ctx: PullRequestContext,
    kind: EventNoticeKind,
    render: (marker: string) => string,
  ): Promise<number> {
    const marker = eventMarker(ctx.deliveryId, kind, this.config.github.appName);
    const existing = await this.findNotice(ctx, marker);
    if (existing) {
      this.logger.log(`${where(ctx)}: ${kind} comment ${existing} already posted`);
      return existing;
    }
    const { id } = await this.github.createComment(ctx.repo, ctx.prNumber, render(marker));
    this.logger.log(`${where(ctx)}: posted ${kind} comment ${id}`);
    return id;
  }

  /** One marker per build: the requests of one comment each have their own progress file. */
  private noticeMarker(
    ctx: PullRequestContext,
    progress: EventProgress,
    kind: EventNoticeKind,
  ): string {
    const suffix = /progress-(\d+)\.json$/.exec(progress.path)?.[1];
    const id = suffix === undefined ? ctx.deliveryId : `${ctx.deliveryId}-${suffix}`;
    return eventMarker(id, kind, this.config.github.appName);
  }

  private async findNotice(ctx: PullRequestContext, marker: string): Promise<number | undefined> {
    const comments = await this.github.listComments(ctx.repo, ctx.prNumber);
    // A comment by someone else could quote the marker: only the bot's own count.
    return comments.find((c) => c.byBot !== false && c.body.includes(marker))?.id;
  }
}

function where(ctx: PullRequestContext): string {
  return `delivery ${ctx.deliveryId} ${ctx.repo}#${ctx.prNumber}`;
}
