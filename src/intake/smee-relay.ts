import { Logger, type LoggerService } from '@nestjs/common';
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { StringDecoder } from 'node:string_decoder';
import { errorMessage } from '../common/error-message.js';
import type { RelayVitals } from '../common/metrics/bot-metrics.js';
import { toRelayRequest, type RelayRequest } from './smee-event.js';
import { MAX_EVENT_CHARS, SseParser, type SseEvent } from './sse-parser.js';

/*
 * Why not the smee-client package (checked: smee-client 5.0.0 with eventsource 4):
 * - it forwards every key of smee's event as a request header (timestamp, connection,
 *   accept-encoding, x-forwarded-*, sec-fetch-mode…), not just GitHub's;
 * - its EventSource gives up for good on any non-200 answer (smee.io restarting, a 503 from its
 *   proxy) and otherwise retries every 3 s forever: no back-off, no "retrying in N s" line, and a
 *   relay that is silently dead until the bot restarts;
 * - it re-serialises the body with plain JSON.stringify, which differs from GitHub's bytes for
 *   payloads holding control characters (see toGitHubJson in smee-event.ts).
 * So this is a small client of our own on node:http/https, whose sockets stop() can close.
 */

/** The subset of a Nest logger the relay writes to. */
export type RelayLogger = Pick<LoggerService, 'log' | 'warn' | 'error'>;

export interface SmeeRelayOptions {
  /** The smee channel, e.g. https://smee.io/AbC123 (`--smee-url` or `[event_handler] smee_url`). */
  readonly source: string;
  /** The bot's own webhook endpoint, e.g. http://127.0.0.1:3000/. */
  readonly target: string;
  readonly logger?: RelayLogger;
  /** First retry delay after a failed connection; doubled per failure (default 1 s). */
  readonly initialDelayMs?: number;
  /** Cap of the retry delay (default 60 s). */
  readonly maxDelayMs?: number;
  /**
   * A connection silent for this long is taken as dead and replaced (default 90 s). smee.io sends
   * a ping every 30 s, so silence means a half-open TCP connection (NAT or firewall timeout) that
   * would otherwise never report an error.
   */
  readonly idleTimeoutMs?: number;
  /** Limit for one forward to the bot (default 30 s; the bot answers at once). */
  readonly forwardTimeoutMs?: number;
  /** Where the relay's state is shown (/status, /metrics) and catch-up looks before a pass. */
  readonly vitals?: RelayVitals;
}

/**
 * A channel URL is a bearer capability: whoever has it can read every delivery (private
 * repositories included). Logs show only its start.
 */
export function redactChannel(source: string): string {
  const url = new URL(source);
  const path = url.pathname.replace(/\/+$/, '');
  const slash = path.lastIndexOf('/');
  const channel = path.slice(slash + 1);
  const shown = channel.length > 4 ? `${channel.slice(0, 4)}…` : channel === '' ? '' : '…';
  return `${url.protocol}//${url.host}${path.slice(0, slash + 1)}${shown}`;
}

function parseHttpUrl(value: string, option: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`${option}: '${value}' is not a URL; expected e.g. https://smee.io/CHANNEL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`${option}: '${value}' must be an http:// or https:// URL`);
  }
  return url;
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

type Outcome = { readonly opened: boolean; readonly reason: string; readonly clean: boolean };

/**
 * Forwards a smee.io channel's webhook deliveries to the bot's own port, so that a bot behind a
 * firewall receives GitHub's webhooks without a separately installed smee client.
 *
 * The relay is only a client: it forwards GitHub's headers, signature included, and the bot
 * verifies the signature on arrival as for a direct delivery. Deliveries are forwarded one at a
 * time, in the order smee sent them. smee keeps no history: a delivery made while the relay is
 * disconnected is lost for it (redeliver it from the App's "Advanced" settings page).
 */
export class SmeeRelay {
  private readonly source: URL;
  private readonly target: URL;
  private readonly logger: RelayLogger;
  private readonly initialDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly idleTimeoutMs: number;
  private readonly forwardTimeoutMs: number;
  private readonly channel: string;
  private readonly vitals?: RelayVitals;

  private running = false;
  private loop?: Promise<void>;
  private forwarding: Promise<void> = Promise.resolve();
  private readonly requests = new Set<ClientRequest>();
  private wakeUp?: () => void;
  private everConnected = false;

  constructor(options: SmeeRelayOptions) {
    this.source = parseHttpUrl(
      options.source,
      'smee channel (--smee-url / [event_handler] smee_url)',
    );
    this.target = parseHttpUrl(options.target, 'smee relay target');
    this.logger = options.logger ?? new Logger(SmeeRelay.name);
    this.initialDelayMs = options.initialDelayMs ?? 1_000;
    this.maxDelayMs = Math.max(options.maxDelayMs ?? 60_000, this.initialDelayMs);
    this.idleTimeoutMs = options.idleTimeoutMs ?? 90_000;
    this.forwardTimeoutMs = options.forwardTimeoutMs ?? 30_000;
    this.channel = redactChannel(this.source.href);
    this.vitals = options.vitals;
  }

  /** Starts connecting in the background; failures are logged and retried, never thrown. */
  start(): void {
    if (this.running) {
      return;
    }
    this.running = true;
    this.loop = this.run();
  }

  /** Closes the channel, aborts forwards in flight and resolves when nothing is left open. */
  async stop(): Promise<void> {
    if (!this.running) {
      await this.loop;
      return;
    }
    this.running = false;
    this.vitals?.set('stopped');
    this.wakeUp?.();
    for (const request of this.requests) {
      request.destroy();
    }
    await this.loop;
    await this.forwarding;
    this.logger.log(`stopped relaying smee channel ${this.channel}`);
  }

  private async run(): Promise<void> {
    let delay = this.initialDelayMs;
    while (this.running) {
      const outcome = await this.connect();
      if (!this.running) {
        break;
      }
      this.vitals?.set('disconnected', outcome.reason);
      if (outcome.opened) {
        delay = this.initialDelayMs;
      }
      if (!outcome.opened) {
        this.logger.warn(
          `smee channel ${this.channel} unreachable (${outcome.reason}), retrying in ${seconds(delay)}`,
        );
      } else if (outcome.clean) {
        this.logger.log(
          `smee channel ${this.channel} closed the connection, reconnecting in ${seconds(delay)}`,
        );
      } else {
        this.logger.warn(
          `smee channel ${this.channel} connection lost (${outcome.reason}), reconnecting in ` +
            seconds(delay),
        );
      }
      await this.sleep(delay);
      delay = Math.min(delay * 2, this.maxDelayMs);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = done;
    });
  }

  /** One connection to the channel, from request to end of stream. Never rejects. */
  private connect(): Promise<Outcome> {
    return new Promise((resolve) => {
      let opened = false;
      let settled = false;
      let idle: NodeJS.Timeout | undefined;
      const finish = (reason: string, clean = false): void => {
        if (settled) {
          return;
        }
        settled = true;
        clearTimeout(idle);
        this.requests.delete(request);
        request.destroy();
        resolve({ opened, reason, clean });
      };
      const armIdleTimer = (): void => {
        clearTimeout(idle);
        idle = setTimeout(
          () => finish(`${opened ? 'no data' : 'no answer'} for ${seconds(this.idleTimeoutMs)}`),
          this.idleTimeoutMs,
        );
      };
      const send = this.source.protocol === 'https:' ? httpsRequest : httpRequest;
      const request = send(this.source, {
        method: 'GET',
        // One socket of its own, closed with the request: no pooled socket outlives stop().
        agent: false,
        headers: {
          accept: 'text/event-stream',
          'cache-control': 'no-cache',
          'user-agent': 'eessi-bot-smee-relay',
        },
      });
      this.requests.add(request);
      armIdleTimer();
      request.on('error', (error) => finish(describeError(error)));
      request.on('response', (response: IncomingMessage) => {
        const type = String(response.headers['content-type'] ?? '');
        if (response.statusCode !== 200 || !type.toLowerCase().startsWith('text/event-stream')) {
          response.resume();
          finish(
            response.statusCode !== 200
              ? `HTTP ${response.statusCode}`
              : `answered with '${type || 'no content type'}', not an event stream`,
          );
          return;
        }
        opened = true;
        this.vitals?.set('connected');
        if (this.everConnected) {
          this.logger.log(`smee channel ${this.channel} reconnected`);
        } else {
          this.everConnected = true;
          this.logger.log(
            `relaying webhooks from smee channel ${this.channel} to ${this.target.href}`,
          );
        }
        const parser = new SseParser();
        const decoder = new StringDecoder('utf8');
        let dropped = 0;
        response.on('data', (chunk: Buffer) => {
          armIdleTimer();
          for (const event of parser.feed(decoder.write(chunk))) {
            this.dispatch(event);
          }
          if (parser.dropped > dropped) {
            dropped = parser.dropped;
            this.logger.error(
              `smee channel ${this.channel} sent an event larger than ${MAX_EVENT_CHARS} characters; ` +
                'dropped it (GitHub deliveries are at most 25 MB, so it was not one)',
            );
          }
        });
        response.on('end', () => finish('end of stream', true));
        response.on('error', (error) => finish(describeError(error)));
        response.on('aborted', () => finish('connection aborted'));
      });
      // Also covers a destroy() without an error, which emits no 'error' event.
      request.on('close', () => finish('connection closed'));
      request.end();
    });
  }

  private dispatch(event: SseEvent): void {
    // smee.io's own `ready` and `ping` events keep the stream alive; deliveries are plain messages.
    if (event.event !== 'message' || !this.running) {
      return;
    }
    const relayed = toRelayRequest(event.data);
    if (typeof relayed === 'string') {
      this.logger.warn(`smee channel ${this.channel}: event not forwarded: ${relayed}`);
      return;
    }
    this.forwarding = this.forwarding.then(() => this.forward(relayed));
  }

  private async forward(relayed: RelayRequest): Promise<void> {
    if (!this.running) {
      return;
    }
    const label = `delivery ${relayed.deliveryId} (${relayed.eventName})`;
    try {
      const { status, reply } = await this.post(relayed);
      if (this.vitals) {
        this.vitals.forwarded += 1;
      }
      if (status >= 200 && status < 300) {
        this.logger.log(`smee: ${label} forwarded, bot answered ${status}`);
      } else {
        this.logger.warn(
          `smee: ${label} forwarded, bot answered ${status} ${reply}` +
            (status === 401
              ? ": check that GITHUB_APP_SECRET_TOKEN matches the App's webhook secret"
              : ''),
        );
      }
    } catch (error) {
      if (!this.running) {
        return;
      }
      this.logger.error(
        `smee: ${label} could not be forwarded to ${this.target.href} (${errorMessage(error)}); ` +
          "is the bot listening there? Redeliver it from the App's Advanced settings page",
      );
    }
  }

  private post(relayed: RelayRequest): Promise<{ status: number; reply: string }> {
    return new Promise((resolve, reject) => {
      const send = this.target.protocol === 'https:' ? httpsRequest : httpRequest;
      const request = send(this.target, {
        method: 'POST',
        agent: false,
        headers: { ...relayed.headers, 'user-agent': 'eessi-bot-smee-relay', connection: 'close' },
        timeout: this.forwardTimeoutMs,
      });
      this.requests.add(request);
      const done = (): void => {
        this.requests.delete(request);
      };
      request.on('timeout', () =>
        request.destroy(new Error(`no answer within ${seconds(this.forwardTimeoutMs)}`)),
      );
      request.on('error', (error) => {
        done();
        reject(error);
      });
      request.on('close', done);
      request.on('response', (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          // Only a short excerpt of the answer is logged; the rest is drained.
          if (size < 200) {
            chunks.push(chunk);
          }
          size += chunk.length;
        });
        response.on('end', () => {
          done();
          const reply = Buffer.concat(chunks).toString('utf8').slice(0, 200).replace(/\s+/g, ' ');
          resolve({ status: response.statusCode ?? 0, reply });
        });
        response.on('error', (error) => {
          done();
          reject(error);
        });
      });
      request.end(relayed.body);
    });
  }
}

function describeError(error: unknown): string {
  const code = (error as { code?: unknown })?.code;
  const message = errorMessage(error);
  return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
}
