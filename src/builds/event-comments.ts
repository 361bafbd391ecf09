import { archLabel, codeSpan } from './job-comment.js';

/**
 * PR comments about an event as a whole (not about one job): permission refused, the PR's tree
 * could not be prepared, job submission failed. Hostile text (logins, git and sbatch output) only
 * ever appears inside code spans or fenced blocks, and each comment carries a hidden marker so a
 * resumed event finds the comment it may already have posted instead of posting it twice.
 */
export type EventNoticeKind = 'refused' | 'tree-failed' | 'submit-failed';

export function eventMarker(deliveryId: string, kind: EventNoticeKind, appName: string): string {
  return `<!-- bot:event ${deliveryId} ${kind} ${appName.replace(/--+|[<>\s]/g, '_')} -->`;
}

/** The first lines of a command's output, short enough for a comment. */
export function firstLines(text: string, maxLines = 15, maxChars = 2000): string {
  const lines = text
    .replace(/\r\n?/g, '\n')
    .replace(/^\n+|\s+$/g, '')
    .split('\n');
  let excerpt = lines.slice(0, maxLines).join('\n');
  if (excerpt.length > maxChars) {
    excerpt = excerpt.slice(0, maxChars);
  }
  const cut = excerpt.length < lines.join('\n').length;
  return cut ? `${excerpt}\n[…]` : excerpt;
}

/** A fenced code block no text can break out of: the fence is longer than any backtick run in it. */
export function fencedBlock(text: string): string {
  const longestRun = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(Math.max(3, longestRun + 1));
  return `${fence}\n${text}\n${fence}`;
}

/** Credentials an operator may have put into an insteadOf URL must not reach a public comment. */
export function scrubCredentials(text: string): string {
  return text
    .replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, '$1***@')
    .replace(/(authorization:\s*\S+\s+)\S+/gi, '$1***');
}

/**
 * The operator's `no_build_permission_comment` with `{build_labeler}` and
 * `{build_permission_users}` filled in as code spans. A placeholder the template already wraps in
 * backticks (the default does) is replaced together with them, so the login cannot close the span.
 */
export function renderNoPermissionComment(
  template: string,
  login: string,
  allowed: readonly string[],
  marker: string,
): string {
  const users = allowed.map((name) => codeSpan(name)).join(', ');
  const body = template
    .replace(/`\{build_labeler\}`|\{build_labeler\}/g, () => codeSpan(login))
    .replace(/`\{build_permission_users\}`|\{build_permission_users\}/g, () => users);
  return `${body}\n\n${marker}`;
}

export type TreeFailureReason = 'fetch' | 'invalid-ref' | 'conflict' | 'reserved-name' | 'other';

const TREE_FAILURE_ADVICE: Readonly<Record<TreeFailureReason, [string, string]>> = {
  fetch: [
    'could not fetch the base branch or the head of this pull request',
    'Check that the base branch still exists and that the pull request is open, then add the label again. If it keeps failing, ask the bot’s operator to check its access to the repository.',
  ],
  'invalid-ref': [
    'found a base branch name that git does not accept',
    'Retarget the pull request to a regular branch, then add the label again.',
  ],
  conflict: [
    'could not merge this pull request into its base branch because of conflicts',
    'Rebase the pull request on the base branch (or merge the base branch into it), resolve the conflicts, push, and add the label again.',
  ],
  'reserved-name': [
    'found files at the top of the merged tree whose names the bot reserves for its own files',
    'Remove or rename them in the pull request, push, and add the label again.',
  ],
  other: [
    'could not prepare the merged tree of this pull request',
    'Add the label again; if it keeps failing, ask the bot’s operator to look at the bot’s log.',
  ],
};

export function renderTreeFailureComment(
  appName: string,
  reason: TreeFailureReason,
  detail: string,
  marker: string,
): string {
  const [what, advice] = TREE_FAILURE_ADVICE[reason];
  return [
    `Bot instance ${codeSpan(appName)} ${what}, so no build job was submitted.`,
    '',
    advice,
    '',
    fencedBlock(firstLines(scrubCredentials(detail))),
    '',
    marker,
  ].join('\n');
}

export interface SubmitFailure {
  readonly target: string;
  /** sbatch's stderr, or why the outcome is unknown. */
  readonly detail: string;
  /** The bot stopped between starting sbatch and reading its answer. */
  readonly uncertain?: boolean;
}

export function renderSubmitFailureComment(
  appName: string,
  failures: readonly SubmitFailure[],
  marker: string,
): string {
  const lines = [
    `Bot instance ${codeSpan(appName)} could not submit the build job for ${failures.length === 1 ? 'one target' : `${failures.length} targets`}; the other targets' jobs are unaffected.`,
    '',
  ];
  for (const failure of failures) {
    lines.push(
      failure.uncertain
        ? `- ${codeSpan(archLabel(failure.target))}: the bot was interrupted while submitting this job and cannot tell whether the scheduler received it, so it is not tracked. The bot's operator can check the queue; add the label again to build it anew.`
        : `- ${codeSpan(archLabel(failure.target))}: the scheduler refused the job:`,
      '',
      fencedBlock(firstLines(failure.detail)),
      '',
    );
  }
  lines.push(
    'Add the label again to retry; if it keeps failing, ask the bot’s operator.',
    '',
    marker,
  );
  return lines.join('\n');
}
