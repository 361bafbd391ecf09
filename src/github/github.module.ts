import { Global, Module } from '@nestjs/common';
import { GitHubClient } from './github.client.js';

/** One GitHub App client for the whole process, so one token cache and one rate-limit budget. */
@Global()
@Module({ providers: [GitHubClient], exports: [GitHubClient] })
export class GitHubModule {}
