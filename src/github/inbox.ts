import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { writeFileAtomic } from '../common/atomic-file.js';
import { errorMessage } from './error-message.js';

/** X-GitHub-Delivery values we accept: the id becomes a file name, so nothing that could escape. */
export const DELIVERY_ID_PATTERN = /^[A-Za-z0-9-]{1,100}$/;

/**
 * How long a processed delivery id is remembered. GitHub lets an operator redeliver a webhook for
 * 3 days (https://docs.github.com/en/webhooks/testing-and-troubleshooting-webhooks/redelivering-webhooks);
 * a much longer window costs one tiny file per delivery and guards against late replays.
 */
export const DONE_RETENTION_DAYS = 30;

export interface NewDelivery {
  /** X-GitHub-Delivery; must match DELIVERY_ID_PATTERN. */
  readonly id: string;
  /** X-GitHub-Event, e.g. `pull_request`. */
  readonly event: string;
  /** payload.action, when the event has one. */
  readonly action?: string;
  readonly payload: Record<string, unknown>;
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

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if (isErrno(error, 'ENOENT')) {
      return false;
    }
    throw error;
  }
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

/** Makes a new directory entry survive a power cut; best effort where the filesystem refuses. */
async function syncDir(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Some network filesystems reject fsync on directories; their rename/link are synchronous.
  }
}

/**
 * Durable record of webhook deliveries, one file per X-GitHub-Delivery, so that nothing GitHub was
 * told "accepted" is lost by a crash, and nothing is processed twice when GitHub (or an operator)
 * redelivers it.
 *
 * Layout under `<stateDir>/inbox/`:
 * - `pending/<id>.json`: accepted, not yet processed (the full InboxEntry).
 * - `done/<id>`: tombstone of a processed delivery (payload dropped), pruned after
 *   DONE_RETENTION_DAYS at start-up.
 * - `failed/<id>.json`: the InboxEntry plus `error` and `failedAt`. To retry one, move it back to
 *   `pending/<id>.json` and restart; to drop it, delete it.
 * - `tmp/`: files being written; anything left there after a crash was never acknowledged.
 * Per-delivery progress lives in `<stateDir>/progress/<id>.json`.
 *
 * Every state change creates the new file before removing the old one, so after a crash a delivery
 * is in at least one state, and start-up settles those found in two. Concurrent calls for one id
 * are serialised in memory, and accept() claims the pending name with link(), which fails if the
 * name exists, so two identical deliveries racing each other produce one 'accepted'. One bot
 * process owns a state directory; two processes sharing one are not supported.
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
  private readonly locks = new Map<string, Promise<unknown>>();
  private lastSequence = 0;
  private recovery?: Promise<void>;
  private isClosed = false;

  constructor(@Inject(APP_CONFIG) config: Pick<AppConfig, 'eventHandler'>) {
    this.dir = join(config.eventHandler.stateDir, 'inbox');
    this.pendingDir = join(this.dir, 'pending');
    this.doneDir = join(this.dir, 'done');
    this.failedDir = join(this.dir, 'failed');
    this.tmpDir = join(this.dir, 'tmp');
    this.progressDir = join(config.eventHandler.stateDir, 'progress');
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

  /**
   * Stores a delivery durably. 'accepted' only once the file is on disk; 'duplicate' if this id is
   * pending, failed, or was processed within DONE_RETENTION_DAYS.
   */
  async accept(delivery: NewDelivery): Promise<'accepted' | 'duplicate'> {
    const id = this.checkId(delivery.id);
    // Taken before any await so that the order of calls is the order of arrival.
    const sequence = this.nextSequence();
    await this.recover();
    return this.withLock(id, async () => {
      if ((await exists(this.donePath(id))) || (await exists(this.failedPath(id)))) {
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
      const tmp = join(this.tmpDir, `${id}.${randomBytes(6).toString('hex')}.json`);
      await writeFileAtomic(tmp, JSON.stringify(entry));
      try {
        await mkdir(this.pendingDir, { recursive: true });
        // link() never replaces an existing name: the create-exclusive claim of this delivery id.
        await link(tmp, this.pendingPath(id));
      } catch (error) {
        if (isErrno(error, 'EEXIST')) {
          return 'duplicate';
        }
        throw error;
      } finally {
        await rm(tmp, { force: true });
      }
      await syncDir(this.pendingDir);
      return 'accepted';
    });
  }

  /** Deliveries accepted and not yet done or failed, oldest first. */
  async pending(): Promise<InboxEntry[]> {
    await this.recover();
    const entries: InboxEntry[] = [];
    for (const name of await listNames(this.pendingDir)) {
      if (!name.endsWith('.json')) {
        continue;
      }
      const path = join(this.pendingDir, name);
      let entry: InboxEntry;
      try {
        entry = JSON.parse(await readFile(path, 'utf8')) as InboxEntry;
        if (typeof entry?.id !== 'string' || `${entry.id}.json` !== name) {
          throw new Error(`its "id" field does not match the file name`);
        }
      } catch (error) {
        if (isErrno(error, 'ENOENT')) {
          continue; // settled between readdir and read
        }
        await this.quarantine(name, error);
        continue;
      }
      entries.push(entry);
    }
    return entries.sort((a, b) => a.sequence - b.sequence || a.id.localeCompare(b.id));
  }

  /** The delivery's work is durable: keep only a tombstone so a redelivery stays a duplicate. */
  async markDone(id: string): Promise<void> {
    this.checkId(id);
    await this.withLock(id, async () => {
      await writeFileAtomic(
        this.donePath(id),
        JSON.stringify({ doneAt: new Date().toISOString() }),
      );
      await rm(this.pendingPath(id), { force: true });
      await rm(this.progressPath(id), { force: true });
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

  /** A pending file that cannot be parsed would block nothing but never finish: make it visible. */
  private async quarantine(name: string, error: unknown): Promise<void> {
    const from = join(this.pendingDir, name);
    const to = join(this.failedDir, name);
    this.logger.error(
      `inbox file ${from} is unreadable (${errorMessage(error)}); moved to ${to}: ` +
        'fix it and move it back to pending/, or delete it',
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
    // Never acknowledged to GitHub: the claim (link into pending/) happens before the reply.
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
        if ((await stat(path)).mtimeMs < cutoff) {
          await rm(path, { force: true });
          pruned += 1;
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
