import { existsSync } from 'node:fs';
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from '@jest/globals';
import { ResolvedLog } from '../../common/journal/resolved-log.js';
import { Inbox } from './inbox.js';
import { inboxLayout } from './inbox-layout.js';
import { LegacyLayout } from './legacy-layout.js';
import { DONE_RETENTION_DAYS } from './resolved-retention.js';
import { cleanupAfterEach, quietNestLogger } from '../../../test/support/test-kit.js';

let stateDir: string;

quietNestLogger();

const cleanup = cleanupAfterEach();
beforeEach(async () => {
  stateDir = await cleanup.tempDir('legacy-layout-spec-');
});

const DAY_MS = 24 * 3600 * 1000;

describe('LegacyLayout', () => {
  it('turns done/<id> tombstones into resolved entries dated by their mtime', async () => {
    await mkdir(join(stateDir, 'inbox/done'), { recursive: true });
    await writeFile(join(stateDir, 'inbox/done/t-1'), '');
    await writeFile(join(stateDir, 'inbox/done/not a valid id'), '');
    const when = new Date('2024-03-01T12:00:00.000Z');
    await utimes(join(stateDir, 'inbox/done/t-1'), when, when);
    const layout = inboxLayout(stateDir);
    const resolved = new ResolvedLog(layout.resolvedLog);
    const legacy = new LegacyLayout(layout, resolved);

    expect(await legacy.takeInTombstones()).toBe(2);
    expect(resolved.get('t-1')).toEqual({ resolution: 'done', at: when.getTime(), segment: 0 });
    expect(resolved.size).toBe(1);
    await legacy.removeDone();
    expect(existsSync(join(stateDir, 'inbox/done'))).toBe(false);
  });

  it('is applied at start-up: recent tombstones stay duplicates, old ones and tmp/ are gone', async () => {
    await mkdir(join(stateDir, 'inbox/done'), { recursive: true });
    await writeFile(join(stateDir, 'inbox/done/recent'), '');
    await writeFile(join(stateDir, 'inbox/done/old'), '');
    const longAgo = new Date(Date.now() - (DONE_RETENTION_DAYS + 1) * DAY_MS);
    await utimes(join(stateDir, 'inbox/done/old'), longAgo, longAgo);
    await mkdir(join(stateDir, 'inbox/tmp'), { recursive: true });
    await writeFile(join(stateDir, 'inbox/tmp/lost.abc.json'), '{"id":"lo');
    const delivery = (id: string) => ({
      id,
      event: 'ping',
      payloadJson: '{}',
      route: {},
      receivedAt: new Date(),
    });

    const restarted = new Inbox({ stateDir });
    expect(await restarted.accept(delivery('recent'))).toBe('duplicate');
    expect(await restarted.accept(delivery('old'))).toBe('accepted');
    expect(existsSync(join(stateDir, 'inbox/done'))).toBe(false);
    expect(existsSync(join(stateDir, 'inbox/tmp'))).toBe(false);
    expect(await new Inbox({ stateDir }).accept(delivery('recent'))).toBe('duplicate');
  });
});
