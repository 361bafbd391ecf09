import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from '@jest/globals';
import { ResolvedLog } from '../../common/journal/resolved-log.js';
import {
  COMPACT_MIN_LINES,
  DONE_RETENTION_DAYS,
  PRUNE_EVERY_MS,
  ResolvedRetention,
} from './resolved-retention.js';
import { cleanupAfterEach, quietNestLogger } from '../../../test/support/test-kit.js';

let dir: string;
let path: string;

quietNestLogger();

const cleanup = cleanupAfterEach();
beforeEach(async () => {
  dir = await cleanup.tempDir('retention-spec-');
  path = join(dir, 'resolved.log');
});

const DAY_MS = 24 * 3600 * 1000;
const NOW = Date.UTC(2024, 5, 1);
const OLD = NOW - (DONE_RETENTION_DAYS + 1) * DAY_MS;

function loaded(text: string): ResolvedLog {
  writeFileSync(path, text);
  const log = new ResolvedLog(path);
  log.load();
  return log;
}

describe('ResolvedRetention', () => {
  it(`forgets ids resolved over ${DONE_RETENTION_DAYS} days ago at start-up, but not while their segment is on disk`, async () => {
    const log = loaded(`D old-gone ${OLD} 0\nD old-live ${OLD} 1\nF recent ${NOW} 2\n`);
    const retention = new ResolvedRetention(
      log,
      (segment) => segment === 1,
      () => NOW,
    );
    await retention.atStartup(false);

    expect(log.get('old-gone')).toBeUndefined();
    expect(log.get('old-live')).toBeDefined();
    expect(log.get('recent')).toBeDefined();
    // Rewritten without the forgotten line.
    expect(readFileSync(path, 'utf8')).toBe(`D old-live ${OLD} 1\nF recent ${NOW} 2\n`);
  });

  it('leaves the file alone at start-up when nothing is forgotten and it is small', async () => {
    const text = `D a ${NOW} 0\nD a ${NOW} 0\n`;
    const log = loaded(text);
    await new ResolvedRetention(
      log,
      () => false,
      () => NOW,
    ).atStartup(false);
    expect(readFileSync(path, 'utf8')).toBe(text);
    // An upgrade (tombstones taken in) asks for the rewrite anyway.
    await new ResolvedRetention(
      log,
      () => false,
      () => NOW,
    ).atStartup(true);
    expect(readFileSync(path, 'utf8')).toBe(`D a ${NOW} 0\n`);
  });

  it('prunes while running at most once per period', () => {
    let now = NOW;
    const log = loaded(`D old ${OLD} 0\n`);
    const retention = new ResolvedRetention(
      log,
      () => false,
      () => now,
    );

    retention.afterResolve();
    expect(log.get('old')).toBeDefined();
    now += PRUNE_EVERY_MS;
    retention.afterResolve();
    expect(log.get('old')).toBeUndefined();
  });

  it('compacts once the file holds many lines and twice its live entries', async () => {
    const lines = Array.from({ length: COMPACT_MIN_LINES }, (_, i) => `D same ${NOW + i} 0\n`);
    const log = loaded(lines.join(''));
    new ResolvedRetention(
      log,
      () => false,
      () => NOW,
    ).afterResolve();
    await log.sync(); // after the compaction queued in the background

    expect(readFileSync(path, 'utf8')).toBe(`D same ${NOW + COMPACT_MIN_LINES - 1} 0\n`);
  });
});
