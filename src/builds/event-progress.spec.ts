import { beforeEach, describe, expect, it } from '@jest/globals';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanupAfterEach } from '../../test/support/test-kit.js';
import { EventProgress, PROGRESS_FILE } from './event-progress.js';

const cleanup = cleanupAfterEach();
let dir: string;
const init = { deliveryId: 'd-1', repo: 'o/r', prNumber: 3 };

beforeEach(async () => {
  dir = await cleanup.tempDir('eessi-bot-progress-');
});

describe('EventProgress', () => {
  it('starts empty without writing anything, and persists each update', async () => {
    const progress = await EventProgress.open(join(dir, 'event'), init);
    expect(progress.data).toEqual({ version: 1, ...init, targets: {}, notices: {} });
    expect(await readdir(dir)).toEqual([]);

    await progress.update((d) => (d.runDir = 'run_001'));
    await progress.update(() => (progress.target('linux/x86_64/generic').jobId = '17'));
    const reopened = await EventProgress.open(join(dir, 'event'), init);
    expect(reopened.data.runDir).toBe('run_001');
    expect(reopened.target('linux/x86_64/generic')).toEqual({ jobId: '17' });
  });

  it('keeps every change when updates overlap (the last write holds them all)', async () => {
    const progress = await EventProgress.open(dir, init);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        progress.update(() => (progress.target(`t/${i}`).prepared = true)),
      ),
    );
    const saved = JSON.parse(await readFile(join(dir, PROGRESS_FILE), 'utf8'));
    expect(Object.keys(saved.targets)).toHaveLength(20);
    expect((await readdir(dir)).filter((n) => n !== PROGRESS_FILE)).toEqual([]);
  });

  it('refuses a file that is not this delivery’s progress, naming the file', async () => {
    await writeFile(
      join(dir, PROGRESS_FILE),
      JSON.stringify({ version: 1, deliveryId: 'other', targets: {} }),
    );
    await expect(EventProgress.open(dir, init)).rejects.toThrow(
      `${join(dir, PROGRESS_FILE)}: not the progress of delivery d-1`,
    );
    await writeFile(join(dir, PROGRESS_FILE), '{"version":');
    await expect(EventProgress.open(dir, init)).rejects.toThrow(/not valid JSON/);
  });
});
