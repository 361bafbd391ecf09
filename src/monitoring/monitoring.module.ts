import { type DynamicModule, Module } from '@nestjs/common';
import { BuildsModule } from '../builds/builds.module.js';
import { JobIndex } from '../builds/job-index.js';
import { JobStore } from '../builds/job-store.js';
import { MonitoringController } from './monitoring.controller.js';
import { MONITORING_OPTIONS, type MonitoringOptions } from './monitoring.options.js';

/**
 * What operators look at: GET /status, /status.json and /metrics (MonitoringController). Reads
 * BotMetrics (global MetricsModule) and the job records; writes nothing. prom-client is loaded
 * at the first scrape, not with this module.
 */
@Module({})
export class MonitoringModule {
  static register(options: MonitoringOptions): DynamicModule {
    return {
      module: MonitoringModule,
      imports: [BuildsModule],
      controllers: [MonitoringController],
      providers: [
        { provide: MONITORING_OPTIONS, useValue: options },
        {
          provide: JobIndex,
          useFactory: (store: JobStore) => new JobIndex(store, options.jobIdsDir),
          inject: [JobStore],
        },
      ],
    };
  }
}
