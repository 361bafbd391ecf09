import { type DynamicModule, Module } from '@nestjs/common';
import type { ChatLevel } from '../common/chat-level.js';
import { CHAT_LEVEL, CommentPoster } from './comment-poster.js';
import { GITHUB_CLIENT_OPTIONS, GitHubClient } from './github.client.js';

/**
 * One GitHub App client for the whole process, so one token cache and one rate-limit budget.
 * `simulate` swaps in a stand-in that prints comments instead of sending them. CommentPoster,
 * the chatlevel gate, sits on top of whichever client is provided.
 */
@Module({})
export class GitHubModule {
  static register(
    replacement?: Partial<GitHubClient>,
    chatlevel: ChatLevel = 'basic',
  ): DynamicModule {
    return {
      module: GitHubModule,
      global: true,
      providers: [
        { provide: GITHUB_CLIENT_OPTIONS, useValue: {} },
        replacement ? { provide: GitHubClient, useValue: replacement } : GitHubClient,
        { provide: CHAT_LEVEL, useValue: chatlevel },
        CommentPoster,
      ],
      exports: [GitHubClient, CommentPoster],
    };
  }
}
