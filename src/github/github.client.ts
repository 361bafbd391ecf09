/**
 * CONTRACT STUB — to be implemented by the GitHub-client work (issue #2 point 5).
 * Other modules code against these signatures; keep them.
 */
import { Injectable } from '@nestjs/common';

export interface IssueComment {
  readonly id: number;
  readonly body: string;
}

/** "owner/name" */
export type RepoFullName = string;

@Injectable()
export class GitHubClient {
  /** Installation access token (cached, refreshed before expiry). Never log it. */
  installationToken(): Promise<string> {
    throw new Error('not implemented');
  }
  createComment(_repo: RepoFullName, _issueNumber: number, _body: string): Promise<IssueComment> {
    throw new Error('not implemented');
  }
  getComment(_repo: RepoFullName, _commentId: number): Promise<IssueComment | undefined> {
    throw new Error('not implemented');
  }
  updateComment(_repo: RepoFullName, _commentId: number, _body: string): Promise<IssueComment> {
    throw new Error('not implemented');
  }
  /** All comments of an issue/PR (paginated). */
  listComments(_repo: RepoFullName, _issueNumber: number): Promise<IssueComment[]> {
    throw new Error('not implemented');
  }
}
