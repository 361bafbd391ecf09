import { Controller, Get, Logger, Optional, Res } from '@nestjs/common';
import type { Response } from 'express';
import { errorMessage } from '../common/error-message.js';
import { BotMetrics } from '../common/metrics/bot-metrics.js';
import { botVersion } from '../common/package-version.js';
import { Inbox } from './inbox/inbox.js';

const VERSION = botVersion();

function seconds(ms: number): number {
  return Math.max(0, Math.floor(ms / 1000));
}

/** A delivery pending this long means the dispatcher is stuck (or far behind). */
const STUCK_DELIVERY_SECONDS = 300;
/** The job manager counts as stalled after this many poll intervals without a completed tick. */
const STALLED_AFTER_POLLS = 3;

export interface HealthReport {
  readonly status: 'ok' | 'degraded';
  readonly version: string;
  readonly uptimeSeconds: number;
  /** Absent when the inbox cannot be read at all. */
  readonly inbox?: {
    readonly pending: number;
    readonly failed: number;
    /** How long the delivery pending longest has waited (absent when none is pending). */
    readonly oldestPendingSeconds?: number;
  };
  /** Present when this process runs the job manager's poll. */
  readonly jobManager?: {
    readonly pollIntervalSeconds: number;
    /** Since the last completed tick (or the start, before the first one). */
    readonly secondsWithoutTick: number;
  };
  /** Every reason for `degraded`, joined with '; '. */
  readonly reason?: string;
}

/**
 * Liveness and backlog for monitoring. Degraded (503) when new deliveries could not be stored
 * (GitHub would then see failures), when a delivery has been pending for STUCK_DELIVERY_SECONDS
 * (the dispatcher is stuck), or when the job manager of this process has not completed a poll for
 * STALLED_AFTER_POLLS intervals (squeue failing, or a tick hanging). Failed deliveries are
 * reported, not treated as unhealthy: they need an operator rather than a restart.
 */
@Controller('health')
export class HealthController {
  private readonly logger = new Logger(HealthController.name);

  constructor(
    private readonly inbox: Inbox,
    @Optional() private readonly metrics: BotMetrics = new BotMetrics(),
  ) {}

  @Get()
  async health(@Res() res: Response): Promise<void> {
    const now = Date.now();
    // Paths stay in the server log: this endpoint is as public as the webhook.
    const reasons: string[] = [];
    const writable = await this.inbox.isWritable();
    if (!writable) {
      reasons.push('state directory not writable');
    }
    let inbox: HealthReport['inbox'];
    try {
      const { pending, failed } = await this.inbox.counts();
      const since = this.inbox.oldestPendingSince();
      const oldestPendingSeconds = since === undefined ? undefined : seconds(now - since);
      inbox = { pending, failed, ...(since === undefined ? {} : { oldestPendingSeconds }) };
      if (oldestPendingSeconds !== undefined && oldestPendingSeconds > STUCK_DELIVERY_SECONDS) {
        reasons.push(`a delivery has been pending for ${oldestPendingSeconds} s`);
      }
    } catch (error) {
      this.logger.error(`cannot count inbox entries in ${this.inbox.dir}: ${errorMessage(error)}`);
      // An unwritable directory usually explains this too: one reason is enough then.
      if (writable) {
        reasons.push('inbox unreadable');
      }
    }
    const jobManager = this.jobManager(now);
    if (
      jobManager &&
      jobManager.secondsWithoutTick > STALLED_AFTER_POLLS * jobManager.pollIntervalSeconds
    ) {
      reasons.push(
        `the job manager has not completed a poll for ${jobManager.secondsWithoutTick} s`,
      );
    }
    const ok = reasons.length === 0;
    const report: HealthReport = {
      status: ok ? 'ok' : 'degraded',
      version: VERSION,
      uptimeSeconds: Math.floor(process.uptime()),
      ...(inbox ? { inbox } : {}),
      ...(jobManager ? { jobManager } : {}),
      ...(ok ? {} : { reason: reasons.join('; ') }),
    };
    res.status(ok ? 200 : 503).json(report);
  }

  private jobManager(now: number): HealthReport['jobManager'] {
    const { pollIntervalSeconds } = this.metrics.jobManager;
    const secondsWithoutTick = this.metrics.jobManager.secondsWithoutTick(now);
    if (pollIntervalSeconds === undefined || secondsWithoutTick === undefined) {
      return undefined;
    }
    return { pollIntervalSeconds, secondsWithoutTick: Math.floor(secondsWithoutTick) };
  }
}
