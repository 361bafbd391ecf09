import {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  Registry,
  type CounterConfiguration,
  type GaugeConfiguration,
} from 'prom-client';
import type { JobIndex } from '../builds/job-index.js';
import {
  UPLOAD_RESULTS,
  type BotMetrics,
  type RateLimitReading,
} from '../common/metrics/bot-metrics.js';
import type { BucketCounts, Counts } from '../common/metrics/counts.js';

/*
 * BotMetrics in Prometheus's text format, through prom-client. This module is imported only when
 * /metrics is first scraped (prom-client and its dependencies cost ~12 MiB of memory). Every value
 * is read from BotMetrics (or the job index) at scrape time by the metrics' collect functions;
 * nothing on the webhook path touches prom-client. Names and meanings: docs/operations.md.
 */

export interface ExpositionSources {
  readonly metrics: BotMetrics;
  readonly jobs?: JobIndex;
  readonly appName: string;
  readonly version: string;
}

export interface Exposition {
  readonly contentType: string;
  render(): Promise<string>;
}

/** States every jobs gauge reports, 0 included, so that series do not come and go. */
const JOB_STATES = [
  'submitted',
  'released',
  'running',
  'success',
  'failure',
  'cancelled',
  'unknown',
];

type Label = string;

export function createExposition(sources: ExpositionSources): Exposition {
  const { metrics } = sources;
  const registry = new Registry();
  const registers = [registry];
  // The process's own figures (CPU, memory, event loop lag, GC) under their usual names.
  collectDefaultMetrics({ register: registry });

  const counter = <L extends Label>(
    config: Omit<CounterConfiguration<L>, 'registers' | 'collect'>,
    fill: (set: (labels: Partial<Record<L, string | number>>, value: number) => void) => void,
  ) =>
    new Counter<L>({
      ...config,
      registers,
      collect() {
        this.reset();
        fill((labels, value) => this.inc(labels, value));
      },
    });
  const gauge = <L extends Label>(
    config: Omit<GaugeConfiguration<L>, 'registers' | 'collect'>,
    fill: (
      set: (labels: Partial<Record<L, string | number>>, value: number) => void,
    ) => Promise<void> | void,
  ) =>
    new Gauge<L>({
      ...config,
      registers,
      async collect() {
        this.reset();
        await fill((labels, value) => this.set(labels, value));
      },
    });
  const byLabel = <K extends string | number>(counts: Counts<K>, label: string) => {
    return (set: (labels: Record<string, string>, value: number) => void) => {
      for (const [key, value] of counts.entries()) {
        set({ [label]: String(key) }, value);
      }
    };
  };

  gauge(
    {
      name: 'eessi_bot_info',
      help: 'Always 1; the labels name this bot instance',
      labelNames: ['version', 'app_name'],
    },
    (set) => set({ version: sources.version, app_name: sources.appName }, 1),
  );

  // ---- intake
  counter(
    {
      name: 'eessi_bot_webhook_responses_total',
      help: 'Answers to POST / (webhook deliveries) by HTTP status',
      labelNames: ['status'],
    },
    byLabel(metrics.webhookResponses, 'status'),
  );
  counter(
    {
      name: 'eessi_bot_deliveries_received_total',
      help: 'Verified webhook deliveries by event and outcome (accepted: stored; duplicate: seen before)',
      labelNames: ['event', 'outcome'],
    },
    (set) => {
      for (const e of metrics.deliveriesReceived.entries()) {
        set({ event: e.event, outcome: e.outcome }, e.value);
      }
    },
  );
  counter(
    {
      name: 'eessi_bot_deliveries_processed_total',
      help: 'Stored deliveries handled by the dispatcher, by event and outcome (done, ignored, failed, unrecorded, vanished)',
      labelNames: ['event', 'outcome'],
    },
    (set) => {
      for (const e of metrics.deliveriesProcessed.entries()) {
        set({ event: e.event, outcome: e.outcome }, e.value);
      }
    },
  );
  if (metrics.readInbox()) {
    const inbox = () => metrics.readInbox()!;
    gauge(
      { name: 'eessi_bot_inbox_pending_deliveries', help: 'Deliveries stored and not yet handled' },
      async (set) => set({}, (await inbox()).pending),
    );
    gauge(
      {
        name: 'eessi_bot_inbox_failed_entries',
        help: 'Entries in the inbox failed/ directory (failed deliveries, set-aside bytes)',
      },
      async (set) => set({}, (await inbox()).failed),
    );
    gauge(
      {
        name: 'eessi_bot_inbox_oldest_pending_age_seconds',
        help: 'How long the delivery pending longest has waited (0 when none is pending)',
      },
      async (set) => {
        const since = (await inbox()).oldestPendingSince;
        set({}, since === undefined ? 0 : Math.max(0, (Date.now() - since) / 1000));
      },
    );
  }

  // ---- jobs
  if (sources.jobs) {
    const jobs = sources.jobs;
    gauge(
      {
        name: 'eessi_bot_jobs',
        help: `Jobs submitted in the last ${jobs.windowDays} days by latest state (finished jobs by result)`,
        labelNames: ['state'],
      },
      async (set) => {
        const counts = new Map(JOB_STATES.map((state) => [state, 0]));
        for (const job of await jobs.jobs()) {
          const state =
            job.state === 'finished' ? (job.result ?? 'unknown').toLowerCase() : job.state;
          counts.set(state, (counts.get(state) ?? 0) + 1);
        }
        for (const [state, value] of counts) {
          set({ state }, value);
        }
      },
    );
  }

  // ---- job manager (only where this process runs its poll)
  const jm = metrics.jobManager;
  if (jm.pollIntervalSeconds !== undefined) {
    gauge(
      { name: 'eessi_bot_job_manager_poll_interval_seconds', help: '[job_manager] poll_interval' },
      (set) => set({}, jm.pollIntervalSeconds!),
    );
    new BucketHistogram(jm.tickSeconds, {
      name: 'eessi_bot_job_manager_tick_duration_seconds',
      help: 'Duration of job manager polls (squeue, releases, result analysis, comment updates)',
      registers,
    });
    counter(
      {
        name: 'eessi_bot_job_manager_ticks_total',
        help: 'Job manager polls by outcome (skipped: squeue or job_ids_dir could not be read)',
        labelNames: ['outcome'],
      },
      byLabel(jm.ticks, 'outcome'),
    );
    gauge(
      {
        name: 'eessi_bot_job_manager_seconds_without_tick',
        help: 'Seconds since the last completed poll (since the start before the first)',
      },
      (set) => set({}, jm.secondsWithoutTick() ?? 0),
    );
    gauge(
      {
        name: 'eessi_bot_job_manager_seconds_since_squeue_success',
        help: 'Seconds since squeue last answered (since the start before the first; squeue runs only while jobs are tracked)',
      },
      (set) =>
        set({}, (Date.now() - (jm.lastSqueueSuccessAt ?? jm.scheduledAt ?? Date.now())) / 1000),
    );
  }

  // ---- GitHub
  counter(
    {
      name: 'eessi_bot_github_requests_total',
      help: 'GitHub API attempts by HTTP status (error: no answer)',
      labelNames: ['status'],
    },
    byLabel(metrics.githubRequests, 'status'),
  );
  const rateLimit: Array<[string, string, (reading: RateLimitReading) => number | undefined]> = [
    [
      'eessi_bot_github_rate_limit_remaining',
      "Requests left in the installation's rate-limit window (x-ratelimit-remaining of the last answer)",
      (reading) => reading.remaining,
    ],
    [
      'eessi_bot_github_rate_limit_limit',
      "Size of the installation's rate-limit window (x-ratelimit-limit)",
      (reading) => reading.limit,
    ],
    [
      'eessi_bot_github_rate_limit_reset_timestamp_seconds',
      'When the rate-limit window resets (x-ratelimit-reset, Unix time)',
      (reading) => reading.resetAt,
    ],
  ];
  for (const [name, help, read] of rateLimit) {
    gauge({ name, help, labelNames: ['resource'] }, (set) => {
      for (const [resource, reading] of metrics.githubRateLimit) {
        const value = read(reading);
        if (value !== undefined) {
          set({ resource }, value);
        }
      }
    });
  }

  // ---- deploy
  counter(
    {
      name: 'eessi_bot_uploads_total',
      help: 'Artefacts a deploy looked at, by result (see docs/operations.md)',
      labelNames: ['result'],
    },
    // Every result from the start, 0 included, so that increase() sees the first failure.
    (set) => UPLOAD_RESULTS.forEach((result) => set({ result }, metrics.uploads.get(result))),
  );

  // ---- catch-up and relay
  if (metrics.catchUp.intervalSeconds !== undefined) {
    counter(
      {
        name: 'eessi_bot_catchup_passes_total',
        help: 'Missed-webhook catch-up passes by outcome',
        labelNames: ['outcome'],
      },
      byLabel(metrics.catchUp.passes, 'outcome'),
    );
    counter(
      {
        name: 'eessi_bot_catchup_redeliveries_total',
        help: 'Redeliveries asked of GitHub by outcome (requested, refused)',
        labelNames: ['outcome'],
      },
      byLabel(metrics.catchUp.redeliveries, 'outcome'),
    );
    gauge(
      {
        name: 'eessi_bot_catchup_last_pass_timestamp_seconds',
        help: 'Start of the last catch-up pass (Unix time; 0 before the first)',
      },
      (set) => set({}, (metrics.catchUp.lastPass?.at ?? 0) / 1000),
    );
  }
  if (metrics.relay) {
    const relay = metrics.relay;
    gauge(
      {
        name: 'eessi_bot_smee_relay_connected',
        help: '1 while the smee.io relay is connected, else 0',
      },
      (set) => set({}, relay.state === 'connected' ? 1 : 0),
    );
  }

  return { contentType: registry.contentType, render: () => registry.metrics() };
}

/** A Prometheus histogram whose buckets are counted elsewhere (BucketCounts, no prom-client). */
class BucketHistogram extends Histogram {
  private readonly metricName: string;
  private readonly metricHelp: string;

  constructor(
    private readonly source: BucketCounts,
    config: { name: string; help: string; registers: Registry[] },
  ) {
    super({ ...config, buckets: [...source.upperBounds] });
    this.metricName = config.name;
    this.metricHelp = config.help;
    // The registry prefers getForPromString() (not in the typings) over get().
    Object.assign(this, { getForPromString: () => this.get() });
  }

  override async get(): Promise<Awaited<ReturnType<Histogram['get']>>> {
    const name = this.metricName;
    const bucket = `${name}_bucket`;
    const cumulative = this.source.cumulative();
    return {
      name,
      help: this.metricHelp,
      type: 'histogram' as never,
      aggregator: 'sum',
      collect: () => undefined,
      values: [
        ...this.source.upperBounds.map((le, i) => ({
          metricName: bucket,
          labels: { le },
          value: cumulative[i],
        })),
        { metricName: bucket, labels: { le: '+Inf' }, value: this.source.count },
        { metricName: `${name}_sum`, labels: {}, value: this.source.sum },
        { metricName: `${name}_count`, labels: {}, value: this.source.count },
      ],
    };
  }
}
