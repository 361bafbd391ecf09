import { Test, type TestingModule } from '@nestjs/testing';
import { githubAppSettingsOf } from '../../src/app-options.js';
import { BuildRunner } from '../../src/builds/build-runner.js';
import { BuildsModule } from '../../src/builds/builds.module.js';
import { BuildsService } from '../../src/builds/builds.service.js';
import { EventNotices } from '../../src/builds/event-notices.js';
import { JobCommentsService } from '../../src/builds/job-comments.service.js';
import { JobStore } from '../../src/builds/job-store.js';
import type { AppConfig } from '../../src/config/app-config.js';
import { ConfigModule } from '../../src/config/config.module.js';
import { GITHUB_CLIENT_OPTIONS, type GitHubClient } from '../../src/github/github.client.js';
import { GitHubModule } from '../../src/github/github.module.js';
import { CommandRunner } from '../../src/slurm/command-runner.js';
import type { SlurmPort } from '../../src/slurm/slurm.port.js';
import { SLURM } from '../../src/slurm/slurm.tokens.js';
import { FAST_GITHUB_CLIENT_OPTIONS } from '../fakes/fake-github.server.js';

/**
 * The builds module wired by Nest as in production (ConfigModule, GitHubModule, BuildsModule),
 * with the scheduler replaced (FakeSlurm) and the GitHub client's back-off shortened. The caller
 * closes it.
 */
export function compileBuildsModule(
  config: AppConfig,
  slurm: SlurmPort,
  githubRetries = 0,
): Promise<TestingModule> {
  return Test.createTestingModule({
    imports: [
      ConfigModule.forConfig(config),
      GitHubModule.register({ app: githubAppSettingsOf(config) }),
      BuildsModule,
    ],
  })
    .overrideProvider(SLURM)
    .useValue(slurm)
    .overrideProvider(GITHUB_CLIENT_OPTIONS)
    .useValue({ ...FAST_GITHUB_CLIENT_OPTIONS, retries: githubRetries })
    .compile();
}

/** BuildsService wired by hand as Nest wires it, for specs and benchmarks without a module. */
export function newBuildsService(
  config: AppConfig,
  slurm: SlurmPort,
  client: GitHubClient,
): BuildsService {
  const store = new JobStore(config.jobManager.jobIdsDir);
  const notices = new EventNotices(config, client);
  const comments = new JobCommentsService(config, client, store);
  const runner = new BuildRunner(config, slurm, client, store, comments, notices);
  return new BuildsService(config, runner, notices, new CommandRunner());
}
