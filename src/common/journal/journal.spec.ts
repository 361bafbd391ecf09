import { appendFileSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from '@jest/globals';
import { cleanupAfterEach } from '../../../test/support/test-kit.js';
import { Journal, JournalDamageError, type JournalDamage, type JournalRef } from './journal.js';

const cleanup = cleanupAfterEach();
let dir: string;

beforeEach(async () => {
  dir = join(await cleanup.tempDir('journal-spec-'), 'journal');
});

interface Replayed {
  readonly records: Array<{ meta: Record<string, unknown>; ref: JournalRef }>;
  readonly damage: JournalDamage[];
  readonly journal: Journal;
}

async function replay(options = {}): Promise<Replayed> {
  const journal = new Journal(dir, options);
  const records: Replayed['records'] = [];
  const damage: JournalDamage[] = [];
  await journal.replay(
    (meta, ref) => {
      journal.hold(ref);
      records.push({ meta, ref });
    },
    (found) => damage.push(found),
  );
  return { records, damage, journal };
}

function segmentFiles(): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

describe('Journal', () => {
  it('makes concurrent appends durable together and reads them back after a restart', async () => {
    const journal = new Journal(dir);
    const refs = Array.from({ length: 50 }, (_, i) =>
      journal.append({ id: `d-${i}` }, Buffer.from(JSON.stringify({ n: i }))),
    );
    await Promise.all(refs.map(() => journal.durable()));

    const after = await replay();
    expect(after.damage).toEqual([]);
    expect(after.records.map((r) => r.meta.id)).toEqual(refs.map((_, i) => `d-${i}`));
    for (const [i, { ref }] of after.records.entries()) {
      expect(JSON.parse((await after.journal.read(ref)).toString())).toEqual({ n: i });
    }
  });

  it('keeps payload bytes exactly as given, newlines and all', async () => {
    const journal = new Journal(dir);
    const payload = Buffer.from('\n{ "a" :\n "caf\u00e9 \u{1F680}" }\r\n');
    const ref = journal.append({ id: 'raw' }, payload);
    await journal.durable();

    expect(Buffer.compare(await journal.read(ref), payload)).toBe(0);
    const after = await replay();
    const [record] = after.records;
    expect(record.meta).toEqual({ id: 'raw' });
    expect(Buffer.compare(await after.journal.read(record.ref), payload)).toBe(0);
  });

  it('cuts segments at the size limit and deletes each once nothing in it is held', async () => {
    const journal = new Journal(dir, { segmentBytes: 800 });
    const refs: JournalRef[] = [];
    for (let i = 0; i < 6; i += 1) {
      const ref = journal.append({ id: `d-${i}` }, Buffer.alloc(400, 'x'));
      journal.hold(ref);
      refs.push(ref);
    }
    await journal.durable();
    const segments = new Set(refs.map((r) => r.segment));
    expect(segments.size).toBeGreaterThanOrEqual(3);
    expect(segmentFiles()).toHaveLength(segments.size);

    // Release all but the last record: every segment but the one still appended to goes.
    for (const ref of refs.slice(0, -1)) {
      journal.release(ref);
    }
    expect(segmentFiles()).toEqual([`${String(refs.at(-1)!.segment).padStart(8, '0')}.log`]);
    expect(journal.isLive(refs[0].segment)).toBe(false);
    expect(journal.isLive(refs.at(-1)!.segment)).toBe(true);
  });

  it('replay deletes segments holding nothing the caller wants, and appends to a new one', async () => {
    const first = new Journal(dir);
    first.append({ id: 'a' }, Buffer.from('{}'));
    await first.durable();

    const journal = new Journal(dir);
    await journal.replay(
      () => undefined, // nothing held
      () => undefined,
    );
    expect(segmentFiles()).toEqual([]);
    const ref = journal.append({ id: 'b' }, Buffer.from('{}'));
    await journal.durable();
    expect(ref.segment).toBe(2);
  });

  it('drops a record cut short at the end of the last segment, reporting it as torn', async () => {
    const journal = new Journal(dir);
    journal.append({ id: 'whole' }, Buffer.from('{"ok":true}'));
    await journal.durable();
    const [segment] = segmentFiles();
    // A process that died in the middle of its write.
    appendFileSync(join(dir, segment), '{"id":"cut","len":500,"crc":1}\n{"par');

    const { records, damage } = await replay();
    expect(records.map((r) => r.meta.id)).toEqual(['whole']);
    expect(damage).toHaveLength(1);
    expect(damage[0]).toMatchObject({ torn: true, meta: { id: 'cut' } });
  });

  it('reports a record whose payload no longer matches its CRC and goes on with the next', async () => {
    const journal = new Journal(dir);
    journal.append({ id: 'a' }, Buffer.from('{"n":"AAAA"}'));
    journal.append({ id: 'b' }, Buffer.from('{"n":"BBBB"}'));
    journal.append({ id: 'c' }, Buffer.from('{"n":"CCCC"}'));
    await journal.durable();
    const path = join(dir, segmentFiles()[0]);
    const bytes = readFileSync(path);
    bytes[bytes.indexOf('BBBB') + 1] = 'X'.charCodeAt(0);
    writeFileSync(path, bytes);

    const { records, damage } = await replay();
    expect(records.map((r) => r.meta.id)).toEqual(['a', 'c']);
    expect(damage).toHaveLength(1);
    expect(damage[0]).toMatchObject({ meta: { id: 'b' }, reason: expect.stringMatching(/CRC/) });
    expect(damage[0].torn).toBeUndefined();
    expect(damage[0].bytes.toString()).toBe('{"n":"BXBB"}');
  });

  it('read() refuses a record damaged since it was written', async () => {
    const journal = new Journal(dir);
    const ref = journal.append({ id: 'a' }, Buffer.from('{"n":"AAAA"}'));
    await journal.durable();
    const path = join(dir, segmentFiles()[0]);
    const bytes = readFileSync(path);
    bytes[ref.offset + 2] = 'Z'.charCodeAt(0);
    writeFileSync(path, bytes);

    await expect(journal.read(ref)).rejects.toBeInstanceOf(JournalDamageError);
    expect((await journal.read(ref, false)).toString()).toBe('{"Z":"AAAA"}');
  });

  it('sets aside the rest of a segment whose framing is lost, keeping what came before', async () => {
    const journal = new Journal(dir);
    journal.append({ id: 'a' }, Buffer.from('{}'));
    await journal.durable();
    const path = join(dir, segmentFiles()[0]);
    appendFileSync(path, `not a header\n${'x'.repeat(70_000)}`);

    const { records, damage } = await replay();
    expect(records.map((r) => r.meta.id)).toEqual(['a']);
    expect(damage).toHaveLength(1);
    expect(damage[0].torn).toBeUndefined();
    expect(damage[0].bytes.toString()).toMatch(/^not a header\n/);
  });
});
