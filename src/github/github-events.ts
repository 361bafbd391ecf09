import { isGitHubId } from '../common/ids.js';

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
    /** The issue's (or PR's) page, e.g. https://github.com/o/r/pull/5 (GHES: its own host). */
    readonly html_url: string;
    /** Present only when the issue is a pull request. */
    readonly pull_request?: { readonly url: string };
  };
  readonly comment: {
    readonly id: number;
    readonly body: string;
    readonly user: UserRef & { readonly type?: string };
    /** Set when an App wrote the comment through its own token (a bot in all but name). */
    readonly performed_via_github_app?: unknown;
  };
  readonly repository: RepositoryRef & { readonly private?: boolean };
  readonly sender: UserRef & { readonly type?: string };
  readonly installation?: { readonly id: number };
}

type Json = Record<string, unknown>;

/** The first field of a payload that is missing or of the wrong type, as `path: what`. */
export type PayloadProblem = string;

/**
 * A field check: returns undefined when `value` is acceptable, else what is wrong with it. The
 * checks below name the JSON path of the first bad field, so that the log says which field of a
 * (correctly signed) payload made the bot ignore it.
 */
type Check = (value: unknown, path: string) => PayloadProblem | undefined;

function describeValue(value: unknown): string {
  if (value === undefined) {
    return 'missing';
  }
  if (value === null) {
    return 'null';
  }
  if (Array.isArray(value)) {
    return 'an array';
  }
  if (typeof value === 'object') {
    return 'an object';
  }
  if (typeof value === 'string') {
    return `the string ${JSON.stringify(value.slice(0, 40))}`;
  }
  return `${typeof value} ${JSON.stringify(value)}`;
}

const wrong = (path: string, expected: string, value: unknown): PayloadProblem =>
  `${path || 'payload'}: expected ${expected}, got ${describeValue(value)}`;

const str: Check = (v, path) => (typeof v === 'string' ? undefined : wrong(path, 'a string', v));

const positiveInt: Check = (v, path) =>
  typeof v === 'number' && Number.isSafeInteger(v) && v > 0
    ? undefined
    : wrong(path, 'a positive integer', v);

const optional =
  (check: Check): Check =>
  (v, path) =>
    v === undefined ? undefined : check(v, path);

const nullable =
  (check: Check): Check =>
  (v, path) =>
    v === null ? undefined : check(v, path);

function object(fields: Readonly<Record<string, Check>>): Check {
  return (v, path) => {
    if (!isObject(v)) {
      return wrong(path, 'an object', v);
    }
    for (const [key, check] of Object.entries(fields)) {
      const problem = check(v[key], path === '' ? key : `${path}.${key}`);
      if (problem) {
        return problem;
      }
    }
    return undefined;
  };
}

const oneOf =
  (...values: readonly string[]): Check =>
  (v, path) =>
    typeof v === 'string' && values.includes(v)
      ? undefined
      : wrong(path, values.map((x) => JSON.stringify(x)).join(' or '), v);

const repository = object({ full_name: str, clone_url: str });
const user = object({ login: str });
const installation = optional(object({ id: positiveInt }));
const gitRef = object({ ref: str, sha: str, repo: nullable(repository) });
const pullRequest = object({
  number: positiveInt,
  title: str,
  state: str,
  html_url: str,
  user,
  head: gitRef,
  base: gitRef,
});

const PULL_REQUEST_EVENT = object({
  action: str,
  number: positiveInt,
  pull_request: pullRequest,
  repository,
  sender: user,
  installation,
});

const ISSUE_COMMENT_EVENT = object({
  action: oneOf('created', 'edited', 'deleted'),
  issue: object({
    number: positiveInt,
    html_url: str,
    pull_request: optional(object({ url: str })),
  }),
  comment: object({ id: positiveInt, body: str, user }),
  repository,
  sender: user,
  installation,
});

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isString(value: unknown): value is string {
  return typeof value === 'string';
}

/** What is wrong with a `pull_request` payload of any action, or undefined if nothing is. */
export function pullRequestEventProblem(payload: unknown): PayloadProblem | undefined {
  const problem = PULL_REQUEST_EVENT(payload, '');
  if (problem) {
    return problem;
  }
  const p = payload as PullRequestEventPayload;
  if (p.pull_request.number !== p.number) {
    return `pull_request.number: ${p.pull_request.number} is not the event's number ${p.number}`;
  }
  return undefined;
}

/** What is wrong with a `pull_request` `labeled` payload, or undefined if nothing is. */
export function pullRequestLabeledProblem(payload: unknown): PayloadProblem | undefined {
  const problem = pullRequestEventProblem(payload);
  if (problem) {
    return problem;
  }
  const p = payload as Json;
  if (p.action !== 'labeled') {
    return wrong('action', '"labeled"', p.action);
  }
  return object({ name: str })(p.label, 'label');
}

/** What is wrong with an `issue_comment` payload (any action), or undefined if nothing is. */
export function issueCommentProblem(payload: unknown): PayloadProblem | undefined {
  return ISSUE_COMMENT_EVENT(payload, '');
}

/** `pull_request` event with action `labeled`, every field of PullRequestLabeledPayload checked. */
export function isPullRequestLabeled(payload: unknown): payload is PullRequestLabeledPayload {
  return pullRequestLabeledProblem(payload) === undefined;
}

/** `issue_comment` event (any action), every field of IssueCommentPayload checked. */
export function isIssueComment(payload: unknown): payload is IssueCommentPayload {
  return issueCommentProblem(payload) === undefined;
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
    if (isObject(holder) && isGitHubId(holder.number)) {
      return holder.number;
    }
  }
  return undefined;
}
