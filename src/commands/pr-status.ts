import { joinAccelerators } from '../builds/build-request.js';
import { jobMarker, tableCell } from '../builds/job-comment.js';
import { compareJobIds, type JobStore, type StatusRow } from '../builds/job-store.js';
import type { SubmittedJobTemplates } from '../config/app-config.js';
import { findPrJobs, prDirsOf } from '../deploy/pr-jobs.js';
import type { IssueComment } from '../github/github.client.js';
import { matchesAll, type Filter } from './filters.js';

/**
 * `bot: status [last_build]`: this PR's jobs of this instance, from the bot's own records (the
 * pr_<N>/<ID> links, each job's metadata and rows) and, for jobs whose records are no longer on
 * this host (moved to the trash bin, another host's jobs_base_dir), from this instance's job
 * comments on the PR, read through the authenticated client, every page of them.
 */
export interface JobStatus {
  readonly jobId: string;
  readonly onArch: string;
  readonly onAccel: readonly string[];
  readonly forArch: string;
  readonly forAccel: readonly string[];
  readonly repoId: string;
  /** The last row's status: submitted, released, running, finished, cancelled, … */
  readonly state: string;
  /** The finished row's text, in short. */
  readonly result: string;
  /** The last row's date. */
  readonly date: string;
  readonly url?: string;
}

export interface StatusSources {
  readonly store: JobStore;
  readonly jobsBaseDir: string;
  readonly repo: string;
  readonly prNumber: number;
  readonly appName: string;
  /** The PR's web page, e.g. https://github.com/o/r/pull/5: job links are its comment anchors. */
  readonly prUrl: string;
  readonly comments: readonly IssueComment[];
  readonly templates: SubmittedJobTemplates;
}

export async function collectJobStatus(sources: StatusSources): Promise<JobStatus[]> {
  const { store, repo, appName } = sources;
  const marker = (jobId: string) => jobMarker(jobId, appName);
  const commentOf = (jobId: string) =>
    sources.comments.find((c) => c.byBot === true && c.body.includes(marker(jobId)));
  const found = new Map<string, JobStatus>();
  for (const job of await findPrJobs(await prDirsOf(sources.jobsBaseDir, sources.prNumber))) {
    const meta = await store.readMetadata(job.jobId, job.jobDir).catch(() => undefined);
    // pr_<N> dirs do not name the repository, and instances may share jobs_base_dir.
    if (!meta || meta.repo !== repo || (meta.appName !== '' && meta.appName !== appName)) {
      continue;
    }
    const rows = await store.rows(job.jobId, job.jobDir);
    const seedArch = meta.target.split('/').slice(1).join('/');
    const build = meta.build ?? {
      onArch: seedArch,
      onAccel: [],
      forArch: seedArch,
      forAccel: [],
      repoId: '',
    };
    const url =
      commentOf(job.jobId)?.htmlUrl ??
      (meta.commentId ? `${sources.prUrl}#issuecomment-${meta.commentId}` : undefined);
    found.set(job.jobId, {
      jobId: job.jobId,
      onArch: build.onArch,
      onAccel: build.onAccel,
      forArch: build.forArch,
      forAccel: build.forAccel,
      repoId: build.repoId,
      ...stateOf(rows),
      ...(url && { url }),
    });
  }
  const header = headerReader(sources.templates);
  for (const comment of sources.comments) {
    if (comment.byBot !== true) {
      continue;
    }
    const jobId = JOB_MARKER.exec(comment.body);
    if (!jobId || found.has(jobId[1]) || !comment.body.includes(marker(jobId[1]))) {
      continue;
    }
    found.set(jobId[1], {
      jobId: jobId[1],
      ...header(comment.body),
      ...stateOf(tableRows(comment.body)),
      ...(comment.htmlUrl && { url: comment.htmlUrl }),
    });
  }
  return [...found.values()].sort((a, b) => compareJobIds(a.jobId, b.jobId));
}

const JOB_MARKER = /<!-- bot:job (\d+(?:_\d+)?) \S+ -->/;

/** The filters of the command: arch matches the for or the on architecture, acc either side's. */
export function filterJobs(jobs: readonly JobStatus[], filters: readonly Filter[]): JobStatus[] {
  return jobs.filter((job) =>
    matchesAll(filters, {
      architecture: [job.forArch, job.onArch],
      accelerator: [...job.forAccel, ...job.onAccel],
      repository: job.repoId,
      job: job.jobId,
    }),
  );
}

/** `last_build`: the newest job (highest id: Slurm counts up) per (for arch, accelerator, repo). */
export function lastBuilds(jobs: readonly JobStatus[]): JobStatus[] {
  const newest = new Map<string, JobStatus>();
  for (const job of jobs) {
    const key = `${job.forArch}\n${joinAccelerators(job.forAccel)}\n${job.repoId}`;
    const seen = newest.get(key);
    if (!seen || compareJobIds(job.jobId, seen.jobId) > 0) {
      newest.set(key, job);
    }
  }
  return [...newest.values()].sort(
    (a, b) => a.forArch.localeCompare(b.forArch) || compareJobIds(a.jobId, b.jobId),
  );
}

export function renderStatusTable(jobs: readonly JobStatus[]): string {
  const arch = (a: string, accel: readonly string[]) =>
    tableCell(accel.length > 0 ? `${a} + ${joinAccelerators(accel)}` : a || '?');
  return [
    '|on|for|repo|job|state|result|date|',
    '|----|----|----|----|----|----|----|',
    ...jobs.map(
      (j) =>
        `|${arch(j.onArch, j.onAccel)}|${arch(j.forArch, j.forAccel)}|${tableCell(j.repoId || '-')}|` +
        `${j.url ? `[${j.jobId}](${j.url})` : j.jobId}|${tableCell(j.state)}|${tableCell(j.result)}|${tableCell(j.date)}|`,
    ),
  ].join('\n');
}

function stateOf(rows: readonly Pick<StatusRow, 'status' | 'comment' | 'date'>[]) {
  const last = rows[rows.length - 1];
  const finished = rows.find((r) => r.status === 'finished');
  return {
    state: last?.status ?? 'unknown',
    result: finished ? shortResult(finished.comment) : '',
    date: last?.date ?? '',
  };
}

/** `<details><summary>:cry: FAILURE _(click …)_</summary>…` → `:cry: FAILURE`. */
function shortResult(comment: string): string {
  const summary = /<summary>([\s\S]*?)<\/summary>/.exec(comment)?.[1] ?? comment;
  return summary
    .replace(/_\(click[^)]*\)_/g, '')
    .replace(/<[^>]*>/g, '')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 120);
}

/** `|date|status|comment|` rows of a job comment (header and separator left out). */
function tableRows(body: string): { date: string; status: string; comment: string }[] {
  const rows: { date: string; status: string; comment: string }[] = [];
  for (const line of body.split(/\r?\n/)) {
    const cells = /^\|(.*?)\|(.*?)\|(.*)\|\s*$/.exec(line);
    if (!cells || cells[1] === 'date' || /^-+$/.test(cells[1])) {
      continue;
    }
    rows.push({ date: cells[1], status: cells[2], comment: cells[3] });
  }
  return rows;
}

/**
 * Reads on/for/repo back from a job comment's first lines, through the configured
 * [submitted_job_comments] templates (each placeholder becomes a capture).
 */
function headerReader(templates: SubmittedJobTemplates) {
  const lineRegex = (template: string) =>
    new RegExp(
      `^${template
        .split(/(\{[a-z_]+\})/)
        .map((part) => (/^\{[a-z_]+\}$/.test(part) ? '(.*?)' : escapeRegex(part)))
        .join('')}$`,
    );
  const names = (template: string) =>
    [...template.matchAll(/\{([a-z_]+)\}/g)].map((match) => match[1]);
  const readers = [templates.newJobInstanceRepo, templates.buildOnArch, templates.buildForArch].map(
    (template) => ({ regex: lineRegex(template), names: names(template) }),
  );
  const accel = lineRegex(templates.withAccelerator);
  const accelOf = (text: string | undefined) => {
    const value = text ? accel.exec(text)?.[1] : undefined;
    return value ? value.split('+') : [];
  };
  return (body: string) => {
    const values: Record<string, string> = {};
    for (const line of body.split(/\r?\n/).slice(0, 8)) {
      for (const reader of readers) {
        const match = reader.regex.exec(line);
        reader.names.forEach((name, i) => {
          if (match && match[i + 1] !== undefined) {
            values[name] ??= match[i + 1];
          }
        });
      }
    }
    return {
      onArch: values.on_arch ?? '',
      onAccel: accelOf(values.on_accelerator),
      forArch: values.for_arch ?? '',
      forAccel: accelOf(values.for_accelerator),
      repoId: values.repo_id ?? '',
    };
  };
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
