import { Journal, type JournalOptions, type JournalRef } from '../../common/journal/journal.js';
import { ResolvedLog, type Resolution } from '../../common/journal/resolved-log.js';
import type { DeliveryRoute } from '../delivery-route.js';
import { recordHeader, type DeliveryMeta, type PendingRecord } from './delivery-record.js';
import { FailedDeliveries } from './failed-deliveries.js';
import type { InboxLayout } from './inbox-layout.js';
import { ResolvedRetention } from './resolved-retention.js';

/**
 * Which state each delivery is in, kept in memory and backed by the files that decide it:
 * - pending: the journal holds its record and resolved.log does not name it;
 * - done or failed: resolved.log names it (failed: its failed/ file is written first, and a
 *   failed/ file alone is enough at start-up);
 * - unknown: anything else (never seen, forgotten after the retention, or set aside unreadable),
 *   so a delivery of that id is accepted.
 * A pending record holds its journal segment; the segment is deleted once none of its records is
 * held, always after the resolved.log line that lets it go is written.
 */
export class DeliveryStates {
  private readonly pending = new Map<string, PendingRecord>();
  readonly retention: ResolvedRetention;

  constructor(
    readonly journal: Journal,
    readonly resolved: ResolvedLog,
    readonly failed: FailedDeliveries,
  ) {
    this.retention = new ResolvedRetention(resolved, (segment) => journal.isLive(segment));
  }

  /** The states kept in `layout`; nothing is read until replay. */
  static at(layout: InboxLayout, journal: JournalOptions = {}): DeliveryStates {
    return new DeliveryStates(
      new Journal(layout.journalDir, journal),
      new ResolvedLog(layout.resolvedLog),
      new FailedDeliveries(layout.failedDir),
    );
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  pendingRecord(id: string): PendingRecord | undefined {
    return this.pending.get(id);
  }

  /**
   * Arrival time (ms epoch, from its sequence) of the delivery pending longest: the first one
   * that became pending, as they become pending in arrival order. O(1).
   */
  oldestPendingSince(): number | undefined {
    for (const record of this.pending.values()) {
      return record.sequence / 1000;
    }
    return undefined;
  }

  /**
   * Whether the inbox has had `id`: pending, or done or failed within the retention (also if an
   * operator deleted its failed/ file since). Missed-webhook catch-up asks this.
   */
  hasSeen(id: string): boolean {
    return this.pending.has(id) || this.resolved.get(id) !== undefined || this.failed.listed(id);
  }

  /** Ids pending now, in the order they became pending. */
  pendingIds(): string[] {
    return [...this.pending.keys()];
  }

  /** Pending, done within the retention, or failed with its failed/ file still there. */
  isKnown(id: string): boolean {
    if (this.pending.has(id)) {
      return true;
    }
    const resolution = this.resolved.get(id)?.resolution;
    if (resolution === 'done') {
      return true;
    }
    return (resolution === 'failed' || this.failed.listed(id)) && this.failed.exists(id);
  }

  /**
   * Places a delivery in the journal and holds its record; nothing is durable yet (durable()),
   * and the delivery is not pending until addPending().
   */
  append(
    meta: DeliveryMeta,
    route: DeliveryRoute,
    payload: Uint8Array,
    crc?: number,
  ): PendingRecord {
    const ref = this.journal.append(recordHeader(meta, route), payload, crc);
    // Held before the fdatasync: a segment cut meanwhile must not be deleted under this record.
    this.journal.hold(ref);
    const { id: _id, ...rest } = meta;
    return { ...rest, route, ref };
  }

  /** Resolves once everything appended so far is on disk. */
  durable(): Promise<void> {
    return this.journal.durable();
  }

  /** `record` is durable: `id` is pending. */
  addPending(id: string, record: PendingRecord): void {
    this.pending.set(id, record);
  }

  /** A record replay found for `id`, which is pending; a later copy replaces an earlier one. */
  addReplayed(id: string, record: PendingRecord): void {
    const previous = this.pending.get(id);
    this.journal.hold(record.ref);
    this.pending.set(id, record);
    if (previous) {
      this.journal.release(previous.ref);
    }
  }

  /** An appended record that will not be pending (its write failed): its segment may go. */
  abandon(record: PendingRecord): void {
    this.journal.release(record.ref);
  }

  /** Takes `id` out of the pending queue as done or failed; its record is let go afterwards. */
  async resolve(id: string, resolution: Resolution): Promise<void> {
    const record = this.pending.get(id);
    this.pending.delete(id);
    await this.resolved.add(id, { resolution, at: Date.now(), segment: record?.ref.segment ?? 0 });
    // Only now: releasing may delete the journal segment, and the line must be there first.
    if (record) {
      this.journal.release(record.ref);
    }
    this.retention.afterResolve();
  }

  /**
   * `record` of `id` cannot be read back: it is no longer pending, and not resolved either, so a
   * redelivery of the id is accepted. False if `id` was resolved or dropped meanwhile.
   */
  dropUnreadable(id: string, record: PendingRecord): boolean {
    if (this.pending.get(id) !== record) {
      return false;
    }
    this.pending.delete(id);
    this.journal.release(record.ref);
    return true;
  }

  /**
   * `id` is about to be pending again: forget its resolution, durably, if it has one (undefined
   * if it has none: nothing to wait for, which is nearly always, so no promise is made).
   */
  reopen(id: string): Promise<void> | undefined {
    return this.resolved.get(id) ? this.resolved.reopen(id) : undefined;
  }

  /** A stored payload; throws JournalDamageError or SyntaxError if it no longer reads back. */
  async readPayload(ref: JournalRef): Promise<Record<string, unknown>> {
    return JSON.parse((await this.journal.read(ref)).toString('utf8')) as Record<string, unknown>;
  }

  /** Whatever bytes are there for `ref`, unchecked; none if the segment cannot be read. */
  readBytes(ref: JournalRef): Promise<Buffer> {
    return this.journal.read(ref, false).catch(() => Buffer.alloc(0));
  }
}
