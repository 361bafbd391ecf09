import { createHmac } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import {
  MAX_EVENT_CHARS,
  SmeeRelay,
  SseParser,
  redactChannel,
  toGitHubJson,
  toRelayRequest,
} from './smee-relay.js';
import { verifySignature } from './webhook-signature.js';

describe('SseParser', () => {
  it('parses events with names, multi-line data and comments', () => {
    const parser = new SseParser();
    const events = parser.feed(
      ': keep-alive comment\nid: 0\nevent: ready\ndata: {}\n\nid: 1\ndata: line one\ndata:line two\n\n',
    );
    expect(events).toEqual([
      { event: 'ready', data: '{}' },
      { event: 'message', data: 'line one\nline two' },
    ]);
  });

  it('accepts CRLF and bare CR line ends, also when a CRLF is split between pieces', () => {
    const parser = new SseParser();
    expect(parser.feed('data: a\r')).toEqual([]);
    expect(parser.feed('\n\r\ndata: b\r\rdata: c\n')).toEqual([
      { event: 'message', data: 'a' },
      { event: 'message', data: 'b' },
    ]);
    expect(parser.feed('\n')).toEqual([{ event: 'message', data: 'c' }]);
  });

  it('keeps partial lines until they are complete', () => {
    const parser = new SseParser();
    expect(parser.feed('da')).toEqual([]);
    expect(parser.feed('ta: {"x":')).toEqual([]);
    expect(parser.feed('1}\n')).toEqual([]);
    expect(parser.feed('\n')).toEqual([{ event: 'message', data: '{"x":1}' }]);
  });

  it('ignores blocks without data and forgets the event name after each event', () => {
    const parser = new SseParser();
    expect(parser.feed('event: ping\n\ndata: x\n\n')).toEqual([{ event: 'message', data: 'x' }]);
  });

  it('parses a 25 MB delivery arriving in 64 KiB pieces', () => {
    const data = JSON.stringify({ body: { text: 'é'.repeat((25 * 1024 * 1024) / 2) } });
    const stream = `data: ${data}\n\n`;
    const parser = new SseParser();
    const events = [];
    for (let at = 0; at < stream.length; at += 64 * 1024) {
      events.push(...parser.feed(stream.slice(at, at + 64 * 1024)));
    }
    expect(events).toHaveLength(1);
    expect(events[0].data).toBe(data);
  });

  it('drops an event larger than any delivery, and goes on with the next', () => {
    const parser = new SseParser();
    const piece = 'x'.repeat(1024 * 1024);
    let events = parser.feed('data: ');
    for (let sent = 0; sent <= MAX_EVENT_CHARS; sent += piece.length) {
      events = events.concat(parser.feed(piece));
    }
    events = events.concat(parser.feed('\n\ndata: next\n\n'));
    expect(events).toEqual([{ event: 'message', data: 'next' }]);
    expect(parser.dropped).toBe(1);
  });

  it('removes only one leading space from a value', () => {
    expect(new SseParser().feed('data:  two spaces\n\n')).toEqual([
      { event: 'message', data: ' two spaces' },
    ]);
  });
});

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
  const signature = `sha256=${createHmac('sha256', 's3cret').update(raw).digest('hex')}`;
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
    if (typeof relayed === 'string') throw new Error(relayed);
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
    if (typeof relayed === 'string') throw new Error(relayed);
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
    if (typeof relayed === 'string') throw new Error(relayed);
    expect(relayed.headers['x-github-hook-id']).toBeUndefined();
  });
});

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
