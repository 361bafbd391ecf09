import {
  closeSync,
  fdatasync,
  fstatSync,
  fsync,
  ftruncateSync,
  mkdirSync,
  openSync,
  read as readCallback,
  readSync,
  readdirSync,
  unlinkSync,
  writev as writevCallback,
} from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { crc32 } from 'node:zlib';

/** Where one record's payload lives: enough to read it back and check it. */
export interface JournalRef {
  readonly segment: number;
  /** Byte offset of the payload in the segment file. */
  readonly offset: number;
  readonly length: number;
  readonly crc: number;
}

/** What replay found wrong in a segment, for the caller to log and set aside. */
export interface JournalDamage {
  readonly path: string;
  readonly offset: number;
  readonly reason: string;
  /** The bytes that could not be used (to the end of the segment when framing is lost). */
  readonly bytes: Buffer;
  /** The record's metadata, when its header was still readable. */
  readonly meta?: Record<string, unknown>;
  /**
   * The last record of a segment, cut short: written by a process that died before its fsync,
   * so never reported durable to anyone.
   */
  readonly torn?: boolean;
}

export interface JournalOptions {
  /** A segment is closed to new records once it holds this many bytes. */
  readonly segmentBytes?: number;
}

/** Segments are cut at 64 MiB: a few seconds of a webhook flood, weeks of ordinary traffic. */
const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;

/** Header lines are a few hundred bytes; anything longer without a newline is not a header. */
const MAX_HEADER_BYTES = 64 * 1024;

const SEGMENT_NAME = /^(\d{8,})\.log$/;
const NEWLINE = Buffer.from('\n');
/** Rounds (write, then fdatasync) running at once; see startRound(). */
const MAX_ROUNDS_IN_FLIGHT = 2;
/** Replay hands the event loop back this often, so a long journal does not freeze start-up. */
const RECORDS_PER_YIELD = 256;

const fdatasyncAsync = promisify(fdatasync);
const writevAsync = promisify(writevCallback);
const fsyncAsync = promisify(fsync);
const readAsync = promisify(readCallback);

interface Segment {
  readonly number: number;
  readonly path: string;
  readonly fd: number;
  size: number;
  /** Records in this segment that are still needed (pending deliveries). */
  holds: number;
  /** Written since its last fdatasync began. */
  dirty: boolean;
  /** A write or fdatasync failed: no new record goes here (after a failed fsync the kernel may
   *  have dropped the dirty pages, so later fsyncs of this file prove nothing). */
  broken: boolean;
  /** fdatasync or reads running on its fd: it is closed only once they are over. */
  busy: number;
  unlinked: boolean;
}

/** A record that cannot be read back as written: set it aside rather than retry it. */
export class JournalDamageError extends Error {}

interface QueuedWrite {
  readonly segment: Segment;
  readonly start: number;
  readonly chunks: readonly Uint8Array[];
}

/** Consecutive writes to one segment (a round spans two only when a segment was cut in it). */
function batchesBySegment(writes: QueuedWrite[]): QueuedWrite[][] {
  const batches: QueuedWrite[][] = [];
  for (const write of writes) {
    const last = batches.at(-1);
    if (last && last[0].segment === write.segment) {
      last.push(write);
    } else {
      batches.push([write]);
    }
  }
  return batches;
}

/** `chunks` without their first `skip` bytes (after a short write). */
function remainingChunks(chunks: readonly Uint8Array[], skip: number): Uint8Array[] {
  const rest: Uint8Array[] = [];
  for (const chunk of chunks) {
    if (skip >= chunk.length) {
      skip -= chunk.length;
      continue;
    }
    rest.push(skip > 0 ? chunk.subarray(skip) : chunk);
    skip = 0;
  }
  return rest;
}

function isErrno(error: unknown, code: string): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === code;
}

/** `{...meta,"len":…,"crc":…}\n` (later keys win), without a copy of `meta` per record. */
function headerLine(meta: Record<string, unknown>, len: number, crc: number): string {
  const fields = JSON.stringify(meta);
  return `${fields === '{}' ? '{' : `${fields.slice(0, -1)},`}"len":${len},"crc":${crc}}\n`;
}

function segmentName(number: number): string {
  return `${String(number).padStart(8, '0')}.log`;
}

/**
 * An append-only, segmented log of records, each a JSON header line and an opaque payload:
 *
 *     {"id":"…",…,"len":25000,"crc":123456}\n<25000 payload bytes>\n
 *
 * append() places a record (its offset is known at once) and queues it; durable() waits for the
 * round that writes everything queued in one writev and then fdatasyncs it, shared by every
 * caller meanwhile (group commit). Rounds run one after the other, both steps in libuv's thread
 * pool, so the event loop pays one hand-off per round rather than a copy into the page cache per
 * record. This is what lets the webhook acknowledge thousands of deliveries a second: a new file
 * per delivery costs the filesystem far more (an inode and a directory entry, then syncing both)
 * than appending to one file whose metadata barely changes.
 *
 * The caller counts which records it still needs with hold()/release(); a segment that is no
 * longer the one being appended to and holds nothing is deleted. Records are never rewritten: a
 * crash can only leave a torn record at the end of the last segment, which was never reported
 * durable, and replay drops it. The length and CRC-32 in each header make any other damage
 * visible instead of silently read.
 */
export class Journal {
  private readonly segments = new Map<number, Segment>();
  private active?: Segment;
  private nextNumber = 1;
  private directoryDirty = false;
  private directoryReady = false;
  /** While replay runs, a segment's holds can drop to 0 and rise again: nothing is deleted. */
  private replaying = false;
  private readonly segmentBytes: number;
  /** Records placed but not yet written, in offset order per segment. */
  private queuedWrites: QueuedWrite[] = [];
  /** Callers of durable() that no round has started to cover yet. */
  private waiters: Array<{ resolve: () => void; reject: (error: unknown) => void }> = [];
  private roundsInFlight = 0;
  /** Settles when every write handed to a round so far is done. */
  private writesDone: Promise<void> = Promise.resolve();
  /** The round started last: its own outcome, and whether it is over. */
  private lastRound?: { readonly own: Promise<void>; settled: boolean };

  constructor(
    readonly dir: string,
    options: JournalOptions = {},
  ) {
    this.segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
  }

  /**
   * Reads every segment on disk, oldest first, calling `onRecord` for each intact record and
   * `onDamage` for what cannot be used. Call once, before the first append: new records go to a
   * new segment. Segments left holding nothing once replay is over are deleted.
   */
  async replay(
    onRecord: (meta: Record<string, unknown>, ref: JournalRef) => void,
    onDamage: (damage: JournalDamage) => void,
  ): Promise<void> {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) {
        return;
      }
      throw error;
    }
    const numbers = names
      .map((name) => SEGMENT_NAME.exec(name)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    for (const number of numbers) {
      const path = join(this.dir, segmentName(number));
      const fd = openSync(path, 'r+');
      const segment: Segment = {
        number,
        path,
        fd,
        size: fstatSync(fd).size,
        holds: 0,
        dirty: false,
        broken: true, // never appended to again: its tail may be torn
        busy: 0,
        unlinked: false,
      };
      this.segments.set(number, segment);
      this.nextNumber = Math.max(this.nextNumber, number + 1);
      this.replaying = true;
      try {
        await this.replaySegment(segment, onRecord, onDamage);
      } finally {
        this.replaying = false;
      }
    }
    for (const segment of [...this.segments.values()]) {
      this.retireIfUnused(segment);
    }
  }

  /**
   * Places one record and returns where its payload will be. Nothing is on disk yet: call
   * durable(), which also reports a failed write. `knownCrc` must be crc32(payload) if given.
   */
  append(meta: Record<string, unknown>, payload: Uint8Array, knownCrc?: number): JournalRef {
    const segment = this.writableSegment();
    // Given when the webhook inspection computed it already over the same bytes.
    const crc = knownCrc ?? crc32(payload);
    const header = Buffer.from(headerLine(meta, payload.length, crc));
    const start = segment.size;
    segment.size += header.length + payload.length + 1;
    this.queuedWrites.push({ segment, start, chunks: [header, payload, NEWLINE] });
    return { segment: segment.number, offset: start + header.length, length: payload.length, crc };
  }

  /**
   * Resolves once every record appended before this call is on disk (written, then fdatasync'ed);
   * rejects if one written in the same round could not be.
   */
  durable(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.startRound();
    });
  }

  /**
   * Starts rounds while callers wait, up to MAX_ROUNDS_IN_FLIGHT at once. Writes stay in order
   * (a round writes only once the previous round's writes are done, so a crash can only tear the
   * end of a segment); fdatasyncs overlap, so a caller arriving while one runs waits for about one
   * flush rather than the rest of that one and then its own. A round whose predecessor was still
   * running when it began also fails if that one's own I/O failed: after a failed fsync, a
   * concurrent one on the same file proves nothing.
   */
  private startRound(): void {
    while (this.waiters.length > 0 && this.roundsInFlight < MAX_ROUNDS_IN_FLIGHT) {
      const waiters = this.waiters;
      const writes = this.queuedWrites;
      this.waiters = [];
      this.queuedWrites = [];
      this.roundsInFlight += 1;
      const written = this.writesDone.then(() => this.writeAll(writes));
      this.writesDone = written.then(() => undefined);
      const own = written.then(async (failure) => {
        await this.syncDirty();
        if (failure !== undefined) {
          throw failure;
        }
      });
      const overlapping =
        this.lastRound && !this.lastRound.settled ? this.lastRound.own : undefined;
      const round = { own, settled: false };
      this.lastRound = round;
      const finished = (): void => {
        round.settled = true;
        this.roundsInFlight -= 1;
        this.startRound();
      };
      own.then(finished, finished);
      (overlapping ? Promise.all([own, overlapping]) : own).then(
        () => {
          for (const waiter of waiters) {
            waiter.resolve();
          }
        },
        (error: unknown) => {
          for (const waiter of waiters) {
            waiter.reject(error);
          }
        },
      );
    }
  }

  /** Writes queued records; the first failure, if any (the records after it are not written). */
  private async writeAll(writes: QueuedWrite[]): Promise<Error | undefined> {
    let failure: Error | undefined;
    for (const batch of batchesBySegment(writes)) {
      const segment = batch[0].segment;
      if (segment.broken) {
        // An earlier write to it failed: its tail is unusable, and these records were placed after.
        failure ??= new Error(`journal segment ${segment.path} is unusable after a failed write`);
        continue;
      }
      segment.busy += 1;
      try {
        await this.writeBatch(segment, batch);
        segment.dirty = true;
      } catch (error) {
        segment.broken = true;
        failure ??= error instanceof Error ? error : new Error(String(error));
      } finally {
        segment.busy -= 1;
        this.closeIfDone(segment);
      }
    }
    return failure;
  }

  private async writeBatch(segment: Segment, batch: QueuedWrite[]): Promise<void> {
    const start = batch[0].start;
    const chunks = batch.flatMap((write) => write.chunks);
    const total = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
    let written = 0;
    try {
      while (written < total) {
        const { bytesWritten } = await writevAsync(
          segment.fd,
          remainingChunks(chunks, written),
          start + written,
        );
        if (bytesWritten === 0) {
          const full: NodeJS.ErrnoException = new Error(`no space left for ${segment.path}`);
          full.code = 'ENOSPC';
          throw full;
        }
        written += bytesWritten;
      }
    } catch (error) {
      try {
        ftruncateSync(segment.fd, start);
      } catch {
        // A partial record stays at the end of this segment: replay drops it as a torn tail.
      }
      throw error;
    }
  }

  /**
   * The payload of a record; throws a JournalDamageError if it no longer matches its CRC (unless
   * `verify` is false: what is there, to set aside).
   */
  async read(ref: JournalRef, verify = true): Promise<Buffer> {
    const segment = this.segments.get(ref.segment);
    if (!segment || segment.unlinked) {
      throw new Error(`journal segment ${segmentName(ref.segment)} is gone`);
    }
    const buffer = Buffer.allocUnsafe(ref.length);
    segment.busy += 1;
    try {
      let at = 0;
      while (at < ref.length) {
        const { bytesRead } = await readAsync(
          segment.fd,
          buffer,
          at,
          ref.length - at,
          ref.offset + at,
        );
        if (bytesRead === 0) {
          throw new JournalDamageError(
            `${segment.path} ends inside the record at offset ${ref.offset}`,
          );
        }
        at += bytesRead;
      }
    } finally {
      segment.busy -= 1;
      this.closeIfDone(segment);
    }
    if (verify && crc32(buffer) !== ref.crc) {
      throw new JournalDamageError(
        `the record at offset ${ref.offset} of ${segment.path} is damaged (CRC mismatch)`,
      );
    }
    return buffer;
  }

  /** The caller needs the record at `ref`: its segment is kept. */
  hold(ref: JournalRef): void {
    const segment = this.segments.get(ref.segment);
    if (segment) {
      segment.holds += 1;
    }
  }

  /** The caller no longer needs the record at `ref`. */
  release(ref: JournalRef): void {
    const segment = this.segments.get(ref.segment);
    if (segment) {
      segment.holds -= 1;
      this.retireIfUnused(segment);
    }
  }

  /** Whether segment `number` is still on disk (records in it may be replayed at the next start). */
  isLive(number: number): boolean {
    const segment = this.segments.get(number);
    return segment !== undefined && !segment.unlinked;
  }

  /** Closes every file; the journal is not used again. */
  close(): void {
    for (const segment of this.segments.values()) {
      if (segment.busy === 0) {
        closeSync(segment.fd);
      }
    }
    this.segments.clear();
    this.active = undefined;
  }

  private writableSegment(): Segment {
    const current = this.active;
    if (current && !current.broken && current.size < this.segmentBytes) {
      return current;
    }
    if (!this.directoryReady) {
      mkdirSync(this.dir, { recursive: true });
      this.directoryReady = true;
    }
    const { number, path, fd } = this.createSegmentFile();
    const segment: Segment = {
      number,
      path,
      fd,
      size: 0,
      holds: 0,
      dirty: false,
      broken: false,
      busy: 0,
      unlinked: false,
    };
    this.segments.set(number, segment);
    this.active = segment;
    // The new name must survive a power cut before any record in it is reported durable.
    this.directoryDirty = true;
    if (current) {
      this.retireIfUnused(current);
    }
    return segment;
  }

  /** A new, empty segment file under the next free number. */
  private createSegmentFile(): { number: number; path: string; fd: number } {
    for (;;) {
      const number = this.nextNumber++;
      const path = join(this.dir, segmentName(number));
      try {
        // Not O_APPEND: records are written at the offsets append() gave them.
        return { number, path, fd: openSync(path, 'wx+', 0o600) };
      } catch (error) {
        if (isErrno(error, 'ENOENT')) {
          mkdirSync(this.dir, { recursive: true }); // removed by hand since
          this.nextNumber = number;
        } else if (!isErrno(error, 'EEXIST')) {
          throw error;
        }
        // EEXIST: a file this process did not replay (another process on the same state
        // directory, which is not supported); never write into it.
      }
    }
  }

  private async syncDirty(): Promise<void> {
    const dirty = [...this.segments.values()].filter((segment) => segment.dirty);
    const syncDirectory = this.directoryDirty;
    this.directoryDirty = false;
    for (const segment of dirty) {
      segment.dirty = false;
      segment.busy += 1;
    }
    try {
      await Promise.all([
        ...dirty.map((segment) =>
          fdatasyncAsync(segment.fd).catch((error: unknown) => {
            segment.broken = true;
            throw error;
          }),
        ),
        syncDirectory ? this.syncDirectory() : undefined,
      ]);
    } catch (error) {
      if (syncDirectory) {
        this.directoryDirty = true;
      }
      throw error;
    } finally {
      for (const segment of dirty) {
        segment.busy -= 1;
        this.closeIfDone(segment);
      }
    }
  }

  private async syncDirectory(): Promise<void> {
    const fd = openSync(this.dir, 'r');
    try {
      await fsyncAsync(fd);
    } catch (error) {
      // Some network filesystems refuse fsync on a directory; their creates are synchronous.
      if (!isErrno(error, 'EINVAL') && !isErrno(error, 'EISDIR') && !isErrno(error, 'ENOTSUP')) {
        throw error;
      }
    } finally {
      closeSync(fd);
    }
  }

  private retireIfUnused(segment: Segment): void {
    if (this.replaying || segment === this.active || segment.holds > 0 || segment.unlinked) {
      return;
    }
    try {
      unlinkSync(segment.path);
    } catch (error) {
      if (!isErrno(error, 'ENOENT')) {
        // Kept on disk: replay at the next start finds nothing in it to hold, and deletes it then.
        return;
      }
    }
    segment.unlinked = true;
    this.closeIfDone(segment);
  }

  private closeIfDone(segment: Segment): void {
    if (segment.unlinked && segment.busy === 0 && this.segments.get(segment.number) === segment) {
      this.segments.delete(segment.number);
      closeSync(segment.fd);
    }
  }

  private async replaySegment(
    segment: Segment,
    onRecord: (meta: Record<string, unknown>, ref: JournalRef) => void,
    onDamage: (damage: JournalDamage) => void,
  ): Promise<void> {
    const reader = new PositionalReader(segment.fd, segment.size);
    let offset = 0;
    let records = 0;
    while (offset < segment.size) {
      if (++records % RECORDS_PER_YIELD === 0) {
        await new Promise((resolve) => setImmediate(resolve));
      }
      const headerEnd = reader.indexOfNewline(offset, MAX_HEADER_BYTES);
      if (headerEnd < 0) {
        if (segment.size - offset < MAX_HEADER_BYTES) {
          onDamage({ ...this.damage(segment, reader, offset, 'record cut short'), torn: true });
          return;
        }
        onDamage(this.damage(segment, reader, offset, 'no record header where one should start'));
        return;
      }
      let meta: Record<string, unknown>;
      try {
        meta = JSON.parse(reader.slice(offset, headerEnd - offset).toString('utf8')) as Record<
          string,
          unknown
        >;
      } catch {
        onDamage(this.damage(segment, reader, offset, 'unreadable record header'));
        return;
      }
      const { len, crc } = meta;
      if (
        typeof len !== 'number' ||
        typeof crc !== 'number' ||
        !Number.isSafeInteger(len) ||
        len < 0
      ) {
        onDamage(this.damage(segment, reader, offset, 'record header without a valid len and crc'));
        return;
      }
      const payloadStart = headerEnd + 1;
      const next = payloadStart + len + 1;
      if (next > segment.size) {
        onDamage({ ...this.damage(segment, reader, offset, 'record cut short'), meta, torn: true });
        return;
      }
      if (reader.byteAt(next - 1) !== 0x0a) {
        onDamage(
          this.damage(segment, reader, offset, 'record not terminated where its length says'),
        );
        return;
      }
      const payload = reader.slice(payloadStart, len);
      delete meta.len;
      delete meta.crc;
      if (crc32(payload) !== crc) {
        onDamage({
          path: segment.path,
          offset,
          reason: 'payload does not match its CRC',
          bytes: Buffer.from(payload),
          meta,
        });
      } else {
        onRecord(meta, { segment: segment.number, offset: payloadStart, length: len, crc });
      }
      offset = next;
    }
  }

  private damage(
    segment: Segment,
    reader: PositionalReader,
    offset: number,
    reason: string,
  ): JournalDamage {
    return {
      path: segment.path,
      offset,
      reason,
      bytes: Buffer.from(reader.slice(offset, segment.size - offset)),
    };
  }
}

/** Reads a file front to back through one growing buffer, so replay makes few system calls. */
class PositionalReader {
  private buffer = Buffer.alloc(0);
  /** File offset of buffer[0]. */
  private start = 0;
  private filled = 0;

  constructor(
    private readonly fd: number,
    private readonly size: number,
  ) {}

  /** Offset of the first newline in [from, from + limit), or -1. */
  indexOfNewline(from: number, limit: number): number {
    const end = Math.min(this.size, from + limit);
    this.ensure(from, end - from);
    const at = this.buffer.subarray(from - this.start, end - this.start).indexOf(0x0a);
    return at < 0 ? -1 : from + at;
  }

  byteAt(offset: number): number {
    this.ensure(offset, 1);
    return this.buffer[offset - this.start];
  }

  /** A view of [offset, offset + length): valid until the next call. */
  slice(offset: number, length: number): Buffer {
    this.ensure(offset, length);
    return this.buffer.subarray(offset - this.start, offset - this.start + length);
  }

  private ensure(offset: number, length: number): void {
    if (offset >= this.start && offset + length <= this.start + this.filled) {
      return;
    }
    // Read ahead: most records are far smaller than a megabyte.
    const want = Math.min(this.size - offset, Math.max(length, 1024 * 1024));
    if (this.buffer.length < want) {
      this.buffer = Buffer.allocUnsafe(want);
    }
    let filled = 0;
    while (filled < want) {
      const n = readSync(this.fd, this.buffer, filled, want - filled, offset + filled);
      if (n === 0) {
        break;
      }
      filled += n;
    }
    this.start = offset;
    this.filled = filled;
  }
}
