import { InvalidDeliveryError } from '../builds/build-plan.js';
import { issueCommentProblem, type IssueCommentPayload } from '../github/github-events.js';

/**
 * What the commands take from an `issue_comment` delivery, every field checked. Hostile until
 * checked: the body, the logins and the URLs are written by whoever can comment.
 */
export interface CommentEvent {
  readonly deliveryId: string;
  /** ISO 8601 time the webhook arrived. */
  readonly receivedAt: string;
  readonly action: IssueCommentPayload['action'];
  readonly repo: string;
  readonly prNumber: number;
  /** Whether the issue is a pull request (commands are read on pull requests only). */
  readonly onPullRequest: boolean;
  /** The PR's web page (https only; else rebuilt for github.com). */
  readonly prUrl: string;
  readonly commentId: number;
  readonly body: string;
  readonly sender: string;
  /** Why the comment is a bot's own (never read as commands), or undefined. */
  readonly writtenByBot?: string;
  readonly payload: IssueCommentPayload;
}

/** A delivery as the dispatcher hands it over. */
export interface Delivery {
  readonly id: string;
  readonly receivedAt: string;
  readonly payload: unknown;
}

/**
 * @throws InvalidDeliveryError naming the field at fault (the delivery is then ignored).
 */
export function parseCommentDelivery(delivery: Delivery): CommentEvent {
  const problem = issueCommentProblem(delivery.payload);
  if (problem) {
    throw new InvalidDeliveryError(
      `delivery ${JSON.stringify(delivery.id)}: not a well-formed issue_comment payload: ${problem}`,
    );
  }
  const payload = delivery.payload as IssueCommentPayload;
  const repo = payload.repository.full_name;
  return {
    deliveryId: delivery.id,
    receivedAt: delivery.receivedAt,
    action: payload.action,
    repo,
    prNumber: payload.issue.number,
    onPullRequest: payload.issue.pull_request !== undefined,
    prUrl: webUrlOf(payload.issue.html_url, repo, payload.issue.number),
    commentId: payload.comment.id,
    body: payload.comment.body,
    sender: payload.sender.login,
    writtenByBot: botAuthorship(payload),
    payload,
  };
}

/**
 * Loop protection: comments written by this bot, by another instance or by any App are never
 * read as commands. GitHub names App accounts `<slug>[bot]`, types them `Bot`, and marks comments
 * an App made with a user's token by `performed_via_github_app`.
 */
function botAuthorship(payload: IssueCommentPayload): string | undefined {
  const { comment, sender } = payload;
  if (comment.user.login.endsWith('[bot]')) {
    return `author ${comment.user.login}`;
  }
  if (sender.login.endsWith('[bot]')) {
    return `sender ${sender.login}`;
  }
  if (comment.user.type === 'Bot' || sender.type === 'Bot') {
    return 'a Bot account';
  }
  if (comment.performed_via_github_app != null) {
    return 'written through a GitHub App';
  }
  return undefined;
}

function webUrlOf(htmlUrl: string, repo: string, n: number): string {
  try {
    const url = new URL(htmlUrl);
    if (url.protocol === 'https:' && url.username === '' && url.password === '') {
      return `${url.origin}/${repo}/pull/${n}`;
    }
  } catch {
    // not a URL: github.com's
  }
  return `https://github.com/${repo}/pull/${n}`;
}
