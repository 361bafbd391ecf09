import { describe, it, expect } from '@jest/globals';
import { Inject, Injectable, Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Test } from '@nestjs/testing';
import { makeConfig } from '../../test/support/make-config.js';
import { APP_CONFIG, type AppConfig } from './app-config.js';
import { APP_CONFIG_NAMESPACE, ConfigModule } from './config.module.js';

@Injectable()
class NeedsConfig {
  constructor(@Inject(APP_CONFIG) readonly config: AppConfig) {}
}

// Does not import ConfigModule: APP_CONFIG must reach it because ConfigModule is global.
@Module({ providers: [NeedsConfig], exports: [NeedsConfig] })
class FeatureModule {}

describe('ConfigModule.forConfig', () => {
  it('provides the given config under APP_CONFIG to every module', async () => {
    const config = makeConfig({ root: '/nonexistent', github: { appName: 'module-test-bot' } });
    const moduleRef = await Test.createTestingModule({
      imports: [ConfigModule.forConfig(config), FeatureModule],
    }).compile();

    expect(moduleRef.get(NeedsConfig).config).toBe(config);
    expect(moduleRef.get<AppConfig>(APP_CONFIG).github.appName).toBe('module-test-bot');
    await moduleRef.close();
  });

  it("holds it in Nest's ConfigService, which never answers from the environment", async () => {
    const config = makeConfig({ root: '/nonexistent', github: { appName: 'module-test-bot' } });
    process.env.EESSI_BOT_CONFIG_MODULE_SPEC = 'from the environment';
    try {
      const moduleRef = await Test.createTestingModule({
        imports: [ConfigModule.forConfig(config), FeatureModule],
      }).compile();
      const nestConfig = moduleRef.get(ConfigService);

      expect(nestConfig.get(APP_CONFIG_NAMESPACE)).toBe(config);
      expect(nestConfig.get(`${APP_CONFIG_NAMESPACE}.github.appName`)).toBe('module-test-bot');
      expect(nestConfig.get('EESSI_BOT_CONFIG_MODULE_SPEC')).toBeUndefined();
      await moduleRef.close();
    } finally {
      delete process.env.EESSI_BOT_CONFIG_MODULE_SPEC;
    }
  });

  it('is a global dynamic module exporting APP_CONFIG', () => {
    const dynamic = ConfigModule.forConfig(makeConfig({ root: '/nonexistent' }));

    expect(dynamic.global).toBe(true);
    expect(dynamic.module).toBe(ConfigModule);
    expect(dynamic.exports).toEqual([APP_CONFIG]);
  });
});
