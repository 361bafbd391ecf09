import {
  BeforeApplicationShutdown,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { errorMessage } from '../common/error-message.js';
import { BotMetrics } from '../common/metrics/bot-metrics.js';
import {
  describeDelivery,
  isWorthLogging,
  outcomeLine,
  unhandledLine,
  type Outcome,
} from './delivery-log.js';
import type { InboxEntry, PendingDelivery } from './inbox/delivery-record.js';
import { Inbox } from './inbox/inbox.js';
import { LaneQueue, withLane, type LaneTicket } from './lane-queue.js';

/**
 * Does the work for one delivery. Resolve only once the work is durable (the delivery is then
 * marked done); throw to mark it failed. A handler may be re-run for the same delivery after a
 * crash, so it must be idempotent (BuildsService records each step in the event's progress file).
 */
export type DeliveryHandler = (delivery: InboxEntry) => Promise<void>;

/** Pull requests handled at the same time; each may clone repositories and call sbatch. */
export const MAX_CONCURRENT_LANES = 4;

/**
 * Deliveries without a handler being marked done at the same time. Their resolved.log lines are
 * written in batches, so more of them at once means bigger batches, not more disk work; too few
 * and, under a flood, marking done falls behind accepting (a backlog of 6,000 after 10,000
 * deliveries with 2).
 */
const MAX_CONCURRENT_IGNORED = 16;

/** How long shutdown waits for running handlers; unfinished deliveries resume at the next start. */
export const SHUTDOWN_GRACE_MS = 20_000;

/**
 * What a queued delivery costs in memory: ids and routing only. The payload stays on disk until
 * its handler starts, so a backlog of thousands of 25 KB deliveries stays small.
 */
type Ticket = PendingDelivery & LaneTicket;

/**
 * Runs handlers for inbox deliveries in the background, after the webhook has been answered.
 *
 * Deliveries about one pull request run one at a time in arrival order (a `labeled` must not race
 * the `unlabeled` that follows it); different pull requests run concurrently, at most
 * MAX_CONCURRENT_LANES at once (LaneQueue). Deliveries not about a PR or issue each get their own
 * lane. The routing comes with each delivery from the Inbox: no payload is read to queue it.
 * Handlers are looked up by event and action, then by event and '*'. A delivery is marked done
 * only after its handler resolves, so anything left pending by a crash runs again at start-up.
 * Deliveries nobody handles skip the lanes: they are only marked done, a few at a time.
 *
 * New deliveries come from the Inbox as it stores them (AcceptObserver), once the dispatcher has
 * started (onApplicationBootstrap, or the first notify() or drain()); the inbox directory is
 * listed only then and on later notify() and drain() calls, to pick up what no observer saw.
 */
@Injectable()
export class EventDispatcher implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(EventDispatcher.name);
  private readonly handlers = new Map<string, DeliveryHandler[]>();
  private readonly lanes = new LaneQueue<Ticket>(MAX_CONCURRENT_LANES);
  /** Deliveries without a handler, waiting to be marked done. */
  private ignored: Ticket[] = [];
  private ignoredRunning = 0;
  /** Ids queued or running: whatever a scan lists again is not queued twice. */
  private readonly tracked = new Set<string>();
  /** Ids finished while a scan was listing: that listing may still return them. */
  private readonly finishedDuringScan = new Set<string>();
  /** Ids whose outcome could not be recorded: left pending on disk for the next start. */
  private readonly unrecorded = new Set<string>();
  private scanning?: Promise<void>;
  /** A scan is listing the inbox: it may still find deliveries older than those queued. */
  private listing = false;
  private rescanRequested = false;
  private pumpScheduled = false;
  /** Set by the first scan (bootstrap, notify, drain): only then are all handlers registered. */
  private started = false;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly inbox: Inbox,
    private readonly metrics: BotMetrics,
  ) {
    inbox.observe({
      // Before the start, routing could miss handlers still to be registered: the first scan
      // picks these deliveries up instead.
      accepted: (entry) => (this.started ? this.admit(withLane(entry)) : undefined),
      // An older delivery finished storing: a newer one of its PR may now start.
      settled: () => this.schedulePump(),
    });
  }

  /**
   * Registers a handler for `event` (X-GitHub-Event) and `action` (payload.action, or '*' for any).
   * Register in onModuleInit: deliveries are routed (handled or ignored) when they are queued, and
   * those left from a previous run are queued at bootstrap.
   */
  on(event: string, action: string, handler: DeliveryHandler): void {
    const key = `${event}.${action}`;
    this.handlers.set(key, [...(this.handlers.get(key) ?? []), handler]);
  }

  /**
   * Looks for pending deliveries not queued yet (those stored while no dispatcher was listening,
   * or put back by hand). Accepted deliveries need no call: the Inbox announces them. Never
   * throws, never waits.
   */
  notify(): void {
    if (!this.stopped) {
      void this.scan();
    }
  }

  /** Resolves once every delivery pending now (and anything queued meanwhile) has finished. */
  async drain(): Promise<void> {
    if (!this.stopped) {
      await this.scan();
    }
    if (!this.isIdle()) {
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
  }

  /** Starts no new deliveries; queued ones stay pending on disk for the next start. */
  stop(): void {
    this.stopped = true;
    for (const ticket of [...this.lanes.clear(), ...this.ignored]) {
      this.tracked.delete(ticket.id);
    }
    this.ignored = [];
    this.settleIdle();
  }

  async onApplicationBootstrap(): Promise<void> {
    try {
      const { pending } = await this.inbox.counts();
      if (pending > 0) {
        this.logger.log(`resuming ${pending} deliveries left unfinished by the previous run`);
      }
    } catch (error) {
      this.logger.error(`cannot read the inbox at start-up: ${errorMessage(error)}`);
    }
    // Not awaited: the HTTP server must come up while old deliveries are processed.
    this.notify();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stop();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      this.drain().then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), SHUTDOWN_GRACE_MS);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.logger.warn(
        `${this.lanes.runningCount + this.ignoredRunning} deliveries still running after ` +
          `${SHUTDOWN_GRACE_MS} ms; they stay pending and resume at the next start`,
      );
    }
  }

  private isIdle(): boolean {
    return (
      !this.scanning &&
      this.lanes.runningCount === 0 &&
      this.ignoredRunning === 0 &&
      (this.stopped || (this.lanes.isEmpty && this.ignored.length === 0))
    );
  }

  private settleIdle(): void {
    if (this.isIdle()) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) {
        resolve();
      }
    }
  }

  private isKnown(id: string): boolean {
    return this.tracked.has(id) || this.finishedDuringScan.has(id) || this.unrecorded.has(id);
  }

  private handlersFor(ticket: Ticket): DeliveryHandler[] {
    return [
      ...(this.handlers.get(`${ticket.event}.${ticket.action ?? ''}`) ?? []),
      ...(this.handlers.get(`${ticket.event}.*`) ?? []),
    ];
  }

  /** Queues a delivery once, however many times it is announced or listed. */
  private admit(ticket: Ticket): void {
    if (this.stopped || this.isKnown(ticket.id)) {
      return;
    }
    this.tracked.add(ticket.id);
    if (this.handlersFor(ticket).length === 0) {
      this.ignored.push(ticket);
    } else {
      this.lanes.add(ticket);
    }
    this.schedulePump();
  }

  /**
   * Starts work on the next tick rather than at once: admit() runs inside Inbox.accept(), and the
   * webhook's answer must not wait for the synchronous start of a handler.
   */
  private schedulePump(): void {
    if (this.pumpScheduled || this.stopped) {
      return;
    }
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
      this.settleIdle();
    });
  }

  /** Lists the inbox and queues what is new; calls arriving mid-scan fold into one more pass. */
  private scan(): Promise<void> {
    this.started = true;
    if (this.scanning) {
      this.rescanRequested = true;
      return this.scanning;
    }
    this.scanning = this.runScans();
    return this.scanning;
  }

  private async runScans(): Promise<void> {
    try {
      do {
        this.rescanRequested = false;
        // Anything finished before this pass lists the directory is no longer there.
        this.finishedDuringScan.clear();
        let found: PendingDelivery[];
        this.listing = true;
        try {
          found = await this.inbox.listPending();
        } catch (error) {
          this.logger.error(`cannot list pending deliveries: ${errorMessage(error)}`);
          return;
        } finally {
          this.listing = false;
        }
        if (this.stopped) {
          return;
        }
        // Oldest first, so that each lane is filled in order.
        for (const delivery of found) {
          this.admit(withLane(delivery));
        }
        this.pump();
      } while (this.rescanRequested && !this.stopped);
    } finally {
      // In the same synchronous step as the last rescan check, so no notify() can fall between.
      this.scanning = undefined;
      this.finishedDuringScan.clear();
      this.pump(); // whatever waited for the listing, also if it ended early
      this.settleIdle();
    }
  }

  private pump(): void {
    if (this.stopped) {
      return;
    }
    while (this.ignoredRunning < MAX_CONCURRENT_IGNORED && this.ignored.length > 0) {
      this.runIgnored(this.ignored.shift()!);
    }
    if (this.listing) {
      return; // the scan's end pumps again, with what it found queued in order
    }
    // A delivery stored after one still being stored may be older: it waits for that one (that
    // accept's settled() pumps again).
    for (const ticket of this.lanes.start(this.inbox.oldestAcceptInFlight())) {
      this.run(ticket);
    }
  }

  private run(ticket: Ticket): void {
    void this.process(ticket).finally(() => {
      this.lanes.finish(ticket.lane);
      this.finished(ticket.id);
      this.pump();
      this.settleIdle();
    });
  }

  private runIgnored(ticket: Ticket): void {
    this.ignoredRunning += 1;
    void this.ignore(ticket).finally(() => {
      this.ignoredRunning -= 1;
      this.finished(ticket.id);
      this.pump();
      this.settleIdle();
    });
  }

  private finished(id: string): void {
    this.tracked.delete(id);
    if (this.scanning) {
      this.finishedDuringScan.add(id);
    }
  }

  private async process(ticket: Ticket): Promise<void> {
    const started = performance.now();
    let entry: InboxEntry | undefined;
    try {
      entry = await this.inbox.read(ticket.id);
    } catch (error) {
      this.unrecorded.add(ticket.id);
      this.logger.error(
        `delivery ${ticket.id}: cannot read it from the inbox journal in ${this.inbox.dir} ` +
          `(${errorMessage(error)}); it will run at the next start: check the state directory`,
      );
      return;
    }
    if (!entry) {
      // Removed or quarantined since it was queued (the Inbox logged why): nothing to run.
      this.logOutcome(ticket, 'vanished', started);
      return;
    }
    let outcome: Outcome;
    let failure: unknown;
    try {
      for (const handler of this.handlersFor(ticket)) {
        await handler(entry);
      }
      outcome = 'done';
    } catch (error) {
      outcome = 'failed';
      failure = error;
      this.logger.error(
        `delivery ${ticket.id} (${describeDelivery(ticket)}) failed: ${errorMessage(error)}; ` +
          `kept in ${this.inbox.dir}/failed/${ticket.id}.json`,
        (error as Error | undefined)?.stack,
      );
    }
    await this.record(ticket, outcome, failure, started);
  }

  private async ignore(ticket: Ticket): Promise<void> {
    const started = performance.now();
    let payload: Record<string, unknown> | undefined;
    if (isWorthLogging(ticket)) {
      // Rare, and operators look for them in the log: worth reading the payload for.
      payload = (await this.inbox.read(ticket.id).catch(() => undefined))?.payload;
    }
    const { level, text } = unhandledLine(ticket, payload);
    this.logger[level](text);
    await this.record(ticket, 'ignored', undefined, started);
  }

  private async record(
    ticket: Ticket,
    outcome: Outcome,
    failure: unknown,
    started: number,
  ): Promise<void> {
    try {
      if (outcome === 'failed') {
        await this.inbox.markFailed(ticket.id, failure);
      } else {
        await this.inbox.markDone(ticket.id);
      }
    } catch (error) {
      // Left pending on disk, so the next start runs it again; handlers are idempotent for this.
      outcome = 'unrecorded';
      this.unrecorded.add(ticket.id);
      this.logger.error(
        `delivery ${ticket.id}: cannot record its outcome in ${this.inbox.dir} (${errorMessage(error)}); ` +
          'it will run again at the next start: check that the state directory is writable',
      );
    }
    this.logOutcome(ticket, outcome, started);
  }

  private logOutcome(ticket: Ticket, outcome: Outcome, started: number): void {
    this.metrics.deliveriesProcessed.inc(ticket.event, outcome);
    this.logger.log(outcomeLine(ticket, outcome, Math.round(performance.now() - started)));
  }
}
