import type { IncomingMessage, ServerResponse } from 'node:http';
import { Controller, Get, Inject, Logger, Req, Res } from '@nestjs/common';
import { JobIndex } from '../builds/job-index.js';
import { BotMetrics } from '../common/metrics/bot-metrics.js';
import { errorMessage } from '../common/error-message.js';
import { MONITORING_OPTIONS, type MonitoringOptions } from './monitoring.options.js';
import type { Exposition } from './prometheus-exposition.js';
import { StatusAccess } from './status-access.js';
import { renderStatusPage, STATUS_PAGE_CSP } from './status-page.js';
import { statusReport, type StatusReport } from './status-report.js';

/** `?pr=` as typed into the page's form: empty means no filter. */
function parsePr(query: string | undefined): { pr?: number; error?: string } {
  const value = new URLSearchParams(query ?? '').get('pr')?.trim() ?? '';
  if (value === '') {
    return {};
  }
  if (!/^[0-9]{1,9}$/.test(value) || Number(value) === 0) {
    return { error: 'PR must be a pull request number, e.g. 42' };
  }
  return { pr: Number(value) };
}

const COMMON_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/**
 * Read-only views of the bot for its operators: GET /status (HTML), /status.json (the same data)
 * and /metrics (Prometheus). Behind StatusAccess (client address, optional basic auth).
 */
@Controller()
export class MonitoringController {
  private readonly logger = new Logger(MonitoringController.name);
  private readonly access: StatusAccess;
  private exposition?: Promise<Exposition>;

  constructor(
    @Inject(MONITORING_OPTIONS) private readonly options: MonitoringOptions,
    private readonly metrics: BotMetrics,
    private readonly jobs: JobIndex,
  ) {
    this.access = new StatusAccess(options.statusBind, options.statusAuth);
    if (this.access.everyone && !this.access.requiresPassword) {
      this.logger.warn(
        '/status and /metrics answer every client without a password (status_bind ' +
          `${options.statusBind.join(' ')}): set [event_handler] status_auth or narrow status_bind`,
      );
    }
  }

  @Get('metrics')
  async scrape(@Req() req: IncomingMessage, @Res() res: ServerResponse): Promise<void> {
    if (!(await this.admit(req, res))) {
      return;
    }
    try {
      this.exposition ??= import('./prometheus-exposition.js').then(({ createExposition }) =>
        createExposition({
          metrics: this.metrics,
          jobs: this.jobs,
          appName: this.options.appName,
          version: this.options.version,
        }),
      );
      const exposition = await this.exposition;
      this.send(res, 200, exposition.contentType, await exposition.render());
    } catch (error) {
      this.logger.error(`cannot render /metrics: ${errorMessage(error)}`);
      this.send(res, 500, 'text/plain; charset=utf-8', 'metrics unavailable\n');
    }
  }

  @Get('status')
  async page(@Req() req: IncomingMessage, @Res() res: ServerResponse): Promise<void> {
    if (!(await this.admit(req, res))) {
      return;
    }
    const { pr, error } = parsePr(req.url?.split('?')[1]);
    const report = await this.report(res, pr);
    if (!report) {
      return;
    }
    this.send(res, error ? 400 : 200, 'text/html; charset=utf-8', renderStatusPage(report, error), {
      'content-security-policy': STATUS_PAGE_CSP,
    });
  }

  @Get('status.json')
  async json(@Req() req: IncomingMessage, @Res() res: ServerResponse): Promise<void> {
    if (!(await this.admit(req, res))) {
      return;
    }
    const { pr, error } = parsePr(req.url?.split('?')[1]);
    if (error) {
      this.send(res, 400, 'application/json; charset=utf-8', JSON.stringify({ error }));
      return;
    }
    const report = await this.report(res, pr);
    if (report) {
      this.send(res, 200, 'application/json; charset=utf-8', JSON.stringify(report, null, 2));
    }
  }

  private async report(
    res: ServerResponse,
    pr: number | undefined,
  ): Promise<StatusReport | undefined> {
    try {
      return await statusReport(
        {
          appName: this.options.appName,
          version: this.options.version,
          apiUrl: this.options.apiUrl,
          metrics: this.metrics,
          jobs: this.jobs,
        },
        pr,
      );
    } catch (error) {
      this.logger.error(`cannot read the job records for /status: ${errorMessage(error)}`);
      this.send(res, 500, 'text/plain; charset=utf-8', 'status unavailable: see the server log\n');
      return undefined;
    }
  }

  private async admit(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const verdict = await this.access.check(req);
    if (verdict.allowed) {
      return true;
    }
    if (verdict.status === 401) {
      this.send(res, 401, 'text/plain; charset=utf-8', 'authentication required\n', {
        'www-authenticate': 'Basic realm="eessi-bot status", charset="UTF-8"',
      });
    } else {
      // Says what to change, not who may: the allowed addresses are the operator's business.
      this.send(
        res,
        403,
        'text/plain; charset=utf-8',
        'not allowed from this address: see [event_handler] status_bind\n',
      );
    }
    return false;
  }

  private send(
    res: ServerResponse,
    status: number,
    contentType: string,
    body: string,
    headers: Record<string, string> = {},
  ): void {
    res.writeHead(status, {
      ...COMMON_HEADERS,
      ...headers,
      'content-type': contentType,
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  }
}
