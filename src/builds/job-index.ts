import { Logger } from '@nestjs/common';
import { readdir, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseRowDate } from './job-comment.js';
import { JobStore, type StatusRow } from './job-store.js';

/** One job as the status page and /metrics show it. */
export interface JobView {
  readonly jobId: string;
  /** owner/name, from the job's metadata (written from a webhook payload: show it escaped). */
  readonly repo: string;
  readonly prNumber: number;
  readonly target: string;
  /** Kind of the job's latest lifecycle row (submitted, released, running, finished…). */
  readonly state: string;
  /** Finished jobs: SUCCESS, FAILURE, UNKNOWN or CANCELLED, as its row reads. */
  readonly result?: string;
  /** ms epoch of the first row (the submission). */
  readonly submittedAt?: number;
  /** ms epoch of the latest row. */
  readonly updatedAt?: number;
  readonly commentId?: number;
  readonly jobDir: string;
  /** Still in job_ids_dir/submitted (the job manager follows it). */
  readonly tracked: boolean;
}

export interface JobIndexOptions {
  /** Jobs submitted this many days ago or later are listed (default 14). */
  readonly windowDays?: number;
  /** A listing younger than this is served from memory (default 10 s). */
  readonly maxAgeMs?: number;
  readonly now?: () => number;
}

/** Rows that move a job along; others (tests, deploys) follow `finished` and leave its state. */
const LIFECYCLE = new Set(['submitted', 'released', 'received', 'running', 'finished']);
const JOB_ID = /^\d+(_\d+)?$/;
const MONTH_DIR = /\/(\d{4})\.(\d{2})\/pr_\d+\//;
const RESULT = /\b(SUCCESS|FAILURE|UNKNOWN|CANCELLED)\b/;
/** Job records read at once on a refresh (NFS round trips, not CPU, are the cost). */
const CONCURRENCY = 8;

interface TrackedEntry {
  readonly jobDir: string;
  /** Undefined while the record cannot be read (metadata not written yet, or damaged). */
  readonly view?: JobView;
  /** mtimes of the rows dir and the metadata: unchanged means nothing to read again. */
  readonly stamp: string;
}

/**
 * The jobs of the last `windowDays` days, from the records on disk (JobStore), for /status and
 * /metrics. Cheap to ask often with thousands of jobs: a finished job's record never changes, so
 * it is read once per process; a finished job outside the window is recognised from its job dir's
 * `YYYY.MM` and never read; a tracked job is read again only when its rows or metadata changed.
 * A refresh lists submitted/ and finished/ and is shared by the requests that arrive meanwhile.
 */
export class JobIndex {
  private readonly logger = new Logger(JobIndex.name);
  private readonly windowMs: number;
  private readonly maxAgeMs: number;
  private readonly now: () => number;
  private readonly finished = new Map<string, JobView>();
  /** Finished jobs before the window, or whose record cannot be read: not read again. */
  private readonly outside = new Set<string>();
  private readonly tracked = new Map<string, TrackedEntry>();
  /** The window's jobs, newest first, as of the last refresh. */
  private listing: JobView[] = [];
  private refreshedAt = -Infinity;
  private refreshing?: Promise<void>;

  constructor(
    private readonly store: JobStore,
    private readonly jobIdsDir: string,
    options: JobIndexOptions = {},
  ) {
    this.windowMs = (options.windowDays ?? 14) * 86_400_000;
    this.maxAgeMs = options.maxAgeMs ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  get windowDays(): number {
    return this.windowMs / 86_400_000;
  }

  /** Jobs of the window, newest submission first. */
  async jobs(): Promise<JobView[]> {
    if (this.now() - this.refreshedAt > this.maxAgeMs) {
      this.refreshing ??= this.refresh().finally(() => (this.refreshing = undefined));
      await this.refreshing;
    }
    const cutoff = this.now() - this.windowMs;
    return this.listing.filter((view) => (view.submittedAt ?? Infinity) >= cutoff);
  }

  private async refresh(): Promise<void> {
    const started = this.now();
    const cutoff = started - this.windowMs;
    const [submittedIds, finishedIds] = await Promise.all([
      this.ids('submitted'),
      this.ids('finished'),
    ]);

    const finishedNow = new Set(finishedIds);
    for (const id of this.finished.keys()) {
      if (!finishedNow.has(id)) {
        this.finished.delete(id);
      }
    }
    const unread = finishedIds.filter((id) => !this.finished.has(id) && !this.outside.has(id));
    await eachLimited(unread, async (jobId) => {
      const jobDir = await this.link('finished', jobId);
      if (jobDir === undefined) {
        return;
      }
      if (monthEnd(jobDir) < cutoff) {
        this.outside.add(jobId);
        return;
      }
      const view = await this.read(jobId, jobDir, false);
      if (view && (view.submittedAt ?? Infinity) >= cutoff) {
        this.finished.set(jobId, view);
      } else {
        // Unreadable records are not read (nor warned about) again: a finished one stays as it is.
        this.outside.add(jobId);
      }
    });
    for (const [id, view] of this.finished) {
      if ((view.submittedAt ?? Infinity) < cutoff) {
        this.finished.delete(id);
        this.outside.add(id);
      }
    }

    const trackedNow = new Set(submittedIds);
    for (const id of this.tracked.keys()) {
      if (!trackedNow.has(id)) {
        this.tracked.delete(id);
      }
    }
    await eachLimited(submittedIds, async (jobId) => {
      const known = this.tracked.get(jobId);
      const jobDir = known?.jobDir ?? (await this.link('submitted', jobId));
      if (jobDir === undefined) {
        return;
      }
      const stamp = await stampOf(jobDir, jobId);
      if (known?.stamp !== stamp) {
        const view = await this.read(jobId, jobDir, true);
        this.tracked.set(jobId, { jobDir, stamp, ...(view ? { view } : {}) });
      }
    });

    const all: JobView[] = [];
    for (const { view } of this.tracked.values()) {
      if (view) {
        all.push(view);
      }
    }
    for (const view of this.finished.values()) {
      if (!this.tracked.has(view.jobId)) {
        all.push(view);
      }
    }
    this.listing = all.sort(
      (a, b) => (b.submittedAt ?? 0) - (a.submittedAt ?? 0) || compareIds(b.jobId, a.jobId),
    );
    this.refreshedAt = started;
  }

  private async ids(list: 'submitted' | 'finished'): Promise<string[]> {
    try {
      return (await readdir(join(this.jobIdsDir, list))).filter((name) => JOB_ID.test(name));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return [];
      }
      throw error;
    }
  }

  private async link(list: 'submitted' | 'finished', jobId: string): Promise<string | undefined> {
    try {
      return await readlink(join(this.jobIdsDir, list, jobId));
    } catch {
      return undefined; // moved from submitted/ to finished/ meanwhile: seen at the next refresh
    }
  }

  private async read(
    jobId: string,
    jobDir: string,
    tracked: boolean,
  ): Promise<JobView | undefined> {
    try {
      const meta = await this.store.readMetadata(jobId, jobDir);
      if (!meta) {
        return undefined;
      }
      const rows = await this.store.rows(jobId, jobDir);
      const lifecycle = rows.filter((row) => LIFECYCLE.has(row.kind));
      const latest = lifecycle.at(-1);
      const submittedAt = rows[0] ? parseRowDate(rows[0].date) : undefined;
      const updatedAt = rows.length > 0 ? parseRowDate(rows.at(-1)!.date) : undefined;
      const result = latest?.kind === 'finished' ? resultOf(latest) : undefined;
      return {
        jobId,
        repo: meta.repo,
        prNumber: meta.prNumber,
        target: meta.target,
        state: latest?.kind ?? 'unknown',
        ...(result === undefined ? {} : { result }),
        ...(submittedAt === undefined ? {} : { submittedAt }),
        ...(updatedAt === undefined ? {} : { updatedAt }),
        ...(meta.commentId ? { commentId: meta.commentId } : {}),
        jobDir,
        tracked,
      };
    } catch (error) {
      this.logger.warn(
        `job ${jobId}: cannot read its record in ${jobDir}: ${(error as Error).message}`,
      );
      return undefined;
    }
  }
}

function resultOf(row: StatusRow): string | undefined {
  // The summary starts with the verdict (result-analyzer.ts); only its first words are looked at.
  return RESULT.exec(row.comment.slice(0, 200))?.[1];
}

/** End of the month of the job dir's `YYYY.MM` component (ms epoch); Infinity without one. */
function monthEnd(jobDir: string): number {
  const m = MONTH_DIR.exec(jobDir);
  return m ? Date.UTC(Number(m[1]), Number(m[2]), 1) : Infinity;
}

async function stampOf(jobDir: string, jobId: string): Promise<string> {
  const mtime = (path: string) =>
    stat(path).then(
      (s) => String(s.mtimeMs),
      () => '-',
    );
  const [rows, meta] = await Promise.all([
    mtime(JobStore.rowsDir(jobDir, jobId)),
    mtime(JobStore.metadataPath(jobDir, jobId)),
  ]);
  return `${rows}:${meta}`;
}

async function eachLimited<T>(
  items: readonly T[],
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      await work(items[next++]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, worker));
}

function compareIds(a: string, b: string): number {
  const [ja, ta = -1] = a.split('_').map(Number);
  const [jb, tb = -1] = b.split('_').map(Number);
  return ja - jb || ta - tb;
}
