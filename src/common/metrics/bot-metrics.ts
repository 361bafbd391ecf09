import { BucketCounts, Counts, EventOutcomeCounts } from './counts.js';

/*
 * What one bot process knows about itself, written by the parts that do the work (intake, GitHub
 * client, job manager, catch-up, deploy) and read by /health, /metrics and /status. Plain fields
 * and counters: recording is never more than a few additions, and nothing here loads prom-client.
 * The metric names and meanings are listed in docs/operations.md.
 */

/** How POST / stored a verified delivery. */
const RECEIVED_OUTCOMES = ['accepted', 'duplicate'] as const;

/** How a stored delivery's turn in the dispatcher ended (see intake/delivery-log.ts). */
const PROCESSED_OUTCOMES = ['done', 'failed', 'ignored', 'unrecorded', 'vanished'] as const;

/**
 * What became of one artefact a deploy looked at: transferred, found in the bucket with the same
 * bytes, left out by the upload policy, failed, or unknown because the bot stopped while the
 * upload script ran (see deploy/upload-outcome.ts).
 */
export const UPLOAD_RESULTS = [
  'uploaded',
  'already_present',
  'skipped',
  'failed',
  'interrupted',
] as const;
export type UploadResult = (typeof UPLOAD_RESULTS)[number];

/** Upper bounds (seconds) of the job manager's tick duration histogram. */
const TICK_SECONDS_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export interface RateLimitReading {
  /** x-ratelimit-remaining of the last installation request answered. */
  readonly remaining: number;
  readonly limit?: number;
  /** x-ratelimit-reset: epoch seconds. */
  readonly resetAt?: number;
}

export interface InboxVitals {
  readonly pending: number;
  /** Entries in failed/ (failed deliveries and set-aside bytes). */
  readonly failed: number;
  /** ms epoch at which the delivery pending longest was stored. */
  readonly oldestPendingSince?: number;
}

/** The job manager's poll, as far as this process runs it. */
class JobManagerVitals {
  /** Set when this process schedules the poll (serve without --no-job-manager). */
  pollIntervalSeconds?: number;
  scheduledAt?: number;
  /** End of the last tick that read the queue (or had no job to look at). */
  lastTickCompletedAt?: number;
  lastSqueueSuccessAt?: number;
  readonly ticks = new Counts<'completed' | 'skipped'>();
  readonly tickSeconds = new BucketCounts(TICK_SECONDS_BUCKETS);

  scheduled(pollIntervalSeconds: number, now = Date.now()): void {
    this.pollIntervalSeconds = pollIntervalSeconds;
    this.scheduledAt = now;
  }

  squeueSucceeded(now = Date.now()): void {
    this.lastSqueueSuccessAt = now;
  }

  /** A skipped tick (the queue or submitted/ could not be read) did not complete. */
  tickEnded(seconds: number, skipped: boolean, now = Date.now()): void {
    this.tickSeconds.observe(seconds);
    this.ticks.inc(skipped ? 'skipped' : 'completed');
    if (!skipped) {
      this.lastTickCompletedAt = now;
    }
  }

  /**
   * Seconds since the last completed tick, or since the poll was scheduled if no tick completed
   * yet; undefined when this process does not run the job manager.
   */
  secondsWithoutTick(now = Date.now()): number | undefined {
    const since = this.lastTickCompletedAt ?? this.scheduledAt;
    return since === undefined ? undefined : (now - since) / 1000;
  }
}

export type RelayState = 'connecting' | 'connected' | 'disconnected' | 'stopped';

/** The smee.io relay (serve --smee-url or [event_handler] smee_url), when this process runs one. */
export class RelayVitals {
  state: RelayState = 'connecting';
  since = Date.now();
  /** Why the last connection failed or ended; never holds the channel's URL. */
  lastProblem?: string;
  /** Deliveries forwarded to the bot. */
  forwarded = 0;

  set(state: RelayState, problem?: string, now = Date.now()): void {
    if (state !== this.state) {
      this.state = state;
      this.since = now;
    }
    if (problem !== undefined) {
      this.lastProblem = problem;
    }
  }
}

export interface CatchUpPass {
  /** ms epoch of the pass's start. */
  readonly at: number;
  /** Deliveries GitHub listed within the look-back. */
  readonly listed: number;
  /** Missed: failed (or, behind a relay, unknown to the inbox) and not seen by the inbox. */
  readonly missed: number;
  readonly requested: number;
  readonly refused: number;
  /** Missed deliveries left for the next pass (over the per-pass bound). */
  readonly leftOver: number;
  /** Why the pass did nothing, if it did not run. */
  readonly skipped?: string;
}

/** Missed-webhook catch-up (intake/catch-up). */
class CatchUpVitals {
  /** Set when catch-up runs in this process. */
  intervalSeconds?: number;
  lastPass?: CatchUpPass;
  readonly passes = new Counts<'completed' | 'failed' | 'skipped'>();
  readonly redeliveries = new Counts<'requested' | 'refused'>();
}

/**
 * The process's counters and vitals. One instance per process (MetricsModule); code run without
 * it (unit tests, the simulate command) gets a private one, so recording never needs a check.
 */
export class BotMetrics {
  readonly startedAt = Date.now();
  /** POST / answers by HTTP status. */
  readonly webhookResponses = new Counts<number>(32);
  readonly deliveriesReceived = new EventOutcomeCounts(RECEIVED_OUTCOMES);
  readonly deliveriesProcessed = new EventOutcomeCounts(PROCESSED_OUTCOMES);
  /** GitHub API attempts by HTTP status; `error` when no answer came. */
  readonly githubRequests = new Counts<number | 'error'>(32);
  /** Last reading per x-ratelimit-resource (core, search, graphql…) of installation requests. */
  readonly githubRateLimit = new Map<string, RateLimitReading>();
  readonly uploads = new Counts<UploadResult>();
  readonly jobManager = new JobManagerVitals();
  readonly catchUp = new CatchUpVitals();
  relay?: RelayVitals;
  private inboxProbe?: () => Promise<InboxVitals>;

  /** Starts reporting a relay's state; returns the vitals the relay updates. */
  trackRelay(): RelayVitals {
    this.relay ??= new RelayVitals();
    return this.relay;
  }

  /** The intake tells how to read its inbox (depth, oldest pending delivery). */
  watchInbox(probe: () => Promise<InboxVitals>): void {
    this.inboxProbe = probe;
  }

  /** Undefined when this process has no inbox (the job-manager command). */
  readInbox(): Promise<InboxVitals> | undefined {
    return this.inboxProbe?.();
  }
}
