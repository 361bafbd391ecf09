import { mkdtemp, mkdir, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { DONE_RETENTION_DAYS, Inbox, type NewDelivery } from './inbox.js';

let stateDir: string;

function inboxAt(dir = stateDir): Inbox {
  return new Inbox({ eventHandler: { stateDir: dir } });
}

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
  it('stores the delivery as one complete JSON file and leaves no temporary file', async () => {
    const inbox = inboxAt();
    expect(await inbox.accept(delivery('d-1'))).toBe('accepted');

    const stored = JSON.parse(await readFile(join(stateDir, 'inbox/pending/d-1.json'), 'utf8'));
    expect(stored).toMatchObject({
      id: 'd-1',
      event: 'pull_request',
      action: 'labeled',
      payload: { note: 'payload of d-1' },
      receivedAt: '2024-05-01T10:00:00.000Z',
    });
    // Nothing else: no temporary file, no second copy.
    const files = (await readdir(join(stateDir, 'inbox'), { recursive: true, withFileTypes: true }))
      .filter((d) => d.isFile())
      .map((d) => join(d.parentPath, d.name));
    expect(files).toEqual([join(stateDir, 'inbox/pending/d-1.json')]);
  });

  it('answers duplicate for a second delivery with the same id and keeps the first one', async () => {
    const inbox = inboxAt();
    await inbox.accept(delivery('d-1'));
    const again = await inbox.accept(delivery('d-1', { payload: { note: 'second copy' } }));

    expect(again).toBe('duplicate');
    const [entry] = await inbox.pending();
    expect(entry.payload).toMatchObject({ note: 'payload of d-1' });
  });

  it('accepts exactly one of many concurrent identical deliveries, also across two instances', async () => {
    // Two instances do not share in-memory locks: only the on-disk claim can make this exact.
    const first = inboxAt();
    const second = inboxAt();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? first : second).accept(delivery('same-id'))),
    );

    expect(results.filter((r) => r === 'accepted')).toHaveLength(1);
    expect(results.filter((r) => r === 'duplicate')).toHaveLength(19);
    expect((await first.pending()).map((e) => e.id)).toEqual(['same-id']);
  });

  it('stores the payload text as received, still as one JSON document', async () => {
    const inbox = inboxAt();
    const text = '\n{ "action" : "labeled",\n  "title": "caf\\u00e9 \u{1F680}" }  \n';
    const payload = JSON.parse(text) as Record<string, unknown>;
    await inbox.accept(delivery('raw-1', { payload, payloadJson: Buffer.from(text) }));

    const file = await readFile(join(stateDir, 'inbox/pending/raw-1.json'), 'utf8');
    expect(file).toContain(text);
    expect(JSON.parse(file)).toMatchObject({
      id: 'raw-1',
      payload: { title: 'caf\u00e9 \u{1F680}' },
    });
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
  });

  it('moves an unparsable file to failed/ instead of returning it', async () => {
    const inbox = inboxAt();
    await inbox.accept(delivery('good'));
    await writeFile(join(stateDir, 'inbox/pending/broken.json'), '{"id": "bro');

    expect((await inbox.pending()).map((e) => e.id)).toEqual(['good']);
    expect(await inbox.counts()).toEqual({ pending: 1, failed: 1, done: 0 });
    // Set aside under a name that does not turn GitHub's copy into a duplicate.
    expect(await inbox.accept(delivery('broken'))).toBe('accepted');
    expect((await inbox.pending()).map((e) => e.id)).toEqual(['good', 'broken']);
  });
});

describe('Inbox.markDone / markFailed', () => {
  it('markDone removes the entry from pending, keeps a payload-free tombstone, stays duplicate', async () => {
    const inbox = inboxAt();
    await inbox.accept(delivery('d-1', { payload: { big: 'x'.repeat(10_000) } }));
    await inbox.markDone('d-1');

    expect(await inbox.pending()).toEqual([]);
    expect(await inbox.counts()).toEqual({ pending: 0, failed: 0, done: 1 });
    expect((await stat(join(stateDir, 'inbox/done/d-1'))).size).toBeLessThan(200);
    expect(await inbox.accept(delivery('d-1'))).toBe('duplicate');
    expect(await inboxAt().accept(delivery('d-1'))).toBe('duplicate');
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
  });

  it('a failed file moved back to pending/ is processed again (documented retry)', async () => {
    const inbox = inboxAt();
    await inbox.accept(delivery('d-3'));
    await inbox.markFailed('d-3', 'boom');
    const { rename } = await import('node:fs/promises');
    await rename(join(stateDir, 'inbox/failed/d-3.json'), join(stateDir, 'inbox/pending/d-3.json'));

    expect((await inboxAt().pending()).map((e) => e.id)).toEqual(['d-3']);
  });
});

describe('Inbox start-up recovery', () => {
  it('settles a delivery caught between two states and removes temp files of older versions', async () => {
    const inbox = inboxAt();
    await inbox.accept(delivery('half-done'));
    await inbox.accept(delivery('still-pending'));
    // A crash inside markDone after the tombstone was written, before pending/ was cleaned up.
    await mkdir(join(stateDir, 'inbox/done'), { recursive: true });
    await writeFile(join(stateDir, 'inbox/done/half-done'), '{}');
    await mkdir(join(stateDir, 'inbox/tmp'), { recursive: true });
    await writeFile(join(stateDir, 'inbox/tmp/lost.abc.json'), '{"id":"lo');

    const restarted = inboxAt();
    expect((await restarted.pending()).map((e) => e.id)).toEqual(['still-pending']);
    expect(await restarted.counts()).toEqual({ pending: 1, failed: 0, done: 1 });
    await expect(readdir(join(stateDir, 'inbox/tmp'))).rejects.toThrow(/ENOENT/);
  });

  it('stores a redelivery over a half-written file left by a crashed process, keeping it aside', async () => {
    const before = inboxAt();
    await before.accept(delivery('kept'));
    // The process died between creating pending/cut.json and finishing it: never acknowledged.
    const cut = join(stateDir, 'inbox/pending/cut.json');
    const full = JSON.stringify({ ...delivery('cut'), sequence: 1 });
    await writeFile(cut, full.slice(0, full.length / 2));
    const longAgo = new Date(Date.now() - 60_000);
    await utimes(cut, longAgo, longAgo);

    const restarted = inboxAt();
    expect(await restarted.accept(delivery('cut', { payload: { note: 'from GitHub' } }))).toBe(
      'accepted',
    );
    expect(await restarted.accept(delivery('kept'))).toBe('duplicate');
    const stored = await restarted.read('cut');
    expect(stored?.payload).toEqual({ note: 'from GitHub' });
    // The remains stay visible to the operator.
    expect(await readFile(join(stateDir, 'inbox/failed/cut.unreadable.json'), 'utf8')).toBe(
      full.slice(0, full.length / 2),
    );
  });

  it('answers duplicate, and leaves the file alone, while another process is still writing it', async () => {
    const inbox = inboxAt();
    await inbox.pending(); // start-up is over
    await mkdir(join(stateDir, 'inbox/pending'), { recursive: true });
    await writeFile(join(stateDir, 'inbox/pending/busy.json'), '{"id":"busy","ev');

    expect(await inbox.accept(delivery('busy'))).toBe('duplicate');
    expect(await readFile(join(stateDir, 'inbox/pending/busy.json'), 'utf8')).toBe(
      '{"id":"busy","ev',
    );
  });

  it('drops the payload of a tombstone whose markDone was cut short', async () => {
    await mkdir(join(stateDir, 'inbox/done'), { recursive: true });
    await writeFile(join(stateDir, 'inbox/done/cut-short'), 'x'.repeat(30_000));

    const restarted = inboxAt();
    expect(await restarted.accept(delivery('cut-short'))).toBe('duplicate');
    expect((await stat(join(stateDir, 'inbox/done/cut-short'))).size).toBe(0);
  });

  it(`forgets tombstones older than ${DONE_RETENTION_DAYS} days and keeps recent ones`, async () => {
    const inbox = inboxAt();
    for (const id of ['old', 'recent']) {
      await inbox.accept(delivery(id));
      await inbox.markDone(id);
    }
    const longAgo = new Date(Date.now() - (DONE_RETENTION_DAYS + 1) * 24 * 3600 * 1000);
    await utimes(join(stateDir, 'inbox/done/old'), longAgo, longAgo);

    const restarted = inboxAt();
    expect(await restarted.accept(delivery('old'))).toBe('accepted');
    expect(await restarted.accept(delivery('recent'))).toBe('duplicate');
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
