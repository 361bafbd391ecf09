import { createHash } from 'node:crypto';
import type { JobRow, StatusReport } from './status-report.js';

/*
 * /status as one server-rendered HTML page: no script, no external asset, every value escaped
 * (repository names, targets and results come from webhooks and builds). The Content-Security-
 * Policy allows nothing but this page's own stylesheet, so even a slip in escaping could not run.
 */

const CSS = `
:root { color-scheme: light dark; --muted: #6b7280; --line: #d1d5db; --ok: #15803d; --bad: #b91c1c;
  --run: #1d4ed8; --wait: #a16207; }
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5rem auto; max-width: 72rem; padding: 0 1rem; }
h1 { font-size: 1.4rem; margin: 0 0 .25rem; } h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
.muted { color: var(--muted); }
dl.vitals { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: 1rem 0; }
dl.vitals dt { font-weight: 600; } dl.vitals dd { margin: 0; }
form { margin: .5rem 0 1rem; display: flex; gap: .5rem; align-items: center; }
input { width: 7rem; padding: .2rem .4rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; } td.num { font-variant-numeric: tabular-nums; }
.state { font-weight: 600; } .s-success { color: var(--ok); } .s-failure, .s-cancelled { color: var(--bad); }
.s-running { color: var(--run); } .s-submitted, .s-released, .s-received { color: var(--wait); }
code { font-size: 12px; word-break: break-all; }
`;

export const STATUS_PAGE_CSP = [
  "default-src 'none'",
  `style-src 'sha256-${createHash('sha256').update(CSS).digest('base64')}'`,
  'img-src data:',
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Text for an HTML element or a quoted attribute value. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

/** 3 d 4 h, 2 h 5 min, 40 s. */
export function duration(seconds: number): string {
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  if (d > 0) {
    return `${d} d ${h} h`;
  }
  if (h > 0) {
    return `${h} h ${m} min`;
  }
  if (m > 0) {
    return `${m} min`;
  }
  return `${Math.floor(seconds)} s`;
}

/** CSS class per state, from a fixed list: never built from data. */
const STATE_CLASS: Readonly<Record<string, string>> = {
  submitted: 's-submitted',
  released: 's-released',
  received: 's-released',
  running: 's-running',
  SUCCESS: 's-success',
  FAILURE: 's-failure',
  CANCELLED: 's-cancelled',
};

function link(href: string | undefined, text: string): string {
  return href ? `<a href="${escapeHtml(href)}">${escapeHtml(text)}</a>` : escapeHtml(text);
}

function jobRow(job: JobRow): string {
  const shownState = job.state === 'finished' ? `finished: ${job.result ?? 'unknown'}` : job.state;
  const cls = STATE_CLASS[job.state === 'finished' ? (job.result ?? '') : job.state] ?? '';
  return `<tr>
<td>${link(job.prUrl, `${job.repo}#${job.pr}`)}</td>
<td>${escapeHtml(job.target)}</td>
<td class="num" title="${escapeHtml(job.jobDir)}">${escapeHtml(job.jobId)}</td>
<td class="state ${cls}">${escapeHtml(shownState)}</td>
<td class="num" title="${escapeHtml(job.submittedAt ?? '')}">${job.ageSeconds === undefined ? '?' : escapeHtml(duration(job.ageSeconds))}</td>
<td>${job.commentUrl ? link(job.commentUrl, 'comment') : '<span class="muted">none</span>'}</td>
</tr>`;
}

function vitals(report: StatusReport): string {
  const rows: Array<[string, string]> = [];
  const { relay, inbox, jobManager, catchUp } = report;
  rows.push([
    'smee relay',
    relay
      ? `${escapeHtml(relay.state)} for ${duration(relay.sinceSeconds)}, ${relay.forwarded} forwarded` +
        (relay.lastProblem
          ? ` <span class="muted">(last problem: ${escapeHtml(relay.lastProblem)})</span>`
          : '')
      : 'none (GitHub delivers to this server)',
  ]);
  rows.push([
    'inbox',
    inbox
      ? `${inbox.pending} pending, ${inbox.failed} failed` +
        (inbox.oldestPendingSeconds === undefined
          ? ''
          : `, oldest waiting ${duration(inbox.oldestPendingSeconds)}`)
      : 'unreadable',
  ]);
  rows.push([
    'job manager',
    jobManager
      ? `polls every ${jobManager.pollIntervalSeconds} s; last completed poll ` +
        (jobManager.secondsWithoutTick === undefined
          ? 'never'
          : `${duration(jobManager.secondsWithoutTick)} ago`)
      : 'not in this process',
  ]);
  rows.push([
    'missed-webhook catch-up',
    catchUp
      ? `every ${duration(catchUp.intervalSeconds)}; ` +
        (catchUp.lastPass
          ? catchUp.lastPass.skipped
            ? `last pass ${escapeHtml(catchUp.lastPass.at)} skipped: ${escapeHtml(catchUp.lastPass.skipped)}`
            : `last pass ${escapeHtml(catchUp.lastPass.at)}: ${catchUp.lastPass.missed} missed of ${catchUp.lastPass.listed}, ${catchUp.lastPass.requested} redelivered`
          : 'no pass yet')
      : 'off',
  ]);
  return `<dl class="vitals">${rows.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('')}</dl>`;
}

/** The whole page; `error` (e.g. a bad filter) is shown above the table. */
export function renderStatusPage(report: StatusReport, error?: string): string {
  const { instance, jobs } = report;
  const filter = jobs.pr === undefined ? '' : String(jobs.pr);
  const shown = jobs.items.length;
  const caption =
    jobs.matching === 0
      ? jobs.pr === undefined
        ? 'No jobs in this period.'
        : `No jobs for PR ${jobs.pr} in this period.`
      : `${shown === jobs.matching ? shown : `${shown} most recent of ${jobs.matching}`} job${jobs.matching === 1 ? '' : 's'}` +
        (jobs.pr === undefined ? '' : ` for PR ${jobs.pr}`);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(instance.name)} · eessi-bot status</title>
<link rel="icon" href="data:,">
<style>${CSS}</style>
</head>
<body>
<header>
<h1>eessi-bot <span>${escapeHtml(instance.name)}</span></h1>
<p class="muted">version ${escapeHtml(instance.version)} · up ${duration(instance.uptimeSeconds)} · as of ${escapeHtml(instance.generatedAt)}</p>
</header>
${vitals(report)}
<section>
<h2>Jobs of the last ${jobs.windowDays} days</h2>
<form method="get" action="">
<label for="pr">PR</label>
<input id="pr" name="pr" inputmode="numeric" pattern="[0-9]*" value="${escapeHtml(filter)}">
<button type="submit">Filter</button>
${jobs.pr === undefined ? '' : '<a href="?">all PRs</a>'}
</form>
${error ? `<p class="s-failure" role="alert">${escapeHtml(error)}</p>` : ''}
<p id="caption">${escapeHtml(caption)}</p>
${
  shown === 0
    ? ''
    : `<table id="jobs">
<thead><tr><th>PR</th><th>target</th><th>job id</th><th>state</th><th>age</th><th>PR comment</th></tr></thead>
<tbody>
${jobs.items.map(jobRow).join('\n')}
</tbody>
</table>`
}
</section>
</body>
</html>
`;
}
