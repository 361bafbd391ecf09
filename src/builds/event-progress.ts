import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../common/atomic-file.js';
import type { ExportVar } from './build-request.js';
import type { EventNoticeKind, TreeFailureReason } from './event-comments.js';
import type { PlannedJob, SkippedJob } from './node-type-plan.js';

/**
 * How far one event (one delivery of `bot:build`, or one build request of a comment in
 * `event_<id>/progress-<n>.json`) got, kept in `event_<id>/progress.json` and
 * rewritten atomically after every step. Handling the same delivery again reads it and does only
 * what is missing, so a crash at any instant ends, after the resume, with each target submitted
 * once and commented once. The order of steps per target, and what a resume does at each:
 *
 *   prepared         checkout + cfg written      → not set: the target dir is rebuilt from scratch
 *   submittingSince  about to run sbatch         → set without jobId: sbatch may have run; the
 *                                                  queue is asked before submitting again
 *   jobId            sbatch answered             → the job exists; never submitted again
 *   recorded         metadata, links, first row  → repeated (each write is idempotent)
 *   commentAttempted ensureComment was called    → the next attempt searches the marker first
 *   commentId        the comment exists
 */
export interface TargetProgress {
  prepared?: boolean;
  submittingSince?: string;
  jobId?: string;
  recorded?: boolean;
  commentAttempted?: boolean;
  commentId?: number;
  /** sbatch refused the job (stderr), or the outcome could not be determined. */
  submitFailed?: { readonly detail: string; readonly uncertain?: boolean };
}

export interface NoticeProgress {
  /** Set before the comment is created: a resume searches for its marker before posting. */
  posting?: boolean;
  commentId?: number;
}

export interface MergedTree {
  readonly baseSha: string;
  readonly headSha: string;
  readonly mergeSha: string;
}

/**
 * A v0.9 build request as planned when it was first handled: a resume builds these jobs, even if
 * app.cfg changed meanwhile, so that no job is added, lost or built twice.
 */
export interface PlannedBuild {
  /** The request as written, for messages: `for:… on:…`. */
  readonly description: string;
  readonly requester: string;
  readonly exportVars: readonly ExportVar[];
  readonly jobs: readonly PlannedJob[];
  readonly skipped: readonly SkippedJob[];
}

export interface EventProgressData {
  readonly version: 1;
  readonly deliveryId: string;
  readonly repo: string;
  readonly prNumber: number;
  /** v0.9 build requests only. */
  build?: PlannedBuild;
  /** `run_NNN` claimed for this event. */
  runDir?: string;
  tree?: MergedTree;
  treeFailure?: { readonly reason: TreeFailureReason; readonly detail: string };
  refused?: boolean;
  targets: Record<string, TargetProgress>;
  notices: Partial<Record<EventNoticeKind, NoticeProgress>>;
  /** Everything done: a repeated delivery returns at once. */
  done?: boolean;
}

export const PROGRESS_FILE = 'progress.json';

export class EventProgress {
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    readonly path: string,
    readonly data: EventProgressData,
    /** Whether the record was on disk when opened (nothing is written before the first update). */
    readonly existed: boolean,
  ) {}

  /**
   * Reads the event's progress, or starts a new record (written at the first update). One event
   * may hold several records (`fileName`): one per build request of a comment.
   */
  static async open(
    eventDir: string,
    init: Pick<EventProgressData, 'deliveryId' | 'repo' | 'prNumber'>,
    fileName = PROGRESS_FILE,
  ): Promise<EventProgress> {
    const path = join(eventDir, fileName);
    let text: string | undefined;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw error;
      }
    }
    if (text === undefined) {
      return new EventProgress(path, { version: 1, ...init, targets: {}, notices: {} }, false);
    }
    let data: EventProgressData;
    try {
      data = JSON.parse(text) as EventProgressData;
    } catch (error) {
      throw new Error(
        `${path}: not valid JSON (${(error as Error).message}); it is written atomically, so it was edited by hand: fix or remove it`,
        { cause: error },
      );
    }
    if (
      data.version !== 1 ||
      data.deliveryId !== init.deliveryId ||
      typeof data.targets !== 'object'
    ) {
      throw new Error(
        `${path}: not the progress of delivery ${init.deliveryId}; remove it only if no job of this event was submitted`,
      );
    }
    data.notices ??= {};
    return new EventProgress(path, data, true);
  }

  target(target: string): TargetProgress {
    this.data.targets[target] ??= {};
    return this.data.targets[target];
  }

  notice(kind: EventNoticeKind): NoticeProgress {
    this.data.notices[kind] ??= {};
    return this.data.notices[kind];
  }

  /**
   * Applies `change` and makes the whole record durable before resolving. Writes are chained so
   * that a slower earlier write can never replace a later one (targets are prepared in parallel).
   */
  async update(change: (data: EventProgressData) => void): Promise<void> {
    change(this.data);
    const text = `${JSON.stringify(this.data, null, 2)}\n`;
    const write = this.writing.then(() => writeFileAtomic(this.path, text));
    this.writing = write.catch(() => undefined);
    await write;
  }
}
