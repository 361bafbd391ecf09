import { DeliveryProgressStore, type DeliveryProgress } from '../../common/delivery-progress.js';
import { mkdir } from 'node:fs/promises';
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
import { writeFileAtomic } from '../../common/atomic-file.js';
import { JournalDamageError } from '../../common/journal/journal.js';
import { KeyedLock } from '../../common/keyed-lock.js';
import { BotMetrics } from '../../common/metrics/bot-metrics.js';
import { StateDirInUseError, acquireStateLock } from '../../common/state-lock.js';
import { errorMessage } from '../../common/error-message.js';
import { routeOf } from '../delivery-route.js';
import { INTAKE_OPTIONS, type IntakeOptions } from '../intake.options.js';
import { Admission, type AcceptObserver, type NewDelivery, type Verdict } from './admission.js';
import {
  SequenceClock,
  checkDeliveryId,
  pendingDelivery,
  type InboxEntry,
  type PendingDelivery,
  type PendingRecord,
} from './delivery-record.js';
import { DeliveryStates } from './delivery-states.js';
import { DropBox } from './drop-box.js';
import { inboxLayout, type InboxLayout } from './inbox-layout.js';
import { LegacyLayout } from './legacy-layout.js';
import { replayJournal } from './replay.js';

export interface InboxCounts {
  readonly pending: number;
  readonly failed: number;
  readonly done: number;
}

/**
 * Durable record of webhook deliveries, so that nothing GitHub was told "accepted" is lost by a
 * crash, and nothing is processed twice when GitHub (or an operator) redelivers it.
 *
 * This class is the inbox's face; the work is done by its parts: Admission (accept), replay
 * (start-up), DeliveryStates (pending, done, failed; segment deletion), ResolvedRetention,
 * FailedDeliveries (failed/), DropBox (pending/) and LegacyLayout (older versions' files). What
 * is on disk is listed in inbox-layout.ts and described in src/common/journal/README.md.
 *
 * Which ids are pending, done or failed is kept in memory, built at start-up from the journal,
 * resolved.log and failed/, so that accept() answers duplicates without touching the disk. One
 * bot process owns a state directory: `inbox/lock` (see acquireStateLock) stops a second one from
 * starting on it.
 */
@Injectable()
export class Inbox implements OnModuleInit, OnModuleDestroy, OnApplicationShutdown {
  private readonly logger = new Logger(Inbox.name);
  readonly dir: string;
  private readonly layout: InboxLayout;
  private readonly states: DeliveryStates;
  private readonly clock = new SequenceClock();
  /** Changes of one delivery's state, one at a time. */
  private readonly locks = new KeyedLock();
  private readonly admission: Admission;
  private readonly dropBox: DropBox;
  private readonly legacy: LegacyLayout;
  private recovery?: Promise<void>;
  private recovered = false;
  private isClosed = false;
  private releaseLock?: () => void;
  /** Set when run by Nest (a bot process); bare instances in tests share directories freely. */
  private lockRequired = false;

  private readonly progressStore: DeliveryProgressStore;

  constructor(
    @Inject(INTAKE_OPTIONS) options: Pick<IntakeOptions, 'stateDir' | 'journal'>,
    @Optional() metrics?: BotMetrics,
  ) {
    this.layout = inboxLayout(options.stateDir);
    this.progressStore = new DeliveryProgressStore(join(options.stateDir, 'progress'));
    this.dir = this.layout.dir;
    this.states = DeliveryStates.at(this.layout, options.journal);
    this.admission = new Admission(this.states, this.clock, () =>
      this.recovered ? undefined : this.recover(),
    );
    this.dropBox = new DropBox(this.layout.dropBoxDir, this.states, this.clock, this.locks);
    this.legacy = new LegacyLayout(this.layout, this.states.resolved);
    metrics?.watchInbox(async () => {
      const { pending, failed } = await this.counts();
      const oldest = this.states.oldestPendingSince();
      return { pending, failed, ...(oldest === undefined ? {} : { oldestPendingSince: oldest }) };
    });
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
    this.admission.observe(observer);
  }

  /** See Admission.oldestInFlight. */
  oldestAcceptInFlight(): number | undefined {
    return this.admission.oldestInFlight();
  }

  /**
   * Stores a delivery durably. 'accepted' only once it is on disk; 'duplicate' if this id is
   * pending, failed, or was processed within DONE_RETENTION_DAYS.
   */
  accept(delivery: NewDelivery): Promise<Verdict> {
    return this.admission.accept(delivery);
  }

  /**
   * Deliveries accepted and not yet done or failed, oldest first, with their routing and without
   * their payloads; takes in the drop box first.
   */
  async listPending(): Promise<PendingDelivery[]> {
    await this.recover();
    await this.dropBox.takeIn();
    const found: PendingDelivery[] = [];
    for (const id of this.states.pendingIds()) {
      const record = this.states.pendingRecord(id);
      if (record && (record.route || (await this.routeOldRecord(id, record)))) {
        found.push(pendingDelivery(id, record));
      }
    }
    return found.sort((a, b) => a.sequence - b.sequence || a.id.localeCompare(b.id));
  }

  /** The pending delivery `id`, or undefined if it is not pending (done, failed, unreadable). */
  async read(id: string): Promise<InboxEntry | undefined> {
    checkDeliveryId(id);
    await this.recover();
    const record = this.states.pendingRecord(id);
    if (!record) {
      return undefined;
    }
    const payload = await this.readPayload(id, record);
    if (!payload) {
      return undefined;
    }
    const { ref: _ref, route: _route, ...meta } = record;
    return { id, ...meta, payload };
  }

  /**
   * The delivery's work is durable: forget its payload, remember its id so a redelivery stays a
   * duplicate. Nothing is fsync'ed here (see ResolvedLog): a power cut can only leave it pending,
   * to run again at the next start as after a crash inside its handler, which handlers are
   * written to survive (BuildsService keeps its own progress in the event's directory).
   */
  async markDone(id: string): Promise<void> {
    checkDeliveryId(id);
    if (!this.recovered) {
      await this.recover();
    }
    await this.locks.run(id, () => this.states.resolve(id, 'done'));
    // After the done line: a crash in between leaves the delivery pending with its progress,
    // which a rerun needs to skip what was already done.
    this.progressStore.remove(id);
  }

  /** Durable memory of how far a handler got with one delivery (deploy, commands). */
  progress(id: string): DeliveryProgress {
    checkDeliveryId(id);
    return this.progressStore.of(id);
  }

  /** The handler gave up: keep the delivery with the reason, out of the pending queue. */
  async markFailed(id: string, error: unknown): Promise<void> {
    checkDeliveryId(id);
    await this.recover();
    await this.locks.run(id, async () => {
      const record = this.states.pendingRecord(id);
      let entry: Partial<InboxEntry> = { id };
      if (record) {
        const { ref, route: _route, ...meta } = record;
        try {
          entry = { id, ...meta, payload: await this.states.readPayload(ref) };
        } catch (readError) {
          this.logger.warn(`delivery ${id}: payload unreadable (${errorMessage(readError)})`);
          entry = { id, ...meta };
        }
      }
      await this.states.failed.record({
        ...entry,
        id,
        error: errorMessage(error),
        failedAt: new Date().toISOString(),
      });
      await this.states.resolve(id, 'failed');
    });
  }

  /** See DeliveryStates.hasSeen; reads the inbox first if this process has not yet. */
  async hasSeen(id: string): Promise<boolean> {
    if (!this.recovered) {
      await this.recover();
    }
    return this.states.hasSeen(id);
  }

  /** Arrival time (ms epoch) of the delivery pending longest; undefined if none is pending. */
  oldestPendingSince(): number | undefined {
    return this.states.oldestPendingSince();
  }

  async counts(): Promise<InboxCounts> {
    await this.recover();
    return {
      pending: this.states.pendingCount,
      failed: await this.states.failed.count(),
      done: this.states.resolved.counts().done,
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

  private takeLock(): void {
    if (this.lockRequired && !this.releaseLock) {
      this.releaseLock = acquireStateLock(this.dir);
    }
  }

  /** A record written before headers carried the route: parsed once for it. */
  private async routeOldRecord(id: string, record: PendingRecord): Promise<boolean> {
    const payload = await this.readPayload(id, record);
    if (payload) {
      record.route = routeOf(payload);
    }
    return payload !== undefined;
  }

  /** The payload of a pending record, or undefined once it is set aside as unreadable. */
  private async readPayload(
    id: string,
    record: PendingRecord,
  ): Promise<Record<string, unknown> | undefined> {
    try {
      return await this.states.readPayload(record.ref);
    } catch (error) {
      if (!(error instanceof JournalDamageError) && !(error instanceof SyntaxError)) {
        throw error;
      }
      await this.locks.run(id, () => this.setAsideDamaged(id, record, error));
      return undefined;
    }
  }

  /** A pending record that no longer reads back as written: move its bytes to failed/. */
  private async setAsideDamaged(id: string, record: PendingRecord, error: unknown): Promise<void> {
    if (this.states.pendingRecord(id) !== record) {
      return; // resolved or set aside meanwhile
    }
    const name = `${id}.unreadable.json`;
    this.logger.error(
      `delivery ${id} cannot be read back from the inbox journal (${errorMessage(error)}); ` +
        `what is left of it is in ${join(this.layout.failedDir, name)}: redeliver it from the ` +
        "App's advanced settings",
    );
    // Read before the record is let go: that may delete its segment.
    await this.states.failed.setAside(name, await this.states.readBytes(record.ref));
    // Not resolved: a redelivery of the id must be accepted.
    this.states.dropUnreadable(id, record);
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
    await this.legacy.removeTmp();
    // There for an operator to move a failed delivery back into (see inbox-layout.ts).
    await mkdir(this.layout.dropBoxDir, { recursive: true });
    const { resolved } = this.states;
    const unreadableLines = resolved.load();
    if (unreadableLines > 0) {
      this.logger.warn(
        `${unreadableLines} unreadable lines in ${resolved.path} ignored (a line cut short ` +
          'by a crash is expected; more point at a damaged file)',
      );
    }
    const legacyTombstones = await this.legacy.takeInTombstones();
    await this.states.failed.load();
    const replayed = await replayJournal(this.states, this.clock);
    await this.states.retention.atStartup(legacyTombstones > 0);
    if (legacyTombstones > 0) {
      await this.legacy.removeDone();
    }
    if (replayed > 0) {
      this.logger.log(`${replayed} deliveries pending in the inbox journal`);
    }
  }
}
