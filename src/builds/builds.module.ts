import { Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { SlurmModule } from '../slurm/slurm.module.js';
import { BuildRunner } from './build-runner.js';
import { BuildsService } from './builds.service.js';
import { EventNotices } from './event-notices.js';
import { JobCommentsService } from './job-comments.service.js';
import { JobStore } from './job-store.js';

/**
 * Builds: the `bot:build` handler and the on-disk job records it shares with the job manager.
 * APP_CONFIG comes from the global ConfigModule and GitHubClient from the global GitHubModule.
 */
@Module({
  imports: [SlurmModule],
  providers: [
    {
      provide: JobStore,
      useFactory: (config: AppConfig) => new JobStore(config.jobManager.jobIdsDir),
      inject: [APP_CONFIG],
    },
    JobCommentsService,
    EventNotices,
    BuildRunner,
    BuildsService,
  ],
  exports: [JobStore, JobCommentsService, BuildsService],
})
export class BuildsModule {}
