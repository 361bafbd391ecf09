import { describe, expect, it } from '@jest/globals';
import { makeConfig } from '../test/support/make-config.js';
import { githubAppSettingsOf, intakeOptionsOf } from './app-options.js';

describe('module options from app.cfg', () => {
  const config = makeConfig({
    root: '/srv/bot',
    github: { appId: 4242, installationId: 77, privateKey: 'PEM', webhookSecret: 's3cret' },
    eventHandler: { stateDir: '/var/lib/eessi-bot', redeliverIntervalSeconds: 300 },
  });

  it('give the GitHub client the App, the key with its file, the API and the file to name', () => {
    expect(githubAppSettingsOf(config)).toEqual({
      appId: 4242,
      appName: 'test-bot',
      installationId: 77,
      privateKey: 'PEM',
      privateKeyPath: '/srv/bot/app.pem',
      apiUrl: 'http://127.0.0.1:9',
      configPath: '/srv/bot/app.cfg',
    });
  });

  it('give the intake its state directory, catch-up settings and the webhook secret, when there is one', () => {
    expect(intakeOptionsOf(config)).toEqual({
      stateDir: '/var/lib/eessi-bot',
      redeliverIntervalSeconds: 300,
      installationId: 77,
      webhookSecret: 's3cret',
    });
    const noSecret = makeConfig({ root: '/srv/bot', eventHandler: { stateDir: '/s' } });
    expect(intakeOptionsOf(noSecret)).toEqual({
      stateDir: '/s',
      redeliverIntervalSeconds: 0,
      installationId: 2,
    });
  });
});
