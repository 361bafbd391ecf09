import {
  closeSync,
  existsSync,
  fsync,
  mkdirSync,
  open as openCallback,
  openSync,
  renameSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { writeFileAtomic } from '../common/atomic-file.js';
import { errorMessage } from './error-message.js';

/** X-GitHub-Delivery values we accept: the id becomes a file name, so nothing that could escape. */
export const DELIVERY_ID_PATTERN = /^[A-Za-z0-9-]{1,100}$/;

/**
 * How long a processed delivery id is remembered. GitHub lets an operator redeliver a webhook for
 * 3 days (https://docs.github.com/en/webhooks/testing-and-troubleshooting-webhooks/redelivering-webhooks);
 * a much longer window costs one empty file per delivery and guards against late replays.
 */
export const DONE_RETENTION_DAYS = 30;

/** A pending file must be at least this much older than the process to count as a leftover. */
const LEFTOVER_MARGIN_MS = 2_000;

/** A tombstone bigger than this still holds the payload of a markDone() cut short by a crash. */
const TOMBSTONE_MAX_BYTES = 1024;

export interface NewDelivery {
  /** X-GitHub-Delivery; must match DELIVERY_ID_PATTERN. */
  readonly id: string;
  /** X-GitHub-Event, e.g. `pull_request`. */
  readonly event: string;
  /** payload.action, when the event has one. */
  readonly action?: string;
  readonly payload: Record<string, unknown>;
  /**
   * The JSON text `payload` was parsed from, when the caller has it (the webhook body). Stored
   * byte for byte instead of serialising `payload` again: that is 25 KB of work per request saved.
   * Must be exactly the text that parsed to `payload`.
   */
  readonly payloadJson?: string | Uint8Array;
  readonly receivedAt: Date;
}

export interface InboxEntry {
  readonly id: string;
  readonly event: string;
  readonly action?: string;
  readonly payload: Record<string, unknown>;
  /** ISO 8601 time the request arrived. */
  readonly receivedAt: string;
  /** Arrival order: increases with every accept(), also across restarts (microseconds of the clock). */
  readonly sequence: number;
}

/**
 * Who is told about stored deliveries as they are stored (the EventDispatcher), so nothing has to
 * list the inbox directory per request.
 */
export interface AcceptObserver {
  /** `entry` is durable; called before accept() resolves. Must not throw or wait. */
  accepted(entry: InboxEntry): void;
  /** An accept() finished, whatever its outcome (stored, duplicate or error). */
  settled(): void;
}

/**
 * Small durable key/value memory for one delivery, so a handler that crashed half-way (say, after
 * submitting two of three jobs) can skip what it already did when the delivery is resumed.
 * Values must be JSON-serialisable. Kept while the delivery is pending or failed; removed when it
 * is marked done.
 */
export interface DeliveryProgress {
  get<T = unknown>(key: string): Promise<T | undefined>;
  /** Durable when the promise resolves (atomic rewrite of the whole record). */
  set(key: string, value: unknown): Promise<void>;
}

export interface InboxCounts {
  readonly pending: number;
  readonly failed: number;
  readonly done: number;
}

function isErrno(error: unknown, code: string): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === code;
}

/** Names in `dir`, or none if it does not exist yet (nothing has been written there). */
async function listNames(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((name) => !name.startsWith('.'));
  } catch (error) {
    if (isErrno(error, 'ENOENT')) {
      return [];
    }
    throw error;
  }
}

const fsyncAsync = promisify(fsync);
const openAsync = promisify(openCallback);

/*
 * Which calls go through libuv's thread pool: those that may wait for the device (fsync,
 * creating a file, freeing blocks). The others (existence checks, write into the page cache,
 * rename, close) are synchronous: on a local disk each takes a few microseconds, while a round
 * trip through the pool costs ~50-80 µs of main-thread CPU on the 2-core bench machine. On a
 * network filesystem a synchronous call waits for a server round trip (typically < 1 ms).
 */

/** Makes a new directory entry survive a power cut; best effort where the filesystem refuses. */
async function syncDir(dir: string): Promise<void> {
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch {
    return;
  }
  try {
    await fsyncAsync(fd);
  } catch {
    // Some network filesystems reject fsync on directories; their rename/link are synchronous.
  } finally {
    closeSync(fd);
  }
}

/**
 * fsyncs of one directory, shared by everyone waiting for one: a burst of deliveries costs a few
 * directory flushes, not one each.
 */
class DirectorySync {
  private running: Promise<void> = Promise.resolve();
  private queued?: Promise<void>;

  constructor(private readonly dir: string) {}

  /** Resolves after an fsync of the directory that began after this call. */
  sync(): Promise<void> {
    // The fsync running now may have begun before the caller's entry existed: wait for the next.
    this.queued ??= this.running.then(() => {
      this.queued = undefined;
      this.running = syncDir(this.dir);
      return this.running;
    });
    return this.queued;
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone, or the directory is unusable: the caller reports the original error.
  }
}

function writeAllSync(fd: number, data: Uint8Array): void {
  for (let at = 0; at < data.length;) {
    at += writeSync(fd, data, at, data.length - at);
  }
}

const PAYLOAD_FIELD = Buffer.from(',"payload":');
const CLOSE_BRACE = Buffer.from('}');

/** The pending file's content: the entry as one JSON object, with the payload's text as sent. */
function encodeEntry(entry: InboxEntry, payloadJson: string | Uint8Array | undefined): Buffer {
  if (payloadJson === undefined) {
    return Buffer.from(JSON.stringify(entry));
  }
  const { payload: _payload, ...meta } = entry;
  const head = JSON.stringify(meta);
  // `{...meta` + `,"payload":` + payload + `}`: still one JSON document, so failed/ files stay
  // readable with any JSON tool and an operator can move them back as they are.
  return Buffer.concat([
    Buffer.from(head.slice(0, -1)),
    PAYLOAD_FIELD,
    typeof payloadJson === 'string' ? Buffer.from(payloadJson) : payloadJson,
    CLOSE_BRACE,
  ]);
}

/**
 * Durable record of webhook deliveries, one file per X-GitHub-Delivery, so that nothing GitHub was
 * told "accepted" is lost by a crash, and nothing is processed twice when GitHub (or an operator)
 * redelivers it.
 *
 * Layout under `<stateDir>/inbox/`:
 * - `pending/<id>.json`: accepted, not yet processed (the full InboxEntry, one JSON document).
 * - `done/<id>`: tombstone of a processed delivery (empty; its mtime is when it was done), pruned
 *   after DONE_RETENTION_DAYS at start-up. Tombstones of older versions hold `{"doneAt": …}`.
 * - `failed/<id>.json`: the InboxEntry plus `error` and `failedAt`. To retry one, move it back to
 *   `pending/<id>.json` and restart; to drop it, delete it.
 * - `failed/<id>.unreadable.json`: a pending file that is not valid JSON, moved aside (it does not
 *   make a redelivery of `<id>` a duplicate). Fix it and move it back to `pending/<id>.json`, or
 *   delete it.
 * - `tmp/`: written by older versions only; emptied at start-up.
 * Per-delivery progress lives in `<stateDir>/progress/<id>.json`.
 *
 * accept() creates `pending/<id>.json` exclusively (O_EXCL), so two identical deliveries racing
 * each other produce one 'accepted', writes it, fsyncs it and its directory, and only then answers.
 * Writing under the final name, rather than a temporary file link()ed into place, saves two
 * metadata operations and lets the file's fsync and its directory's run at the same time instead
 * of one after the other, at the price of a name that exists before its content is complete: this
 * process never reads such a file (accept() holds the id's lock while writing, and readers that
 * meet an unparsable file re-read it under that lock), and a crash can leave one only for a
 * delivery that was never acknowledged. Such a leftover is not valid JSON (no proper prefix of
 * the document is, nor are unwritten blocks), so parsing tells it apart, and it is moved aside
 * without blocking GitHub's redelivery.
 *
 * Every state change leaves the delivery in at least one state at every instant, so after a crash
 * start-up settles those found in two. Concurrent calls for one id are serialised in memory. One
 * bot process owns a state directory; two processes sharing one are not supported.
 *
 * The request path costs one new file: no directory is listed per delivery. Stored deliveries are
 * announced to the AcceptObserver instead, and only start-up (or EventDispatcher.drain) lists
 * `pending/`.
 */
@Injectable()
export class Inbox implements OnModuleDestroy {
  private readonly logger = new Logger(Inbox.name);
  readonly dir: string;
  private readonly pendingDir: string;
  private readonly doneDir: string;
  private readonly failedDir: string;
  private readonly tmpDir: string;
  private readonly progressDir: string;
  private readonly pendingDirSync: DirectorySync;
  private readonly locks = new Map<string, Promise<unknown>>();
  /** Sequences of accept() calls not finished yet; a Set keeps them in increasing order. */
  private readonly acceptsInFlight = new Set<number>();
  private observer?: AcceptObserver;
  /** Pending files older than this, and unparsable, were left half-written by an earlier process. */
  private readonly startedAtMs = Date.now();
  private lastSequence = 0;
  private recovery?: Promise<void>;
  private writeDirsReady = false;
  private isClosed = false;

  constructor(@Inject(APP_CONFIG) config: Pick<AppConfig, 'eventHandler'>) {
    this.dir = join(config.eventHandler.stateDir, 'inbox');
    this.pendingDir = join(this.dir, 'pending');
    this.doneDir = join(this.dir, 'done');
    this.failedDir = join(this.dir, 'failed');
    this.tmpDir = join(this.dir, 'tmp');
    this.progressDir = join(config.eventHandler.stateDir, 'progress');
    this.pendingDirSync = new DirectorySync(this.pendingDir);
  }

  /** True once the app is shutting down: the webhook then answers 503 so GitHub shows a failure. */
  get closed(): boolean {
    return this.isClosed;
  }

  close(): void {
    this.isClosed = true;
  }

  onModuleDestroy(): void {
    this.close();
  }

  /** Announces every delivery accept() stores from now on to `observer` (one observer: the last). */
  observe(observer: AcceptObserver): void {
    this.observer = observer;
  }

  /**
   * Sequence of the oldest accept() still running, if any. A delivery with a higher sequence may
   * be stored before it (a slower disk write), so work that must follow arrival order waits.
   */
  oldestAcceptInFlight(): number | undefined {
    for (const sequence of this.acceptsInFlight) {
      return sequence;
    }
    return undefined;
  }

  /**
   * Stores a delivery durably. 'accepted' only once the file and its name are on disk; 'duplicate'
   * if this id is pending, failed, or was processed within DONE_RETENTION_DAYS.
   */
  async accept(delivery: NewDelivery): Promise<'accepted' | 'duplicate'> {
    const id = this.checkId(delivery.id);
    // Taken before any await so that the order of calls is the order of arrival.
    const sequence = this.nextSequence();
    this.acceptsInFlight.add(sequence);
    try {
      await this.recover();
      return await this.withLock(id, () => this.store(id, sequence, delivery));
    } finally {
      this.acceptsInFlight.delete(sequence);
      this.tellObserver((observer) => observer.settled());
    }
  }

  /** Deliveries accepted and not yet done or failed, oldest first. */
  async pending(): Promise<InboxEntry[]> {
    const entries: InboxEntry[] = [];
    for await (const entry of this.scanPending()) {
      entries.push(entry);
    }
    return entries.sort((a, b) => a.sequence - b.sequence || a.id.localeCompare(b.id));
  }

  /**
   * Pending deliveries one at a time, in directory order, so that a caller keeping only what it
   * needs of each never holds every payload at once. Ids for which `skip` returns true (checked
   * just before each file is read) are not read at all.
   */
  async *scanPending(skip?: (id: string) => boolean): AsyncGenerator<InboxEntry> {
    await this.recover();
    for (const name of await listNames(this.pendingDir)) {
      if (!name.endsWith('.json') || skip?.(name.slice(0, -'.json'.length))) {
        continue;
      }
      const entry = await this.readPendingFile(name);
      if (entry) {
        yield entry;
      }
    }
  }

  /** The pending delivery `id`, or undefined if it is not pending (done, failed, unreadable). */
  async read(id: string): Promise<InboxEntry | undefined> {
    return this.readPendingFile(`${this.checkId(id)}.json`);
  }

  /**
   * The delivery's work is durable: keep only a tombstone so a redelivery stays a duplicate.
   *
   * One rename() turns the pending file into the tombstone, so the delivery is never in two states
   * or none; its payload is then dropped. Nothing here is fsync'ed, on purpose: a process crash
   * loses nothing (the kernel has the change), and a power cut can only undo it, which leaves the
   * delivery pending (run again at the next start, as for a crash inside the handler, which
   * handlers must already tolerate) or forgets the tombstone (a redelivery of this id within the
   * retention window would then be accepted and run again: same tolerance). Nothing acknowledged
   * can be lost this way, and an fsync here would cost the webhook path a disk flush per delivery.
   */
  async markDone(id: string): Promise<void> {
    this.checkId(id);
    await this.withLock(id, async () => {
      this.ensureWriteDirs();
      const tombstone = this.donePath(id);
      if (this.moveToDone(id)) {
        // Through the thread pool: freeing the payload's blocks can wait for the device (a
        // filesystem mounted with `discard` trims them there and then), and must not stall the
        // event loop that answers webhooks.
        await truncate(tombstone, 0);
      } else {
        // Not pending (resumed from a failed/ copy, or removed by hand): still remember the id.
        writeFileSync(tombstone, '');
      }
      const progress = this.progressPath(id);
      if (existsSync(progress)) {
        unlinkSync(progress);
      }
    });
  }

  /** The handler gave up: keep the delivery with the reason, out of the pending queue. */
  async markFailed(id: string, error: unknown): Promise<void> {
    this.checkId(id);
    await this.withLock(id, async () => {
      let entry: Partial<InboxEntry> = { id };
      try {
        entry = JSON.parse(await readFile(this.pendingPath(id), 'utf8')) as InboxEntry;
      } catch (readError) {
        if (!isErrno(readError, 'ENOENT')) {
          this.logger.warn(`delivery ${id}: pending file unreadable (${errorMessage(readError)})`);
        }
      }
      const record = { ...entry, error: errorMessage(error), failedAt: new Date().toISOString() };
      await writeFileAtomic(this.failedPath(id), JSON.stringify(record));
      await rm(this.pendingPath(id), { force: true });
    });
  }

  async counts(): Promise<InboxCounts> {
    const [pending, failed, done] = await Promise.all([
      listNames(this.pendingDir),
      listNames(this.failedDir),
      listNames(this.doneDir),
    ]);
    return {
      pending: pending.filter((n) => n.endsWith('.json')).length,
      failed: failed.filter((n) => n.endsWith('.json')).length,
      done: done.length,
    };
  }

  /** Whether a delivery could be stored right now (a real write, so it also catches full disks). */
  async isWritable(): Promise<boolean> {
    try {
      await writeFileAtomic(join(this.dir, '.write-probe'), new Date().toISOString());
      return true;
    } catch (error) {
      this.logger.error(
        `state directory ${this.dir} is not writable (${errorMessage(error)}): ` +
          'check event_handler state_dir in app.cfg, its permissions and free space',
      );
      return false;
    }
  }

  /** Resumable progress of one delivery; see DeliveryProgress. */
  progress(id: string): DeliveryProgress {
    this.checkId(id);
    const path = this.progressPath(id);
    const read = async (): Promise<Record<string, unknown>> => {
      try {
        return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
      } catch (error) {
        if (isErrno(error, 'ENOENT')) {
          return {};
        }
        throw new Error(`progress file ${path} is unreadable: ${errorMessage(error)}`, {
          cause: error,
        });
      }
    };
    return {
      get: async <T>(key: string) => (await read())[key] as T | undefined,
      set: (key, value) =>
        this.withLock(`progress:${id}`, async () => {
          const record = await read();
          record[key] = value;
          await writeFileAtomic(path, JSON.stringify(record));
        }),
    };
  }

  private async store(
    id: string,
    sequence: number,
    delivery: NewDelivery,
  ): Promise<'accepted' | 'duplicate'> {
    if (existsSync(this.donePath(id)) || existsSync(this.failedPath(id))) {
      return 'duplicate';
    }
    const entry: InboxEntry = {
      id,
      event: delivery.event,
      ...(delivery.action === undefined ? {} : { action: delivery.action }),
      payload: delivery.payload,
      receivedAt: delivery.receivedAt.toISOString(),
      sequence,
    };
    const path = this.pendingPath(id);
    const fd = await this.claim(id);
    if (fd === undefined) {
      return 'duplicate';
    }
    try {
      writeAllSync(fd, encodeEntry(entry, delivery.payloadJson));
      // The answer to GitHub waits for both: only then do the content and the name survive a
      // power cut. In parallel: the name exists already, so its fsync need not wait for the file's.
      await Promise.all([fsyncAsync(fd), this.pendingDirSync.sync()]);
    } catch (error) {
      // Not acknowledged: give the name back, so that a redelivery can be stored.
      closeSync(fd);
      unlinkQuietly(path);
      throw error;
    }
    closeSync(fd);
    this.tellObserver((observer) => observer.accepted(entry));
    return 'accepted';
  }

  /** Creates `pending/<id>.json` for writing; undefined if it is a duplicate. */
  private async claim(id: string): Promise<number | undefined> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await this.createExclusive(this.pendingPath(id));
      } catch (error) {
        if (!isErrno(error, 'EEXIST')) {
          throw error;
        }
        if (attempt > 0 || !(await this.setAsideLeftover(id))) {
          return undefined;
        }
      }
    }
  }

  /** Creates `path` only if no such name exists, making the inbox directories if needed. */
  private async createExclusive(path: string): Promise<number> {
    this.ensureWriteDirs();
    try {
      return await openAsync(path, 'wx', 0o644);
    } catch (error) {
      if (!isErrno(error, 'ENOENT')) {
        throw error;
      }
      // Directories removed by hand since they were made.
      this.writeDirsReady = false;
      this.ensureWriteDirs();
      return openAsync(path, 'wx', 0o644);
    }
  }

  /**
   * accept() found `pending/<id>.json` already there. True if that file was a half-written
   * leftover of an earlier process (now moved aside) or has just gone, so the new copy can be
   * stored; false if it is a real duplicate. Called with the id's lock held.
   */
  private async setAsideLeftover(id: string): Promise<boolean> {
    const path = this.pendingPath(id);
    try {
      // Written around or after this process's start: by this process (complete, since the lock
      // is held) or by another one maybe still writing it; either way not a leftover. The margin
      // covers file timestamps, which lag the clock by a few milliseconds.
      if ((await stat(path)).mtimeMs >= this.startedAtMs - LEFTOVER_MARGIN_MS) {
        return false;
      }
      JSON.parse(await readFile(path, 'utf8'));
      return false;
    } catch (error) {
      if (isErrno(error, 'ENOENT')) {
        return true;
      }
      if ((error as Error | undefined)?.name !== 'SyntaxError') {
        throw error;
      }
      await this.quarantine(`${id}.json`, error);
      return !existsSync(path);
    }
  }

  /** mkdir once per process rather than once per delivery. */
  private ensureWriteDirs(): void {
    if (!this.writeDirsReady) {
      for (const dir of [this.pendingDir, this.doneDir]) {
        mkdirSync(dir, { recursive: true });
      }
      this.writeDirsReady = true;
    }
  }

  /** True if pending/<id>.json became done/<id>; false if there was no pending file. */
  private moveToDone(id: string): boolean {
    try {
      renameSync(this.pendingPath(id), this.donePath(id));
      return true;
    } catch (error) {
      if (!isErrno(error, 'ENOENT')) {
        throw error;
      }
      // No pending file, or done/ removed by hand since start-up: tell them apart.
      mkdirSync(this.doneDir, { recursive: true });
      if (!existsSync(this.pendingPath(id))) {
        return false;
      }
      renameSync(this.pendingPath(id), this.donePath(id));
      return true;
    }
  }

  private async readPendingFile(name: string): Promise<InboxEntry | undefined> {
    try {
      return await this.parsePendingFile(name);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) {
        return undefined; // settled since it was listed
      }
    }
    // Maybe caught while accept() was writing it: once that accept() is over, look again.
    return this.withLock(name.slice(0, -'.json'.length), async () => {
      try {
        return await this.parsePendingFile(name);
      } catch (error) {
        if (!isErrno(error, 'ENOENT')) {
          await this.quarantine(name, error);
        }
        return undefined;
      }
    });
  }

  private async parsePendingFile(name: string): Promise<InboxEntry> {
    const entry = JSON.parse(await readFile(join(this.pendingDir, name), 'utf8')) as InboxEntry;
    if (typeof entry?.id !== 'string' || `${entry.id}.json` !== name) {
      throw new Error(`its "id" field does not match the file name`);
    }
    return entry;
  }

  private tellObserver(call: (observer: AcceptObserver) => void): void {
    if (!this.observer) {
      return;
    }
    try {
      call(this.observer);
    } catch (error) {
      // The delivery is stored either way; a start-up or drain() scan still finds it.
      this.logger.error(`inbox observer failed: ${errorMessage(error)}`);
    }
  }

  private checkId(id: string): string {
    if (!DELIVERY_ID_PATTERN.test(id)) {
      throw new Error(`invalid delivery id ${JSON.stringify(id)}: expected ${DELIVERY_ID_PATTERN}`);
    }
    return id;
  }

  private nextSequence(): number {
    // Clock-based so that order survives restarts; +1 keeps it strictly increasing within a process.
    this.lastSequence = Math.max(Date.now() * 1000, this.lastSequence + 1);
    return this.lastSequence;
  }

  private pendingPath(id: string): string {
    return join(this.pendingDir, `${id}.json`);
  }

  private donePath(id: string): string {
    return join(this.doneDir, id);
  }

  private failedPath(id: string): string {
    return join(this.failedDir, `${id}.json`);
  }

  private progressPath(id: string): string {
    return join(this.progressDir, `${id}.json`);
  }

  private async withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(key) ?? Promise.resolve();
    const run = previous.then(fn);
    const tail = run.catch(() => undefined);
    this.locks.set(key, tail);
    try {
      return await run;
    } finally {
      if (this.locks.get(key) === tail) {
        this.locks.delete(key);
      }
    }
  }

  /**
   * A pending file that cannot be parsed would never finish: make it visible. Its new name does
   * not make a redelivery a duplicate: if it was never acknowledged (cut short by a crash) or was
   * damaged since, GitHub's copy is the one to keep.
   */
  private async quarantine(name: string, error: unknown): Promise<void> {
    const from = join(this.pendingDir, name);
    const to = join(this.failedDir, name.replace(/\.json$/, '.unreadable.json'));
    this.logger.error(
      `inbox file ${from} is unreadable (${errorMessage(error)}); moved to ${to}: ` +
        `fix it and move it back to ${from}, or delete it`,
    );
    try {
      await mkdir(this.failedDir, { recursive: true });
      await rename(from, to);
    } catch (moveError) {
      this.logger.error(`could not move ${from} to ${to}: ${errorMessage(moveError)}`);
    }
  }

  /** Once per process: finish transitions a crash interrupted and bound the disk use. */
  private recover(): Promise<void> {
    this.recovery ??= this.runRecovery().catch((error: unknown) => {
      // Not fatal: accept() and pending() report their own errors; /health shows an unwritable dir.
      this.logger.error(`inbox start-up cleanup in ${this.dir} failed: ${errorMessage(error)}`);
    });
    return this.recovery;
  }

  private async runRecovery(): Promise<void> {
    // Temporary files of older versions, never acknowledged.
    await rm(this.tmpDir, { recursive: true, force: true });
    const done = new Set(await listNames(this.doneDir));
    const failed = new Set(
      (await listNames(this.failedDir))
        .filter((n) => n.endsWith('.json'))
        .map((n) => n.slice(0, -5)),
    );
    for (const name of await listNames(this.pendingDir)) {
      const id = name.endsWith('.json') ? name.slice(0, -5) : name;
      if (done.has(id) || failed.has(id)) {
        await rm(join(this.pendingDir, name), { force: true });
        if (done.has(id)) {
          await rm(this.progressPath(id), { force: true });
        }
      }
    }
    const cutoff = Date.now() - DONE_RETENTION_DAYS * 24 * 3600 * 1000;
    let pruned = 0;
    for (const name of done) {
      const path = join(this.doneDir, name);
      try {
        const { mtimeMs, size } = await stat(path);
        if (mtimeMs < cutoff) {
          await rm(path, { force: true });
          pruned += 1;
        } else if (size > TOMBSTONE_MAX_BYTES) {
          // markDone() was cut between its rename and dropping the payload.
          await truncate(path, 0);
        }
      } catch (error) {
        if (!isErrno(error, 'ENOENT')) {
          throw error;
        }
      }
    }
    if (pruned > 0) {
      this.logger.log(
        `pruned ${pruned} delivery tombstones older than ${DONE_RETENTION_DAYS} days`,
      );
    }
  }
}
