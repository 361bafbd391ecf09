import { describe, expect, it } from '@jest/globals';
import { SmeeRelay, redactChannel } from './smee-relay.js';

describe('redactChannel', () => {
  it('shows only the start of the channel id', () => {
    expect(redactChannel('https://smee.io/AbCdEfGh123')).toBe('https://smee.io/AbCd…');
    expect(redactChannel('http://127.0.0.1:8080/relay/xyz/')).toBe('http://127.0.0.1:8080/relay/…');
  });
});

describe('SmeeRelay options', () => {
  it('names the setting when the channel URL is unusable', () => {
    expect(
      () => new SmeeRelay({ source: 'smee.io/abc', target: 'http://127.0.0.1:3000/' }),
    ).toThrow(/--smee-url.*not a URL/);
    expect(
      () => new SmeeRelay({ source: 'ftp://smee.io/abc', target: 'http://127.0.0.1:3000/' }),
    ).toThrow(/smee_url.*http:\/\/ or https:\/\//);
  });
});
