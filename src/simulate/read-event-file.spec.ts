import { beforeAll, describe, expect, it } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanupAfterAll } from '../../test/support/test-kit.js';
import { readEventFile } from './read-event-file.js';

describe('readEventFile', () => {
  const cleanup = cleanupAfterAll();
  let dir: string;
  beforeAll(() => {
    dir = cleanup.tempDirSync('read-event-');
  });

  function file(name: string, content: unknown): string {
    const path = join(dir, name);
    writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
    return path;
  }

  it('reads a bare payload (as the App settings page shows it) and infers the event', () => {
    const now = new Date('2026-11-28T00:00:00Z');
    const delivery = readEventFile(
      file('bare.json', { action: 'labeled', pull_request: { number: 1 } }),
      now,
    );
    expect(delivery).toEqual({
      event: 'pull_request',
      id: `simulate-${now.getTime()}`,
      payload: { action: 'labeled', pull_request: { number: 1 } },
    });
    expect(readEventFile(file('comment.json', { issue: {}, comment: {} })).event).toBe(
      'issue_comment',
    );
  });

  it('reads a smee.io event: payload under body, GitHub headers beside it', () => {
    const delivery = readEventFile(
      file('smee.json', {
        'x-github-event': 'pull_request',
        'x-github-delivery': 'aa-bb-11',
        body: { action: 'labeled', pull_request: {} },
      }),
    );
    expect(delivery).toMatchObject({
      event: 'pull_request',
      id: 'aa-bb-11',
      payload: { action: 'labeled' },
    });
  });

  it('does not take a delivery id that could name a path', () => {
    const delivery = readEventFile(
      file('evil.json', {
        'x-github-event': 'pull_request',
        'x-github-delivery': '../../etc',
        body: { pull_request: {} },
      }),
    );
    expect(delivery.id).toMatch(/^simulate-\d+$/);
  });

  it.each([
    ['not JSON', '{nope', /--event .*not-json\.json: cannot read a JSON webhook payload/],
    ['an array', [1, 2], /must be a JSON object/],
    ['an unknown event', { zen: 'hi' }, /cannot tell which event this is/],
  ])('refuses %s with a message naming the file', (_what, content, message) => {
    const path = file(
      _what === 'not JSON' ? 'not-json.json' : `${_what.replace(/\s/g, '-')}.json`,
      content,
    );
    expect(() => readEventFile(path)).toThrow(message);
  });

  it('names a missing file', () => {
    expect(() => readEventFile(join(dir, 'missing.json'))).toThrow(/missing\.json.*ENOENT/);
  });
});
