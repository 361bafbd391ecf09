import { Logger } from '@nestjs/common';
import { access, mkdir, readdir, readFile, readlink, rename } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { decode, encode } from 'ini';
import { symlinkAtomic, writeFileAtomic, writeFileExclusive } from '../common/atomic-file.js';

/**
 * The bot's record of its jobs, kept on the shared filesystem in the seed's layout so that the event
 * handler and the job manager may run on different hosts (see docs/architecture.md, "State on disk").
 *
 *   <jobDir>/_bot_job<ID>.metadata        [PR] repo, pr_number, pr_comment_id  + [JOB] details
 *   <jobDir>/_bot_job<ID>.rows/<n>-<kind>  one file per status row, created exclusively: a row
 *                                          is written once, whoever writes it, and never lost
 *   <jobDir>/_bot_job<ID>.posted           sha256 of the comment body last sent to GitHub
 *   <jobs_base_dir>/YYYY.MM/pr_<N>/<ID>    → jobDir
 *   <job_ids_dir>/submitted/<ID>           → jobDir while tracked, then moved to finished/<ID>
 */
export type RowKind = 'submitted' | 'released' | 'running' | 'finished';
export const ROW_ORDER: readonly RowKind[] = ['submitted', 'released', 'running', 'finished'];

export interface StatusRow {
  readonly kind: RowKind;
  readonly date: string;
  readonly status: string;
  readonly comment: string;
}

export interface JobMetadata {
  readonly repo: string;
  readonly prNumber: number;
  readonly commentId?: number;
  /** Architecture target, e.g. linux/x86_64/amd/zen2. */
  readonly target: string;
  readonly appName: string;
  readonly jobName: string;
  readonly deliveryId: string;
}

export interface TrackedJob {
  readonly jobId: string;
  readonly jobDir: string;
}

const JOB_ID = /^\d+(_\d+)?$/;

export function assertJobId(jobId: string): void {
  if (!JOB_ID.test(jobId)) throw new Error(`invalid job id '${jobId}'`);
}

export class JobStore {
  private readonly logger = new Logger(JobStore.name);

  constructor(private readonly jobIdsDir: string) {}

  static metadataPath(jobDir: string, jobId: string): string {
    return join(jobDir, `_bot_job${jobId}.metadata`);
  }

  static rowsDir(jobDir: string, jobId: string): string {
    return join(jobDir, `_bot_job${jobId}.rows`);
  }

  private static postedPath(jobDir: string, jobId: string): string {
    return join(jobDir, `_bot_job${jobId}.posted`);
  }

  /** Where the job's pr_<N>/<ID> symlink lives: job dirs are pr_<N>/event_<id>/run_<NNN>/<arch>. */
  static prDirOf(jobDir: string): string {
    return dirname(dirname(dirname(jobDir)));
  }

  /** Metadata, the pr_<N>/<ID> link and submitted/<ID>; each step atomic and safe to repeat. */
  async recordSubmitted(jobId: string, jobDir: string, meta: JobMetadata): Promise<void> {
    assertJobId(jobId);
    await this.writeMetadata(jobId, jobDir, meta);
    await symlinkAtomic(jobDir, join(JobStore.prDirOf(jobDir), jobId));
    await symlinkAtomic(jobDir, join(this.jobIdsDir, 'submitted', jobId));
  }

  async readMetadata(jobId: string, jobDir: string): Promise<JobMetadata | undefined> {
    let text: string;
    try {
      text = await readFile(JobStore.metadataPath(jobDir, jobId), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    const parsed = decode(text) as Record<string, Record<string, unknown> | undefined>;
    const pr = parsed.PR ?? {};
    const job = parsed.JOB ?? {};
    const prNumber = positiveInteger(pr.pr_number);
    if (typeof pr.repo !== 'string' || pr.repo === '' || prNumber === undefined) {
      throw new Error(`${JobStore.metadataPath(jobDir, jobId)}: [PR] repo or pr_number missing`);
    }
    return {
      repo: pr.repo,
      prNumber,
      commentId: positiveInteger(pr.pr_comment_id),
      target: asText(job.target),
      appName: asText(job.app_name),
      jobName: asText(job.job_name),
      deliveryId: asText(job.event),
    };
  }

  async setCommentId(jobId: string, jobDir: string, commentId: number): Promise<void> {
    const meta = await this.readMetadata(jobId, jobDir);
    if (!meta)
      throw new Error(`${JobStore.metadataPath(jobDir, jobId)}: missing, cannot record comment id`);
    await this.writeMetadata(jobId, jobDir, { ...meta, commentId });
  }

  private async writeMetadata(jobId: string, jobDir: string, meta: JobMetadata): Promise<void> {
    const text = encode({
      PR: { repo: meta.repo, pr_number: meta.prNumber, pr_comment_id: meta.commentId ?? 0 },
      JOB: {
        job_id: jobId,
        target: meta.target,
        app_name: meta.appName,
        job_name: meta.jobName,
        event: meta.deliveryId,
      },
    });
    await writeFileAtomic(JobStore.metadataPath(jobDir, jobId), text);
  }

  /** Ids in submitted/ (temp names of a link being made are left out), without reading links. */
  async listSubmittedIds(): Promise<string[]> {
    return (await namesIn(join(this.jobIdsDir, 'submitted'))).filter((name) => JOB_ID.test(name));
  }

  /** The job dir a tracked job's submitted/<ID> link points to. */
  async submittedJobDir(jobId: string): Promise<string> {
    assertJobId(jobId);
    return readlink(join(this.jobIdsDir, 'submitted', jobId));
  }

  /** Jobs still tracked: the job manager's work list, rebuilt from disk. */
  async listSubmitted(): Promise<TrackedJob[]> {
    const jobs: TrackedJob[] = [];
    for (const jobId of await this.listSubmittedIds()) {
      try {
        jobs.push({ jobId, jobDir: await this.submittedJobDir(jobId) });
      } catch (error) {
        this.logger.warn(
          `job ${jobId}: cannot read its submitted/ link: ${(error as Error).message}`,
        );
      }
    }
    return jobs.sort((a, b) => compareJobIds(a.jobId, b.jobId));
  }

  async isFinished(jobId: string): Promise<boolean> {
    try {
      await readlink(join(this.jobIdsDir, 'finished', jobId));
      return true;
    } catch {
      return false;
    }
  }

  /** Moves submitted/<ID> to finished/<ID> (one rename: never both, never neither). */
  async finish(jobId: string): Promise<void> {
    assertJobId(jobId);
    await mkdir(join(this.jobIdsDir, 'finished'), { recursive: true });
    try {
      await rename(
        join(this.jobIdsDir, 'submitted', jobId),
        join(this.jobIdsDir, 'finished', jobId),
      );
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' && (await this.isFinished(jobId)))
        return;
      throw error;
    }
  }

  /** Adds a status row unless one of that kind exists; returns whether it was added. */
  async addRow(jobId: string, jobDir: string, row: StatusRow): Promise<boolean> {
    const dir = JobStore.rowsDir(jobDir, jobId);
    const path = join(dir, `${ROW_ORDER.indexOf(row.kind)}-${row.kind}`);
    // Most calls find the row already there (every tick re-asserts it): skip the temp file + fsync.
    if (await exists(path)) return false;
    // Claimed exclusively: two writers (event handler, job manager) never both add a row.
    return writeFileExclusive(path, JSON.stringify(row));
  }

  async rows(jobId: string, jobDir: string): Promise<StatusRow[]> {
    const dir = JobStore.rowsDir(jobDir, jobId);
    const names = await namesIn(dir);
    const rows: StatusRow[] = [];
    for (const name of names.filter((n) => /^\d-[a-z]+$/.test(n)).sort()) {
      try {
        rows.push(JSON.parse(await readFile(join(dir, name), 'utf8')) as StatusRow);
      } catch (error) {
        this.logger.warn(
          `job ${jobId}: unreadable row ${basename(name)}: ${(error as Error).message}`,
        );
      }
    }
    return rows;
  }

  async postedHash(jobId: string, jobDir: string): Promise<string | undefined> {
    try {
      return (await readFile(JobStore.postedPath(jobDir, jobId), 'utf8')).trim();
    } catch {
      return undefined;
    }
  }

  async setPostedHash(jobId: string, jobDir: string, hash: string): Promise<void> {
    await writeFileAtomic(JobStore.postedPath(jobDir, jobId), `${hash}\n`);
  }
}

/**
 * ini turns a bare `pr_number` line (a truncated file) into `true` and an empty value into '';
 * Number() would read those as PR #1 and #0, so only digit strings count.
 */
function positiveInteger(value: unknown): number | undefined {
  if (typeof value !== 'string' || !/^\d+$/.test(value.trim())) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

function asText(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number' ? String(value) : '';
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Entries of a directory that may not exist yet (nothing recorded there so far). */
async function namesIn(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** Numeric, then by array task: readdir order is arbitrary, and 123_10 must follow 123_9. */
function compareJobIds(a: string, b: string): number {
  const [ja, ta = -1] = a.split('_').map(Number);
  const [jb, tb = -1] = b.split('_').map(Number);
  return ja - jb || ta - tb;
}
