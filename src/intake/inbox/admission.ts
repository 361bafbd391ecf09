import { Logger } from '@nestjs/common';
import { errorMessage } from '../../common/error-message.js';
import type { DeliveryRoute } from '../delivery-route.js';
import {
  checkDeliveryId,
  pendingDelivery,
  type PendingDelivery,
  type SequenceClock,
} from './delivery-record.js';
import type { DeliveryStates } from './delivery-states.js';

export interface NewDelivery {
  /** X-GitHub-Delivery; must match DELIVERY_ID_PATTERN. */
  readonly id: string;
  /** X-GitHub-Event, e.g. `pull_request`. */
  readonly event: string;
  /** payload.action, when the event has one. */
  readonly action?: string;
  /**
   * The payload's JSON text as received (the webhook body). Stored byte for byte: serialising the
   * payload again would cost 25 KB of work per request. Must parse to a JSON object.
   */
  readonly payloadJson: string | Uint8Array;
  /** CRC-32 of `payloadJson`'s bytes, when the caller computed it already. */
  readonly payloadCrc?: number;
  /** Which PR the payload is about (see routeOf), computed once by the webhook inspection. */
  readonly route: DeliveryRoute;
  readonly receivedAt: Date;
}

export type Verdict = 'accepted' | 'duplicate';

/**
 * Who is told about stored deliveries as they are stored (the EventDispatcher), so nothing has to
 * list the inbox directory per request.
 */
export interface AcceptObserver {
  /** `delivery` is durable; called before accept() resolves. Must not throw or wait. */
  accepted(delivery: PendingDelivery): void;
  /** An accept() finished, whatever its outcome (stored, duplicate or error). */
  settled(): void;
}

/**
 * Admits webhook deliveries into the inbox: one durable record per delivery id, whatever the
 * number of copies arriving at once, numbered in arrival order.
 *
 * A delivery is appended to the journal and acknowledged once an fdatasync covering it is over;
 * deliveries arriving together share one (group commit). Nothing is created, renamed or listed
 * per delivery: on the 2-core machine the benchmark runs on, creating one file costs more than
 * the rest of a request. Duplicates are answered from memory (DeliveryStates).
 */
export class Admission {
  private readonly logger = new Logger('Inbox');
  /** accept() calls still storing, by id: a second delivery of the id waits for the first. */
  private readonly storing = new Map<string, Promise<Verdict>>();
  /** Sequences of accept() calls not finished yet; a Set keeps them in increasing order. */
  private readonly inFlight = new Set<number>();
  private observer?: AcceptObserver;

  constructor(
    private readonly states: DeliveryStates,
    private readonly clock: SequenceClock,
    /** Resolves once the inbox's state is read from disk; accept() waits for it. */
    private readonly ready: () => Promise<void> | undefined,
  ) {}

  /** Announces every delivery stored from now on to `observer` (one observer: the last). */
  observe(observer: AcceptObserver): void {
    this.observer = observer;
  }

  /**
   * Sequence of the oldest accept() still running, if any. A delivery with a higher sequence may
   * be stored before it (a slower write), so work that must follow arrival order waits.
   */
  oldestInFlight(): number | undefined {
    for (const sequence of this.inFlight) {
      return sequence;
    }
    return undefined;
  }

  /**
   * Stores a delivery durably. 'accepted' only once it is on disk; 'duplicate' if this id is
   * pending, failed, or was processed within DONE_RETENTION_DAYS.
   */
  async accept(delivery: NewDelivery): Promise<Verdict> {
    const id = checkDeliveryId(delivery.id);
    const ready = this.ready();
    if (ready) {
      // After it, so that sequences continue those replayed; calls waiting here resume in the
      // order they came.
      await ready;
    }
    // Taken before any other await so that the order of calls is the order of arrival.
    const sequence = this.clock.next();
    this.inFlight.add(sequence);
    try {
      return await this.store(id, sequence, delivery);
    } finally {
      this.inFlight.delete(sequence);
      this.tell((observer) => observer.settled());
    }
  }

  private async store(id: string, sequence: number, delivery: NewDelivery): Promise<Verdict> {
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
    if (this.states.isKnown(id)) {
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

  private async write(id: string, sequence: number, delivery: NewDelivery): Promise<Verdict> {
    // Failed before, and its failed/ file deleted since: replay must not skip this new copy.
    const reopening = this.states.reopen(id);
    if (reopening) {
      await reopening;
    }
    const { payloadJson } = delivery;
    const record = this.states.append(
      {
        id,
        event: delivery.event,
        ...(delivery.action === undefined ? {} : { action: delivery.action }),
        receivedAt: delivery.receivedAt.toISOString(),
        sequence,
      },
      delivery.route,
      typeof payloadJson === 'string' ? Buffer.from(payloadJson) : payloadJson,
      delivery.payloadCrc,
    );
    try {
      await this.states.durable();
    } catch (error) {
      // Not acknowledged. The record may still be on disk; replayed at the next start, it runs
      // once, and GitHub's redelivery of it is then a duplicate.
      this.states.abandon(record);
      throw error;
    }
    this.states.addPending(id, record);
    this.tell((observer) => observer.accepted(pendingDelivery(id, record)));
    return 'accepted';
  }

  private tell(call: (observer: AcceptObserver) => void): void {
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
}
