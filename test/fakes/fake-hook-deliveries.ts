/**
 * The webhook side of FakeGitHub: GitHub delivering an App's webhooks to its URL, keeping every
 * attempt in the App's delivery log, and redelivering on request — as the real one does:
 *
 *   fake.hooks.configure({ url: bot.url + '/', secret });
 *   await fake.hooks.send('pull_request', payload);   // one signed POST; the attempt is logged
 *                                                     // with the answer (status_code 0 when the
 *                                                     // bot could not be reached)
 *   fake.hooks.record({ event, statusCode: 502, ... }) // log history without sending anything
 *   fake.hooks.deliveries()                            // the log, newest first
 *   fake.hooks.redeliveryRequests                      // attempt ids the bot asked to redeliver
 *   await fake.hooks.idle()                            // redeliveries in flight have ended
 *
 * REST (App JWT only, like GitHub; FakeGitHub checks it before calling these):
 *   GET  /app/hook/deliveries?per_page=&cursor=     newest first, Link rel="next" with a cursor
 *   GET  /app/hook/deliveries/:id                   one attempt (404 if unknown)
 *   POST /app/hook/deliveries/:id/attempts          202 {}; the attempt's payload is sent again,
 *                                                   with the same guid, as a new attempt marked
 *                                                   redelivery
 */
import { createHmac, randomUUID } from 'node:crypto';

export interface HookAttempt {
  readonly id: number;
  readonly guid: string;
  readonly deliveredAt: string;
  readonly redelivery: boolean;
  readonly duration: number;
  readonly status: string;
  readonly statusCode: number;
  readonly event: string;
  readonly action: string | null;
  readonly installationId: number | null;
  readonly repositoryId: number | null;
  /** The payload exactly as sent. */
  readonly body: string;
}

export interface SendOptions {
  /** X-GitHub-Delivery (default: a new UUID). */
  readonly guid?: string;
  readonly installationId?: number | null;
  /**
   * Record this outcome whatever the bot answered (the request is still sent): a proxy in between
   * that failed, or GitHub's 10 s timeout passing after the bot stored the delivery.
   */
  readonly recordAs?: { readonly statusCode: number; readonly status: string };
}

export interface RecordOptions {
  readonly event: string;
  readonly payload?: unknown;
  readonly guid?: string;
  readonly statusCode: number;
  readonly status?: string;
  /** Default: now. */
  readonly deliveredAt?: Date;
  readonly redelivery?: boolean;
  readonly installationId?: number | null;
}

export interface HookRouteResult {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

/** GitHub waits this long for an answer before it logs the attempt as timed out. */
const DELIVERY_TIMEOUT_MS = 10_000;

export class FakeHookDeliveries {
  private target?: { url: string; secret: string };
  private readonly log: HookAttempt[] = [];
  private nextId = 90_000_001;
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Attempt ids POSTed to /attempts, in order. */
  readonly redeliveryRequests: number[] = [];

  constructor(
    private readonly installationId: number,
    private readonly baseUrl: () => string,
  ) {}

  /** Where and with which secret deliveries are sent (the App's webhook settings). */
  configure(target: { url: string; secret: string }): void {
    this.target = target;
  }

  /** Every attempt, newest first (as GitHub lists them). */
  deliveries(): HookAttempt[] {
    return [...this.log].sort(
      (a, b) => Date.parse(b.deliveredAt) - Date.parse(a.deliveredAt) || b.id - a.id,
    );
  }

  attemptsOf(guid: string): HookAttempt[] {
    return this.log.filter((a) => a.guid === guid);
  }

  /** One delivery attempt to the configured URL, logged with its outcome. */
  async send(event: string, payload: unknown, opts: SendOptions = {}): Promise<HookAttempt> {
    return this.deliver(event, JSON.stringify(payload), {
      guid: opts.guid ?? randomUUID(),
      redelivery: false,
      installationId: opts.installationId === undefined ? this.installationId : opts.installationId,
      recordAs: opts.recordAs,
    });
  }

  /** Adds an attempt to the log without sending anything. */
  record(opts: RecordOptions): HookAttempt {
    const body = JSON.stringify(opts.payload ?? { action: 'created' });
    return this.append({
      guid: opts.guid ?? randomUUID(),
      deliveredAt: (opts.deliveredAt ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      redelivery: opts.redelivery ?? false,
      duration: 0.01,
      status: opts.status ?? (opts.statusCode >= 200 && opts.statusCode < 300 ? 'OK' : 'failed'),
      statusCode: opts.statusCode,
      event: opts.event,
      action: actionOf(body),
      installationId: opts.installationId === undefined ? this.installationId : opts.installationId,
      repositoryId: null,
      body,
    });
  }

  /** Resolves once every redelivery asked for so far has been attempted. */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) {
      await Promise.all([...this.inFlight]);
    }
  }

  // ---- REST ---------------------------------------------------------------------------------

  list(query: URLSearchParams, path: string): HookRouteResult {
    const perPage = Math.min(100, Math.max(1, Number(query.get('per_page')) || 30));
    const all = this.deliveries();
    const cursor = query.get('cursor');
    let start = 0;
    if (cursor) {
      const id = Number(/^v1_(\d+)$/.exec(cursor)?.[1]);
      start = all.findIndex((a) => a.id === id);
      if (start < 0) {
        return { status: 422, body: { message: 'Invalid cursor' } };
      }
    }
    const page = all.slice(start, start + perPage);
    const next = all[start + perPage];
    const headers: Record<string, string> = next
      ? {
          link: `<${this.baseUrl()}${path}?per_page=${perPage}&cursor=v1_${next.id}>; rel="next"`,
        }
      : {};
    return { status: 200, body: page.map(toJson), headers };
  }

  get(id: number): HookRouteResult {
    const attempt = this.log.find((a) => a.id === id);
    return attempt
      ? {
          status: 200,
          body: { ...toJson(attempt), request: { payload: JSON.parse(attempt.body) } },
        }
      : { status: 404, body: { message: 'Not Found' } };
  }

  redeliver(id: number): HookRouteResult {
    const attempt = this.log.find((a) => a.id === id);
    if (!attempt) {
      return { status: 404, body: { message: 'Not Found' } };
    }
    this.redeliveryRequests.push(id);
    // GitHub answers at once and delivers in the background.
    const run = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() =>
        this.deliver(attempt.event, attempt.body, {
          guid: attempt.guid,
          redelivery: true,
          installationId: attempt.installationId,
        }),
      )
      .finally(() => this.inFlight.delete(run));
    this.inFlight.add(run);
    return { status: 202, body: {} };
  }

  // ---- delivering ---------------------------------------------------------------------------

  private async deliver(
    event: string,
    body: string,
    opts: {
      guid: string;
      redelivery: boolean;
      installationId: number | null;
      recordAs?: SendOptions['recordAs'];
    },
  ): Promise<HookAttempt> {
    if (!this.target) {
      throw new Error('FakeHookDeliveries: configure({ url, secret }) first');
    }
    const started = performance.now();
    let statusCode = 0;
    let status: string;
    try {
      const res = await fetch(this.target.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'GitHub-Hookshot/fake',
          'x-github-event': event,
          'x-github-delivery': opts.guid,
          'x-github-hook-id': '1',
          'x-github-hook-installation-target-type': 'integration',
          'x-hub-signature': `sha1=${createHmac('sha1', this.target.secret).update(body).digest('hex')}`,
          'x-hub-signature-256': `sha256=${createHmac('sha256', this.target.secret).update(body).digest('hex')}`,
        },
        body,
        signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
      });
      await res.arrayBuffer();
      statusCode = res.status;
      status = res.ok ? 'OK' : `Invalid HTTP Response: ${res.status}`;
    } catch (error) {
      status =
        (error as Error).name === 'TimeoutError' ? 'timed out' : "Couldn't connect to server";
    }
    if (opts.recordAs) {
      ({ statusCode, status } = opts.recordAs);
    }
    return this.append({
      guid: opts.guid,
      deliveredAt: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      redelivery: opts.redelivery,
      duration: (performance.now() - started) / 1000,
      status,
      statusCode,
      event,
      action: actionOf(body),
      installationId: opts.installationId,
      repositoryId: null,
      body,
    });
  }

  private append(attempt: Omit<HookAttempt, 'id'>): HookAttempt {
    const stored = { id: this.nextId++, ...attempt };
    this.log.push(stored);
    return stored;
  }
}

function actionOf(body: string): string | null {
  const action = (JSON.parse(body) as { action?: unknown }).action;
  return typeof action === 'string' ? action : null;
}

function toJson(a: HookAttempt): Record<string, unknown> {
  return {
    id: a.id,
    guid: a.guid,
    delivered_at: a.deliveredAt,
    redelivery: a.redelivery,
    duration: a.duration,
    status: a.status,
    status_code: a.statusCode,
    event: a.event,
    action: a.action,
    installation_id: a.installationId,
    repository_id: a.repositoryId,
    throttled_at: null,
  };
}
