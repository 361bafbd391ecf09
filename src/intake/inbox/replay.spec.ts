import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from '@jest/globals';
import { Journal } from '../../common/journal/journal.js';
import { SequenceClock } from './delivery-record.js';
import { DeliveryStates } from './delivery-states.js';
import { Inbox } from './inbox.js';
import { inboxLayout } from './inbox-layout.js';
import { replayJournal } from './replay.js';
import { cleanupAfterEach, quietNestLogger } from '../../../test/support/test-kit.js';

let stateDir: string;

quietNestLogger();

const cleanup = cleanupAfterEach();
beforeEach(async () => {
  stateDir = await cleanup.tempDir('replay-spec-');
});

const segment = (): string => join(stateDir, 'inbox/journal/00000001.log');

/** Writes records as a bot process would, then lets it go (as a crash would). */
async function writeJournal(
  records: Array<{ id: string; payload?: string; route?: unknown; sequence?: number }>,
): Promise<void> {
  const journal = new Journal(join(stateDir, 'inbox/journal'));
  records.forEach(({ id, payload, route, sequence }, i) => {
    const header = {
      id,
      event: 'pull_request',
      action: 'labeled',
      receivedAt: '2024-05-01T10:00:00.000Z',
      sequence: sequence ?? 1_000 + i,
      ...(route === undefined ? {} : { route }),
    };
    journal.append(header, Buffer.from(payload ?? `{"note":"${id.repeat(8)}"}`));
  });
  await journal.durable();
  journal.close();
}

async function replay(): Promise<{
  states: DeliveryStates;
  replayed: number;
  clock: SequenceClock;
}> {
  // What Inbox does before the replay.
  const states = DeliveryStates.at(inboxLayout(stateDir));
  states.resolved.load();
  await states.failed.load();
  const clock = new SequenceClock(() => 0);
  const replayed = await replayJournal(states, clock);
  return { states, replayed, clock };
}

describe('replayJournal', () => {
  it('makes each record pending with the routing from its header, and continues the sequence', async () => {
    await writeJournal([
      { id: 'a', route: { repo: 'o/r', pr: 4 }, sequence: 10 },
      { id: 'b', route: {}, sequence: 20 },
    ]);
    const { states, replayed, clock } = await replay();

    expect(replayed).toBe(2);
    expect(states.pendingIds()).toEqual(['a', 'b']);
    expect(states.pendingRecord('a')).toMatchObject({ route: { repo: 'o/r', pr: 4 } });
    expect(states.pendingRecord('b')).toMatchObject({ route: {} });
    expect(clock.next()).toBe(21);
  });

  it('drops a record cut short by a crash (never acknowledged); its redelivery is accepted', async () => {
    await writeJournal([{ id: 'kept', route: {} }]);
    appendFileSync(segment(), '{"id":"cut","event":"pull_request","len":900,"crc":1}\n{"ac');

    const { states } = await replay();
    expect(states.pendingIds()).toEqual(['kept']);
    expect(states.isKnown('cut')).toBe(false);
    expect(await readdir(join(stateDir, 'inbox'))).not.toContain('failed');
  });

  it("sets a record with a CRC mismatch aside in failed/, and GitHub's copy is accepted", async () => {
    await writeJournal([{ id: 'a' }, { id: 'b', payload: '{"note":"BBBBBBBB"}' }, { id: 'c' }]);
    const bytes = readFileSync(segment());
    const at = bytes.indexOf('BBBBBBBB');
    bytes[at + 3] = 'x'.charCodeAt(0);
    writeFileSync(segment(), bytes);

    const { states } = await replay();
    expect(states.pendingIds()).toEqual(['a', 'c']);
    const [aside] = await readdir(join(stateDir, 'inbox/failed'));
    expect(aside).toMatch(/^journal-00000001-\d+\.unreadable$/);
    expect(readFileSync(join(stateDir, 'inbox/failed', aside), 'utf8')).toContain('BBBxBBBB');
    expect(states.isKnown('b')).toBe(false);
  });

  it('leaves resolved deliveries out, and completes a failure the crash cut short', async () => {
    await writeJournal([{ id: 'done-1' }, { id: 'failed-1' }, { id: 'open-1' }]);
    writeFileSync(join(stateDir, 'inbox/resolved.log'), `D done-1 ${Date.now()} 1\n`);
    // failed/ written, resolved.log line not yet: the process died in between.
    mkdirSync(join(stateDir, 'inbox/failed'));
    writeFileSync(join(stateDir, 'inbox/failed/failed-1.json'), '{"id":"failed-1"}');

    const { states } = await replay();
    expect(states.pendingIds()).toEqual(['open-1']);
    expect(readFileSync(join(stateDir, 'inbox/resolved.log'), 'utf8')).toMatch(
      /\nF failed-1 \d+ 1\n$/,
    );
  });

  it('keeps the later of two records of one id (a delivery retried from the drop box)', async () => {
    await writeJournal([
      { id: 'twice', payload: '{"copy":1}', sequence: 1 },
      { id: 'twice', payload: '{"copy":2}', sequence: 2 },
    ]);
    const { states } = await replay();

    expect(states.pendingIds()).toEqual(['twice']);
    expect(await states.readPayload(states.pendingRecord('twice')!.ref)).toEqual({ copy: 2 });
  });

  it('routes a record of an older version (no route in its header) from its payload, once', async () => {
    const payload =
      '{"pull_request":{"number":9},"repository":{"full_name":"o/old"},"n":"OOOOOOOO"}';
    await writeJournal([{ id: 'old', payload }]);
    const inbox = new Inbox({ stateDir });

    expect(await inbox.listPending()).toMatchObject([{ id: 'old', repo: 'o/old', pr: 9 }]);
    // Parsed once: damaging the payload now does not change the routing already known.
    const bytes = readFileSync(segment());
    bytes[bytes.indexOf('OOOOOOOO')] = 'x'.charCodeAt(0);
    writeFileSync(segment(), bytes);
    expect(await inbox.listPending()).toMatchObject([{ id: 'old', repo: 'o/old', pr: 9 }]);
  });
});
