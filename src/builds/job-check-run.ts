import type { CheckRunState } from '../github/github.client.js';
import type { JobMetadata, StatusRow } from './job-store.js';

/** GitHub's limit on a check run's output summary. */
const MAX_SUMMARY_CHARS = 65_535;

/**
 * `<instance>: <for-arch>[, <accelerator>], <repo>` (v0.9 jobs), or `<instance>: <target>` (seed
 * jobs): one check per job, told apart at a glance in the PR's checks list.
 */
export function checkRunName(meta: JobMetadata, appName: string): string {
  const instance = meta.appName || appName;
  if (!meta.build) {
    return `${instance}: ${meta.target}`;
  }
  const parts = [meta.build.forArch, ...meta.build.forAccel, meta.build.repoId].filter(Boolean);
  return `${instance}: ${parts.join(', ')}`;
}

/**
 * What the job's check run shows, derived from its rows only, so it changes exactly when a row
 * that matters is added: queued (submitted, released, received), in_progress (running), completed
 * (finished or cancelled). The summary of an unfinished job names only its state and job dir, so
 * a `released` row alone sends no check-run request.
 */
export function checkRunState(
  rows: readonly StatusRow[],
  jobId: string,
  jobDir: string,
): CheckRunState {
  const kinds = new Set(rows.map((row) => row.kind));
  const where = `Job \`${jobId}\`, job dir \`${jobDir}\``;
  const cancelled = rows.find((row) => row.kind === 'cancelled');
  if (cancelled) {
    return completed('cancelled', 'Cancelled', cancelled.comment, where);
  }
  const finished = rows.find((row) => row.kind === 'finished');
  if (finished) {
    const test = rows.find((row) => row.kind === 'test');
    const text = test ? `${finished.comment}\n\n${test.comment}` : finished.comment;
    const conclusion = conclusionOf(finished.comment);
    return completed(conclusion, conclusion === 'success' ? 'Success' : 'Failure', text, where);
  }
  if (kinds.has('running')) {
    return { status: 'in_progress', title: 'Running', summary: where };
  }
  return { status: 'queued', title: 'Queued in Slurm', summary: where };
}

function completed(
  conclusion: NonNullable<CheckRunState['conclusion']>,
  title: string,
  text: string,
  where: string,
): CheckRunState {
  return {
    status: 'completed',
    conclusion,
    title,
    summary: `${text}\n\n${where}`.slice(0, MAX_SUMMARY_CHARS),
  };
}

/** The result row's verdict word, as the result analysers and upstream's result files write it. */
function conclusionOf(result: string): 'success' | 'failure' | 'cancelled' {
  if (/\bFAILURE\b/.test(result)) {
    return 'failure';
  }
  if (/\bCANCELLED\b/.test(result)) {
    return 'cancelled';
  }
  return /\bSUCCESS\b/.test(result) ? 'success' : 'failure';
}
