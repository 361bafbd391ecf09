import type { Server } from 'node:http';
import {
  Inject,
  Injectable,
  Logger,
  Optional,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { BotMetrics, type CatchUpPass } from '../../common/metrics/bot-metrics.js';
import { errorMessage } from '../../common/error-message.js';
import { GitHubClient } from '../../github/github.client.js';
import { Inbox } from '../inbox/inbox.js';
import { INTAKE_OPTIONS, type IntakeOptions } from '../intake.options.js';
import { missedDeliveries, type MissedDelivery } from './missed-deliveries.js';

/** GitHub redelivers only deliveries of the past 3 days; the first pass looks back nearly that far. */
const START_LOOK_BACK_MS = 71 * 3600_000;
/** Later passes look back to the previous pass's start less this, so nothing falls in between. */
const OVERLAP_MS = 10 * 60_000;
/** Pages of 100 deliveries read per pass at most. */
const MAX_PAGES = 30;
/** Redeliveries asked for per pass at most; the rest wait for the next pass. */
const MAX_REDELIVERIES_PER_PASS = 50;
/** A delivery is asked for this many times per process at most (it may fail for good: 401, 400). */
const MAX_REQUESTS_PER_DELIVERY = 3;
/** Behind a relay, deliveries younger than this may still be on their way. */
const RELAY_GRACE_MS = 2 * 60_000;

/**
 * Missed-webhook catch-up. GitHub does not redeliver a failed delivery by itself: at start (once
 * the server listens) and every `[event_handler] redeliver_interval`, this lists the App's recent
 * deliveries (App JWT), picks those GitHub failed to make and the inbox never stored, and asks
 * GitHub to redeliver them. A redelivery carries the same X-GitHub-Delivery, so the inbox takes it
 * once however often it comes. One summary line per pass. See docs/operations.md.
 */
@Injectable()
export class CatchUpService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('CatchUp');
  private readonly intervalMs: number;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private running: Promise<unknown> = Promise.resolve();
  /** Start of the next pass's look-back (ms epoch); undefined before the first pass. */
  private lookBackFrom?: number;
  /** Redeliveries asked for, by guid: how often and when last. */
  private readonly asked = new Map<string, { count: number; at: number }>();

  constructor(
    @Inject(INTAKE_OPTIONS)
    private readonly options: Pick<IntakeOptions, 'redeliverIntervalSeconds' | 'installationId'>,
    private readonly inbox: Inbox,
    @Optional() private readonly github?: GitHubClient,
    @Optional() private readonly adapterHost?: HttpAdapterHost,
    @Optional() private readonly metrics: BotMetrics = new BotMetrics(),
  ) {
    this.intervalMs = (options.redeliverIntervalSeconds ?? 0) * 1000;
  }

  onApplicationBootstrap(): void {
    if (this.intervalMs <= 0 || !this.github) {
      return;
    }
    this.metrics.catchUp.intervalSeconds = this.intervalMs / 1000;
    // A redelivery asked for before the server listens would fail again.
    const server = this.adapterHost?.httpAdapter?.getHttpServer() as Server | undefined;
    if (server && typeof server.once === 'function' && !server.listening) {
      server.once('listening', () => this.arm(0));
    } else {
      this.arm(0);
    }
  }

  /** A pass in flight is not waited for: it writes nothing, and GitHub may be slow to answer. */
  onModuleDestroy(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** One pass; never throws. */
  pass(): Promise<CatchUpPass> {
    const run = this.running.then(() => this.runPass(Date.now()));
    this.running = run.catch(() => undefined);
    return run;
  }

  private arm(delayMs: number): void {
    if (this.stopped) {
      return;
    }
    this.timer = setTimeout(() => {
      void this.pass().finally(() => this.arm(this.intervalMs));
    }, delayMs);
  }

  private async runPass(at: number): Promise<CatchUpPass> {
    const github = this.github;
    const relay = this.metrics.relay;
    if (!github) {
      return this.skipped(at, 'no GitHub client in this process');
    }
    if (relay && relay.state !== 'connected') {
      // Redeliveries would go to smee.io and be lost on the way again.
      return this.skipped(at, `the smee relay is ${relay.state}`);
    }
    const since = this.lookBackFrom ?? at - START_LOOK_BACK_MS;
    let listing;
    try {
      listing = await github.listHookDeliveries(new Date(since), MAX_PAGES);
    } catch (error) {
      this.metrics.catchUp.passes.inc('failed');
      this.logger.warn(
        `catch-up: cannot list the App's webhook deliveries (${errorMessage(error)}); ` +
          `trying again in ${this.intervalMs / 1000} s`,
      );
      return { at, listed: 0, missed: 0, requested: 0, refused: 0, leftOver: 0 };
    }
    const missed: MissedDelivery[] = [];
    for (const delivery of missedDeliveries(listing.deliveries, {
      relayed: relay !== undefined,
      ...(this.options.installationId === undefined
        ? {}
        : { installationId: this.options.installationId }),
      now: at,
      graceMs: relay ? RELAY_GRACE_MS : 0,
    })) {
      if (!(await this.inbox.hasSeen(delivery.guid))) {
        missed.push(delivery);
      }
    }
    const outcome = await this.redeliver(missed, at);
    // Far enough back to see again what this pass saw and left (grace, bound, refusals).
    this.lookBackFrom = Math.min(
      at - Math.max(OVERLAP_MS, relay ? RELAY_GRACE_MS : 0),
      outcome.oldestLeft ?? Infinity,
    );
    this.forgetOldRequests(at);
    const pass: CatchUpPass = {
      at,
      listed: listing.deliveries.length,
      missed: missed.length,
      requested: outcome.requested,
      refused: outcome.refused,
      leftOver: outcome.leftOver,
    };
    this.metrics.catchUp.passes.inc('completed');
    this.metrics.catchUp.lastPass = pass;
    this.logger.log(summaryLine(pass, since, listing.truncated, outcome));
    return pass;
  }

  private async redeliver(
    missed: readonly MissedDelivery[],
    at: number,
  ): Promise<RedeliveryOutcome> {
    const outcome: RedeliveryOutcome = { requested: 0, refused: 0, leftOver: 0, gaveUp: 0 };
    for (const delivery of missed) {
      const asked = this.asked.get(delivery.guid);
      if (asked && asked.count >= MAX_REQUESTS_PER_DELIVERY) {
        outcome.gaveUp += 1;
        continue;
      }
      if (outcome.requested + outcome.refused >= MAX_REDELIVERIES_PER_PASS) {
        outcome.leftOver += 1;
        outcome.oldestLeft ??= delivery.firstAttemptAt;
        continue;
      }
      this.asked.set(delivery.guid, { count: (asked?.count ?? 0) + 1, at });
      try {
        await this.github!.redeliverHookDelivery(delivery.attemptId);
        outcome.requested += 1;
        this.metrics.catchUp.redeliveries.inc('requested');
      } catch (error) {
        outcome.refused += 1;
        outcome.firstRefusal ??= `${delivery.guid}: ${errorMessage(error)}`;
        this.metrics.catchUp.redeliveries.inc('refused');
      }
    }
    return outcome;
  }

  private skipped(at: number, reason: string): CatchUpPass {
    const pass = {
      at,
      listed: 0,
      missed: 0,
      requested: 0,
      refused: 0,
      leftOver: 0,
      skipped: reason,
    };
    this.metrics.catchUp.passes.inc('skipped');
    this.metrics.catchUp.lastPass = pass;
    this.logger.log(`catch-up: pass skipped: ${reason}`);
    return pass;
  }

  private forgetOldRequests(now: number): void {
    for (const [guid, asked] of this.asked) {
      if (asked.at < now - START_LOOK_BACK_MS) {
        this.asked.delete(guid);
      }
    }
  }
}

interface RedeliveryOutcome {
  requested: number;
  refused: number;
  leftOver: number;
  gaveUp: number;
  oldestLeft?: number;
  firstRefusal?: string;
}

function summaryLine(
  pass: CatchUpPass,
  since: number,
  truncated: boolean,
  outcome: RedeliveryOutcome,
): string {
  const parts = [
    `catch-up: ${pass.listed} deliveries since ${new Date(since).toISOString()}`,
    `${pass.missed} missed`,
    `redelivery asked for ${pass.requested}`,
  ];
  if (pass.refused > 0) {
    parts.push(`${pass.refused} refused (first: ${outcome.firstRefusal})`);
  }
  if (pass.leftOver > 0) {
    parts.push(`${pass.leftOver} left for the next pass`);
  }
  if (outcome.gaveUp > 0) {
    parts.push(`${outcome.gaveUp} given up after ${MAX_REQUESTS_PER_DELIVERY} requests`);
  }
  if (truncated) {
    parts.push(`listing stopped after ${MAX_PAGES} pages`);
  }
  return parts.join(', ');
}
