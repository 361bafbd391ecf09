import { mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { symlinkAtomic } from '../../src/common/atomic-file.js';
import { formatRowDate } from '../../src/builds/job-comment.js';
import {
  JobStore,
  type JobMetadata,
  type RowKind,
  type StatusRow,
  type TrackedJob,
} from '../../src/builds/job-store.js';

/**
 * A job as the event handler leaves it on disk, for job-manager tests: the job dir in the seed's
 * layout, `_bot_job<ID>.metadata`, the pr_<N>/<ID> and submitted/<ID> links (all through the real
 * JobStore), plus whatever a test needs the job to have produced.
 */
export interface JobFixtureOptions {
  readonly jobIdsDir: string;
  readonly jobsBaseDir: string;
  readonly jobId: string;
  readonly repo?: string;
  readonly prNumber?: number;
  readonly target?: string;
  readonly appName?: string;
  readonly jobName?: string;
  readonly commentId?: number;
  /** false: only the job dir and the submitted/<ID> link, as between sbatch and the metadata write. */
  readonly metadata?: boolean;
  /** Rows already recorded; a kind alone gets the bot's usual text. */
  readonly rows?: readonly (RowKind | StatusRow)[];
  /** Content of slurm-<ID>.out; omitted: no output file. */
  readonly slurmOutput?: string;
  /** Files in the job dir, by name; sizes are sparse, so 5 GiB costs nothing. */
  readonly tarballs?: readonly (string | { readonly name: string; readonly sizeBytes: number })[];
  /** Content of _bot_job<ID>.result. */
  readonly resultFile?: string;
  /** Any other files, by path relative to the job dir. */
  readonly files?: Readonly<Record<string, string>>;
}

export interface JobFixture extends TrackedJob {
  /** Undefined when created with `metadata: false`. */
  readonly meta?: JobMetadata;
}

export const FIXTURE_DEFAULTS = {
  repo: 'EESSI/software-layer',
  prNumber: 42,
  target: 'linux/x86_64/amd/zen2',
  appName: 'eessi-bot-test',
  jobName: 'eessi-bot-test-job',
} as const;

const ROW_TEXT: Readonly<Record<RowKind, (jobId: string) => string>> = {
  submitted: (id) => `job id \`${id}\` awaits release by job manager`,
  released: () => 'job awaits launch by Slurm scheduler',
  received: () => 'job awaits launch by Slurm scheduler',
  running: () => 'job is running',
  finished: () => ':grin: SUCCESS',
  test: () => ':grin: SUCCESS: all tests passed',
};

/** `<jobs_base_dir>/YYYY.MM/pr_<N>/event_<delivery>/run_001/<os_arch>`, as the builds module lays it out. */
function fixtureJobDir(opts: JobFixtureOptions): string {
  const target = opts.target ?? FIXTURE_DEFAULTS.target;
  return join(
    opts.jobsBaseDir,
    '2026.11',
    `pr_${opts.prNumber ?? FIXTURE_DEFAULTS.prNumber}`,
    `event_delivery-${opts.jobId}`,
    'run_001',
    target.replace(/\//g, '_'),
  );
}

export async function createTrackedJob(opts: JobFixtureOptions): Promise<JobFixture> {
  const { jobId } = opts;
  const jobDir = fixtureJobDir(opts);
  await mkdir(jobDir, { recursive: true });
  const store = new JobStore(opts.jobIdsDir);

  for (const [path, content] of Object.entries(opts.files ?? {})) {
    await mkdir(join(jobDir, path, '..'), { recursive: true });
    await writeFile(join(jobDir, path), content);
  }
  if (opts.slurmOutput !== undefined) {
    await writeFile(join(jobDir, `slurm-${jobId}.out`), opts.slurmOutput);
  }
  if (opts.resultFile !== undefined) {
    await writeFile(join(jobDir, `_bot_job${jobId}.result`), opts.resultFile);
  }
  for (const tarball of opts.tarballs ?? []) {
    const { name, sizeBytes } =
      typeof tarball === 'string' ? { name: tarball, sizeBytes: 1024 } : tarball;
    const handle = await open(join(jobDir, name), 'w');
    await handle.truncate(sizeBytes);
    await handle.close();
  }

  let meta: JobMetadata | undefined;
  if (opts.metadata === false) {
    await symlinkAtomic(jobDir, join(opts.jobIdsDir, 'submitted', jobId));
  } else {
    meta = {
      repo: opts.repo ?? FIXTURE_DEFAULTS.repo,
      prNumber: opts.prNumber ?? FIXTURE_DEFAULTS.prNumber,
      commentId: opts.commentId,
      target: opts.target ?? FIXTURE_DEFAULTS.target,
      appName: opts.appName ?? FIXTURE_DEFAULTS.appName,
      jobName: opts.jobName ?? FIXTURE_DEFAULTS.jobName,
      deliveryId: `delivery-${jobId}`,
    };
    await store.recordSubmitted(jobId, jobDir, meta);
  }
  for (const row of opts.rows ?? []) {
    const full: StatusRow =
      typeof row === 'string'
        ? { kind: row, date: formatRowDate(new Date()), status: row, comment: ROW_TEXT[row](jobId) }
        : row;
    await store.addRow(jobId, jobDir, full);
  }
  return { jobId, jobDir, meta };
}
