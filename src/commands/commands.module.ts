import { Module } from '@nestjs/common';
import { BuildsModule } from '../builds/builds.module.js';
import { DeployModule } from '../deploy/deploy.module.js';
import { SlurmModule } from '../slurm/slurm.module.js';
import { CommandHandlers } from './command-handlers.js';
import { CommandsService } from './commands.service.js';

/**
 * PR comment commands. It uses both builds and deploy, so it sits above them in the module graph
 * and only the root wiring (app.module.ts, event-routes.ts) imports it. APP_CONFIG, GitHubClient
 * and CommentPoster are global.
 */
@Module({
  imports: [BuildsModule, DeployModule, SlurmModule],
  providers: [CommandHandlers, CommandsService],
  exports: [CommandsService],
})
export class CommandsModule {}
