import { isGitHubId } from '../common/ids.js';
import { pullRequestNumberOf, repositoryOf } from '../github/github-events.js';

/**
 * Which pull request (or issue) a delivery is about: the dispatcher runs the deliveries of one PR
 * in arrival order, one at a time. Computed once, when the delivery comes in, and kept in its
 * journal record header, so that nothing reparses a payload to find it again.
 */
export interface DeliveryRoute {
  /** `repository.full_name` */
  readonly repo?: string;
  /** `pull_request.number`, or `issue.number` (PR comments arrive as `issue_comment`). */
  readonly pr?: number;
}

export function routeOf(payload: unknown): DeliveryRoute {
  const repo = repositoryOf(payload);
  const pr = pullRequestNumberOf(payload);
  return { ...(repo === undefined ? {} : { repo }), ...(pr === undefined ? {} : { pr }) };
}

/** `value` as a DeliveryRoute if it is one (read back from a journal record header). */
export function asRoute(value: unknown): DeliveryRoute | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return undefined;
  }
  const { repo, pr } = value as Record<string, unknown>;
  if ((repo !== undefined && typeof repo !== 'string') || (pr !== undefined && !isGitHubId(pr))) {
    return undefined;
  }
  return { ...(repo === undefined ? {} : { repo }), ...(pr === undefined ? {} : { pr }) };
}
