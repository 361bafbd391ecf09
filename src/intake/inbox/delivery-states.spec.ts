import { readFileSync } from 'node:fs';
import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from '@jest/globals';
import type { JournalOptions } from '../../common/journal/journal.js';
import type { PendingRecord } from './delivery-record.js';
import { DeliveryStates } from './delivery-states.js';
import { inboxLayout } from './inbox-layout.js';
import { cleanupAfterEach } from '../../../test/support/test-kit.js';

let stateDir: string;

const cleanup = cleanupAfterEach();
beforeEach(async () => {
  stateDir = await cleanup.tempDir('delivery-states-spec-');
});

function statesAt(journal: JournalOptions = {}): DeliveryStates {
  return DeliveryStates.at(inboxLayout(stateDir), journal);
}

let sequence = 0;

/** Stores a delivery the way Admission does: append, fdatasync, then pending. */
async function store(states: DeliveryStates, id: string): Promise<PendingRecord> {
  sequence += 1;
  const record = states.append(
    { id, event: 'pull_request', receivedAt: '2024-05-01T10:00:00.000Z', sequence },
    { repo: 'o/r', pr: 1 },
    Buffer.from(`{"note":"payload of ${id}"}`),
  );
  await states.durable();
  states.addPending(id, record);
  return record;
}

async function journalFiles(): Promise<string[]> {
  return (await readdir(join(stateDir, 'inbox/journal'))).sort();
}

describe('DeliveryStates', () => {
  it('knows pending, done and failed ids, and forgets a failed one whose failed/ file is gone', async () => {
    const states = statesAt();
    await store(states, 'pending-1');
    await store(states, 'done-1');
    await store(states, 'failed-1');
    await states.resolve('done-1', 'done');
    await states.failed.record({ id: 'failed-1', error: 'boom', failedAt: 'now' });
    await states.resolve('failed-1', 'failed');

    expect(states.pendingIds()).toEqual(['pending-1']);
    for (const id of ['pending-1', 'done-1', 'failed-1']) {
      expect(states.isKnown(id)).toBe(true);
    }
    expect(states.isKnown('never-seen')).toBe(false);
    // The operator deleted the failed delivery: GitHub's redelivery is then welcome.
    await unlink(join(stateDir, 'inbox/failed/failed-1.json'));
    expect(states.isKnown('failed-1')).toBe(false);
  });

  it('deletes a journal segment once none of its deliveries is pending, after the line about it', async () => {
    const states = statesAt({ segmentBytes: 1 }); // one delivery per segment
    for (const id of ['a', 'b', 'c']) {
      await store(states, id);
    }
    expect(await journalFiles()).toEqual(['00000001.log', '00000002.log', '00000003.log']);

    await states.resolve('a', 'done');
    await states.resolve('b', 'failed');
    await states.resolve('c', 'done'); // still the segment being appended to: kept

    expect(await journalFiles()).toEqual(['00000003.log']);
    expect(readFileSync(join(stateDir, 'inbox/resolved.log'), 'utf8')).toMatch(
      /^D a \d+ 1\nF b \d+ 2\nD c \d+ 3\n$/,
    );
  });

  it('remembers an id resolved without being pending, with no segment', async () => {
    const states = statesAt();
    await states.resolve('never-pending', 'done');

    expect(states.isKnown('never-pending')).toBe(true);
    expect(readFileSync(join(stateDir, 'inbox/resolved.log'), 'utf8')).toMatch(
      /^D never-pending \d+ 0\n$/,
    );
  });

  it('drops an unreadable record without resolving it, once', async () => {
    const states = statesAt();
    const record = await store(states, 'u-1');

    expect(states.dropUnreadable('u-1', record)).toBe(true);
    expect(states.dropUnreadable('u-1', record)).toBe(false);
    expect(states.isKnown('u-1')).toBe(false);
    expect(states.resolved.get('u-1')).toBeUndefined();
  });

  it('reopens a resolved id durably, so it can be pending again', async () => {
    const states = statesAt();
    await store(states, 'r-1');
    await states.resolve('r-1', 'done');
    await states.reopen('r-1');

    expect(states.isKnown('r-1')).toBe(false);
    expect(readFileSync(join(stateDir, 'inbox/resolved.log'), 'utf8')).toMatch(/\nR r-1\n$/);
  });

  it('reads a payload back, and refuses one whose bytes changed', async () => {
    const states = statesAt();
    const record = await store(states, 'p-1');
    expect(await states.readPayload(record.ref)).toEqual({ note: 'payload of p-1' });

    const broken = { ...record.ref, crc: record.ref.crc ^ 1 };
    await expect(states.readPayload(broken)).rejects.toThrow(/CRC mismatch/);
    expect((await states.readBytes(broken)).toString()).toBe('{"note":"payload of p-1"}');
  });
});
