import { Module } from '@nestjs/common';
import { BuildsModule } from '../builds/builds.module.js';
import { CommandRunner } from '../common/command-runner.js';
import { DEPLOY_OPTIONS, DeployService } from './deploy.service.js';

/**
 * Deploy: the deploy label (and the `bot: deploy` command) → uploads of the PR's artefacts.
 * Job records and comments come from BuildsModule; APP_CONFIG and GitHubClient are global.
 */
@Module({
  imports: [BuildsModule],
  providers: [CommandRunner, { provide: DEPLOY_OPTIONS, useValue: {} }, DeployService],
  exports: [DeployService],
})
export class DeployModule {}
