import { beforeAll, describe, expect, it } from '@jest/globals';
import { signBody } from '../../test/support/test-kit.js';
import { toGitHubJson, toRelayRequest } from './smee-event.js';
import { verifySignature } from './webhook-signature.js';

describe('toGitHubJson', () => {
  it('writes compact JSON with UTF-8 text and unescaped slashes, as GitHub does', () => {
    const raw = '{"title":"Ünïcødé 🚀 <!-- x --> a/b & c","n":1,"ok":true,"none":null}';
    expect(toGitHubJson(JSON.parse(raw))).toBe(raw);
  });

  it('writes \\u escapes with upper-case hex digits', () => {
    const raw = '{"body":"esc \\u001B[0m bell \\u0007 tab \\t"}';
    expect(toGitHubJson(JSON.parse(raw))).toBe(raw);
  });

  it('tells escaped backslashes from escapes', () => {
    // A backslash followed by the text "u00ab" (left alone), then a backslash followed by ESC.
    const raw = '{"body":"\\\\u00ab \\\\\\u001B"}';
    expect(toGitHubJson(JSON.parse(raw))).toBe(raw);
  });
});

describe('toRelayRequest', () => {
  const raw = '{"action":"labeled","number":7,"title":"\\u001Bé"}';
  let signature: string;
  beforeAll(async () => {
    signature = await signBody('s3cret', raw);
  });
  const smeeEvent = (extra: Record<string, unknown> = {}): string =>
    JSON.stringify({
      host: 'smee.io',
      'x-forwarded-for': '192.0.2.1',
      'accept-encoding': 'gzip',
      'user-agent': 'GitHub-Hookshot/abc',
      'content-type': 'application/json',
      'x-github-event': 'pull_request',
      'x-github-delivery': 'd-1',
      'x-github-hook-id': '42',
      'x-hub-signature-256': signature,
      body: JSON.parse(raw),
      query: { a: '1' },
      timestamp: 1700000000000,
      ...extra,
    });

  it("forwards GitHub's headers and the original bytes, on which the signature verifies", () => {
    const relayed = toRelayRequest(smeeEvent());
    if (typeof relayed === 'string') {
      throw new Error(relayed);
    }
    expect(relayed.body.toString('utf8')).toBe(raw);
    expect(verifySignature('s3cret', relayed.body, relayed.headers['x-hub-signature-256'])).toBe(
      true,
    );
    expect(relayed.headers).toEqual({
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(raw)),
      'x-github-event': 'pull_request',
      'x-github-delivery': 'd-1',
      'x-github-hook-id': '42',
      'x-hub-signature-256': signature,
    });
    expect(relayed.deliveryId).toBe('d-1');
    expect(relayed.eventName).toBe('pull_request');
  });

  it('passes a body smee kept as text through unchanged', () => {
    const relayed = toRelayRequest(smeeEvent({ body: '{ "spaced" : true }' }));
    if (typeof relayed === 'string') {
      throw new Error(relayed);
    }
    expect(relayed.body.toString('utf8')).toBe('{ "spaced" : true }');
  });

  it('refuses what cannot be a delivery, saying why', () => {
    expect(toRelayRequest('not json')).toBe('event data is not JSON');
    expect(toRelayRequest('[1]')).toBe('event data is not a JSON object');
    expect(toRelayRequest('{"x-github-event":"ping"}')).toBe('event has no body');
    expect(
      toRelayRequest(smeeEvent({ 'content-type': 'application/x-www-form-urlencoded' })),
    ).toMatch(/set the webhook's content type to application\/json/);
  });

  it('drops header values that are not strings', () => {
    const relayed = toRelayRequest(smeeEvent({ 'x-github-hook-id': 42 }));
    if (typeof relayed === 'string') {
      throw new Error(relayed);
    }
    expect(relayed.headers['x-github-hook-id']).toBeUndefined();
  });
});
