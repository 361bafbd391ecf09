import type { GitHubClient, IssueComment, RepoFullName } from '../github/github.client.js';

/**
 * GitHub replaced by the terminal for `simulate`: comments are printed as they would appear on
 * the PR and kept in memory so that updates and marker searches behave as on GitHub.
 */
export class TerminalGitHub implements Pick<
  GitHubClient,
  'createComment' | 'getComment' | 'updateComment' | 'listComments' | 'installationToken'
> {
  private readonly comments = new Map<
    number,
    { id: number; body: string; repo: string; issueNumber: number }
  >();
  private nextId = 1;

  constructor(
    private readonly write: (text: string) => void = (text) => process.stdout.write(text),
  ) {}

  async installationToken(): Promise<string> {
    // Never sent anywhere useful: simulate fetches public repositories or the --repo path.
    return 'simulate-has-no-token';
  }

  async createComment(
    repo: RepoFullName,
    issueNumber: number,
    body: string,
  ): Promise<IssueComment> {
    const comment = { id: this.nextId++, body, repo, issueNumber };
    this.comments.set(comment.id, comment);
    this.show(`new comment ${comment.id} on ${repo}#${issueNumber}`, body);
    return { id: comment.id, body };
  }

  async getComment(_repo: RepoFullName, commentId: number): Promise<IssueComment | undefined> {
    const comment = this.comments.get(commentId);
    return comment && { id: comment.id, body: comment.body };
  }

  async updateComment(repo: RepoFullName, commentId: number, body: string): Promise<IssueComment> {
    const comment = this.comments.get(commentId);
    if (!comment) {
      throw new Error(`simulate: comment ${commentId} does not exist on ${repo}`);
    }
    comment.body = body;
    this.show(`comment ${commentId} on ${repo}#${comment.issueNumber} updated`, body);
    return { id: commentId, body };
  }

  async listComments(repo: RepoFullName, issueNumber: number): Promise<IssueComment[]> {
    return [...this.comments.values()]
      .filter((c) => c.repo === repo && c.issueNumber === issueNumber)
      .map(({ id, body }) => ({ id, body }));
  }

  /** Every comment body as it stands now (for the summary and for tests). */
  bodies(): string[] {
    return [...this.comments.values()].map((c) => c.body);
  }

  private show(title: string, body: string): void {
    const rule = '─'.repeat(Math.max(8, 72 - title.length));
    this.write(`\n── ${title} ${rule}\n${body.replace(/\n*<!-- bot:job [^>]*-->\s*$/, '')}\n`);
  }
}
