import { type DynamicModule, Module } from '@nestjs/common';
import { GITHUB_APP_SETTINGS, type GitHubAppSettings } from './github-app.settings.js';
import type { ChatLevel } from '../common/chat-level.js';
import { CHAT_LEVEL, CommentPoster } from './comment-poster.js';
import { GITHUB_CLIENT_OPTIONS, GitHubClient } from './github.client.js';

export interface GitHubModuleOptions {
  readonly app: GitHubAppSettings;
  /** Stands in for the client (simulate prints comments on the terminal). */
  readonly replacement?: Partial<GitHubClient>;
  /** [bot_control] chatlevel: which comments CommentPoster lets through (default basic). */
  readonly chatlevel?: ChatLevel;
}

/**
 * One GitHub App client for the whole process, so one token cache and one rate-limit budget.
 * `simulate` swaps in a stand-in that prints comments instead of sending them. CommentPoster,
 * the chatlevel gate, sits on top of whichever client is provided.
 */
@Module({})
export class GitHubModule {
  static register(options: GitHubModuleOptions): DynamicModule {
    return {
      module: GitHubModule,
      global: true,
      providers: [
        { provide: GITHUB_APP_SETTINGS, useValue: options.app },
        { provide: GITHUB_CLIENT_OPTIONS, useValue: {} },
        options.replacement
          ? { provide: GitHubClient, useValue: options.replacement }
          : GitHubClient,
        { provide: CHAT_LEVEL, useValue: options.chatlevel ?? 'basic' },
        CommentPoster,
      ],
      exports: [GitHubClient, CommentPoster],
    };
  }
}
