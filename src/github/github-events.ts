/**
 * Narrow views of the webhook payloads the bot reads.
 *
 * Only the fields we use are typed, and the guards check each of them at runtime: a payload is
 * signed by GitHub, but its strings (titles, branch names, labels, logins, comment bodies) are
 * written by whoever opened the PR and must be treated as hostile data, never as trusted shapes.
 * Field names follow GitHub's REST/webhook JSON (snake_case), so a payload can be used as-is once a
 * guard accepts it. Reference: https://docs.github.com/en/webhooks/webhook-events-and-payloads
 */

export interface RepositoryRef {
  readonly full_name: string;
  readonly clone_url: string;
}

export interface UserRef {
  readonly login: string;
}

export interface GitRef {
  readonly ref: string;
  readonly sha: string;
  /** null when the fork the PR came from has been deleted. */
  readonly repo: RepositoryRef | null;
}

export interface PullRequestRef {
  readonly number: number;
  readonly title: string;
  readonly state: string;
  readonly html_url: string;
  readonly user: UserRef;
  readonly head: GitRef;
  readonly base: GitRef;
}

/** `pull_request` event of any action. */
export interface PullRequestEventPayload {
  readonly action: string;
  readonly number: number;
  readonly pull_request: PullRequestRef;
  readonly repository: RepositoryRef;
  readonly sender: UserRef;
  readonly installation?: { readonly id: number };
}

export interface PullRequestLabeledPayload extends PullRequestEventPayload {
  readonly action: 'labeled';
  readonly label: { readonly name: string };
}

export interface IssueCommentPayload {
  readonly action: 'created' | 'edited' | 'deleted';
  readonly issue: {
    readonly number: number;
    /** Present only when the issue is a pull request. */
    readonly pull_request?: { readonly url: string };
  };
  readonly comment: { readonly id: number; readonly body: string; readonly user: UserRef };
  readonly repository: RepositoryRef;
  readonly sender: UserRef;
  readonly installation?: { readonly id: number };
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isString(value: unknown): value is string {
  return typeof value === 'string';
}

function isPositiveInt(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

function isRepository(value: unknown): value is RepositoryRef {
  return isObject(value) && isString(value.full_name) && isString(value.clone_url);
}

function isUser(value: unknown): value is UserRef {
  return isObject(value) && isString(value.login);
}

function isGitRef(value: unknown): value is GitRef {
  return (
    isObject(value) &&
    isString(value.ref) &&
    isString(value.sha) &&
    (value.repo === null || isRepository(value.repo))
  );
}

function isInstallationOrAbsent(value: unknown): boolean {
  return value === undefined || (isObject(value) && isPositiveInt(value.id));
}

function isPullRequest(value: unknown): value is PullRequestRef {
  return (
    isObject(value) &&
    isPositiveInt(value.number) &&
    isString(value.title) &&
    isString(value.state) &&
    isString(value.html_url) &&
    isUser(value.user) &&
    isGitRef(value.head) &&
    isGitRef(value.base)
  );
}

/** `pull_request` event of any action, every field of PullRequestEventPayload checked. */
export function isPullRequestEvent(payload: unknown): payload is PullRequestEventPayload {
  return (
    isObject(payload) &&
    isString(payload.action) &&
    isPositiveInt(payload.number) &&
    isPullRequest(payload.pull_request) &&
    payload.pull_request.number === payload.number &&
    isRepository(payload.repository) &&
    isUser(payload.sender) &&
    isInstallationOrAbsent(payload.installation)
  );
}

/** `pull_request` event with action `labeled`, every field of PullRequestLabeledPayload checked. */
export function isPullRequestLabeled(payload: unknown): payload is PullRequestLabeledPayload {
  if (!isPullRequestEvent(payload) || payload.action !== 'labeled') {
    return false;
  }
  const label: unknown = (payload as { label?: unknown }).label;
  return isObject(label) && isString(label.name);
}

/** `issue_comment` event (any action), every field of IssueCommentPayload checked. */
export function isIssueComment(payload: unknown): payload is IssueCommentPayload {
  if (!isObject(payload) || !isObject(payload.issue) || !isObject(payload.comment)) {
    return false;
  }
  const { issue, comment } = payload;
  return (
    (payload.action === 'created' || payload.action === 'edited' || payload.action === 'deleted') &&
    isPositiveInt(issue.number) &&
    (issue.pull_request === undefined ||
      (isObject(issue.pull_request) && isString(issue.pull_request.url))) &&
    isPositiveInt(comment.id) &&
    isString(comment.body) &&
    isUser(comment.user) &&
    isRepository(payload.repository) &&
    isUser(payload.sender) &&
    isInstallationOrAbsent(payload.installation)
  );
}

/** `owner/name` of the repository a delivery is about, if it names one. */
export function repositoryOf(payload: unknown): string | undefined {
  if (isObject(payload) && isObject(payload.repository) && isString(payload.repository.full_name)) {
    return payload.repository.full_name;
  }
  return undefined;
}

/**
 * Number of the pull request (or issue: PR comments arrive as `issue_comment`) a delivery is about.
 */
export function pullRequestNumberOf(payload: unknown): number | undefined {
  if (!isObject(payload)) {
    return undefined;
  }
  for (const holder of [payload.pull_request, payload.issue]) {
    if (isObject(holder) && isPositiveInt(holder.number)) {
      return holder.number;
    }
  }
  return undefined;
}
