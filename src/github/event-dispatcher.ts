import {
  BeforeApplicationShutdown,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { pullRequestNumberOf, repositoryOf } from './github-events.js';
import { Inbox, type InboxEntry } from './inbox.js';
import { errorMessage } from './error-message.js';

/**
 * Does the work for one delivery. Resolve only once the work is durable (the delivery is then
 * marked done); throw to mark it failed. A handler may be re-run for the same delivery after a
 * crash, so it must be idempotent; Inbox.progress(id) helps it skip steps it already completed.
 */
export type DeliveryHandler = (delivery: InboxEntry) => Promise<void>;

/** Pull requests handled at the same time; each may clone repositories and call sbatch. */
export const MAX_CONCURRENT_LANES = 4;

/** How long shutdown waits for running handlers; unfinished deliveries resume at the next start. */
export const SHUTDOWN_GRACE_MS = 20_000;

type Outcome = 'done' | 'ignored' | 'failed' | 'unrecorded';

/**
 * Runs handlers for inbox deliveries in the background, after the webhook has been answered.
 *
 * Deliveries about one pull request run one at a time in arrival order (a `labeled` must not race
 * the `unlabeled` that follows it); different pull requests run concurrently, at most
 * MAX_CONCURRENT_LANES at once. Deliveries not about a PR or issue each get their own lane.
 * Handlers are looked up by event and action, then by event and '*'. A delivery is marked done
 * only after its handler resolves, so anything left pending by a crash runs again at start-up.
 */
@Injectable()
export class EventDispatcher implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(EventDispatcher.name);
  private readonly handlers = new Map<string, DeliveryHandler[]>();
  /** Lane key → deliveries waiting in that lane, in arrival order. */
  private readonly lanes = new Map<string, InboxEntry[]>();
  /** Lane keys with a delivery running. */
  private readonly running = new Set<string>();
  private readonly runningIds = new Set<string>();
  /** Delivery ids queued, running, or finished but possibly still listed by an in-flight scan. */
  private readonly tracked = new Set<string>();
  private scanning?: Promise<void>;
  private rescanRequested = false;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly inbox: Inbox) {}

  /**
   * Registers a handler for `event` (X-GitHub-Event) and `action` (payload.action, or '*' for any).
   * Register in onModuleInit: deliveries left from a previous run are resumed at bootstrap.
   */
  on(event: string, action: string, handler: DeliveryHandler): void {
    const key = `${event}.${action}`;
    this.handlers.set(key, [...(this.handlers.get(key) ?? []), handler]);
  }

  /** A delivery was accepted: pick it up in the background. Never throws, never waits. */
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
    for (const queue of this.lanes.values()) {
      for (const entry of queue) {
        this.tracked.delete(entry.id);
      }
    }
    this.lanes.clear();
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
        `${this.running.size} deliveries still running after ${SHUTDOWN_GRACE_MS} ms; ` +
          'they stay pending and resume at the next start',
      );
    }
  }

  private isIdle(): boolean {
    return !this.scanning && this.running.size === 0 && (this.stopped || this.lanes.size === 0);
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

  /** Lists the inbox and queues what is new; calls arriving mid-scan fold into one more pass. */
  private scan(): Promise<void> {
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
        let entries: InboxEntry[];
        try {
          entries = await this.inbox.pending();
        } catch (error) {
          this.logger.error(`cannot list pending deliveries: ${errorMessage(error)}`);
          return;
        }
        if (this.stopped) {
          return;
        }
        this.enqueue(entries);
        this.pump();
      } while (this.rescanRequested && !this.stopped);
    } finally {
      // In the same synchronous step as the last rescan check, so no notify() can fall between.
      this.scanning = undefined;
      this.settleIdle();
    }
  }

  private enqueue(entries: InboxEntry[]): void {
    const listed = new Set(entries.map((e) => e.id));
    const active = new Set<string>();
    for (const queue of this.lanes.values()) {
      queue.forEach((e) => active.add(e.id));
    }
    // Forget finished ids once no listing can return them any more (scans never overlap).
    for (const id of this.tracked) {
      if (!listed.has(id) && !active.has(id) && !this.runningIds.has(id)) {
        this.tracked.delete(id);
      }
    }
    for (const entry of entries) {
      if (this.tracked.has(entry.id)) {
        continue;
      }
      this.tracked.add(entry.id);
      const key = laneKey(entry);
      const queue = this.lanes.get(key) ?? [];
      // Keep sequence order even if a slower accept() of an earlier delivery landed later.
      const at = queue.findIndex((queued) => queued.sequence > entry.sequence);
      queue.splice(at === -1 ? queue.length : at, 0, entry);
      this.lanes.set(key, queue);
    }
  }

  private pump(): void {
    for (const [key, queue] of this.lanes) {
      if (this.stopped || this.running.size >= MAX_CONCURRENT_LANES) {
        return;
      }
      if (this.running.has(key)) {
        continue;
      }
      const entry = queue.shift();
      if (queue.length === 0) {
        this.lanes.delete(key);
      }
      if (entry) {
        this.run(key, entry);
      }
    }
  }

  private run(key: string, entry: InboxEntry): void {
    this.running.add(key);
    this.runningIds.add(entry.id);
    void this.process(entry).finally(() => {
      this.running.delete(key);
      this.runningIds.delete(entry.id);
      this.pump();
      this.settleIdle();
    });
  }

  private async process(entry: InboxEntry): Promise<void> {
    const started = performance.now();
    const handlers = [
      ...(this.handlers.get(`${entry.event}.${entry.action ?? ''}`) ?? []),
      ...(this.handlers.get(`${entry.event}.*`) ?? []),
    ];
    let outcome: Outcome;
    let failure: unknown;
    try {
      if (handlers.length === 0) {
        this.logUnhandled(entry);
        outcome = 'ignored';
      } else {
        for (const handler of handlers) {
          await handler(entry);
        }
        outcome = 'done';
      }
    } catch (error) {
      outcome = 'failed';
      failure = error;
      this.logger.error(
        `delivery ${entry.id} (${describe(entry)}) failed: ${errorMessage(error)}; ` +
          `kept in ${this.inbox.dir}/failed/${entry.id}.json`,
        (error as Error | undefined)?.stack,
      );
    }
    try {
      if (outcome === 'failed') {
        await this.inbox.markFailed(entry.id, failure);
      } else {
        await this.inbox.markDone(entry.id);
      }
    } catch (error) {
      // Left pending on disk, so the next start runs it again; handlers are idempotent for this.
      outcome = 'unrecorded';
      this.logger.error(
        `delivery ${entry.id}: cannot record its outcome in ${this.inbox.dir} (${errorMessage(error)}); ` +
          'it will run again at the next start: check that the state directory is writable',
      );
    }
    const repo = repositoryOf(entry.payload) ?? '-';
    const pr = pullRequestNumberOf(entry.payload);
    const ms = Math.round(performance.now() - started);
    this.logger.log(
      `delivery ${entry.id} ${describe(entry)} repo=${repo} pr=${pr ?? '-'} outcome=${outcome} ${ms}ms`,
    );
  }

  private logUnhandled(entry: InboxEntry): void {
    const payload = entry.payload;
    if (entry.event === 'ping') {
      this.logger.log(
        `ping from GitHub (hook ${typeof payload.hook_id === 'number' ? payload.hook_id : '?'}): ` +
          'webhook reaches the bot',
      );
    } else if (entry.event.startsWith('installation')) {
      const account = (payload.installation as { account?: { login?: unknown } } | undefined)
        ?.account;
      this.logger.log(
        `${describe(entry)} for account ${typeof account?.login === 'string' ? account.login : '?'}: ` +
          'no action needed',
      );
    } else {
      this.logger.debug(`delivery ${entry.id}: no handler for ${describe(entry)}`);
    }
  }
}

function describe(entry: InboxEntry): string {
  return entry.action ? `${entry.event}.${entry.action}` : entry.event;
}

/** Deliveries about the same PR share a lane; everything else runs independently. */
function laneKey(entry: InboxEntry): string {
  const repo = repositoryOf(entry.payload);
  const number = pullRequestNumberOf(entry.payload);
  return repo !== undefined && number !== undefined ? `${repo}#${number}` : `delivery:${entry.id}`;
}
