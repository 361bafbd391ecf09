import { DELIVERY_ID_PATTERN } from '../../common/ids.js';
import type { JournalRef } from '../../common/journal/journal.js';
import { asRoute, type DeliveryRoute } from '../delivery-route.js';

/** What the inbox knows of a delivery besides its payload and routing. */
export interface DeliveryMeta {
  readonly id: string;
  /** X-GitHub-Event, e.g. `pull_request`. */
  readonly event: string;
  /** payload.action, when the event has one. */
  readonly action?: string;
  /** ISO 8601 time the request arrived. */
  readonly receivedAt: string;
  /** Arrival order: increases with every delivery stored, also across restarts. */
  readonly sequence: number;
}

/** A delivery as its handler gets it. */
export interface InboxEntry extends DeliveryMeta {
  readonly payload: Record<string, unknown>;
}

/** A pending delivery as the dispatcher queues it: routing, not payload. */
export interface PendingDelivery extends DeliveryMeta, DeliveryRoute {}

/** What is kept in memory for a pending delivery: where its payload is, and its routing. */
export interface PendingRecord extends Omit<DeliveryMeta, 'id'> {
  readonly ref: JournalRef;
  /** Undefined for a record written by an older version (no `route` in its header) until read. */
  route?: DeliveryRoute;
}

export function checkDeliveryId(id: string): string {
  if (!DELIVERY_ID_PATTERN.test(id)) {
    throw new Error(`invalid delivery id ${JSON.stringify(id)}: expected ${DELIVERY_ID_PATTERN}`);
  }
  return id;
}

/** The fields of a stored delivery other than its payload, or undefined if they are not valid. */
export function metaOf(fields: Record<string, unknown>): DeliveryMeta | undefined {
  const { id, event, action, receivedAt, sequence } = fields;
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

/** The header fields of a delivery's journal record (the journal adds `len` and `crc`). */
export function recordHeader(meta: DeliveryMeta, route: DeliveryRoute): Record<string, unknown> {
  const { id, event, action, receivedAt, sequence } = meta;
  return { id, event, ...(action === undefined ? {} : { action }), receivedAt, sequence, route };
}

/**
 * A journal record header read back: its delivery and routing (undefined when the header has no
 * `route`, as those of older versions), or undefined if it is not a delivery's header.
 */
export function readRecordHeader(
  fields: Record<string, unknown>,
): { meta: DeliveryMeta; route?: DeliveryRoute } | undefined {
  const meta = metaOf(fields);
  if (!meta) {
    return undefined;
  }
  const route = asRoute(fields.route);
  return route ? { meta, route } : { meta };
}

/** The pending delivery `id` as the dispatcher sees it. */
export function pendingDelivery(id: string, record: PendingRecord): PendingDelivery {
  const { ref: _ref, route, ...meta } = record;
  return { id, ...meta, ...route };
}

/**
 * Hands out arrival sequences: microseconds of the clock, so that order survives restarts, and
 * strictly increasing within a process.
 */
export class SequenceClock {
  private last = 0;

  constructor(private readonly now: () => number = Date.now) {}

  next(): number {
    this.last = Math.max(this.now() * 1000, this.last + 1);
    return this.last;
  }

  /** A sequence read back from disk: the next ones come after it. */
  seen(sequence: number): void {
    this.last = Math.max(this.last, sequence);
  }
}
