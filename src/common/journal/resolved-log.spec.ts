import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from '@jest/globals';
import { cleanupAfterEach } from '../../../test/support/test-kit.js';
import { ResolvedLog } from './resolved-log.js';

const cleanup = cleanupAfterEach();
let dir: string;
let path: string;

beforeEach(async () => {
  dir = await cleanup.tempDir('resolved-log-spec-');
  path = join(dir, 'inbox', 'resolved.log');
});

function reloaded(): ResolvedLog {
  const log = new ResolvedLog(path);
  log.load();
  return log;
}

describe('ResolvedLog', () => {
  it('remembers done and failed ids across a reload; the latest line about an id wins', async () => {
    const log = new ResolvedLog(path);
    log.load();
    await log.add('a', { resolution: 'done', at: 1000, segment: 1 });
    await log.add('b', { resolution: 'failed', at: 2000, segment: 2 });
    await log.add('c', { resolution: 'failed', at: 3000, segment: 2 });
    await log.reopen('c');

    const again = reloaded();
    expect(again.get('a')).toEqual({ resolution: 'done', at: 1000, segment: 1 });
    expect(again.get('b')).toEqual({ resolution: 'failed', at: 2000, segment: 2 });
    expect(again.get('c')).toBeUndefined();
    expect(again.counts()).toEqual({ done: 1, failed: 1 });
  });

  it('skips a last line cut short by a crash and counts it', async () => {
    const log = new ResolvedLog(path);
    await log.add('a', { resolution: 'done', at: 1000, segment: 1 });
    appendFileSync(path, 'D b 20');

    const again = new ResolvedLog(path);
    expect(again.load()).toBe(1);
    expect(again.get('a')).toBeDefined();
    expect(again.get('b')).toBeUndefined();
  });

  it('prunes old entries only once their journal segment is gone', async () => {
    const log = new ResolvedLog(path);
    await log.add('old-gone', { resolution: 'done', at: 10, segment: 1 });
    await log.add('old-live', { resolution: 'done', at: 10, segment: 2 });
    await log.add('old-none', { resolution: 'failed', at: 10, segment: 0 });
    await log.add('recent', { resolution: 'done', at: 5000, segment: 1 });

    expect(log.prune(1000, (segment) => segment === 2)).toBe(2);
    expect(log.get('old-gone')).toBeUndefined();
    expect(log.get('old-none')).toBeUndefined();
    expect(log.get('old-live')).toBeDefined();
    expect(log.get('recent')).toBeDefined();
  });

  it('compacts to the live entries without losing lines appended while it runs', async () => {
    const log = new ResolvedLog(path);
    for (let i = 0; i < 100; i += 1) {
      await log.add(`old-${i}`, { resolution: 'done', at: 10, segment: 0 });
    }
    await log.add('kept', { resolution: 'done', at: 5000, segment: 0 });
    log.prune(1000, () => false);
    expect(log.isBloated(50)).toBe(true);

    const compaction = log.compact();
    const during = log.add('during', { resolution: 'failed', at: 6000, segment: 3 }); // queued behind it
    await Promise.all([compaction, during]);
    await log.add('after', { resolution: 'done', at: 7000, segment: 3 });

    const lines = readFileSync(path, 'utf8').trim().split('\n');
    expect(lines).toEqual(['D kept 5000 0', 'F during 6000 3', 'D after 7000 3']);
    expect(log.isBloated(1)).toBe(false);
    const again = reloaded();
    expect(['kept', 'during', 'after'].map((id) => again.get(id)?.resolution)).toEqual([
      'done',
      'failed',
      'done',
    ]);
  });
});
