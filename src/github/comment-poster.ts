import { Inject, Injectable, Logger } from '@nestjs/common';
import { mayPost, type ChatLevel } from '../common/chat-level.js';
import { GitHubClient, type IssueComment, type RepoFullName } from './github.client.js';

/** The configured `[bot_control] chatlevel`, provided by GitHubModule.register. */
export const CHAT_LEVEL = Symbol('CHAT_LEVEL');

/**
 * The one way the bot creates a PR comment, and so the one place `[bot_control] chatlevel` is
 * applied (incognito < minimal < basic < chatty). Every comment kind declares the level it needs;
 * below the configured level it is not posted, and the caller is told so (undefined) to record
 * that instead of retrying. Edits of a comment already posted are not gated: the comment exists.
 *
 * The levels of the comment kinds (docs/commands.md, "Chat levels"):
 * - minimal: job comments, a build's failure notices, answers to commands, the deploy report
 * - basic: refusals (no permission), hints for mistyped commands, the `bot:build` label under a
 *   v0.9 config
 * - chatty: show_config when a pull request is opened
 */
@Injectable()
export class CommentPoster {
  private readonly logger = new Logger(CommentPoster.name);

  constructor(
    private readonly github: GitHubClient,
    @Inject(CHAT_LEVEL) private readonly chatlevel: ChatLevel,
  ) {}

  /** Whether a comment that needs `level` is posted at this instance's chatlevel. */
  allows(level: ChatLevel): boolean {
    return mayPost(this.chatlevel, level);
  }

  /**
   * Creates the comment if `level` is allowed; undefined (and a log line naming `what`) if not.
   */
  async post(
    repo: RepoFullName,
    issueNumber: number,
    body: string,
    level: ChatLevel,
    what: string,
  ): Promise<IssueComment | undefined> {
    if (!this.allows(level)) {
      this.logger.log(
        `${repo}#${issueNumber}: ${what} not posted: it needs chatlevel ${level}, this instance's is ${this.chatlevel}`,
      );
      return undefined;
    }
    return this.github.createComment(repo, issueNumber, body);
  }
}
