import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from '@jest/globals';
import { FailedDeliveries } from './failed-deliveries.js';
import { cleanupAfterEach, quietNestLogger } from '../../../test/support/test-kit.js';

let root: string;
let dir: string;

quietNestLogger();

const cleanup = cleanupAfterEach();
beforeEach(async () => {
  root = await cleanup.tempDir('failed-deliveries-spec-');
  dir = join(root, 'failed');
});

describe('FailedDeliveries', () => {
  it('records a failed delivery as <id>.json and knows it is there until it is deleted', async () => {
    const failed = new FailedDeliveries(dir);
    await failed.record({ id: 'f-1', event: 'pull_request', error: 'boom', failedAt: 'then' });

    expect(JSON.parse(await readFile(join(dir, 'f-1.json'), 'utf8'))).toEqual({
      id: 'f-1',
      event: 'pull_request',
      error: 'boom',
      failedAt: 'then',
    });
    expect(failed.listed('f-1')).toBe(true);
    expect(failed.exists('f-1')).toBe(true);
    await rm(join(dir, 'f-1.json'));
    expect(failed.exists('f-1')).toBe(false);
  });

  it('learns at start-up which ids failed, not counting set-aside bytes as failed deliveries', async () => {
    const before = new FailedDeliveries(dir);
    await before.record({ id: 'f-2', error: 'boom', failedAt: 'then' });
    await before.setAside('f-3.unreadable.json', Buffer.from('{"id":'));
    await before.setAside('journal-00000001-0.unreadable', Buffer.from('xx'));

    const after = new FailedDeliveries(dir);
    await after.load();
    expect(after.listed('f-2')).toBe(true);
    expect(after.listed('f-3')).toBe(false);
    expect(after.listed('f-3.unreadable')).toBe(false);
    // Everything there needs an operator's look.
    expect(await after.count()).toBe(3);
  });

  it('forgets an id taken back into the journal', async () => {
    const failed = new FailedDeliveries(dir);
    await failed.record({ id: 'f-4', error: 'boom', failedAt: 'then' });
    failed.forget('f-4');
    expect(failed.listed('f-4')).toBe(false);
  });

  it('moves an unreadable file aside, and counts nothing in a directory never created', async () => {
    const failed = new FailedDeliveries(dir);
    expect(await failed.count()).toBe(0);
    const path = join(root, 'x.json');
    await writeFile(path, 'not json');
    failed.moveAside(path, 'x.unreadable.json');

    expect(await readdir(root)).toEqual(['failed']);
    expect(await readFile(join(dir, 'x.unreadable.json'), 'utf8')).toBe('not json');
  });
});
