import type { JobHandoverProtocol, SubmittedJobTemplates } from '../config/app-config.js';
import { fillTemplate } from '../common/fill-template.js';
import type { JobBuildInfo, StatusRow } from './job-store.js';

/**
 * The PR comment of one job, in the seed's shape so EESSI users recognise it: a first line naming
 * the job, then a `|date|job status|comment|` table, one row per state, plus a hidden marker that
 * lets the bot find its comment again without relying on the wording.
 */
export interface JobCommentView {
  readonly jobId: string;
  readonly appName: string;
  /** e.g. linux/x86_64/amd/zen2 */
  readonly target: string;
  /** The job's pr_<N>/<ID> link, as the seed shows it. */
  readonly jobDirLink: string;
  readonly rows: readonly StatusRow[];
  /** v0.9 jobs: the lines from [submitted_job_comments] that replace the seed's first line. */
  readonly header?: readonly string[];
}

export function jobMarker(jobId: string, appName: string): string {
  return `<!-- bot:job ${jobId} ${appName.replace(/--+|[<>\s]/g, '_')} -->`;
}

/** x86_64-amd-zen2 for linux/x86_64/amd/zen2: the seed drops the OS and joins with '-'. */
export function archLabel(target: string): string {
  const parts = target.split('/');
  return (parts.length > 1 ? parts.slice(1) : parts).join('-');
}

/** Inline code that survives backticks, pipes and newlines in hostile text. */
export function codeSpan(text: string): string {
  const flat = text.replace(/[\r\n]+/g, ' ');
  const longestRun = Math.max(0, ...(flat.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longestRun + 1);
  // CommonMark strips one space from each end when both ends have one: pad so that it strips ours.
  const bothSpaces = flat.startsWith(' ') && flat.endsWith(' ') && flat.trim() !== '';
  const pad = flat.startsWith('`') || flat.endsWith('`') || bothSpaces ? ' ' : '';
  return `${fence}${pad}${flat}${pad}${fence}`;
}

/**
 * A table cell: a pipe or a line ending (CR alone is one in CommonMark) would break the row, and
 * a trailing backslash would escape the pipe that closes the cell (GitHub's cmark-gfm).
 */
export function tableCell(text: string): string {
  return text
    .replace(/\|/g, '\\|')
    .replace(/\r\n|[\r\n]/g, '<br/>')
    .replace(/\\$/, '\\ ');
}

export function renderJobComment(view: JobCommentView): string {
  // v0.9 puts the table right under its template lines (GitHub still renders it as a table).
  const intro = view.header ?? [
    `Job ${codeSpan(view.jobId)} on instance ${codeSpan(view.appName)} for architecture ` +
      `${codeSpan(archLabel(view.target))} in job dir ${codeSpan(view.jobDirLink)}`,
    '',
  ];
  const lines = [
    ...intro,
    '|date|job status|comment|',
    '|----------|----------|------------------------|',
    ...view.rows.map(
      (row) => `|${tableCell(row.date)}|${tableCell(row.status)}|${tableCell(row.comment)}|`,
    ),
    '',
    jobMarker(view.jobId, view.appName),
  ];
  return lines.join('\n');
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** The seed's `%b %d %X %Z %Y`, in UTC so that hosts in different zones agree. */
export function formatRowDate(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return (
    `${MONTHS[date.getUTCMonth()]} ${pad(date.getUTCDate())} ` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} UTC ${date.getUTCFullYear()}`
  );
}

/** What the [submitted_job_comments] placeholders of a v0.9 job are filled with. */
export interface SubmittedJobValues {
  readonly appName: string;
  readonly jobId: string;
  readonly build: JobBuildInfo;
  /** The job's pr_<N>/<ID> link. */
  readonly symlink: string;
  /** delayed_begin: seconds until the job may start. */
  readonly delaySeconds: number;
}

/**
 * Every placeholder v0.9 fills in any of its submitted-job lines. `{on_accelerator}` and
 * `{for_accelerator}` are `with_accelerator` filled with `{accelerator}` when that side has one,
 * else empty. A placeholder the template wraps in backticks becomes a code span no value can
 * close early; the values are config values, digits, or architectures and accelerators the
 * planner checked to be `[A-Za-z0-9_.+/-]`.
 */
function submittedJobPlaceholders(
  templates: SubmittedJobTemplates,
  values: SubmittedJobValues,
): Record<string, string | number> {
  const accelerator = (accel: readonly string[]) =>
    accel.length === 0
      ? ''
      : fillTemplate(templates.withAccelerator, { accelerator: accel.join('+') }, { codeSpan });
  return {
    app_name: values.appName,
    repo_id: values.build.repoId,
    on_arch: values.build.onArch,
    for_arch: values.build.forArch,
    on_accelerator: accelerator(values.build.onAccel),
    for_accelerator: accelerator(values.build.forAccel),
    symlink: values.symlink,
    job_id: values.jobId,
    delay_seconds: values.delaySeconds,
  };
}

/** The lines above the table: new_job_instance_repo, build_on_arch, build_for_arch, jobdir. */
export function submittedJobHeader(
  templates: SubmittedJobTemplates,
  values: SubmittedJobValues,
): string[] {
  const placeholders = submittedJobPlaceholders(templates, values);
  return [
    templates.newJobInstanceRepo,
    templates.buildOnArch,
    templates.buildForArch,
    templates.jobdir,
  ].map((line) => fillTemplate(line, placeholders, { codeSpan }));
}

/** The first row's comment: awaits_release_hold_release_msg or awaits_release_delayed_begin_msg. */
export function awaitsReleaseMessage(
  templates: SubmittedJobTemplates,
  protocol: JobHandoverProtocol,
  values: SubmittedJobValues,
): string {
  return fillTemplate(
    protocol === 'delayed_begin'
      ? templates.awaitsReleaseDelayedBeginMsg
      : templates.awaitsReleaseHoldReleaseMsg,
    submittedJobPlaceholders(templates, values),
    { codeSpan },
  );
}

/** The time formatRowDate() wrote (ms epoch), or undefined for anything else. */
export function parseRowDate(text: string): number | undefined {
  const m = /^([A-Z][a-z]{2}) (\d{2}) (\d{2}):(\d{2}):(\d{2}) UTC (\d{4})$/.exec(text);
  const month = m ? MONTHS.indexOf(m[1]) : -1;
  if (!m || month < 0) {
    return undefined;
  }
  const [day, hours, minutes, seconds, year] = m.slice(2).map(Number);
  const ms = Date.UTC(year, month, day, hours, minutes, seconds);
  return new Date(ms).getUTCDate() === day ? ms : undefined;
}
