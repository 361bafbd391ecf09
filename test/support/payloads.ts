import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { WebhookDefinition } from '@octokit/webhooks-examples';

/**
 * Real webhook payloads captured by Octokit (`@octokit/webhooks-examples`), so tests exercise the
 * full shape GitHub sends rather than hand-written fragments.
 */

/** A payload as plain JSON: tests reach into it freely. */
export type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let definitions: WebhookDefinition[] | undefined;

function loadDefinitions(): WebhookDefinition[] {
  // The package is a JSON file behind a `main` entry; reading it avoids relying on JSON-module
  // support in Jest's ESM mode.
  const path = createRequire(import.meta.url).resolve('@octokit/webhooks-examples');
  definitions ??= JSON.parse(readFileSync(path, 'utf8')) as WebhookDefinition[];
  return definitions;
}

/** A deep copy of the first example of `event` with `action` (throws if the package lacks one). */
export function examplePayload(event: string, action?: string): Json {
  const definition = loadDefinitions().find((d) => d.name === event);
  const example = (definition?.examples as Json[] | undefined)?.find(
    (e) => action === undefined || e.action === action,
  );
  if (!example) {
    throw new Error(
      `@octokit/webhooks-examples has no ${event}${action ? `.${action}` : ''} example`,
    );
  }
  return structuredClone(example);
}

export interface LabeledPullRequestOverrides {
  /** Name of the label just added (default: the example's `bug`). */
  label?: string;
  /** Login of whoever added the label. */
  sender?: string;
  /** PR number, set both at the top level and in `pull_request`. */
  number?: number;
  /** `owner/name` of the base repository (payload.repository and pull_request.base.repo). */
  repo?: string;
  /** clone_url of the base repository, e.g. a `file://` URL of a local test repository. */
  cloneUrl?: string;
  title?: string;
  installationId?: number;
  head?: { ref?: string; sha?: string; repo?: string; cloneUrl?: string };
  base?: { ref?: string; sha?: string };
}

function retargetRepository(repository: Json, fullName: string, cloneUrl?: string): void {
  const [owner, name] = fullName.split('/');
  repository.full_name = fullName;
  repository.name = name;
  if (repository.owner) {
    repository.owner.login = owner;
  }
  repository.html_url = `https://github.com/${fullName}`;
  repository.url = `https://api.github.com/repos/${fullName}`;
  repository.clone_url = cloneUrl ?? `https://github.com/${fullName}.git`;
}

/**
 * The real `pull_request.labeled` example (Codertocat/Hello-World PR #2, label `bug`), deep-copied,
 * with the fields a build trigger depends on replaced consistently wherever the payload repeats them.
 */
export function labeledPullRequestPayload(overrides: LabeledPullRequestOverrides = {}): Json {
  const payload = examplePayload('pull_request', 'labeled');
  const pr = payload.pull_request;
  if (overrides.label !== undefined) {
    payload.label.name = overrides.label;
    pr.labels = [
      ...((pr.labels ?? []) as Json[]).filter((l) => l.name !== overrides.label),
      { ...payload.label },
    ];
  }
  if (overrides.sender !== undefined) {
    payload.sender.login = overrides.sender;
  }
  if (overrides.number !== undefined) {
    payload.number = overrides.number;
    pr.number = overrides.number;
  }
  if (overrides.title !== undefined) {
    pr.title = overrides.title;
  }
  if (overrides.installationId !== undefined) {
    payload.installation = { ...(payload.installation ?? {}), id: overrides.installationId };
  }
  const headWasBase = pr.head.repo?.full_name === pr.base.repo?.full_name;
  if (overrides.repo !== undefined || overrides.cloneUrl !== undefined) {
    const fullName = overrides.repo ?? payload.repository.full_name;
    retargetRepository(payload.repository, fullName, overrides.cloneUrl);
    retargetRepository(pr.base.repo, fullName, overrides.cloneUrl);
    pr.html_url = `https://github.com/${fullName}/pull/${pr.number}`;
    if (
      headWasBase &&
      overrides.head?.repo === undefined &&
      overrides.head?.cloneUrl === undefined
    ) {
      retargetRepository(pr.head.repo, fullName, overrides.cloneUrl);
    }
  }
  const head = overrides.head ?? {};
  if (head.repo !== undefined || head.cloneUrl !== undefined) {
    retargetRepository(pr.head.repo, head.repo ?? pr.head.repo.full_name, head.cloneUrl);
  }
  if (head.ref !== undefined) {
    pr.head.ref = head.ref;
  }
  if (head.sha !== undefined) {
    pr.head.sha = head.sha;
  }
  pr.head.label = `${pr.head.repo.owner?.login ?? 'unknown'}:${pr.head.ref}`;
  if (overrides.base?.ref !== undefined) {
    pr.base.ref = overrides.base.ref;
  }
  if (overrides.base?.sha !== undefined) {
    pr.base.sha = overrides.base.sha;
  }
  return payload;
}

export interface PullRequestCommentOverrides {
  body: string;
  /** Who wrote the comment (comment.user and sender). */
  sender?: string;
  action?: 'created' | 'edited' | 'deleted';
  number?: number;
  repo?: string;
  cloneUrl?: string;
  commentId?: number;
}

/**
 * The real `issue_comment.created` example (an issue of Codertocat/Hello-World), made into a
 * comment on a pull request the way GitHub sends those: `issue.pull_request` present and the
 * issue's URLs under `/pull/`. Comment author and sender are the same account.
 */
export function pullRequestCommentPayload(overrides: PullRequestCommentOverrides): Json {
  const action = overrides.action ?? 'created';
  const payload = examplePayload('issue_comment', action);
  const fullName = overrides.repo ?? payload.repository.full_name;
  const number = overrides.number ?? payload.issue.number;
  retargetRepository(payload.repository, fullName, overrides.cloneUrl);
  const api = `https://api.github.com/repos/${fullName}`;
  payload.issue.number = number;
  payload.issue.url = `${api}/issues/${number}`;
  payload.issue.html_url = `https://github.com/${fullName}/pull/${number}`;
  payload.issue.pull_request = {
    url: `${api}/pulls/${number}`,
    html_url: `https://github.com/${fullName}/pull/${number}`,
    diff_url: `https://github.com/${fullName}/pull/${number}.diff`,
    patch_url: `https://github.com/${fullName}/pull/${number}.patch`,
    merged_at: null,
  };
  payload.comment.body = overrides.body;
  if (overrides.commentId !== undefined) {
    payload.comment.id = overrides.commentId;
  }
  payload.comment.html_url = `https://github.com/${fullName}/pull/${number}#issuecomment-${payload.comment.id}`;
  payload.comment.issue_url = payload.issue.url;
  if (overrides.sender !== undefined) {
    const bot = overrides.sender.endsWith('[bot]');
    for (const user of [payload.comment.user, payload.sender]) {
      user.login = overrides.sender;
      user.type = bot ? 'Bot' : 'User';
    }
  }
  return payload;
}

/**
 * What GET /repos/:o/:r/pulls/:n answers for pull request `number` of a git fixture (the
 * `pull_request` of the labeled example, pointed at the fixture's base branch and the PR's head):
 * give it to FakeGitHub.seedPullRequest for commands, whose payloads name neither.
 */
export function fixturePullRequest(
  fixture: { readonly repo: string; readonly baseRef: string },
  number: number,
  headSha: string,
): Json {
  return labeledPullRequestPayload({
    repo: fixture.repo,
    number,
    base: { ref: fixture.baseRef },
    head: { sha: headSha },
  }).pull_request as Json;
}
