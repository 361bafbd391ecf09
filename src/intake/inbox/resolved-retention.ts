import { Logger } from '@nestjs/common';
import type { ResolvedLog } from '../../common/journal/resolved-log.js';
import { errorMessage } from '../../common/error-message.js';

/**
 * How long a processed delivery id is remembered. GitHub lets an operator redeliver a webhook for
 * 3 days (https://docs.github.com/en/webhooks/testing-and-troubleshooting-webhooks/redelivering-webhooks);
 * a much longer window costs one short line per delivery and guards against late replays.
 */
export const DONE_RETENTION_DAYS = 30;

/** The resolved log is rewritten once it holds this many lines and twice its live entries. */
export const COMPACT_MIN_LINES = 10_000;
/** Resolved ids past their retention are forgotten at most this often while running. */
export const PRUNE_EVERY_MS = 24 * 3600 * 1000;

const DAY_MS = 24 * 3600 * 1000;

/**
 * Keeps resolved.log from growing without end: forgets ids resolved over DONE_RETENTION_DAYS ago
 * (unless their journal segment is still on disk, where their record would replay as pending),
 * and rewrites the file once it is mostly lines about forgotten or superseded entries.
 */
export class ResolvedRetention {
  private readonly logger = new Logger('Inbox');
  private lastPruneAt: number;

  constructor(
    private readonly resolved: ResolvedLog,
    private readonly segmentIsLive: (segment: number) => boolean,
    private readonly now: () => number = Date.now,
  ) {
    this.lastPruneAt = now();
  }

  /** At start-up, once the journal is replayed: prune, and compact if that (or `upgraded`) calls for it. */
  async atStartup(upgraded: boolean): Promise<void> {
    const pruned = this.prune(this.now());
    if (pruned > 0 || upgraded || this.resolved.isBloated(COMPACT_MIN_LINES)) {
      await this.resolved.compact();
    }
  }

  /** After a delivery was resolved: prune once a day, compact in the background when bloated. */
  afterResolve(): void {
    const now = this.now();
    const pruneDue = now - this.lastPruneAt >= PRUNE_EVERY_MS;
    if (pruneDue) {
      this.lastPruneAt = now;
      this.prune(now);
    }
    if (this.resolved.isBloated(COMPACT_MIN_LINES)) {
      this.resolved.compact().catch((error: unknown) => {
        this.logger.warn(`could not compact ${this.resolved.path}: ${errorMessage(error)}`);
      });
    }
  }

  private prune(now: number): number {
    const pruned = this.resolved.prune(now - DONE_RETENTION_DAYS * DAY_MS, this.segmentIsLive);
    if (pruned > 0) {
      this.logger.log(
        `forgot ${pruned} delivery ids resolved over ${DONE_RETENTION_DAYS} days ago`,
      );
    }
    return pruned;
  }
}
