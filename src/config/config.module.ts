import { Module, type DynamicModule } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from './app-config.js';

/**
 * Provides the already-loaded AppConfig under APP_CONFIG to every module. main.ts loads the file
 * before Nest starts so that a bad app.cfg exits with status 2 and a full problem list, instead of a
 * stack trace from inside a provider factory.
 */
@Module({})
export class ConfigModule {
  static forConfig(config: AppConfig): DynamicModule {
    return {
      module: ConfigModule,
      global: true,
      providers: [{ provide: APP_CONFIG, useValue: config }],
      exports: [APP_CONFIG],
    };
  }
}
