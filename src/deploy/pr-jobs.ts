import { lstat, readFile, readlink } from 'node:fs/promises';
import { namesIn, pathExists } from '../common/fs-entries.js';
import { join, resolve } from 'node:path';
import { ResultAnalyzer } from '../builds/result-analyzer.js';
import { assertJobId, compareJobIds, JobStore, type JobMetadata } from '../builds/job-store.js';
import { codeSpan } from '../builds/job-comment.js';
import { readConfigParser } from '../config/read-configparser.js';

/**
 * The jobs of one pull request on disk, through the links `jobs_base_dir/YYYY.MM/pr_<N>/<ID>`
 * that builds leaves (as upstream's deploy finds them), and what each one achieved.
 */
export interface PrJob {
  readonly jobId: string;
  /** `jobs_base_dir/YYYY.MM/pr_<N>`: where its uploaded.txt lives. */
  readonly prDir: string;
  /** The pr_<N>/<ID> link: upstream passes artefact paths through it. */
  readonly link: string;
  /** Where the link points. */
  readonly jobDir: string;
}

const MONTH_DIR = /^\d{4}\.\d{2}$/;
const JOB_ID = /^\d+(_\d+)?$/;

/** All month dirs holding a pr_<N> dir for this PR, oldest first. */
export async function prDirsOf(jobsBaseDir: string, prNumber: number): Promise<string[]> {
  const dirs: string[] = [];
  for (const month of (await namesIn(jobsBaseDir)).filter((n) => MONTH_DIR.test(n)).sort()) {
    const prDir = join(jobsBaseDir, month, `pr_${prNumber}`);
    if ((await lstat(prDir).catch(() => undefined))?.isDirectory()) {
      dirs.push(prDir);
    }
  }
  return dirs;
}

export async function findPrJobs(prDirs: readonly string[]): Promise<PrJob[]> {
  const jobs: PrJob[] = [];
  for (const prDir of prDirs) {
    for (const jobId of (await namesIn(prDir)).filter((n) => JOB_ID.test(n))) {
      const link = join(prDir, jobId);
      if (!(await lstat(link)).isSymbolicLink()) {
        continue;
      }
      jobs.push({ jobId, prDir, link, jobDir: resolve(prDir, await readlink(link)) });
    }
  }
  return jobs.sort((a, b) => compareJobIds(a.jobId, b.jobId));
}

export type JobVerdict =
  | { readonly kind: 'success'; readonly artefacts: readonly string[] }
  | { readonly kind: 'not-deployed'; readonly reason: string }
  | { readonly kind: 'not-ours' };

/**
 * Whether the job's artefacts may be deployed: only a finished job of this repository and bot
 * instance whose `_bot_job<ID>.result` says `status = SUCCESS` (upstream's rule; the seed's
 * output heuristics do not count here).
 */
export async function judgeJob(
  job: PrJob,
  meta: JobMetadata | undefined,
  expected: { readonly repo: string; readonly appName: string },
  stillTracked: boolean,
): Promise<JobVerdict> {
  if (!meta) {
    return { kind: 'not-deployed', reason: 'unknown: no readable job metadata' };
  }
  // pr_<N> dirs do not name the repository, and several instances may share jobs_base_dir.
  if (meta.repo !== expected.repo) {
    return { kind: 'not-ours' };
  }
  if (meta.appName !== '' && meta.appName !== expected.appName) {
    return { kind: 'not-ours' };
  }
  if (stillTracked) {
    return { kind: 'not-deployed', reason: 'unfinished: the job has not ended yet' };
  }
  const resultFile = `_bot_job${job.jobId}.result`;
  if (!(await pathExists(join(job.jobDir, resultFile)))) {
    return { kind: 'not-deployed', reason: `unknown: no result file ${codeSpan(resultFile)}` };
  }
  const result = await new ResultAnalyzer().analyze(job.jobId, job.jobDir);
  if (result.source !== 'result-file') {
    return {
      kind: 'not-deployed',
      reason: `unknown: ${codeSpan(resultFile)} has no [RESULT] section`,
    };
  }
  if (result.status !== 'SUCCESS') {
    const what = result.status === 'FAILURE' ? 'failed' : 'unknown';
    return {
      kind: 'not-deployed',
      reason: `${what}: \`status = ${result.status}\` in ${codeSpan(resultFile)}`,
    };
  }
  const artefacts = result.artefacts.map((a) => a.name);
  if (artefacts.length === 0) {
    return {
      kind: 'not-deployed',
      reason: `succeeded, but ${codeSpan(resultFile)} lists no artefacts`,
    };
  }
  return { kind: 'success', artefacts };
}

export async function readJobMetadata(
  store: JobStore,
  job: PrJob,
): Promise<JobMetadata | undefined> {
  assertJobId(job.jobId);
  try {
    return await store.readMetadata(job.jobId, job.jobDir);
  } catch {
    return undefined;
  }
}

/** What the job's cfg/job.cfg says about its repository (v0.9 jobs; seed jobs have no id). */
export interface JobRepository {
  readonly repoId?: string;
  readonly container?: string;
  readonly containerCachedir?: string;
}

export async function readJobRepository(jobDir: string): Promise<JobRepository> {
  const path = join(jobDir, 'cfg', 'job.cfg');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return {};
  }
  const parsed = readConfigParser(text, path);
  const value = (section: string, key: string) => {
    const found = parsed.sections.get(section)?.entries.get(key)?.value;
    return found === undefined || found === '' ? undefined : found;
  };
  const repoId = value('repository', 'repo_id');
  const container = value('repository', 'container');
  const containerCachedir = value('site_config', 'container_cachedir');
  return {
    ...(repoId !== undefined ? { repoId } : {}),
    ...(container !== undefined ? { container } : {}),
    ...(containerCachedir !== undefined ? { containerCachedir } : {}),
  };
}
