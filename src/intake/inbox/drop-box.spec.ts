import { readFileSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from '@jest/globals';
import { KeyedLock } from '../../common/keyed-lock.js';
import { SequenceClock } from './delivery-record.js';
import { DeliveryStates } from './delivery-states.js';
import { DropBox } from './drop-box.js';
import { inboxLayout } from './inbox-layout.js';
import { cleanupAfterEach, quietNestLogger } from '../../../test/support/test-kit.js';

let stateDir: string;
let states: DeliveryStates;
let dropBox: DropBox;

quietNestLogger();

const cleanup = cleanupAfterEach();
beforeEach(async () => {
  stateDir = await cleanup.tempDir('drop-box-spec-');
  const layout = inboxLayout(stateDir);
  states = DeliveryStates.at(layout);
  dropBox = new DropBox(layout.dropBoxDir, states, new SequenceClock(), new KeyedLock());
  await mkdir(layout.dropBoxDir, { recursive: true });
});

const dropped = (name: string): string => join(stateDir, 'inbox/pending', name);

function failedFile(id: string, payload: unknown = { note: `payload of ${id}` }): string {
  return JSON.stringify({
    id,
    event: 'pull_request',
    action: 'labeled',
    receivedAt: '2024-04-01T00:00:00.000Z',
    sequence: 5,
    payload,
    error: 'sbatch exited 1',
    failedAt: '2024-04-01T00:01:00.000Z',
  });
}

describe('DropBox.takeIn', () => {
  it('stores a dropped delivery in the journal, routed from its payload, then deletes the file', async () => {
    const payload = { pull_request: { number: 8 }, repository: { full_name: 'o/r' } };
    await writeFile(dropped('d-1.json'), failedFile('d-1', payload));
    await dropBox.takeIn();

    expect(await readdir(join(stateDir, 'inbox/pending'))).toEqual([]);
    const record = states.pendingRecord('d-1')!;
    expect(record).toMatchObject({
      event: 'pull_request',
      action: 'labeled',
      receivedAt: '2024-04-01T00:00:00.000Z',
      route: { repo: 'o/r', pr: 8 },
    });
    // It keeps its place in arrival order (an older version's queue is taken in before newer).
    expect(record.sequence).toBe(5);
    expect(await states.readPayload(record.ref)).toEqual(payload);
  });

  it('moves an unparsable file to failed/ as <id>.unreadable.json, which does not make the id known', async () => {
    await writeFile(dropped('broken.json'), '{"id": "bro');
    await dropBox.takeIn();

    expect(await readdir(join(stateDir, 'inbox/pending'))).toEqual([]);
    expect(await readFile(join(stateDir, 'inbox/failed/broken.unreadable.json'), 'utf8')).toBe(
      '{"id": "bro',
    );
    expect(states.isKnown('broken')).toBe(false);
  });

  it('sets aside a file whose id does not match its name, and leaves other files alone', async () => {
    await writeFile(dropped('other.json'), failedFile('d-2'));
    await writeFile(dropped('notes.txt'), 'kept');
    await dropBox.takeIn();

    expect(await readdir(join(stateDir, 'inbox/pending'))).toEqual(['notes.txt']);
    expect(await readdir(join(stateDir, 'inbox/failed'))).toEqual(['other.unreadable.json']);
    expect(states.pendingIds()).toEqual([]);
  });

  it('removes the file of a delivery that is already pending or done, keeping the stored one', async () => {
    await writeFile(dropped('d-3.json'), failedFile('d-3', { copy: 1 }));
    await dropBox.takeIn();
    await writeFile(dropped('d-3.json'), failedFile('d-3', { copy: 2 }));
    await dropBox.takeIn();

    expect(await readdir(join(stateDir, 'inbox/pending'))).toEqual([]);
    expect(await states.readPayload(states.pendingRecord('d-3')!.ref)).toEqual({ copy: 1 });
  });

  it('retries a failed delivery: the retry wins over the F line in resolved.log', async () => {
    await writeFile(dropped('d-4.json'), failedFile('d-4'));
    await dropBox.takeIn();
    await states.failed.record({ id: 'd-4', error: 'boom', failedAt: 'now' });
    await states.resolve('d-4', 'failed');
    // The operator moves the failed file back.
    await rm(join(stateDir, 'inbox/failed/d-4.json'));
    await writeFile(dropped('d-4.json'), failedFile('d-4'));
    await dropBox.takeIn();

    expect(states.pendingIds()).toEqual(['d-4']);
    expect(states.failed.listed('d-4')).toBe(false);
    expect(readFileSync(join(stateDir, 'inbox/resolved.log'), 'utf8')).toMatch(/\nR d-4\n$/);
  });
});
