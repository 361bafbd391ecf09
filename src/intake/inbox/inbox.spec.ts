import { readFileSync, writeFileSync } from 'node:fs';
import { readFile, readdir, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from '@jest/globals';
import type { JournalOptions } from '../../common/journal/journal.js';
import { routeOf } from '../delivery-route.js';
import type { NewDelivery } from './admission.js';
import type { InboxEntry } from './delivery-record.js';
import { Inbox } from './inbox.js';
import { cleanupAfterEach, quietNestLogger } from '../../../test/support/test-kit.js';

let stateDir: string;

function inboxAt(dir = stateDir, journal: JournalOptions = {}): Inbox {
  return new Inbox({ stateDir: dir, journal });
}

/** Every file under the inbox directory, relative to it. */
async function inboxFiles(): Promise<string[]> {
  const root = join(stateDir, 'inbox');
  return (await readdir(root, { recursive: true, withFileTypes: true }))
    .filter((d) => d.isFile() && d.name !== '.write-probe')
    .map((d) => join(d.parentPath, d.name).slice(root.length + 1))
    .sort();
}

function journalSegment(n = 1): string {
  return join(stateDir, 'inbox/journal', `${String(n).padStart(8, '0')}.log`);
}

function delivery(
  id: string,
  payload: Record<string, unknown> = { action: 'labeled', number: 7, note: `payload of ${id}` },
): NewDelivery {
  return {
    id,
    event: 'pull_request',
    action: 'labeled',
    payloadJson: JSON.stringify(payload),
    route: routeOf(payload),
    receivedAt: new Date('2024-05-01T10:00:00.000Z'),
  };
}

async function pendingIds(inbox: Inbox): Promise<string[]> {
  return (await inbox.listPending()).map((d) => d.id);
}

/** The pending deliveries as their handlers would get them, oldest first. */
async function pendingEntries(inbox: Inbox): Promise<InboxEntry[]> {
  const entries: InboxEntry[] = [];
  for (const id of await pendingIds(inbox)) {
    const entry = await inbox.read(id);
    if (entry) {
      entries.push(entry);
    }
  }
  return entries;
}

// Their messages are the operator's; these specs check what is on disk.
quietNestLogger();

const cleanup = cleanupAfterEach();
beforeEach(async () => {
  stateDir = await cleanup.tempDir('inbox-spec-');
});

describe('Inbox.accept', () => {
  it('appends the delivery to the journal and nothing else; a restarted inbox reads it back', async () => {
    const inbox = inboxAt();
    expect(await inbox.accept(delivery('d-1'))).toBe('accepted');

    expect(await inboxFiles()).toEqual(['journal/00000001.log']);
    const [entry] = await pendingEntries(inboxAt());
    expect(entry).toMatchObject({
      id: 'd-1',
      event: 'pull_request',
      action: 'labeled',
      payload: { note: 'payload of d-1' },
      receivedAt: '2024-05-01T10:00:00.000Z',
    });
  });

  it('answers duplicate for a second delivery with the same id and keeps the first one', async () => {
    const inbox = inboxAt();
    await inbox.accept(delivery('d-1'));
    const again = await inbox.accept(delivery('d-1', { note: 'second copy' }));

    expect(again).toBe('duplicate');
    const [entry] = await pendingEntries(inbox);
    expect(entry.payload).toMatchObject({ note: 'payload of d-1' });
    expect(await inboxAt().accept(delivery('d-1'))).toBe('duplicate');
  });

  it('stores the payload text byte for byte as received', async () => {
    const inbox = inboxAt();
    const text = '\n{ "action" : "labeled",\n  "title": "caf\\u00e9 \u{1F680}" }  \n';
    const payload = JSON.parse(text) as Record<string, unknown>;
    await inbox.accept({ ...delivery('raw-1'), payloadJson: Buffer.from(text) });

    expect(readFileSync(journalSegment()).includes(Buffer.from(text))).toBe(true);
    expect((await inboxAt().read('raw-1'))?.payload).toEqual(payload);
  });

  it('refuses ids that could escape the inbox directory', async () => {
    const inbox = inboxAt();
    await expect(inbox.accept(delivery('../../etc/passwd'))).rejects.toThrow(/invalid delivery id/);
    await expect(inbox.accept(delivery(''))).rejects.toThrow(/invalid delivery id/);
    await expect(inbox.read('../x')).rejects.toThrow(/invalid delivery id/);
    expect(await inbox.counts()).toEqual({ pending: 0, failed: 0, done: 0 });
  });
});

describe('Inbox.listPending', () => {
  it('lists deliveries in arrival order, not name order, with their routing', async () => {
    const inbox = inboxAt();
    for (const [id, number] of [
      ['c', 3],
      ['a', 1],
      ['b', 2],
    ] as const) {
      await inbox.accept(
        delivery(id, { pull_request: { number }, repository: { full_name: 'o/r' } }),
      );
    }
    expect(await inbox.listPending()).toMatchObject([
      { id: 'c', repo: 'o/r', pr: 3 },
      { id: 'a', repo: 'o/r', pr: 1 },
      { id: 'b', repo: 'o/r', pr: 2 },
    ]);
  });

  it('is seen by a new instance over the same directory, still in arrival order', async () => {
    const before = inboxAt();
    for (const id of ['z', 'y', 'x']) {
      await before.accept(delivery(id));
    }
    const after = inboxAt();
    await after.accept(delivery('w'));

    expect(await pendingIds(after)).toEqual(['z', 'y', 'x', 'w']);
    expect(await after.accept(delivery('y'))).toBe('duplicate');
    // The restarted inbox appends to a segment of its own.
    expect(await inboxFiles()).toEqual(['journal/00000001.log', 'journal/00000002.log']);
  });

  it('lists without reading payloads: a record damaged after start-up is found when read', async () => {
    const inbox = inboxAt();
    await inbox.accept(delivery('a', { note: 'AAAAAAAA' }));
    const bytes = readFileSync(journalSegment());
    bytes[bytes.indexOf('AAAAAAAA')] = 'z'.charCodeAt(0);
    writeFileSync(journalSegment(), bytes);

    expect(await pendingIds(inbox)).toEqual(['a']);
    expect(await inbox.read('a')).toBeUndefined();
    expect(await pendingIds(inbox)).toEqual([]);
    expect(readFileSync(join(stateDir, 'inbox/failed/a.unreadable.json'), 'utf8')).toContain(
      'zAAAAAAA',
    );
    // Set aside, not resolved: GitHub's copy is accepted.
    expect(await inbox.accept(delivery('a'))).toBe('accepted');
  });
});

describe('Inbox.markDone / markFailed', () => {
  it('markDone takes the delivery out of pending and keeps it a duplicate, also after a restart', async () => {
    const inbox = inboxAt();
    await inbox.accept(delivery('d-1', { big: 'x'.repeat(10_000) }));
    await inbox.markDone('d-1');

    expect(await pendingIds(inbox)).toEqual([]);
    expect(await inbox.counts()).toEqual({ pending: 0, failed: 0, done: 1 });
    expect(await inbox.accept(delivery('d-1'))).toBe('duplicate');
    const restarted = inboxAt();
    expect(await pendingIds(restarted)).toEqual([]);
    expect(await restarted.accept(delivery('d-1'))).toBe('duplicate');
  });

  it('markDone of a delivery that is not pending still remembers its id', async () => {
    const inbox = inboxAt();
    await inbox.markDone('never-pending');
    expect(await inbox.counts()).toEqual({ pending: 0, failed: 0, done: 1 });
    expect(await inbox.accept(delivery('never-pending'))).toBe('duplicate');
  });

  it('markFailed keeps the delivery and the error message, out of pending, and stays duplicate', async () => {
    const inbox = inboxAt();
    await inbox.accept(delivery('d-2'));
    await inbox.markFailed('d-2', new Error('sbatch exited 1: invalid partition'));

    expect(await pendingIds(inbox)).toEqual([]);
    expect(await inbox.counts()).toEqual({ pending: 0, failed: 1, done: 0 });
    const failed = JSON.parse(await readFile(join(stateDir, 'inbox/failed/d-2.json'), 'utf8'));
    expect(failed).toMatchObject({
      id: 'd-2',
      event: 'pull_request',
      payload: { note: 'payload of d-2' },
      error: 'sbatch exited 1: invalid partition',
    });
    // The failed file is what an operator moves back to pending/: the drop box's format.
    expect(Object.keys(failed).sort()).toEqual(
      ['action', 'error', 'event', 'failedAt', 'id', 'payload', 'receivedAt', 'sequence'].sort(),
    );
    expect(await inbox.accept(delivery('d-2'))).toBe('duplicate');
    const restarted = inboxAt();
    expect(await pendingIds(restarted)).toEqual([]);
    expect(await restarted.accept(delivery('d-2'))).toBe('duplicate');
  });

  it('a failed file moved back to pending/ is processed again, and stays pending over restarts', async () => {
    const inbox = inboxAt();
    await inbox.accept(delivery('d-3'));
    await inbox.markFailed('d-3', 'boom');
    await rename(join(stateDir, 'inbox/failed/d-3.json'), join(stateDir, 'inbox/pending/d-3.json'));

    expect(await pendingIds(inboxAt())).toEqual(['d-3']);
    // resolved.log still says "failed" further up: the retry must win over it.
    const again = inboxAt();
    expect(await pendingIds(again)).toEqual(['d-3']);
    await again.markDone('d-3');
    expect(await pendingIds(inboxAt())).toEqual([]);
  });

  it('accepts a redelivery of a failed delivery whose failed/ file was deleted, for good', async () => {
    const inbox = inboxAt();
    await inbox.accept(delivery('d-4'));
    await inbox.markFailed('d-4', 'boom');
    await unlink(join(stateDir, 'inbox/failed/d-4.json'));

    expect(await inbox.accept(delivery('d-4', { note: 'redelivered' }))).toBe('accepted');
    const [entry] = await pendingEntries(inboxAt());
    expect(entry).toMatchObject({ id: 'd-4', payload: { note: 'redelivered' } });
  });
});

describe('Inbox health helpers', () => {
  it('counts zero and is writable on a fresh state directory', async () => {
    const inbox = inboxAt(join(stateDir, 'not-yet-created'));
    expect(await inbox.counts()).toEqual({ pending: 0, failed: 0, done: 0 });
    expect(await inbox.isWritable()).toBe(true);
  });

  it('is not writable when the state directory cannot exist (its parent is a file)', async () => {
    // chmod does not stop root (CI runs as root); a file where a directory should be stops anyone.
    const blocker = join(stateDir, 'a-file');
    await writeFile(blocker, '');
    const inbox = inboxAt(join(blocker, 'state'));
    expect(await inbox.isWritable()).toBe(false);
    await expect(inbox.accept(delivery('d-1'))).rejects.toThrow(/ENOTDIR/);
  });
});
