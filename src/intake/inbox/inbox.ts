import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  Inject,
  Injectable,
  Logger,
  OnApplicationShutdown,
  OnModuleDestroy,
  OnModuleInit,
  Optional,
} from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../../config/app-config.js';
import { writeFileAtomic } from '../../common/atomic-file.js';
import { KeyedLock } from '../../common/keyed-lock.js';
import { errorMessage } from '../../github/error-message.js';
import {
  Journal,
  JournalDamageError,
  type JournalDamage,
  type JournalOptions,
  type JournalRef,
} from '../../common/journal/journal.js';
import { ResolvedLog } from '../../common/journal/resolved-log.js';
import { DeliveryProgressStore, type DeliveryProgress } from '../../github/delivery-progress.js';
import { StateDirInUseError, acquireStateLock } from '../../common/state-lock.js';
import { pullRequestNumberOf, repositoryOf } from '../../github/github-events.js';

/** X-GitHub-Delivery values we accept: the id becomes a file name, so nothing that could escape. */
export const DELIVERY_ID_PATTERN = /^[A-Za-z0-9-]{1,100}$/;

/**
 * How long a processed delivery id is remembered. GitHub lets an operator redeliver a webhook for
 * 3 days (https://docs.github.com/en/webhooks/testing-and-troubleshooting-webhooks/redelivering-webhooks);
 * a much longer window costs one empty file per delivery and guards against late replays.
 */
export const DONE_RETENTION_DAYS = 30;

export interface NewDelivery {
  /** X-GitHub-Delivery; must match DELIVERY_ID_PATTERN. */
  readonly id: string;
  /** X-GitHub-Event, e.g. `pull_request`. */
  readonly event: string;
  /** payload.action, when the event has one. */
  readonly action?: string;
  /** The payload; may be left out when `payloadJson` is given (with `repo` and `pr`, if any). */
  readonly payload?: Record<string, unknown>;
  /**
   * The payload's JSON text as received (the webhook body). Stored byte for byte: serialising the
   * payload again would cost 25 KB of work per request. Must parse to a JSON object.
   */
  readonly payloadJson?: string | Uint8Array;
  /** CRC-32 of `payloadJson`'s bytes, when the caller computed it already. */
  readonly payloadCrc?: number;
  /** Routing: `repository.full_name` and the PR or issue number, when `payload` is left out. */
  readonly repo?: string;
  readonly pr?: number;
  readonly receivedAt: Date;
}

/** A delivery as announced to the AcceptObserver: its routing, not its payload. */
export interface AcceptedDelivery extends Omit<InboxEntry, 'payload'> {
  readonly repo?: string;
  readonly pr?: number;
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
  /** `delivery` is durable; called before accept() resolves. Must not throw or wait. */
  accepted(delivery: AcceptedDelivery): void;
  /** An accept() finished, whatever its outcome (stored, duplicate or error). */
  settled(): void;
}

export interface InboxCounts {
  readonly pending: number;
  readonly failed: number;
  readonly done: number;
}

/** Tuning for tests; production uses the defaults. */
export const INBOX_OPTIONS = Symbol('INBOX_OPTIONS');
export type InboxOptions = JournalOptions;

/** The resolved log is rewritten once it holds this many lines and twice its live entries. */
const COMPACT_MIN_LINES = 10_000;
/** Resolved ids past their retention are forgotten at most this often while running. */
const PRUNE_EVERY_MS = 24 * 3600 * 1000;

/** What is kept in memory for a pending delivery: routing and where its payload is. */
interface QueuedRecord {
  readonly event: string;
  readonly action?: string;
  readonly receivedAt: string;
  readonly sequence: number;
  readonly ref: JournalRef;
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

/** The fields of a stored delivery other than its payload, or undefined if they are not valid. */
function metaOf(record: Record<string, unknown>): Omit<InboxEntry, 'payload'> | undefined {
  const { id, event, action, receivedAt, sequence } = record;
  if (
    typeof id !== 'string' ||
    !DELIVERY_ID_PATTERN.test(id) ||
    typeof event !== 'string' ||
    (action !== undefined && typeof action !== 'string') ||
    typeof receivedAt !== 'string' ||
    typeof sequence !== 'number'
  ) {
    return undefined;
  }
  return { id, event, ...(action === undefined ? {} : { action }), receivedAt, sequence };
}

/**
 * Durable record of webhook deliveries, so that nothing GitHub was told "accepted" is lost by a
 * crash, and nothing is processed twice when GitHub (or an operator) redelivers it.
 *
 * Layout under `<stateDir>/inbox/`:
 * - `journal/<n>.log`: every accepted delivery, appended (see Journal): a header line with id,
 *   event, action, receivedAt and sequence, then the payload as GitHub sent it. A segment is
 *   deleted once none of its deliveries is pending.
 * - `resolved.log`: the ids of deliveries done or failed (see ResolvedLog), remembered for
 *   DONE_RETENTION_DAYS so that a redelivery is a duplicate.
 * - `failed/<id>.json`: a delivery whose handler gave up, with `error` and `failedAt`. To retry
 *   it, move it to `pending/<id>.json`; to drop it, delete it.
 * - `failed/<id>.unreadable.json`, `failed/journal-<n>-<offset>.unreadable`: stored bytes that
 *   could not be read back (a damaged file), set aside for an operator to look at. They do not make
 *   a redelivery a duplicate: GitHub's copy is then the one to keep.
 * - `pending/`: a drop box. A file `<id>.json` holding a delivery (as in failed/) is taken into the
 *   journal at start-up and by EventDispatcher.drain(), then deleted. Older versions kept their
 *   queue there, so an upgrade picks it up too; their `done/` tombstones are moved into
 *   resolved.log and their `tmp/` is emptied.
 * Per-delivery progress lives in `<stateDir>/progress/<id>.json`.
 *
 * accept() appends the delivery to the journal and answers once an fdatasync covering it is over;
 * deliveries arriving together share one (group commit). Nothing is created, renamed or listed
 * per delivery: on the 2-core machine the benchmark runs on, creating one file costs more than
 * the rest of a request. Which ids are pending, done or failed is kept in memory, built at
 * start-up from the journal, resolved.log and failed/, so that accept() answers duplicates
 * without touching the disk.
 *
 * A delivery is in one state at every instant: pending while the journal holds its record and
 * resolved.log does not name it; done or failed once resolved.log does (failed: the failed/ file
 * is written first, and a failed/ file is enough at start-up). One bot process owns a state
 * directory: `inbox/lock` (see acquireStateLock) stops a second one from starting on it.
 */
@Injectable()
export class Inbox implements OnModuleInit, OnModuleDestroy, OnApplicationShutdown {
  private readonly logger = new Logger(Inbox.name);
  readonly dir: string;
  private readonly dropBoxDir: string;
  private readonly failedDir: string;
  private readonly legacyDoneDir: string;
  private readonly legacyTmpDir: string;
  private readonly progressStore: DeliveryProgressStore;
  private readonly journal: Journal;
  private readonly resolved: ResolvedLog;
  private readonly queued = new Map<string, QueuedRecord>();
  /** Ids with a failed/<id>.json (as far as this process knows: an operator may delete one). */
  private readonly failedFiles = new Set<string>();
  /** accept() calls still storing, by id: a second delivery of the id waits for the first. */
  private readonly storing = new Map<string, Promise<'accepted' | 'duplicate'>>();
  /** Changes of one delivery's state, one at a time. */
  private readonly locks = new KeyedLock();
  /** Sequences of accept() calls not finished yet; a Set keeps them in increasing order. */
  private readonly acceptsInFlight = new Set<number>();
  private observer?: AcceptObserver;
  private lastSequence = 0;
  private recovery?: Promise<void>;
  private recovered = false;
  private lastPruneAt = Date.now();
  private isClosed = false;
  private releaseLock?: () => void;
  /** Set when run by Nest (a bot process); bare instances in tests share directories freely. */
  private lockRequired = false;

  constructor(
    @Inject(APP_CONFIG) config: Pick<AppConfig, 'eventHandler'>,
    @Optional() @Inject(INBOX_OPTIONS) options: InboxOptions = {},
  ) {
    this.dir = join(config.eventHandler.stateDir, 'inbox');
    this.dropBoxDir = join(this.dir, 'pending');
    this.failedDir = join(this.dir, 'failed');
    this.legacyDoneDir = join(this.dir, 'done');
    this.legacyTmpDir = join(this.dir, 'tmp');
    this.progressStore = new DeliveryProgressStore(join(config.eventHandler.stateDir, 'progress'));
    this.journal = new Journal(join(this.dir, 'journal'), options ?? {});
    this.resolved = new ResolvedLog(join(this.dir, 'resolved.log'));
  }

  /** True once the app is shutting down: the webhook then answers 503 so GitHub shows a failure. */
  get closed(): boolean {
    return this.isClosed;
  }

  close(): void {
    this.isClosed = true;
  }

  /**
   * Fails start-up (StateDirInUseError) if another bot process uses this state directory. A
   * directory that cannot be written yet does not stop the start (/health reports it); the lock
   * is then taken before the inbox is first read.
   */
  onModuleInit(): void {
    this.lockRequired = true;
    try {
      this.takeLock();
    } catch (error) {
      if (error instanceof StateDirInUseError) {
        throw error;
      }
      this.logger.error(`cannot lock the state directory ${this.dir}: ${errorMessage(error)}`);
    }
  }

  private takeLock(): void {
    if (this.lockRequired && !this.releaseLock) {
      this.releaseLock = acquireStateLock(this.dir);
    }
  }

  onModuleDestroy(): void {
    this.close();
  }

  /** After the dispatcher's last handler: the state directory is free for the next process. */
  onApplicationShutdown(): void {
    this.releaseLock?.();
    this.releaseLock = undefined;
  }

  /** Announces every delivery accept() stores from now on to `observer` (one observer: the last). */
  observe(observer: AcceptObserver): void {
    this.observer = observer;
  }

  /**
   * Sequence of the oldest accept() still running, if any. A delivery with a higher sequence may
   * be stored before it (a slower write), so work that must follow arrival order waits.
   */
  oldestAcceptInFlight(): number | undefined {
    for (const sequence of this.acceptsInFlight) {
      return sequence;
    }
    return undefined;
  }

  /**
   * Stores a delivery durably. 'accepted' only once it is on disk; 'duplicate' if this id is
   * pending, failed, or was processed within DONE_RETENTION_DAYS.
   */
  async accept(delivery: NewDelivery): Promise<'accepted' | 'duplicate'> {
    const id = this.checkId(delivery.id);
    if (!this.recovered) {
      // After it, so that sequences continue those replayed; calls waiting here resume in the
      // order they came.
      await this.recover();
    }
    // Taken before any other await so that the order of calls is the order of arrival.
    const sequence = this.nextSequence();
    this.acceptsInFlight.add(sequence);
    try {
      return await this.store(id, sequence, delivery);
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
   * Pending deliveries one at a time, so that a caller keeping only what it needs of each never
   * holds every payload at once; takes in the drop box first. Ids for which `skip` returns true
   * (checked just before each is read) are not read at all.
   */
  async *scanPending(skip?: (id: string) => boolean): AsyncGenerator<InboxEntry> {
    await this.recover();
    await this.takeInDropBox();
    for (const id of [...this.queued.keys()]) {
      if (skip?.(id)) {
        continue;
      }
      const entry = await this.read(id);
      if (entry) {
        yield entry;
      }
    }
  }

  /** The pending delivery `id`, or undefined if it is not pending (done, failed, unreadable). */
  async read(id: string): Promise<InboxEntry | undefined> {
    this.checkId(id);
    await this.recover();
    const record = this.queued.get(id);
    if (!record) {
      return undefined;
    }
    let payload: Record<string, unknown>;
    try {
      payload = await this.readPayload(record.ref);
    } catch (error) {
      if (!(error instanceof JournalDamageError) && !(error instanceof SyntaxError)) {
        throw error;
      }
      await this.locks.run(id, () => this.setAsideDamaged(id, record, error));
      return undefined;
    }
    const { ref: _ref, ...meta } = record;
    return { id, ...meta, payload };
  }

  /**
   * The delivery's work is durable: forget its payload, remember its id so a redelivery stays a
   * duplicate. Nothing is fsync'ed here unless the delivery kept progress (see ResolvedLog): a
   * power cut can only leave it pending, to run again at the next start as after a crash inside
   * its handler, which its progress makes safe.
   */
  async markDone(id: string): Promise<void> {
    this.checkId(id);
    if (!this.recovered) {
      await this.recover();
    }
    await this.locks.run(id, async () => {
      await this.resolve(id, 'done');
      if (this.progressStore.has(id)) {
        // Without its progress, a rerun would start the work over (submit jobs again): the line
        // saying it is done must survive a power cut before the progress is gone.
        await this.resolved.sync();
        this.progressStore.remove(id);
      }
    });
  }

  /** The handler gave up: keep the delivery with the reason, out of the pending queue. */
  async markFailed(id: string, error: unknown): Promise<void> {
    this.checkId(id);
    await this.recover();
    await this.locks.run(id, async () => {
      const record = this.queued.get(id);
      let entry: Partial<InboxEntry> = { id };
      if (record) {
        const { ref, ...meta } = record;
        try {
          entry = { id, ...meta, payload: await this.readPayload(ref) };
        } catch (readError) {
          this.logger.warn(`delivery ${id}: payload unreadable (${errorMessage(readError)})`);
          entry = { id, ...meta };
        }
      }
      const failed = { ...entry, error: errorMessage(error), failedAt: new Date().toISOString() };
      await writeFileAtomic(this.failedPath(id), JSON.stringify(failed));
      this.failedFiles.add(id);
      await this.resolve(id, 'failed');
    });
  }

  async counts(): Promise<InboxCounts> {
    await this.recover();
    return {
      pending: this.queued.size,
      failed: (await listNames(this.failedDir)).length,
      done: this.resolved.counts().done,
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
    return this.progressStore.of(this.checkId(id));
  }

  private async store(
    id: string,
    sequence: number,
    delivery: NewDelivery,
  ): Promise<'accepted' | 'duplicate'> {
    for (;;) {
      const racing = this.storing.get(id);
      if (!racing) {
        break;
      }
      // Stored (or found a duplicate) by the other call: this one is a duplicate. If that one
      // failed, this one may still succeed.
      if (
        await racing.then(
          () => true,
          () => false,
        )
      ) {
        return 'duplicate';
      }
    }
    if (this.isKnown(id)) {
      return 'duplicate';
    }
    const storing = this.write(id, sequence, delivery);
    this.storing.set(id, storing);
    try {
      return await storing;
    } finally {
      if (this.storing.get(id) === storing) {
        this.storing.delete(id);
      }
    }
  }

  private async write(
    id: string,
    sequence: number,
    delivery: NewDelivery,
  ): Promise<'accepted' | 'duplicate'> {
    if (this.resolved.get(id)) {
      // Failed before, and its failed/ file deleted since: replay must not skip this new copy.
      await this.resolved.reopen(id);
    }
    if (delivery.payloadJson === undefined && delivery.payload === undefined) {
      throw new Error(`delivery ${id} has neither payload nor payloadJson`);
    }
    const record = this.append(
      {
        id,
        event: delivery.event,
        ...(delivery.action === undefined ? {} : { action: delivery.action }),
        receivedAt: delivery.receivedAt.toISOString(),
        sequence,
      },
      delivery.payloadJson ?? JSON.stringify(delivery.payload),
      delivery.payloadCrc,
    );
    try {
      await this.journal.durable();
    } catch (error) {
      // Not acknowledged. The record may still be on disk; replayed at the next start, it runs
      // once, and GitHub's redelivery of it is then a duplicate.
      this.journal.release(record.ref);
      throw error;
    }
    this.queued.set(id, record);
    const repo = delivery.payload ? repositoryOf(delivery.payload) : delivery.repo;
    const pr = delivery.payload ? pullRequestNumberOf(delivery.payload) : delivery.pr;
    this.tellObserver((observer) =>
      observer.accepted({
        id,
        event: record.event,
        ...(record.action === undefined ? {} : { action: record.action }),
        receivedAt: record.receivedAt,
        sequence,
        ...(repo === undefined ? {} : { repo }),
        ...(pr === undefined ? {} : { pr }),
      }),
    );
    return 'accepted';
  }

  /** A stored payload; throws JournalDamageError or SyntaxError if it no longer reads back. */
  private async readPayload(ref: JournalRef): Promise<Record<string, unknown>> {
    return JSON.parse((await this.journal.read(ref)).toString('utf8')) as Record<string, unknown>;
  }

  /** Appends a delivery to the journal and holds its record; not yet durable. */
  private append(
    meta: Omit<InboxEntry, 'payload'>,
    payloadJson: string | Uint8Array,
    crc?: number,
  ): QueuedRecord {
    const payload = typeof payloadJson === 'string' ? Buffer.from(payloadJson) : payloadJson;
    const ref = this.journal.append(meta, payload, crc);
    // Held before the fdatasync: a segment cut meanwhile must not be deleted under this record.
    this.journal.hold(ref);
    const { id: _id, ...rest } = meta;
    return { ...rest, ref };
  }

  /** Pending, done within the retention, or failed with its failed/ file still there. */
  private isKnown(id: string): boolean {
    if (this.queued.has(id)) {
      return true;
    }
    const resolution = this.resolved.get(id)?.resolution;
    if (resolution === 'done') {
      return true;
    }
    return (resolution === 'failed' || this.failedFiles.has(id)) && existsSync(this.failedPath(id));
  }

  /** Takes `id` out of the pending queue as done or failed. */
  private async resolve(id: string, resolution: 'done' | 'failed'): Promise<void> {
    const record = this.queued.get(id);
    this.queued.delete(id);
    await this.resolved.add(id, { resolution, at: Date.now(), segment: record?.ref.segment ?? 0 });
    // Only now: releasing may delete the journal segment, and the line must be there first.
    if (record) {
      this.journal.release(record.ref);
    }
    this.keepResolvedLogSmall();
  }

  private keepResolvedLogSmall(): void {
    const now = Date.now();
    const pruneDue = now - this.lastPruneAt >= PRUNE_EVERY_MS;
    if (!pruneDue && !this.resolved.isBloated(COMPACT_MIN_LINES)) {
      return;
    }
    if (pruneDue) {
      this.lastPruneAt = now;
      this.prune(now);
    }
    if (this.resolved.isBloated(COMPACT_MIN_LINES)) {
      this.resolved.compact().catch((error: unknown) => {
        this.logger.warn(`could not compact ${this.resolved.path}: ${errorMessage(error)}`);
      });
    }
  }

  private prune(now: number): number {
    const pruned = this.resolved.prune(now - DONE_RETENTION_DAYS * 24 * 3600 * 1000, (segment) =>
      this.journal.isLive(segment),
    );
    if (pruned > 0) {
      this.logger.log(
        `forgot ${pruned} delivery ids resolved over ${DONE_RETENTION_DAYS} days ago`,
      );
    }
    return pruned;
  }

  /** A pending record that no longer reads back as written: move its bytes to failed/. */
  private async setAsideDamaged(id: string, record: QueuedRecord, error: unknown): Promise<void> {
    if (this.queued.get(id) !== record) {
      return; // resolved or set aside meanwhile
    }
    const to = join(this.failedDir, `${id}.unreadable.json`);
    this.logger.error(
      `delivery ${id} cannot be read back from the inbox journal (${errorMessage(error)}); ` +
        `what is left of it is in ${to}: redeliver it from the App's advanced settings`,
    );
    // Whatever is there; nothing at all if the segment itself cannot be read.
    const bytes = await this.journal.read(record.ref, false).catch(() => Buffer.alloc(0));
    try {
      await writeFileAtomic(to, bytes);
    } catch (writeError) {
      this.logger.error(`could not write ${to}: ${errorMessage(writeError)}`);
    }
    // Not resolved: a redelivery of the id must be accepted.
    this.queued.delete(id);
    this.journal.release(record.ref);
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

  private failedPath(id: string): string {
    return join(this.failedDir, `${id}.json`);
  }

  /** Once per process: rebuild the in-memory state from disk, settling what a crash interrupted. */
  private recover(): Promise<void> {
    this.recovery ??= this.runRecovery().then(
      () => {
        this.recovered = true;
      },
      (error: unknown) => {
        this.recovery = undefined; // tried again by the next call
        throw new Error(`cannot read the inbox in ${this.dir}: ${errorMessage(error)}`, {
          cause: error,
        });
      },
    );
    return this.recovery;
  }

  private async runRecovery(): Promise<void> {
    this.takeLock();
    await rm(this.legacyTmpDir, { recursive: true, force: true });
    // There for an operator to move a failed delivery back into (see the class comment).
    await mkdir(this.dropBoxDir, { recursive: true });
    const unreadableLines = this.resolved.load();
    if (unreadableLines > 0) {
      this.logger.warn(
        `${unreadableLines} unreadable lines in ${this.resolved.path} ignored (a line cut short ` +
          'by a crash is expected; more point at a damaged file)',
      );
    }
    const legacyTombstones = await this.takeInLegacyTombstones();
    for (const name of await listNames(this.failedDir)) {
      if (name.endsWith('.json') && !name.endsWith('.unreadable.json')) {
        this.failedFiles.add(name.slice(0, -'.json'.length));
      }
    }
    let replayed = 0;
    const lateLines: Promise<void>[] = [];
    await this.journal.replay(
      (fields, ref) => {
        const meta = metaOf(fields);
        if (!meta) {
          this.logger.error(
            `journal record at offset ${ref.offset} of segment ${ref.segment} ` +
              'has no valid delivery fields; skipped',
          );
          return;
        }
        this.lastSequence = Math.max(this.lastSequence, meta.sequence);
        const { id, ...rest } = meta;
        if (this.resolved.get(id)) {
          return;
        }
        if (this.failedFiles.has(id)) {
          // The failed/ file was written and the crash came before resolved.log said so.
          lateLines.push(
            this.resolved.add(id, { resolution: 'failed', at: Date.now(), segment: ref.segment }),
          );
          return;
        }
        const previous = this.queued.get(id);
        this.journal.hold(ref);
        this.queued.set(id, { ...rest, ref });
        if (previous) {
          this.journal.release(previous.ref); // an older copy of the same delivery
        }
        replayed += 1;
      },
      (damage) => this.reportDamage(damage),
    );
    await Promise.all(lateLines);
    const pruned = this.prune(Date.now());
    if (pruned > 0 || legacyTombstones > 0 || this.resolved.isBloated(COMPACT_MIN_LINES)) {
      await this.resolved.compact();
    }
    if (legacyTombstones > 0) {
      await rm(this.legacyDoneDir, { recursive: true, force: true });
    }
    if (replayed > 0) {
      this.logger.log(`${replayed} deliveries pending in the inbox journal`);
    }
  }

  /** done/<id> tombstones of older versions, moved into resolved.log; how many there were. */
  private async takeInLegacyTombstones(): Promise<number> {
    const names = await listNames(this.legacyDoneDir);
    for (const id of names) {
      if (!DELIVERY_ID_PATTERN.test(id) || this.resolved.get(id)) {
        continue;
      }
      let at = Date.now();
      try {
        at = (await stat(join(this.legacyDoneDir, id))).mtimeMs;
      } catch {
        // Gone meanwhile: remember it as done now.
      }
      await this.resolved.add(id, { resolution: 'done', at: Math.floor(at), segment: 0 });
    }
    return names.length;
  }

  private reportDamage(damage: JournalDamage): void {
    const id = damage.meta?.id;
    const what = typeof id === 'string' ? `delivery ${id}` : 'a delivery';
    if (damage.torn) {
      this.logger.warn(
        `${damage.path}: ${what} cut short at offset ${damage.offset} by a crash; it was never ` +
          'acknowledged, so GitHub shows it as failed: redeliver it if it mattered',
      );
      return;
    }
    const to = join(
      this.failedDir,
      `journal-${damage.path.replace(/^.*\//, '').replace(/\.log$/, '')}-${damage.offset}.unreadable`,
    );
    this.logger.error(
      `${damage.path}: ${damage.reason} at offset ${damage.offset} (${what}); the bytes are ` +
        `set aside in ${to}: look at them, redeliver what they held from the App's advanced ` +
        'settings, then delete the file',
    );
    try {
      mkdirSync(this.failedDir, { recursive: true });
      writeFileSync(to, damage.bytes);
    } catch (error) {
      this.logger.error(`could not write ${to}: ${errorMessage(error)}`);
    }
  }

  /**
   * Takes `pending/<id>.json` files into the journal: failed deliveries an operator moved back,
   * and the queue of an older version. Each file is deleted once its delivery is durable here.
   */
  private async takeInDropBox(): Promise<void> {
    for (const name of await listNames(this.dropBoxDir)) {
      if (!name.endsWith('.json')) {
        continue;
      }
      const path = join(this.dropBoxDir, name);
      let fields: Record<string, unknown>;
      try {
        fields = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
      } catch (error) {
        if (!isErrno(error, 'ENOENT')) {
          this.setAsideUnreadable(path, name, error);
        }
        continue;
      }
      const meta = metaOf({ sequence: this.nextSequence(), ...fields });
      if (!meta || `${meta.id}.json` !== name) {
        this.setAsideUnreadable(
          path,
          name,
          new Error('no valid "id", "event" and "receivedAt" matching the file name'),
        );
        continue;
      }
      await this.locks.run(meta.id, async () => {
        if (this.isKnown(meta.id)) {
          this.logger.warn(
            `${path}: delivery ${meta.id} is already pending, done or failed (failed/${name}); ` +
              'removed. To retry a failed delivery, move its failed/ file here',
          );
          await rm(path, { force: true });
          return;
        }
        if (this.resolved.get(meta.id)) {
          await this.resolved.reopen(meta.id);
        }
        const record = this.append(meta, JSON.stringify(fields.payload ?? {}));
        try {
          await this.journal.durable();
        } catch (error) {
          this.journal.release(record.ref);
          throw error;
        }
        this.queued.set(meta.id, record);
        this.failedFiles.delete(meta.id);
        await rm(path, { force: true });
        this.logger.log(`delivery ${meta.id} (${meta.event}) taken in from ${path}`);
      });
    }
  }

  private setAsideUnreadable(path: string, name: string, error: unknown): void {
    const to = join(this.failedDir, name.replace(/\.json$/, '.unreadable.json'));
    this.logger.error(
      `inbox file ${path} is unreadable (${errorMessage(error)}); moved to ${to}: ` +
        `fix it and move it back to ${path}, or delete it`,
    );
    try {
      mkdirSync(this.failedDir, { recursive: true });
      renameSync(path, to);
    } catch (moveError) {
      this.logger.error(`could not move ${path} to ${to}: ${errorMessage(moveError)}`);
    }
  }
}
