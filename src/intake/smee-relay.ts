import { Logger, type LoggerService } from '@nestjs/common';
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { StringDecoder } from 'node:string_decoder';
import { errorMessage } from '../github/error-message.js';

/*
 * Why not the smee-client package (checked: smee-client 5.0.0 with eventsource 4):
 * - it forwards every key of smee's event as a request header (timestamp, connection,
 *   accept-encoding, x-forwarded-*, sec-fetch-mode…), not just GitHub's;
 * - its EventSource gives up for good on any non-200 answer (smee.io restarting, a 503 from its
 *   proxy) and otherwise retries every 3 s forever: no back-off, no "retrying in N s" line, and a
 *   relay that is silently dead until the bot restarts;
 * - it re-serialises the body with plain JSON.stringify, which differs from GitHub's bytes for
 *   payloads holding control characters (see toGitHubJson).
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
}

/** One event as parsed from a server-sent-events stream. */
export interface SseEvent {
  readonly event: string;
  readonly data: string;
}

/** What to POST to the bot for one smee event. */
export interface RelayRequest {
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  /** For log lines only. */
  readonly deliveryId: string;
  readonly eventName: string;
}

/**
 * GitHub's own headers (event name, delivery id, hook and installation target ids) plus the
 * signature. Everything else smee adds (its timestamp, proxies' x-forwarded-*, connection and
 * encoding headers) describes the hop to smee, not the delivery, and is not forwarded.
 */
const FORWARDED_HEADER = /^(x-github-[a-z0-9-]+|x-hub-signature-256)$/;

/** GitHub caps payloads at 25 MB; one smee event is that plus headers. */
export const MAX_EVENT_CHARS = 32 * 1024 * 1024;

/**
 * Incremental parser for the text/event-stream format
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).
 * Fed decoded text in arbitrary pieces; returns the events completed by each piece.
 */
export class SseParser {
  /** The current line, until its end arrives. */
  private partial = '';
  private afterCarriageReturn = false;
  private data: string[] = [];
  private dataChars = 0;
  private eventName = '';
  private overflowed = false;
  private droppedEvents = 0;

  /** How many events so far exceeded MAX_EVENT_CHARS and were dropped. */
  get dropped(): number {
    return this.droppedEvents;
  }

  feed(text: string): SseEvent[] {
    const events: SseEvent[] = [];
    // Only the new text is searched for line ends: a 25 MB delivery arrives in hundreds of
    // pieces, and rescanning what is buffered would be quadratic.
    let start = this.afterCarriageReturn && text.startsWith('\n') ? 1 : 0;
    this.afterCarriageReturn = false;
    const lineEnd = /\r\n|\r|\n/g;
    lineEnd.lastIndex = start;
    for (let match = lineEnd.exec(text); match !== null; match = lineEnd.exec(text)) {
      const line = this.partial + text.slice(start, match.index);
      this.partial = '';
      start = match.index + match[0].length;
      // A CR ending this piece may be the first half of a CRLF whose LF comes next.
      if (match[0] === '\r' && start === text.length) this.afterCarriageReturn = true;
      const event = this.line(line);
      if (event) events.push(event);
    }
    this.partial += text.slice(start);
    if (this.partial.length > MAX_EVENT_CHARS) {
      this.partial = '';
      this.discard();
    }
    return events;
  }

  private line(line: string): SseEvent | undefined {
    if (line === '') {
      if (this.overflowed) this.droppedEvents++;
      const complete = this.data.length > 0 && !this.overflowed;
      const event = complete
        ? { event: this.eventName || 'message', data: this.data.join('\n') }
        : undefined;
      this.data = [];
      this.dataChars = 0;
      this.eventName = '';
      this.overflowed = false;
      return event;
    }
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') {
      this.dataChars += value.length;
      if (this.dataChars > MAX_EVENT_CHARS) {
        this.discard();
      } else if (!this.overflowed) {
        this.data.push(value);
      }
    } else if (field === 'event') {
      this.eventName = value;
    }
    // `id` and `retry` are ignored: smee keeps no history to resume from, and the relay's own
    // back-off decides when to reconnect.
    return undefined;
  }

  private discard(): void {
    this.data = [];
    this.overflowed = true;
  }
}

/**
 * Serialises a parsed GitHub payload back to the bytes GitHub sent.
 *
 * smee.io parses each delivery and sends the parsed object, so the original bytes are gone and
 * the relay can only re-serialise. GitHub's JSON is compact, keeps non-ASCII text as UTF-8 and
 * does not escape `/`, which is what JSON.stringify produces too, so the HMAC GitHub computed still
 * verifies. The one known difference: GitHub writes `\u` escapes (control characters) with
 * upper-case hex digits, JSON.stringify with lower-case; fixed here, as @octokit/webhooks did in
 * its toNormalizedJsonString. Key order survives because JSON.parse keeps it for non-numeric keys.
 */
export function toGitHubJson(value: unknown): string {
  // Consuming whole escapes left to right keeps `\\u0041` (an escaped backslash followed by the
  // text u0041) from being mistaken for an escape.
  return JSON.stringify(value).replace(/\\(u[0-9a-f]{4}|.)/g, (escape) =>
    escape[1] === 'u' ? `\\u${escape.slice(2).toUpperCase()}` : escape,
  );
}

/**
 * The request to forward for one smee event, or why it cannot be forwarded.
 * smee sends `{ ...originalHeaders (lower-cased), body: <parsed payload>, query, timestamp }`.
 */
export function toRelayRequest(data: string): RelayRequest | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return 'event data is not JSON';
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return 'event data is not a JSON object';
  }
  const fields = parsed as Record<string, unknown>;
  if (!('body' in fields) || fields.body === undefined || fields.body === null) {
    return 'event has no body';
  }
  const contentType = typeof fields['content-type'] === 'string' ? fields['content-type'] : '';
  const mediaType = contentType.split(';')[0].trim().toLowerCase();
  if (mediaType !== '' && mediaType !== 'application/json') {
    return (
      `the delivery was sent as ${mediaType}, which smee cannot pass on unchanged: set the ` +
      "webhook's content type to application/json (GitHub Apps always send JSON)"
    );
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(fields)) {
    const key = name.toLowerCase();
    if (FORWARDED_HEADER.test(key) && typeof value === 'string') headers[key] = value;
  }
  // A string body is text smee kept verbatim; anything else is the parsed payload.
  const text = typeof fields.body === 'string' ? fields.body : toGitHubJson(fields.body);
  const body = Buffer.from(text, 'utf8');
  headers['content-type'] = 'application/json';
  headers['content-length'] = String(body.length);
  return {
    headers,
    body,
    deliveryId: headers['x-github-delivery'] ?? '(no delivery id)',
    eventName: headers['x-github-event'] ?? '(no event name)',
  };
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
  }

  /** Starts connecting in the background; failures are logged and retried, never thrown. */
  start(): void {
    if (this.running) return;
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
    this.wakeUp?.();
    for (const request of this.requests) request.destroy();
    await this.loop;
    await this.forwarding;
    this.logger.log(`stopped relaying smee channel ${this.channel}`);
  }

  private async run(): Promise<void> {
    let delay = this.initialDelayMs;
    while (this.running) {
      const outcome = await this.connect();
      if (!this.running) break;
      if (outcome.opened) delay = this.initialDelayMs;
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
        if (settled) return;
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
          for (const event of parser.feed(decoder.write(chunk))) this.dispatch(event);
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
    if (event.event !== 'message' || !this.running) return;
    const relayed = toRelayRequest(event.data);
    if (typeof relayed === 'string') {
      this.logger.warn(`smee channel ${this.channel}: event not forwarded: ${relayed}`);
      return;
    }
    this.forwarding = this.forwarding.then(() => this.forward(relayed));
  }

  private async forward(relayed: RelayRequest): Promise<void> {
    if (!this.running) return;
    const label = `delivery ${relayed.deliveryId} (${relayed.eventName})`;
    try {
      const { status, reply } = await this.post(relayed);
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
      if (!this.running) return;
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
          if (size < 200) chunks.push(chunk);
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
