import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, CHAT_LEVELS, type AppConfig, type ChatLevel } from '../config/app-config.js';
import { GitHubClient, type IssueComment, type RepoFullName } from './github.client.js';

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
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly github: GitHubClient,
  ) {}

  /** Whether a comment that needs `level` is posted at this instance's chatlevel. */
  allows(level: ChatLevel): boolean {
    return mayPost(this.config.botControl.chatlevel, level);
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
        `${repo}#${issueNumber}: ${what} not posted: it needs chatlevel ${level}, this instance's is ${this.config.botControl.chatlevel}`,
      );
      return undefined;
    }
    return this.github.createComment(repo, issueNumber, body);
  }
}

/** incognito < minimal < basic < chatty: a comment needing `needed` is posted at `configured`. */
export function mayPost(configured: ChatLevel, needed: ChatLevel): boolean {
  return CHAT_LEVELS.indexOf(configured) >= CHAT_LEVELS.indexOf(needed);
}
