import { Logger } from '@nestjs/common';
import { mkdir, readFile, readlink, rename } from 'node:fs/promises';
import { basename, join, sep } from 'node:path';
import { symlinkAtomic } from '../common/atomic-file.js';
import { JOB_ID_PATTERN, parseGitHubId } from '../common/ids.js';
import { namesIn, pathExists } from '../common/fs-entries.js';
import { readConfigParser } from '../config/read-configparser.js';
import { RUN_DIR_NAME } from './build-plan.js';
import { formatConfigparser, type IniSection } from './configparser-format.js';
import { createInJobDir, replaceInJobDir } from './job-dir-gone.js';

/**
 * The bot's record of its jobs, kept on the shared filesystem in the seed's layout so that the event
 * handler and the job manager may run on different hosts (see docs/architecture.md, "State on disk").
 *
 *   <jobDir>/_bot_job<ID>.metadata        [PR] repo, pr_number, pr_comment_id  + [JOB] details
 *   <jobDir>/_bot_job<ID>.rows/<n>-<kind>  one file per status row, created exclusively: a row
 *                                          is written once, whoever writes it, and never lost
 *   <jobDir>/_bot_job<ID>.posted           sha256 of the comment body last sent to GitHub
 *   <jobDir>/_bot_job<ID>.checked          sha256 of the check-run state last sent (check_runs)
 *   <jobs_base_dir>/YYYY.MM/pr_<N>/<ID>    → jobDir
 *   <job_ids_dir>/submitted/<ID>           → jobDir while tracked, then moved to finished/<ID>
 */
export type RowKind =
  'submitted' | 'released' | 'received' | 'running' | 'cancelled' | 'finished' | 'test' | 'deploy';
/**
 * The index in a row's file name (`<n>-<kind>`, or `<n>-deploy-<name>` for the any number of
 * deploy rows). Rows on disk outlive upgrades, so an index never changes: new kinds only get new
 * numbers. `received` is delayed_begin's stand-in for `released`; `test` follows `finished` for
 * v0.9 jobs (from _bot_job<ID>.test); `cancelled`: scancel'd by the bot (PR closed, new push,
 * `bot: cancel`).
 */
const ROW_FILE_INDEX: Readonly<Record<RowKind, number>> = {
  submitted: 0,
  released: 1,
  running: 2,
  finished: 3,
  test: 4,
  received: 5,
  cancelled: 6,
  deploy: 7,
};
/** The order of the rows in a comment. */
const ROW_ORDER: readonly RowKind[] = [
  'submitted',
  'released',
  'received',
  'running',
  'cancelled',
  'finished',
  'test',
  'deploy',
];
/** `<n>-<kind>`, or `<n>-deploy-<name>` (temp files of a row being written start with a dot). */
const ROW_FILE = /^(\d)-([a-z]+)(?:-[A-Za-z0-9._-]+)?$/;

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
  /** Architecture target, e.g. linux/x86_64/amd/zen2 (v0.9 jobs: <os>/<for cpu subdir>). */
  readonly target: string;
  readonly appName: string;
  readonly jobName: string;
  readonly deliveryId: string;
  /** Who asked for the build (v0.9 jobs; `cancel` allows them). */
  readonly requester?: string;
  /** What a v0.9 job builds, where (for `status` and the job's comment). */
  readonly build?: JobBuildInfo;
  /** The PR head the job builds (jobs recorded before this field existed have none). */
  readonly headSha?: string;
  /** The job's GitHub check run (`[github] check_runs = true`). */
  readonly checkRunId?: number;
}

export interface JobBuildInfo {
  readonly nodeType: string;
  readonly forArch: string;
  readonly forAccel: readonly string[];
  /** cpu_subdir and accelerators of the node type. */
  readonly onArch: string;
  readonly onAccel: readonly string[];
  readonly repoId: string;
}

export interface TrackedJob {
  readonly jobId: string;
  readonly jobDir: string;
}

const DEPLOY_ROW_NAME = /^[A-Za-z0-9._-]{1,100}$/;

export function assertJobId(jobId: string): void {
  if (!JOB_ID_PATTERN.test(jobId)) {
    throw new Error(`invalid job id '${jobId}'`);
  }
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

  private static checkedPath(jobDir: string, jobId: string): string {
    return join(jobDir, `_bot_job${jobId}.checked`);
  }

  /**
   * Where the job's pr_<N>/<ID> symlink lives: job dirs are pr_<N>/event_<id>/run_<NNN>/<arch>
   * (seed) or pr_<N>/event_<id>/run_<NNN>/<cpu subdir>[/<accel>]/<repo id> (v0.9), so it is the
   * parent of the last `event_*` directory that holds a `run_NNN`.
   */
  static prDirOf(jobDir: string): string {
    const parts = jobDir.split(sep);
    for (let i = parts.length - 2; i > 0; i--) {
      if (parts[i].startsWith('event_') && RUN_DIR_NAME.test(parts[i + 1])) {
        return parts.slice(0, i).join(sep) || sep;
      }
    }
    // Not laid out by this bot: the seed's three levels.
    return parts.slice(0, -3).join(sep) || sep;
  }

  /** Metadata, the pr_<N>/<ID> link and submitted/<ID>; each step atomic and safe to repeat. */
  async recordSubmitted(jobId: string, jobDir: string, meta: JobMetadata): Promise<void> {
    assertJobId(jobId);
    await this.writeMetadata(jobId, jobDir, meta);
    await this.linkSubmitted(jobId, jobDir);
  }

  /**
   * The pr_<N>/<ID> link and submitted/<ID>, for a job whose metadata is written already (with
   * its comment id, by setCommentId). The job manager finds jobs through submitted/.
   */
  async linkSubmitted(jobId: string, jobDir: string): Promise<void> {
    assertJobId(jobId);
    await symlinkAtomic(jobDir, join(JobStore.prDirOf(jobDir), jobId));
    await symlinkAtomic(jobDir, join(this.jobIdsDir, 'submitted', jobId));
  }

  async readMetadata(jobId: string, jobDir: string): Promise<JobMetadata | undefined> {
    let text: string;
    try {
      text = await readFile(JobStore.metadataPath(jobDir, jobId), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return undefined;
      }
      throw error;
    }
    // Read as configparser reads it (v0.9's tools read these files too). A line it cannot
    // parse leaves out that key only: the keys that matter are checked below.
    const path = JobStore.metadataPath(jobDir, jobId);
    const { sections } = readConfigParser(text, path);
    const section = (name: string) => (key: string) =>
      sections.get(name)?.entries.get(key)?.value ?? '';
    const pr = section('PR');
    const job = section('JOB');
    const prNumber = parseGitHubId(pr('pr_number'));
    if (pr('repo') === '' || prNumber === undefined) {
      throw new Error(`${path}: [PR] repo or pr_number missing`);
    }
    const meta: JobMetadata = {
      repo: pr('repo'),
      prNumber,
      commentId: parseGitHubId(pr('pr_comment_id')),
      target: job('target'),
      appName: job('app_name'),
      jobName: job('job_name'),
      deliveryId: job('event'),
    };
    const extra: {
      requester?: string;
      build?: JobBuildInfo;
      headSha?: string;
      checkRunId?: number;
    } = {};
    if (job('requester')) {
      extra.requester = job('requester');
    }
    if (/^[0-9a-f]{7,64}$/.test(job('head_sha'))) {
      extra.headSha = job('head_sha');
    }
    const checkRunId = positiveInteger(job('check_run_id'));
    if (checkRunId !== undefined) {
      extra.checkRunId = checkRunId;
    }
    if (job('node_type')) {
      extra.build = {
        nodeType: job('node_type'),
        forArch: job('for_arch'),
        forAccel: list(job('for_accel')),
        onArch: job('on_arch'),
        onAccel: list(job('on_accel')),
        repoId: job('repo_id'),
      };
    }
    return { ...meta, ...extra };
  }

  async setCheckRunId(jobId: string, jobDir: string, checkRunId: number): Promise<void> {
    const meta = await this.readMetadata(jobId, jobDir);
    if (!meta) {
      throw new Error(
        `${JobStore.metadataPath(jobDir, jobId)}: missing, cannot record check run id`,
      );
    }
    await this.writeMetadata(jobId, jobDir, { ...meta, checkRunId });
  }

  /**
   * Writes the metadata with the job's comment id, in one write: `meta` is what was recorded (or
   * is about to be), and nothing but the comment id changes after a job is recorded.
   */
  async setCommentId(
    jobId: string,
    jobDir: string,
    meta: JobMetadata,
    commentId: number,
  ): Promise<void> {
    assertJobId(jobId);
    await this.writeMetadata(jobId, jobDir, { ...meta, commentId });
  }

  /**
   * `[PR]` exactly as v0.9 writes it (configparser's format), then `[JOB]` with what this bot
   * adds: instance, job name, delivery, and for v0.9 jobs the requester and the build.
   */
  private async writeMetadata(jobId: string, jobDir: string, meta: JobMetadata): Promise<void> {
    const job: [string, string][] = [
      ['job_id', jobId],
      ['target', meta.target],
      ['app_name', meta.appName],
      ['job_name', meta.jobName],
      ['event', meta.deliveryId],
    ];
    if (meta.requester) {
      job.push(['requester', meta.requester]);
    }
    if (meta.build) {
      job.push(
        ['node_type', meta.build.nodeType],
        ['for_arch', meta.build.forArch],
        ['for_accel', meta.build.forAccel.join('+')],
        ['on_arch', meta.build.onArch],
        ['on_accel', meta.build.onAccel.join('+')],
        ['repo_id', meta.build.repoId],
      );
    }
    // After the v0.9 keys, which keep upstream's order.
    if (meta.headSha) {
      job.push(['head_sha', meta.headSha]);
    }
    if (meta.checkRunId) {
      job.push(['check_run_id', String(meta.checkRunId)]);
    }
    const sections: IniSection[] = [
      [
        'PR',
        [
          ['repo', meta.repo],
          ['pr_number', String(meta.prNumber)],
          ['pr_comment_id', String(meta.commentId ?? 0)],
        ],
      ],
      ['JOB', job],
    ];
    const text = formatConfigparser(sections);
    await replaceInJobDir(jobId, jobDir, JobStore.metadataPath(jobDir, jobId), text);
  }

  /** Ids in submitted/ (temp names of a link being made are left out), without reading links. */
  async listSubmittedIds(): Promise<string[]> {
    return (await namesIn(join(this.jobIdsDir, 'submitted'))).filter((name) =>
      JOB_ID_PATTERN.test(name),
    );
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
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' && (await this.isFinished(jobId))) {
        return;
      }
      throw error;
    }
  }

  /** Adds a status row unless one of that kind exists; returns whether it was added. */
  async addRow(jobId: string, jobDir: string, row: StatusRow): Promise<boolean> {
    const dir = JobStore.rowsDir(jobDir, jobId);
    const path = join(dir, `${ROW_FILE_INDEX[row.kind]}-${row.kind}`);
    // Most calls find the row already there (every tick re-asserts it): skip the temp file + fsync.
    if (await pathExists(path)) {
      return false;
    }
    // Claimed exclusively: two writers (event handler, job manager) never both add a row.
    return createInJobDir(jobId, jobDir, path, JSON.stringify(row));
  }

  /**
   * Adds an `uploaded` / `not uploaded` row under `name` (sortable: rows render in name order)
   * unless one of that name exists; returns whether it was added.
   */
  async addDeployRow(
    jobId: string,
    jobDir: string,
    name: string,
    row: StatusRow,
  ): Promise<boolean> {
    if (!DEPLOY_ROW_NAME.test(name)) {
      throw new Error(`invalid deploy row name '${name}'`);
    }
    const path = join(JobStore.rowsDir(jobDir, jobId), `${ROW_FILE_INDEX.deploy}-deploy-${name}`);
    return createInJobDir(jobId, jobDir, path, JSON.stringify(row));
  }

  async rows(jobId: string, jobDir: string): Promise<StatusRow[]> {
    const dir = JobStore.rowsDir(jobDir, jobId);
    const names = await namesIn(dir);
    const rows: StatusRow[] = [];
    const rank = (name: string) => ROW_ORDER.indexOf(ROW_FILE.exec(name)?.[2] as RowKind);
    const rowFiles = names
      .filter((n) => ROW_FILE.test(n))
      .sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
    for (const name of rowFiles) {
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

  /** sha256 of the comment body last sent (`_bot_job<ID>.posted`). */
  postedHash(jobId: string, jobDir: string): Promise<string | undefined> {
    return readHash(JobStore.postedPath(jobDir, jobId));
  }

  async setPostedHash(jobId: string, jobDir: string, hash: string): Promise<void> {
    await replaceInJobDir(jobId, jobDir, JobStore.postedPath(jobDir, jobId), `${hash}\n`);
  }

  /** sha256 of the check-run state last sent (`_bot_job<ID>.checked`). */
  checkedHash(jobId: string, jobDir: string): Promise<string | undefined> {
    return readHash(JobStore.checkedPath(jobDir, jobId));
  }

  async setCheckedHash(jobId: string, jobDir: string, hash: string): Promise<void> {
    await replaceInJobDir(jobId, jobDir, JobStore.checkedPath(jobDir, jobId), `${hash}\n`);
  }
}

function readHash(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').then(
    (text) => text.trim(),
    () => undefined,
  );
}

function list(value: string): string[] {
  return value === '' ? [] : value.split('+');
}

/** Numeric, then by array task: readdir order is arbitrary, and 123_10 must follow 123_9. */
export function compareJobIds(a: string, b: string): number {
  const [ja, ta = -1] = a.split('_').map(Number);
  const [jb, tb = -1] = b.split('_').map(Number);
  return ja - jb || ta - tb;
}

/** Only digit strings count: Number('') is 0 and Number(' 1e3') is 1000. */
function positiveInteger(value: string): number | undefined {
  if (!/^\d+$/.test(value)) {
    return undefined;
  }
  const n = Number(value);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}
