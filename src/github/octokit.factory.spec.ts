import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { botUserAgent, ExpiringTokenCache, redactSecrets } from './octokit.factory.js';

describe('redactSecrets', () => {
  it.each([
    ['installation token', 'using ghs_16C7e42F292c6912E7710c838347Ae178B4a now', '16C7e42F292c69'],
    ['personal token', 'ghp_abcdefghijklmnopqrstuvwxyz0123456789 leaked', 'abcdefghijklmn'],
    ['fine-grained token', 'github_pat_11ABCDEFG0123456789_abcdefghijklmnop', '11ABCDEFG01234'],
    ['JWT', 'sent eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOjF9.c2lnbmF0dXJl here', 'eyJpc3MiOjF9'],
    [
      'raw token value',
      'authorization: token 0123456789abcdef0123456789abcdef01234567',
      '0123456789abcdef',
    ],
    [
      'bearer value',
      'Authorization: Bearer v1.0123456789abcdef0123456789abcdef',
      '0123456789abcdef',
    ],
  ])('masks a %s', (_kind, text, secretPart) => {
    const redacted = redactSecrets(text);

    expect(redacted).toContain('[REDACTED');
    expect(redacted).not.toContain(secretPart);
  });

  it('masks a PEM private key, body included', () => {
    const pem =
      '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1\nabc\n-----END RSA PRIVATE KEY-----';

    expect(redactSecrets(`key: ${pem} end`)).toBe('key: [REDACTED KEY] end');
    expect(redactSecrets(`cut ${pem.slice(0, 50)}`)).toBe('cut [REDACTED KEY]');
  });

  it('leaves ordinary log text alone', () => {
    const text =
      'POST /repos/EESSI/software-layer/issues/12/comments - 201 with id AB12 in 12ms; token minted, ' +
      'installation token refreshed before expiry';

    expect(redactSecrets(text)).toBe(text);
  });
});

describe('User-Agent', () => {
  it('names the bot, its version and the app_name', () => {
    expect(botUserAgent('eessi-bot-aws', '1.2.3')).toBe('eessi-bot/1.2.3 (eessi-bot-aws)');
  });
});

describe('ExpiringTokenCache', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  const entry = (expiresAt: string) => `ghs_x|2030-01-01T00:00:00Z|${expiresAt}|all|issues!|`;

  it('serves a token until the margin before its expires_at, then forgets it', () => {
    jest.useFakeTimers({ now: Date.parse('2030-01-01T00:00:00Z') });
    const cache = new ExpiringTokenCache(60_000);
    cache.set('77', entry('2030-01-01T01:00:00Z'));

    jest.setSystemTime(Date.parse('2030-01-01T00:58:59Z'));
    expect(cache.get('77')).toBe(entry('2030-01-01T01:00:00Z'));
    jest.setSystemTime(Date.parse('2030-01-01T00:59:00Z'));
    expect(cache.get('77')).toBe('');
    expect(cache.get('unknown')).toBe('');
  });

  it('honours a short lifetime rather than a fixed hour', () => {
    jest.useFakeTimers({ now: Date.parse('2030-01-01T00:00:00Z') });
    const cache = new ExpiringTokenCache(60_000);
    cache.set('77', entry('2030-01-01T00:10:00Z'));

    jest.setSystemTime(Date.parse('2030-01-01T00:09:01Z'));
    expect(cache.get('77')).toBe('');
  });

  it('falls back to 59 minutes when the expiry cannot be read, and can be cleared', () => {
    jest.useFakeTimers({ now: Date.parse('2030-01-01T00:00:00Z') });
    const cache = new ExpiringTokenCache(60_000);
    cache.set('77', 'ghs_x');
    cache.set('78', entry('2030-01-01T01:00:00Z'));

    jest.setSystemTime(Date.parse('2030-01-01T00:58:59Z'));
    expect(cache.get('77')).toBe('ghs_x');
    jest.setSystemTime(Date.parse('2030-01-01T00:59:00Z'));
    expect(cache.get('77')).toBe('');
    cache.clear();
    expect(cache.get('78')).toBe('');
  });
});
