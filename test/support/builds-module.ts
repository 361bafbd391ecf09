import { Test, type TestingModule } from '@nestjs/testing';
import { BuildsModule } from '../../src/builds/builds.module.js';
import type { AppConfig } from '../../src/config/app-config.js';
import { ConfigModule } from '../../src/config/config.module.js';
import { GITHUB_CLIENT_OPTIONS } from '../../src/github/github.client.js';
import { GitHubModule } from '../../src/github/github.module.js';
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
    imports: [ConfigModule.forConfig(config), GitHubModule.register(), BuildsModule],
  })
    .overrideProvider(SLURM)
    .useValue(slurm)
    .overrideProvider(GITHUB_CLIENT_OPTIONS)
    .useValue({ ...FAST_GITHUB_CLIENT_OPTIONS, retries: githubRetries })
    .compile();
}
