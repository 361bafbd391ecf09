import { Module, type DynamicModule } from '@nestjs/common';
import { ConfigModule as NestConfigModule, ConfigService, registerAs } from '@nestjs/config';
import { APP_CONFIG, type AppConfig } from './app-config.js';

/** Where the loaded app.cfg sits in Nest's ConfigService (`config.get('app.github.appId')`). */
export const APP_CONFIG_NAMESPACE = 'app';

/**
 * Provides the already-loaded AppConfig under APP_CONFIG to every module. main.ts loads the file
 * before Nest starts so that a bad app.cfg exits with status 2 and a full problem list, instead of a
 * stack trace from inside a provider factory.
 *
 * @nestjs/config holds it, as in the Nest docs' custom-loader pattern: our loader does what its
 * .env parsing and schema validation cannot (configparser semantics, every problem at once), Nest's
 * ConfigService keeps the result, and APP_CONFIG, the typed view services inject, is read from it.
 * No .env file is read and ConfigService never falls back to process.env, so it cannot hand out
 * GITHUB_APP_SECRET_TOKEN or any other variable by name.
 */
@Module({})
export class ConfigModule {
  static forConfig(config: AppConfig): DynamicModule {
    return {
      module: ConfigModule,
      global: true,
      imports: [
        NestConfigModule.forRoot({
          isGlobal: true,
          ignoreEnvFile: true,
          validatePredefined: false,
          skipProcessEnv: true,
          load: [registerAs(APP_CONFIG_NAMESPACE, () => config)],
        }),
      ],
      providers: [
        {
          provide: APP_CONFIG,
          useFactory: (nestConfig: ConfigService) =>
            nestConfig.getOrThrow<AppConfig>(APP_CONFIG_NAMESPACE),
          inject: [ConfigService],
        },
      ],
      exports: [APP_CONFIG],
    };
  }
}
