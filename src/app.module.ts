import { type DynamicModule, Module, type Provider } from '@nestjs/common';
import { githubModuleOptionsOf, intakeOptionsOf, monitoringOptionsOf } from './app-options.js';
import { BuildsModule } from './builds/builds.module.js';
import { MetricsModule } from './common/metrics/metrics.module.js';
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
  /**
   * Whether this process has the job manager at all (default true): `serve --no-job-manager`
   * leaves it out, and with it @nestjs/schedule and its cron library, which it alone uses.
   */
  readonly jobManager?: boolean;
  /** Stands in for GitHub (simulate prints comments on the terminal). */
  readonly github?: Partial<GitHubClient>;
}

/**
 * One module graph for every run mode; main.ts picks what is switched on. Asynchronous because
 * what is switched off is not even loaded: a process's memory includes the code it imports.
 */
@Module({})
export class AppModule {
  static async register(options: AppModuleOptions): Promise<DynamicModule> {
    const imports: DynamicModule['imports'] & object = [
      MetricsModule,
      ConfigModule.forConfig(options.config),
      GitHubModule.register({
        ...githubModuleOptionsOf(options.config),
        ...(options.github ? { replacement: options.github } : {}),
      }),
      BuildsModule,
      DeployModule,
    ];
    if (options.jobManager ?? true) {
      // One after the other: Jest's ESM loader fails ("not in cache") when two dynamic imports
      // that share a dependency (@nestjs/schedule) link at the same time.
      const { JobManagerModule } = await import('./builds/job-manager.module.js');
      const { ScheduleModule } = await import('@nestjs/schedule');
      imports.push(
        ScheduleModule.forRoot(),
        JobManagerModule.register({ autostart: options.jobManagerAutostart }),
      );
    }
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
