import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import {
  Controller,
  Inject,
  Logger,
  Optional,
  Post,
  Req,
  Res,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { DELIVERY_ID_PATTERN } from '../common/ids.js';
import { BotMetrics } from '../common/metrics/bot-metrics.js';
import { Inbox } from './inbox/inbox.js';
import { BodyTooLargeError, discardRest, readBody } from './read-body.js';
import { inspectDelivery } from './delivery-inspection.js';
import { INTAKE_OPTIONS, type IntakeOptions } from './intake.options.js';
import { errorMessage } from '../common/error-message.js';

/** GitHub caps webhook payloads at 25 MB; anything larger is not from GitHub. */
const MAX_BODY_BYTES = 25 * 1024 * 1024;

/** Event names end up in logs and handler keys; GitHub's are lower-case words with underscores. */
const EVENT_PATTERN = /^[A-Za-z0-9_.-]{1,100}$/;

const JSON_TYPE = 'application/json';
const FORM_TYPE = 'application/x-www-form-urlencoded';

interface Reply {
  readonly status: number;
  readonly body: Record<string, string>;
}

const reject = (status: number, error: string): Reply => ({ status, body: { error } });

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function peer(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? 'an unknown address';
}

/** The request the route below serves (`@Post()` on the root path). */
function isWebhookPost(req: IncomingMessage): boolean {
  return req.method === 'POST' && (req.url === '/' || req.url?.startsWith('/?') === true);
}

const servedFirst = new WeakSet<Server>();

/**
 * Makes `server` hand requests that `matches` to `handle` before its other request listeners (the
 * framework) ever see them; everything else goes on as before.
 */
function serveFirst(
  server: Server,
  matches: (req: IncomingMessage) => boolean,
  handle: RequestListener,
): void {
  if (servedFirst.has(server)) {
    return;
  }
  servedFirst.add(server);
  const others = server.listeners('request') as RequestListener[];
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (matches(req)) {
      handle(req, res);
      return;
    }
    for (const listener of others) {
      listener.call(server, req, res);
    }
  });
}

/**
 * GitHub webhook endpoint. Verifies, stores and acknowledges; all the work happens later in the
 * EventDispatcher, because GitHub waits at most 10 s for an answer and does not redeliver by itself.
 * The Inbox hands each stored delivery to the dispatcher itself (AcceptObserver), so nothing here
 * lists or rereads the inbox.
 *
 * Needs the app created with `bodyParser: false`: the signature covers the raw bytes, and the body
 * is read here with a size limit.
 *
 * At bootstrap, `POST /` is routed to this controller ahead of Express: Express's per-request
 * work (request and response decoration, the middleware chain) cost more CPU than a bare node:http
 * server's whole request on the 2-core bench machine, and the webhook needs none of it. This is
 * what Octokit's `createNodeMiddleware` does too. The Nest route below serves the same handler
 * should the HTTP server not be node:http's.
 */
@Controller()
export class WebhookController implements OnApplicationBootstrap {
  private readonly logger = new Logger(WebhookController.name);

  constructor(
    @Inject(INTAKE_OPTIONS) private readonly options: Pick<IntakeOptions, 'webhookSecret'>,
    private readonly inbox: Inbox,
    private readonly adapterHost: HttpAdapterHost,
    @Optional() private readonly metrics: BotMetrics = new BotMetrics(),
  ) {}

  onApplicationBootstrap(): void {
    // Absent in an application context without HTTP (the job-manager command).
    const server: unknown = this.adapterHost.httpAdapter?.getHttpServer();
    if (isNodeServer(server)) {
      serveFirst(server, isWebhookPost, (req, res) => void this.receive(req, res));
    }
  }

  @Post()
  async receive(@Req() req: IncomingMessage, @Res() res: ServerResponse): Promise<void> {
    const receivedAt = new Date();
    let reply: Reply;
    try {
      reply = await this.intake(req, receivedAt);
    } catch (error) {
      this.logger.error(`webhook intake failed: ${errorMessage(error)}`, (error as Error)?.stack);
      reply = reject(500, 'internal error');
    }
    this.metrics.webhookResponses.inc(reply.status);
    if (!res.headersSent && !res.destroyed) {
      const body = JSON.stringify(reply.body);
      res.writeHead(reply.status, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
      // Refused before or while reading (413, 415, 503): answer now, without buffering the rest.
      discardRest(req, MAX_BODY_BYTES);
    }
  }

  private async intake(req: IncomingMessage, receivedAt: Date): Promise<Reply> {
    if (this.inbox.closed) {
      return reject(503, 'shutting down');
    }
    const mediaType = (header(req, 'content-type') ?? '').split(';')[0].trim().toLowerCase();
    if (mediaType !== JSON_TYPE && mediaType !== FORM_TYPE) {
      return reject(415, `content type must be ${JSON_TYPE} or ${FORM_TYPE}`);
    }

    let raw: Buffer;
    try {
      raw = await readBody(req, MAX_BODY_BYTES);
    } catch (error) {
      if (error instanceof BodyTooLargeError) {
        this.logger.warn(`rejected a webhook body over ${MAX_BODY_BYTES} bytes from ${peer(req)}`);
        return reject(413, `body exceeds ${MAX_BODY_BYTES} bytes`);
      }
      this.logger.warn(`could not read a webhook body from ${peer(req)}: ${errorMessage(error)}`);
      return reject(400, 'could not read the body');
    }

    const secret = this.options.webhookSecret;
    if (!secret) {
      this.logger.error(
        "no webhook secret configured: set GITHUB_APP_SECRET_TOKEN to the GitHub App's webhook " +
          'secret and restart; every delivery is refused until then',
      );
      return reject(500, 'webhook secret not configured');
    }
    const signature = header(req, 'x-hub-signature-256');
    if (!signature) {
      this.logger.warn(
        `delivery without X-Hub-Signature-256 from ${peer(req)}: set a webhook secret in the ` +
          'GitHub App settings (the same value as GITHUB_APP_SECRET_TOKEN)',
      );
      return reject(401, 'missing X-Hub-Signature-256');
    }
    const event = header(req, 'x-github-event');
    const id = header(req, 'x-github-delivery');
    // Verified before anything looks at the content: unsigned input is never parsed or stored.
    const inspection = inspectDelivery(secret, {
      body: raw,
      form: mediaType === FORM_TYPE,
      signature,
    });
    if (inspection.kind === 'bad-signature') {
      this.logger.warn(
        `signature mismatch from ${peer(req)}: check that GITHUB_APP_SECRET_TOKEN matches the ` +
          "App's webhook secret",
      );
      return reject(401, 'signature mismatch');
    }
    if (!event || !EVENT_PATTERN.test(event)) {
      return reject(400, 'missing or invalid X-GitHub-Event');
    }
    if (!id || !DELIVERY_ID_PATTERN.test(id)) {
      return reject(400, 'missing or invalid X-GitHub-Delivery');
    }
    if (inspection.kind === 'invalid') {
      this.logger.warn(`delivery ${id} (${event}) refused: ${inspection.reason}`);
      return reject(400, inspection.reason);
    }
    const { action, route, crc, formPayload } = inspection;

    let verdict: 'accepted' | 'duplicate';
    try {
      verdict = await this.inbox.accept({
        id,
        event,
        action,
        payloadJson: formPayload ?? raw,
        payloadCrc: crc,
        route,
        receivedAt,
      });
    } catch (error) {
      this.logger.error(
        `delivery ${id} (${event}) could not be stored in ${this.inbox.dir}: ${errorMessage(error)}; ` +
          'check that the state directory is writable and has space, then redeliver it from the ' +
          "App's advanced settings",
      );
      return reject(500, 'could not store the delivery');
    }
    this.metrics.deliveriesReceived.inc(event, verdict);
    if (verdict === 'duplicate') {
      this.logger.log(`delivery ${id} (${event}) already received: ignored`);
      return { status: 200, body: { status: 'duplicate' } };
    }
    return { status: 202, body: { status: 'accepted' } };
  }
}

function isNodeServer(value: unknown): value is Server {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Server).listeners === 'function' &&
    typeof (value as Server).removeAllListeners === 'function'
  );
}
