import { readFileSync } from 'node:fs';
import { Controller, Get, Logger, Res } from '@nestjs/common';
import type { Response } from 'express';
import { errorMessage } from '../github/error-message.js';
import { Inbox } from './inbox/inbox.js';

/** Read once: `../../package.json` is the project root from both src/intake/ and dist/intake/. */
function readVersion(): string {
  try {
    const pkg = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as {
      version?: unknown;
    };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

const VERSION = readVersion();

export interface HealthReport {
  readonly status: 'ok' | 'degraded';
  readonly version: string;
  readonly uptimeSeconds: number;
  /** Absent when the inbox cannot be read at all. */
  readonly inbox?: { readonly pending: number; readonly failed: number };
  readonly reason?: string;
}

/**
 * Liveness and backlog for monitoring. Degraded (503) when new deliveries could not be stored,
 * since GitHub would then see failures; failed deliveries are reported, not treated as unhealthy,
 * because they need an operator rather than a restart.
 */
@Controller('health')
export class HealthController {
  private readonly logger = new Logger(HealthController.name);

  constructor(private readonly inbox: Inbox) {}

  @Get()
  async health(@Res() res: Response): Promise<void> {
    const writable = await this.inbox.isWritable();
    let inbox: HealthReport['inbox'];
    try {
      const { pending, failed } = await this.inbox.counts();
      inbox = { pending, failed };
    } catch (error) {
      this.logger.error(`cannot count inbox entries in ${this.inbox.dir}: ${errorMessage(error)}`);
    }
    const ok = writable && inbox !== undefined;
    const report: HealthReport = {
      status: ok ? 'ok' : 'degraded',
      version: VERSION,
      uptimeSeconds: Math.floor(process.uptime()),
      ...(inbox ? { inbox } : {}),
      // The path stays in the server log: this endpoint is as public as the webhook.
      ...(ok ? {} : { reason: writable ? 'inbox unreadable' : 'state directory not writable' }),
    };
    res.status(ok ? 200 : 503).json(report);
  }
}
