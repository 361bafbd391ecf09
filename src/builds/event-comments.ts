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

/** How the PR author asks for the build again: the seed's label, or v0.9's command. */
export interface RetryHint {
  /** Mid-sentence, e.g. "add the label again". */
  readonly lower: string;
  /** At the start of a sentence. */
  readonly upper: string;
}

const LABEL_RETRY: RetryHint = {
  lower: 'add the label again',
  upper: 'Add the label again',
};

// Never at the start of a line: a line starting with `bot:` would be a command to other bots.
export const COMMAND_RETRY: RetryHint = {
  lower: 'send the `bot: build` command again',
  upper: 'Send the `bot: build` command again',
};

const TREE_FAILURE_ADVICE: Readonly<
  Record<TreeFailureReason, (retry: RetryHint) => [string, string]>
> = {
  fetch: (retry) => [
    'could not fetch the base branch or the head of this pull request',
    `Check that the base branch still exists and that the pull request is open, then ${retry.lower}. If it keeps failing, ask the bot’s operator to check its access to the repository.`,
  ],
  'invalid-ref': (retry) => [
    'found a base branch name that git does not accept',
    `Retarget the pull request to a regular branch, then ${retry.lower}.`,
  ],
  conflict: (retry) => [
    'could not merge this pull request into its base branch because of conflicts',
    `Rebase the pull request on the base branch (or merge the base branch into it), resolve the conflicts, push, and ${retry.lower}.`,
  ],
  'reserved-name': (retry) => [
    'found files at the top of the merged tree whose names the bot reserves for its own files',
    `Remove or rename them in the pull request, push, and ${retry.lower}.`,
  ],
  other: (retry) => [
    'could not prepare the merged tree of this pull request',
    `${retry.upper}; if it keeps failing, ask the bot’s operator to look at the bot’s log.`,
  ],
};

export function renderTreeFailureComment(
  appName: string,
  reason: TreeFailureReason,
  detail: string,
  marker: string,
  retry: RetryHint = LABEL_RETRY,
): string {
  const [what, advice] = TREE_FAILURE_ADVICE[reason](retry);
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
  /** How the job is named in the comment; default: the target's architecture (seed). */
  readonly label?: string;
  /** sbatch's stderr, or why the outcome is unknown. */
  readonly detail: string;
  /** The bot stopped between starting sbatch and reading its answer. */
  readonly uncertain?: boolean;
}

export function renderSubmitFailureComment(
  appName: string,
  failures: readonly SubmitFailure[],
  marker: string,
  retry: RetryHint = LABEL_RETRY,
): string {
  const lines = [
    `Bot instance ${codeSpan(appName)} could not submit the build job for ${failures.length === 1 ? 'one target' : `${failures.length} targets`}; the other targets' jobs are unaffected.`,
    '',
  ];
  for (const failure of failures) {
    const job = codeSpan(failure.label ?? archLabel(failure.target));
    lines.push(
      failure.uncertain
        ? `- ${job}: the bot was interrupted while submitting this job and cannot tell whether the scheduler received it, so it is not tracked. The bot's operator can check the queue; ${retry.lower} to build it anew.`
        : `- ${job}: the scheduler refused the job:`,
      '',
      fencedBlock(firstLines(failure.detail)),
      '',
    );
  }
  lines.push(`${retry.upper} to retry; if it keeps failing, ask the bot’s operator.`, '', marker);
  return lines.join('\n');
}

/**
 * `[download_pr_comments]` keys of each way preparing the tree can fail: our fetch is v0.9's clone, an
 * unusable base branch its checkout, a merge that fails its `git apply`.
 */
const DOWNLOAD_PR_KEYS: Readonly<Record<TreeFailureReason, string | undefined>> = {
  fetch: 'git_clone',
  'invalid-ref': 'git_checkout',
  conflict: 'git_apply',
  other: 'git_apply',
  'reserved-name': undefined,
};

/**
 * v0.9's comment when the PR cannot be downloaded or merged: git's output, then the
 * `[download_pr_comments]` failure text and tip. Reserved names have no such text (v0.9 does not
 * check them) and get the bot's own explanation.
 */
export function renderDownloadFailureComment(
  texts: Readonly<Record<string, string>>,
  appName: string,
  reason: TreeFailureReason,
  detail: string,
  marker: string,
): string {
  const key = DOWNLOAD_PR_KEYS[reason];
  const failure = key && texts[`${key}_failure`];
  if (!failure) {
    return renderTreeFailureComment(appName, reason, detail, marker, COMMAND_RETRY);
  }
  return [
    `Bot instance ${codeSpan(appName)} submitted no build job:`,
    '',
    fencedBlock(firstLines(scrubCredentials(detail))),
    failure,
    texts[`${key}_tip`] ?? '',
    '',
    marker,
  ].join('\n');
}
