import { type DynamicModule, Module } from '@nestjs/common';
import { SlurmModule } from '../slurm/slurm.module.js';
import { BuildsModule } from './builds.module.js';
import { JOB_MANAGER_AUTOSTART, JobManagerService } from './job-manager.service.js';

/**
 * The job manager. `autostart` schedules tick() every poll_interval (serve); the `job-manager`
 * command and tests drive tick() themselves and pass false.
 */
@Module({})
export class JobManagerModule {
  static register(options: { autostart: boolean }): DynamicModule {
    return {
      module: JobManagerModule,
      imports: [BuildsModule, SlurmModule],
      providers: [
        { provide: JOB_MANAGER_AUTOSTART, useValue: options.autostart },
        JobManagerService,
      ],
      exports: [JobManagerService],
    };
  }
}
