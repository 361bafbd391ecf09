import { type DynamicModule, Module, type Provider } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { githubModuleOptionsOf, intakeOptionsOf, monitoringOptionsOf } from './app-options.js';
import { BuildsModule } from './builds/builds.module.js';
import { MetricsModule } from './common/metrics/metrics.module.js';
import { JobManagerModule } from './builds/job-manager.module.js';
import type { AppConfig } from './config/app-config.js';
import { CommandsModule } from './commands/commands.module.js';
import { ConfigModule } from './config/config.module.js';
import { DeployModule } from './deploy/deploy.module.js';
import { EventRoutes } from './event-routes.js';
import type { GitHubClient } from './github/github.client.js';
import { GitHubModule } from './github/github.module.js';
import { IntakeModule } from './intake/intake.module.js';
import { MonitoringModule } from './monitoring/monitoring.module.js';

export interface AppModuleOptions {
  readonly config: AppConfig;
  /** Webhook intake and event handling (serve). */
  readonly eventHandler: boolean;
  /** Schedule the job manager's poll in this process. */
  readonly jobManagerAutostart: boolean;
  /** Stands in for GitHub (simulate prints comments on the terminal). */
  readonly github?: Partial<GitHubClient>;
}

/** One module graph for every run mode; main.ts picks what is switched on. */
@Module({})
export class AppModule {
  static register(options: AppModuleOptions): DynamicModule {
    const imports = [
      MetricsModule,
      ConfigModule.forConfig(options.config),
      ScheduleModule.forRoot(),
      GitHubModule.register({
        ...githubModuleOptionsOf(options.config),
        ...(options.github ? { replacement: options.github } : {}),
      }),
      BuildsModule,
      DeployModule,
      JobManagerModule.register({ autostart: options.jobManagerAutostart }),
    ];
    const providers: Provider[] = [];
    if (options.eventHandler) {
      imports.push(
        IntakeModule.register(intakeOptionsOf(options.config)),
        MonitoringModule.register(monitoringOptionsOf(options.config)),
        CommandsModule,
      );
      providers.push(EventRoutes);
    }
    return { module: AppModule, imports, providers };
  }
}
