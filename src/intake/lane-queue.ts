import type { DeliveryRoute } from './delivery-route.js';

/** What the lane queue needs of a delivery. */
export interface LaneTicket {
  readonly id: string;
  /** Arrival order (see SequenceClock). */
  readonly sequence: number;
  readonly lane: string;
}

/** Deliveries about the same PR share a lane; anything else runs on its own. */
export function laneOf(delivery: { readonly id: string } & DeliveryRoute): string {
  const { repo, pr } = delivery;
  return repo !== undefined && pr !== undefined ? `${repo}#${pr}` : `delivery:${delivery.id}`;
}

/** `delivery` with its lane, ready to queue. */
export function withLane<D extends Omit<LaneTicket, 'lane'> & DeliveryRoute>(
  delivery: D,
): D & LaneTicket {
  return { ...delivery, lane: laneOf(delivery) };
}

/**
 * Per-PR ordering for the dispatcher, with no I/O and no clock: deliveries of one lane run one at
 * a time in sequence order (a `labeled` must not race the `unlabeled` that follows it); different
 * lanes run side by side, at most `maxRunning` at once, the lane waiting longest first.
 */
export class LaneQueue<T extends LaneTicket> {
  /** Lane → tickets waiting in it, in sequence order. */
  private readonly lanes = new Map<string, T[]>();
  /** Lanes with tickets waiting and none running, in the order they became ready. */
  private readonly ready = new Set<string>();
  private readonly running = new Set<string>();

  constructor(private readonly maxRunning: number) {}

  /** Lanes with a ticket running. */
  get runningCount(): number {
    return this.running.size;
  }

  /** Whether no ticket is waiting (some may be running). */
  get isEmpty(): boolean {
    return this.lanes.size === 0;
  }

  /** Queues `ticket` in its lane, by sequence (searched from the back: they nearly always come in order). */
  add(ticket: T): void {
    const queue = this.lanes.get(ticket.lane) ?? [];
    let at = queue.length;
    while (at > 0 && queue[at - 1].sequence > ticket.sequence) {
      at -= 1;
    }
    queue.splice(at, 0, ticket);
    this.lanes.set(ticket.lane, queue);
    if (!this.running.has(ticket.lane)) {
      this.ready.add(ticket.lane);
    }
  }

  /**
   * The tickets that may start now, each its lane's first, their lanes now running until
   * finish(). A lane whose first ticket is newer than `horizon` waits: an older delivery may still
   * join it.
   */
  start(horizon = Number.POSITIVE_INFINITY): T[] {
    const started: T[] = [];
    for (const lane of this.ready) {
      if (this.running.size >= this.maxRunning) {
        break;
      }
      const queue = this.lanes.get(lane);
      if (!queue || queue.length === 0) {
        this.ready.delete(lane);
        this.lanes.delete(lane);
        continue;
      }
      if (queue[0].sequence > horizon) {
        continue;
      }
      this.ready.delete(lane);
      started.push(queue.shift()!);
      if (queue.length === 0) {
        this.lanes.delete(lane);
      }
      this.running.add(lane);
    }
    return started;
  }

  /** The ticket running in `lane` is over: the lane's next one may start. */
  finish(lane: string): void {
    this.running.delete(lane);
    if (this.lanes.has(lane)) {
      this.ready.add(lane);
    }
  }

  /** Drops every waiting ticket and returns them; running ones stay running. */
  clear(): T[] {
    const dropped = [...this.lanes.values()].flat();
    this.lanes.clear();
    this.ready.clear();
    return dropped;
  }
}
