import { Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { SlurmModule } from '../slurm/slurm.module.js';
import type { SlurmOptions } from '../slurm/slurm.options.js';
import { BuildRunner } from './build-runner.js';
import { BuildsService } from './builds.service.js';
import { EventNotices } from './event-notices.js';
import { JobCommentsService } from './job-comments.service.js';
import { JobStore } from './job-store.js';
import { PrLifecycleService } from './pr-lifecycle.service.js';

/**
 * Builds: the `bot:build` handler and the on-disk job records it shares with the job manager.
 * APP_CONFIG comes from the global ConfigModule and GitHubClient from the global GitHubModule.
 */
/** What the slurm module needs from app.cfg (it does not read the config itself). */
export function slurmOptionsOf(config: AppConfig): SlurmOptions {
  const { buildenv, jobManager, eventHandler } = config;
  return {
    scheduler: buildenv.scheduler,
    stateDir: eventHandler.stateDir,
    commands: {
      submit: buildenv.submitCommand,
      poll: jobManager.pollCommand,
      scontrol: jobManager.scontrolCommand,
      scancel: jobManager.scancelCommand,
      timeoutMs: jobManager.commandTimeoutSeconds * 1000,
      scontrolArgs: jobManager.scontrolArgs ?? [],
      // The seed's queue format stays for seed configs; v0.9 configs need cluster and partition.
      squeueFormat: config.generation === 'v09' ? 'long' : 'short',
    },
  };
}

const slurm = SlurmModule.registerAsync({ useFactory: slurmOptionsOf, inject: [APP_CONFIG] });

@Module({
  imports: [slurm],
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
    PrLifecycleService,
  ],
  // The one scheduler port of the process, for the job manager too.
  exports: [JobStore, JobCommentsService, BuildsService, PrLifecycleService, slurm],
})
export class BuildsModule {}
