import { describe, it, expect } from '@jest/globals';
import { Inject, Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { makeConfig } from '../../test/support/make-config.js';
import { APP_CONFIG, type AppConfig } from './app-config.js';
import { ConfigModule } from './config.module.js';

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

  it('is a global dynamic module exporting APP_CONFIG', () => {
    const dynamic = ConfigModule.forConfig(makeConfig({ root: '/nonexistent' }));

    expect(dynamic.global).toBe(true);
    expect(dynamic.module).toBe(ConfigModule);
    expect(dynamic.exports).toEqual([APP_CONFIG]);
  });
});
