import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import {
  mkdtemp,
  mkdir,
  readFile,
  readdir,
  rename,
  rm,
  unlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { DONE_RETENTION_DAYS, Inbox, type InboxOptions, type NewDelivery } from './inbox.js';

let stateDir: string;

function inboxAt(dir = stateDir, options: InboxOptions = {}): Inbox {
  return new Inbox({ eventHandler: { stateDir: dir } }, options);
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

const DAY_MS = 24 * 3600 * 1000;

function delivery(id: string, extra: Partial<NewDelivery> = {}): NewDelivery {
  return {
    id,
    event: 'pull_request',
    action: 'labeled',
    payload: { action: 'labeled', number: 7, note: `payload of ${id}` },
    receivedAt: new Date('2024-05-01T10:00:00.000Z'),
    ...extra,
  };
}

beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'inbox-spec-'));
});

afterEach(async () => {
  await rm(stateDir, { recursive: true, force: true });
});

describe('Inbox.accept', () => {
  it('appends the delivery to the journal and nothing else; a restarted inbox reads it back', async () => {
    const inbox = inboxAt();
    expect(await inbox.accept(delivery('d-1'))).toBe('accepted');

    expect(await inboxFiles()).toEqual(['journal/00000001.log']);
    const [entry] = await inboxAt().pending();
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
    const again = await inbox.accept(delivery('d-1', { payload: { note: 'second copy' } }));

    expect(again).toBe('duplicate');
    const [entry] = await inbox.pending();
    expect(entry.payload).toMatchObject({ note: 'payload of d-1' });
    expect(await inboxAt().accept(delivery('d-1'))).toBe('duplicate');
  });

  it('accepts exactly one of many concurrent identical deliveries', async () => {
    const inbox = inboxAt();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        inbox.accept(delivery(i % 3 ? 'same-id' : `other-${i}`)),
      ),
    );

    const sameId = results.filter((_, i) => i % 3 !== 0);
    expect(sameId.filter((r) => r === 'accepted')).toHaveLength(1);
    expect(results.filter((r) => r === 'accepted')).toHaveLength(1 + 7);
    expect((await inboxAt().pending()).filter((e) => e.id === 'same-id')).toHaveLength(1);
  });

  it('stores the payload text byte for byte as received', async () => {
    const inbox = inboxAt();
    const text = '\n{ "action" : "labeled",\n  "title": "caf\\u00e9 \u{1F680}" }  \n';
    const payload = JSON.parse(text) as Record<string, unknown>;
    await inbox.accept(delivery('raw-1', { payload, payloadJson: Buffer.from(text) }));

    expect(readFileSync(journalSegment()).includes(Buffer.from(text))).toBe(true);
    expect((await inboxAt().read('raw-1'))?.payload).toEqual(payload);
  });

  it('refuses ids that could escape the inbox directory', async () => {
    const inbox = inboxAt();
    await expect(inbox.accept(delivery('../../etc/passwd'))).rejects.toThrow(/invalid delivery id/);
    await expect(inbox.accept(delivery(''))).rejects.toThrow(/invalid delivery id/);
    expect(await inbox.counts()).toEqual({ pending: 0, failed: 0, done: 0 });
  });
});

describe('Inbox.pending', () => {
  it('lists deliveries in arrival order, not name order', async () => {
    const inbox = inboxAt();
    for (const id of ['c', 'a', 'b']) {
      await inbox.accept(delivery(id));
    }
    expect((await inbox.pending()).map((e) => e.id)).toEqual(['c', 'a', 'b']);
  });

  it('is seen by a new instance over the same directory, still in arrival order', async () => {
    const before = inboxAt();
    for (const id of ['z', 'y', 'x']) {
      await before.accept(delivery(id));
    }
    const after = inboxAt();
    await after.accept(delivery('w'));

    expect((await after.pending()).map((e) => e.id)).toEqual(['z', 'y', 'x', 'w']);
    expect(await after.accept(delivery('y'))).toBe('duplicate');
    // The restarted inbox appends to a segment of its own.
    expect(await inboxFiles()).toEqual(['journal/00000001.log', 'journal/00000002.log']);
  });

  it("takes in a delivery file dropped into pending/ (an older version's queue) and deletes it", async () => {
    const inbox = inboxAt();
    await inbox.accept(delivery('new'));
    await mkdir(join(stateDir, 'inbox/pending'), { recursive: true });
    const old = { ...delivery('old'), receivedAt: '2024-04-01T00:00:00.000Z', sequence: 5 };
    await writeFile(join(stateDir, 'inbox/pending/old.json'), JSON.stringify(old));

    expect((await inbox.pending()).map((e) => e.id)).toEqual(['old', 'new']);
    expect(await readdir(join(stateDir, 'inbox/pending'))).toEqual([]);
    expect((await inboxAt().read('old'))?.payload).toEqual(old.payload);
  });

  it('moves an unparsable drop-box file to failed/ instead of returning it', async () => {
    const inbox = inboxAt();
    await inbox.accept(delivery('good'));
    await mkdir(join(stateDir, 'inbox/pending'), { recursive: true });
    await writeFile(join(stateDir, 'inbox/pending/broken.json'), '{"id": "bro');

    expect((await inbox.pending()).map((e) => e.id)).toEqual(['good']);
    expect(await inbox.counts()).toEqual({ pending: 1, failed: 1, done: 0 });
    expect(await readFile(join(stateDir, 'inbox/failed/broken.unreadable.json'), 'utf8')).toBe(
      '{"id": "bro',
    );
    // Set aside under a name that does not turn GitHub's copy into a duplicate.
    expect(await inbox.accept(delivery('broken'))).toBe('accepted');
    expect((await inbox.pending()).map((e) => e.id)).toEqual(['good', 'broken']);
  });
});

describe('Inbox.markDone / markFailed', () => {
  it('markDone takes the delivery out of pending and keeps it a duplicate, also after a restart', async () => {
    const inbox = inboxAt();
    await inbox.accept(delivery('d-1', { payload: { big: 'x'.repeat(10_000) } }));
    await inbox.markDone('d-1');

    expect(await inbox.pending()).toEqual([]);
    expect(await inbox.counts()).toEqual({ pending: 0, failed: 0, done: 1 });
    expect(await inbox.accept(delivery('d-1'))).toBe('duplicate');
    const restarted = inboxAt();
    expect(await restarted.pending()).toEqual([]);
    expect(await restarted.accept(delivery('d-1'))).toBe('duplicate');
  });

  it('deletes a journal segment once none of its deliveries is pending', async () => {
    const inbox = inboxAt(stateDir, { segmentBytes: 1 }); // one delivery per segment
    for (const id of ['a', 'b', 'c']) {
      await inbox.accept(delivery(id));
    }
    expect(await inboxFiles()).toEqual([
      'journal/00000001.log',
      'journal/00000002.log',
      'journal/00000003.log',
    ]);
    await inbox.markDone('a');
    await inbox.markFailed('b', 'boom');
    await inbox.markDone('c'); // still the segment being appended to: kept

    expect(await inboxFiles()).toEqual(['failed/b.json', 'journal/00000003.log', 'resolved.log']);
    const restarted = inboxAt();
    expect(await restarted.pending()).toEqual([]);
    for (const id of ['a', 'b', 'c']) {
      expect(await restarted.accept(delivery(id))).toBe('duplicate');
    }
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

    expect(await inbox.pending()).toEqual([]);
    expect(await inbox.counts()).toEqual({ pending: 0, failed: 1, done: 0 });
    const failed = JSON.parse(await readFile(join(stateDir, 'inbox/failed/d-2.json'), 'utf8'));
    expect(failed).toMatchObject({
      id: 'd-2',
      event: 'pull_request',
      payload: { note: 'payload of d-2' },
      error: 'sbatch exited 1: invalid partition',
    });
    expect(await inbox.accept(delivery('d-2'))).toBe('duplicate');
    const restarted = inboxAt();
    expect(await restarted.pending()).toEqual([]);
    expect(await restarted.accept(delivery('d-2'))).toBe('duplicate');
  });

  it('a failed file moved back to pending/ is processed again, and stays pending over restarts', async () => {
    const inbox = inboxAt();
    await inbox.accept(delivery('d-3'));
    await inbox.markFailed('d-3', 'boom');
    await rename(join(stateDir, 'inbox/failed/d-3.json'), join(stateDir, 'inbox/pending/d-3.json'));

    expect((await inboxAt().pending()).map((e) => e.id)).toEqual(['d-3']);
    // resolved.log still says "failed" further up: the retry must win over it.
    const again = inboxAt();
    expect((await again.pending()).map((e) => e.id)).toEqual(['d-3']);
    await again.markDone('d-3');
    expect(await inboxAt().pending()).toEqual([]);
  });

  it('accepts a redelivery of a failed delivery whose failed/ file was deleted, for good', async () => {
    const inbox = inboxAt();
    await inbox.accept(delivery('d-4'));
    await inbox.markFailed('d-4', 'boom');
    await unlink(join(stateDir, 'inbox/failed/d-4.json'));

    expect(await inbox.accept(delivery('d-4', { payload: { note: 'redelivered' } }))).toBe(
      'accepted',
    );
    const [entry] = await inboxAt().pending();
    expect(entry).toMatchObject({ id: 'd-4', payload: { note: 'redelivered' } });
  });
});

describe('Inbox start-up recovery', () => {
  it('drops a delivery cut short by a crash (never acknowledged) and accepts its redelivery', async () => {
    const inbox = inboxAt();
    await inbox.accept(delivery('kept'));
    // The process died while writing the next record.
    appendFileSync(journalSegment(), '{"id":"cut","event":"pull_request","len":900,"crc":1}\n{"ac');

    const restarted = inboxAt();
    expect((await restarted.pending()).map((e) => e.id)).toEqual(['kept']);
    expect(await restarted.accept(delivery('cut'))).toBe('accepted');
    expect(await restarted.accept(delivery('kept'))).toBe('duplicate');
  });

  it("sets a damaged delivery aside in failed/ and accepts GitHub's copy again", async () => {
    const inbox = inboxAt();
    await inbox.accept(delivery('a'));
    await inbox.accept(delivery('b', { payload: { note: 'BBBBBBBB' } }));
    await inbox.accept(delivery('c'));
    const bytes = readFileSync(journalSegment());
    bytes[bytes.indexOf('BBBBBBBB') + 3] = 'x'.charCodeAt(0);
    writeFileSync(journalSegment(), bytes);

    const restarted = inboxAt();
    expect((await restarted.pending()).map((e) => e.id)).toEqual(['a', 'c']);
    const [aside] = (await readdir(join(stateDir, 'inbox/failed'))).filter((n) =>
      n.endsWith('.unreadable'),
    );
    expect(readFileSync(join(stateDir, 'inbox/failed', aside), 'utf8')).toContain('BBBxBBBB');
    expect(await restarted.counts()).toMatchObject({ pending: 2, failed: 1 });
    expect(await restarted.accept(delivery('b'))).toBe('accepted');
  });

  it('sets aside a record damaged after start-up when it is read, instead of running it', async () => {
    const inbox = inboxAt();
    await inbox.accept(delivery('a', { payload: { note: 'AAAAAAAA' } }));
    const bytes = readFileSync(journalSegment());
    bytes[bytes.indexOf('AAAAAAAA')] = 'z'.charCodeAt(0);
    writeFileSync(journalSegment(), bytes);

    expect(await inbox.read('a')).toBeUndefined();
    expect(await inbox.pending()).toEqual([]);
    expect(readFileSync(join(stateDir, 'inbox/failed/a.unreadable.json'), 'utf8')).toContain(
      'zAAAAAAA',
    );
    expect(await inbox.accept(delivery('a'))).toBe('accepted');
  });

  it('takes in the tombstones and temp files of older versions', async () => {
    await mkdir(join(stateDir, 'inbox/done'), { recursive: true });
    await writeFile(join(stateDir, 'inbox/done/recent'), '');
    await writeFile(join(stateDir, 'inbox/done/old'), '');
    const longAgo = new Date(Date.now() - (DONE_RETENTION_DAYS + 1) * DAY_MS);
    await utimes(join(stateDir, 'inbox/done/old'), longAgo, longAgo);
    await mkdir(join(stateDir, 'inbox/tmp'), { recursive: true });
    await writeFile(join(stateDir, 'inbox/tmp/lost.abc.json'), '{"id":"lo');

    const restarted = inboxAt();
    expect(await restarted.accept(delivery('recent'))).toBe('duplicate');
    expect(await restarted.accept(delivery('old'))).toBe('accepted');
    expect(await inboxFiles()).toEqual(['journal/00000001.log', 'resolved.log']);
    expect(await inboxAt().accept(delivery('recent'))).toBe('duplicate');
  });

  it(`forgets ids resolved over ${DONE_RETENTION_DAYS} days ago, but not while their record could replay`, async () => {
    const inbox = inboxAt();
    await inbox.accept(delivery('old-live'));
    await inbox.accept(delivery('still-pending'));
    await inbox.markDone('old-live'); // its segment stays: 'still-pending' holds it
    const old = Date.now() - (DONE_RETENTION_DAYS + 1) * DAY_MS;
    const log = join(stateDir, 'inbox/resolved.log');
    // 'old-gone' was done long ago, its journal segment deleted since (0: none).
    await writeFile(log, `D old-gone ${old} 0\nD old-live ${old} 1\n`);

    const restarted = inboxAt();
    expect((await restarted.pending()).map((e) => e.id)).toEqual(['still-pending']);
    expect(await restarted.accept(delivery('old-live'))).toBe('duplicate');
    expect(await restarted.accept(delivery('old-gone'))).toBe('accepted');
    expect(readFileSync(log, 'utf8')).not.toMatch(/D old-gone/);
  });
});

describe('Inbox.progress', () => {
  it('persists values across instances, kept on failure, removed when the delivery is done', async () => {
    const inbox = inboxAt();
    await inbox.accept(delivery('p-1'));
    await inbox.progress('p-1').set('submitted', { 'linux/x86_64': 1001 });
    await inbox.progress('p-1').set('comment', 42);

    const again = inboxAt().progress('p-1');
    expect(await again.get('submitted')).toEqual({ 'linux/x86_64': 1001 });
    expect(await again.get('comment')).toBe(42);
    expect(await again.get('absent')).toBeUndefined();

    await inbox.markDone('p-1');
    expect(await inbox.progress('p-1').get('comment')).toBeUndefined();
  });

  it('keeps every key when sets for one delivery run concurrently', async () => {
    const progress = inboxAt().progress('p-2');
    await Promise.all(Array.from({ length: 10 }, (_, i) => progress.set(`k${i}`, i)));
    const fresh = inboxAt().progress('p-2');
    for (let i = 0; i < 10; i += 1) {
      expect(await fresh.get(`k${i}`)).toBe(i);
    }
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
