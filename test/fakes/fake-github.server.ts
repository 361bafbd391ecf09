/**
 * FakeGitHub: a real HTTP server on 127.0.0.1 that plays the parts of GitHub's REST API the bot
 * uses, so e2e tests exercise the real Octokit stack (JWT, installation token, retries, throttling,
 * pagination) without a network. Point `[github] api_url` (config.github.apiUrl) at `fake.url`.
 *
 * Lifecycle
 *   const { publicKey, privateKey } = generateAppKeys();   // test/support/make-config.ts (PKCS#1)
 *   const fake = new FakeGitHub({ appId: 1, installationId: 2, publicKey });
 *   await fake.start();  ...  fake.url  ...  await fake.stop();
 *   Options: account (installation owner login, default 'EESSI'), appSlug (default 'eessi-bot-test';
 *   comments are authored by `<appSlug>[bot]`), tokenLifetimeSeconds (default 3600; use a few
 *   seconds to test token refresh).
 *   For fast tests build the client with FAST_GITHUB_CLIENT_OPTIONS (exported below): retry
 *   back-off in ms and no write pacing.
 *   `new GitHubClient(githubAppSettingsOf(config), FAST_GITHUB_CLIENT_OPTIONS)`, or in a Nest test
 *   module `{ provide: GITHUB_CLIENT_OPTIONS, useValue: FAST_GITHUB_CLIENT_OPTIONS }` beside
 *   `GitHubModule.register({ app: githubAppSettingsOf(config) })`.
 *
 * Authentication (as GitHub does it)
 *   App JWT (`Authorization: bearer <jwt>`, RS256, signed by the key matching `publicKey`,
 *   `iss` == appId, `exp` in the future) is required by:
 *     POST /app/installations/:id/access_tokens → 201 { token: 'ghs_…', expires_at }
 *     GET  /app/installations/:id               → installation { id, app_id, app_slug, account }
 *     GET  /app/hook/deliveries, GET /app/hook/deliveries/:id,
 *     POST /app/hook/deliveries/:id/attempts      → see fake-hook-deliveries.ts (`fake.hooks`)
 *   Unknown installation → 404. Every other route needs `Authorization: token|bearer <issued,
 *   unexpired, unrevoked token>`, else 401 "Bad credentials". Answers to installation tokens
 *   carry x-ratelimit-limit/remaining/used/reset/resource (5000 an hour, one spent per request;
 *   setRateLimitRemaining(n) to set what is left).
 *
 * Routes (repo = "owner/name"; any repository exists)
 *   POST  /repos/:o/:r/issues/:n/comments          { body } → 201 comment (422 if body missing/too long)
 *   GET   /repos/:o/:r/issues/:n/comments          ?per_page (default 30, max 100) &page, Link header
 *   GET   /repos/:o/:r/issues/comments/:id         → comment or 404
 *   PATCH /repos/:o/:r/issues/comments/:id         { body } → comment (history grows) or 404
 *   GET   /repos/:o/:r/issues/:n/labels            → [{ name }]
 *   POST  /repos/:o/:r/issues/:n/labels            { labels: [...] } or [...] → all labels
 *   DELETE /repos/:o/:r/issues/:n/labels/:name     → remaining labels, 404 if not set
 *   GET   /repos/:o/:r/pulls/:n                    → the PR given to seedPullRequest, else 404
 *   Anything else → 404, unless a test adds it with addRoute(method, '/path/:param', handler).
 *
 * Inspecting state
 *   comments(repo?, issueNumber?)  → FakeComment[] { id, repo, issueNumber, body, author,
 *                                    createdAt, updatedAt, history } (history: every body the
 *                                    comment has had, oldest first; the last one is `body`)
 *   comment(id), labels(repo, n), issuedTokens()
 *   checkRuns(repo?)               → FakeCheckRun[] { id, repo, name, headSha, status, conclusion?,
 *                                    title, summary, history } (POST/PATCH …/check-runs)
 *   requests                       → FakeRequest[] { method, path, query, status, auth, userAgent, body }
 *   requestCount({ method?, path?: string | RegExp, status? }), clearRequests()
 *   seedComment(repo, n, body), seedLabels(repo, n, labels), seedPullRequest(repo, n, pr):
 *   state without HTTP (not logged)
 *
 * Fault injection
 *   failNext(n, { status: 500|502|503 (any code), method?, path? }): the next n matching requests fail
 *   rateLimitNext({ kind: 'primary' | 'secondary', resetInSeconds, status?: 403 | 429, path? }):
 *     the next matching request opens a window of resetInSeconds during which every matching
 *     request is refused — primary: 403 + x-ratelimit-remaining: 0 + x-ratelimit-reset;
 *     secondary: 403 (or 429) + retry-after + "You have exceeded a secondary rate limit".
 *   setDown(true): every incoming connection is destroyed (clients see a network error).
 *   revokeTokens(): every issued installation token now gets 401 (App reinstalled, key rotated).
 *   holdNext({ method?, path? }) → { reached, release }: the next matching request waits (its
 *     client sees no answer) until release(); `reached` resolves when it arrives. For tests that
 *     kill the bot at a precise point.
 *
 * Webhooks
 *   fake.hooks: GitHub's side of the App's webhook (deliveries to the bot's URL, signed with the
 *   secret, the delivery log and redeliveries); see fake-hook-deliveries.ts.
 */
import { randomBytes, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { CheckRunInputError, FakeCheckRuns, type FakeCheckRun } from './fake-check-runs.js';
import type { GitHubClientOptions } from '../../src/github/octokit.factory.js';
import { FakeHookDeliveries } from './fake-hook-deliveries.js';

/** Client options that keep 5xx back-off and write pacing out of test run times. */
export const FAST_GITHUB_CLIENT_OPTIONS: GitHubClientOptions = Object.freeze({
  retryAfterBaseValue: 10,
  paceWrites: false,
});

export interface FakeGitHubOptions {
  readonly appId: number;
  readonly installationId: number;
  /** PEM public key of the App (SPKI or PKCS#1). */
  readonly publicKey: string | KeyObject;
  readonly account?: string;
  readonly appSlug?: string;
  readonly tokenLifetimeSeconds?: number;
}

export interface FakeComment {
  readonly id: number;
  readonly repo: string;
  readonly issueNumber: number;
  readonly body: string;
  readonly author: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly history: readonly string[];
}

export interface FakeRequest {
  readonly method: string;
  /** Path without the query string, e.g. `/repos/EESSI/sl/issues/1/comments`. */
  readonly path: string;
  /** Query string without `?` ('' if none). */
  readonly query: string;
  readonly status: number;
  /** How the request authenticated: a valid JWT, a valid token, something invalid, or nothing. */
  readonly auth: 'jwt' | 'token' | 'invalid' | 'none';
  readonly userAgent: string;
  readonly body: unknown;
}

export interface RequestFilter {
  readonly method?: string;
  /** Exact path, or a RegExp tested against the path. */
  readonly path?: string | RegExp;
  readonly status?: number;
}

export interface FakeRouteContext {
  readonly method: string;
  readonly path: string;
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly body: unknown;
}

export interface FakeRouteResult {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

export type FakeRouteHandler = (
  ctx: FakeRouteContext,
) => FakeRouteResult | Promise<FakeRouteResult>;

interface StoredComment {
  id: number;
  repo: string;
  issueNumber: number;
  body: string;
  author: string;
  createdAt: string;
  updatedAt: string;
  history: string[];
}

interface Fault {
  remaining: number;
  status: number;
  method?: string;
  path?: string | RegExp;
}

interface RateLimitArm {
  kind: 'primary' | 'secondary';
  resetInSeconds: number;
  status: 403 | 429;
  path?: string | RegExp;
}

interface RateLimitWindow extends RateLimitArm {
  /** ms epoch; requests before it are refused. */
  until: number;
  /** epoch seconds announced in x-ratelimit-reset. */
  resetEpochSeconds: number;
}

interface Route {
  method: string;
  regex: RegExp;
  names: string[];
  handler: FakeRouteHandler;
}

class HttpFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const MAX_COMMENT_LENGTH = 65536;
/** Requests an hour an installation may make (GitHub's primary rate limit). */
const RATE_LIMIT = 5000;
const MAX_REQUEST_BYTES = 1024 * 1024;
const DOCS = 'https://docs.github.com/rest';

export class FakeGitHub {
  private readonly publicKey: KeyObject;
  private readonly account: string;
  private readonly appSlug: string;
  private readonly tokenLifetimeMs: number;
  private server?: Server;
  private baseUrl = '';
  private readonly sockets = new Set<Socket>();
  private down = false;
  private nextCommentId = 100001;
  private readonly store = new Map<number, StoredComment>();
  private nextCheckRunId = 9_000_001;
  private readonly checks = new FakeCheckRuns(() => this.nextCheckRunId++);
  private readonly labelStore = new Map<string, string[]>();
  private readonly pullStore = new Map<string, unknown>();
  private readonly holds: {
    filter: { method?: string; path?: string | RegExp };
    arrived: () => void;
    released: Promise<void>;
  }[] = [];
  private readonly tokens = new Map<string, { expiresAt: number; revoked: boolean }>();
  private readonly log: FakeRequest[] = [];
  private readonly faults: Fault[] = [];
  private rateLimitArm?: RateLimitArm;
  private rateLimitWindow?: RateLimitWindow;
  private readonly customRoutes: Route[] = [];
  private readonly builtinRoutes: Route[];
  private readonly hookRoutes: Route[];
  private rateRemaining = RATE_LIMIT;
  /** The App's webhook: deliveries to the bot, their log, redeliveries. */
  readonly hooks: FakeHookDeliveries;

  constructor(private readonly options: FakeGitHubOptions) {
    this.publicKey =
      typeof options.publicKey === 'string'
        ? createPublicKey(options.publicKey)
        : options.publicKey;
    this.account = options.account ?? 'EESSI';
    this.appSlug = options.appSlug ?? 'eessi-bot-test';
    this.tokenLifetimeMs = (options.tokenLifetimeSeconds ?? 3600) * 1000;
    this.builtinRoutes = [
      route('GET', '/repos/:owner/:repo/issues/comments/:id', (c) => this.getComment(c)),
      route('PATCH', '/repos/:owner/:repo/issues/comments/:id', (c) => this.updateComment(c)),
      route('POST', '/repos/:owner/:repo/issues/:n/comments', (c) => this.createComment(c)),
      route('GET', '/repos/:owner/:repo/issues/:n/comments', (c) => this.listComments(c)),
      route('GET', '/repos/:owner/:repo/issues/:n/labels', (c) => this.getLabels(c)),
      route('POST', '/repos/:owner/:repo/issues/:n/labels', (c) => this.addLabels(c)),
      route('DELETE', '/repos/:owner/:repo/issues/:n/labels/:name', (c) => this.removeLabel(c)),
      route('POST', '/repos/:owner/:repo/check-runs', (c) => this.createCheckRun(c)),
      route('PATCH', '/repos/:owner/:repo/check-runs/:id', (c) => this.updateCheckRun(c)),
      route('GET', '/repos/:owner/:repo/pulls/:n', (c) => this.getPullRequest(c)),
    ];
    this.hooks = new FakeHookDeliveries(options.installationId, () => this.url);
    this.hookRoutes = [
      route('GET', '/app/hook/deliveries', (c) => this.hooks.list(c.query, c.path)),
      route('GET', '/app/hook/deliveries/:id', (c) => this.hooks.get(Number(c.params.id))),
      route('POST', '/app/hook/deliveries/:id/attempts', (c) =>
        this.hooks.redeliver(Number(c.params.id)),
      ),
    ];
  }

  /** Base URL to use as api_url, e.g. `http://127.0.0.1:41234`. Valid after start(). */
  get url(): string {
    if (!this.baseUrl) {
      throw new Error('FakeGitHub: call start() before reading url');
    }
    return this.baseUrl;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      if (this.down) {
        socket.destroy();
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) {
      return;
    }
    this.server = undefined;
    for (const socket of this.sockets) {
      socket.destroy();
    }
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  // ---- state inspection -------------------------------------------------------------------

  comments(repo?: string, issueNumber?: number): FakeComment[] {
    return [...this.store.values()]
      .filter(
        (c) =>
          (repo === undefined || c.repo === repo) &&
          (issueNumber === undefined || c.issueNumber === issueNumber),
      )
      .sort((a, b) => a.id - b.id)
      .map(snapshot);
  }

  /** Check runs created through the API, each with its history of states. */
  checkRuns(repo?: string): FakeCheckRun[] {
    return this.checks.list(repo);
  }

  comment(id: number): FakeComment | undefined {
    const c = this.store.get(id);
    return c && snapshot(c);
  }

  labels(repo: string, issueNumber: number): string[] {
    return [...(this.labelStore.get(`${repo}#${issueNumber}`) ?? [])];
  }

  /** Every installation token handed out so far (to assert that none of them leaks into logs). */
  issuedTokens(): string[] {
    return [...this.tokens.keys()];
  }

  get requests(): readonly FakeRequest[] {
    return [...this.log];
  }

  requestCount(filter: RequestFilter = {}): number {
    return this.log.filter(
      (r) =>
        matches(filter, r.method, r.path) &&
        (filter.status === undefined || r.status === filter.status),
    ).length;
  }

  clearRequests(): void {
    this.log.length = 0;
  }

  seedComment(
    repo: string,
    issueNumber: number,
    body: string,
    author = `${this.appSlug}[bot]`,
  ): FakeComment {
    return snapshot(this.insertComment(repo, issueNumber, body, author));
  }

  seedLabels(repo: string, issueNumber: number, labels: readonly string[]): void {
    this.labelStore.set(`${repo}#${issueNumber}`, [...new Set(labels)]);
  }

  /** What GET /repos/:o/:r/pulls/:n answers (e.g. a webhook example's `pull_request`). */
  seedPullRequest(repo: string, n: number, pullRequest: unknown): void {
    this.pullStore.set(`${repo}#${n}`, structuredClone(pullRequest));
  }

  holdNext(filter: { method?: string; path?: string | RegExp }): {
    reached: Promise<void>;
    release: () => void;
  } {
    let arrived!: () => void;
    let release!: () => void;
    const reached = new Promise<void>((resolve) => (arrived = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    this.holds.push({ filter, arrived, released });
    return { reached, release };
  }

  // ---- fault injection --------------------------------------------------------------------

  failNext(n: number, fault: { status: number; method?: string; path?: string | RegExp }): void {
    this.faults.push({ remaining: n, ...fault });
  }

  rateLimitNext(limit: {
    kind: 'primary' | 'secondary';
    resetInSeconds: number;
    status?: 403 | 429;
    path?: string | RegExp;
  }): void {
    this.rateLimitArm = { status: 403, ...limit };
  }

  setDown(down: boolean): void {
    this.down = down;
    if (down) {
      for (const socket of this.sockets) {
        socket.destroy();
      }
    }
  }

  /** x-ratelimit-remaining of the last answer to an installation token. */
  get rateLimitRemaining(): number {
    return this.rateRemaining;
  }

  /** What x-ratelimit-remaining says from now on (it goes down by one per request). */
  setRateLimitRemaining(remaining: number): void {
    this.rateRemaining = remaining;
  }

  revokeTokens(): void {
    for (const t of this.tokens.values()) {
      t.revoked = true;
    }
  }

  /** Serve an extra endpoint (authenticated by installation token like the built-in ones). */
  addRoute(method: string, pattern: string, handler: FakeRouteHandler): void {
    this.customRoutes.push(route(method, pattern, handler));
  }

  // ---- request handling -------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.down) {
      req.socket.destroy();
      return;
    }
    const method = (req.method ?? 'GET').toUpperCase();
    const parsed = new URL(req.url ?? '/', 'http://fake.invalid');
    const path = parsed.pathname;
    let body: unknown;
    let auth: FakeRequest['auth'] = 'none';
    const reply = (
      status: number,
      payload: unknown,
      headers: Record<string, string> = {},
    ): void => {
      this.log.push({
        method,
        path,
        query: parsed.search.replace(/^\?/, ''),
        status,
        auth,
        userAgent: String(req.headers['user-agent'] ?? ''),
        body,
      });
      const text = payload === undefined ? '' : JSON.stringify(payload);
      res.writeHead(status, {
        'content-type': 'application/json; charset=utf-8',
        'x-github-request-id': randomBytes(4).toString('hex').toUpperCase(),
        ...headers,
      });
      res.end(text);
    };
    try {
      body = await readJson(req);
      const hold = this.holds.findIndex((h) => matches(h.filter, method, path));
      if (hold >= 0) {
        const [held] = this.holds.splice(hold, 1);
        held.arrived();
        await held.released;
      }
      const limited = this.rateLimited(method, path);
      if (limited) {
        return reply(limited.status, limited.body, limited.headers);
      }
      const fault = this.faults.find((f) => f.remaining > 0 && matches(f, method, path));
      if (fault) {
        fault.remaining--;
        return reply(fault.status, { message: 'Server Error' });
      }
      const installationMatch = /^\/app\/installations\/([^/]+)(\/access_tokens)?$/.exec(path);
      if (installationMatch) {
        auth = this.checkJwt(req.headers.authorization);
        return this.handleInstallation(method, installationMatch[1], !!installationMatch[2], reply);
      }
      const appRoute = path.startsWith('/app/');
      auth = appRoute
        ? this.checkJwt(req.headers.authorization)
        : this.checkToken(req.headers.authorization);
      const rateHeaders = appRoute ? {} : this.spendRateLimit();
      const routes = appRoute ? this.hookRoutes : [...this.customRoutes, ...this.builtinRoutes];
      for (const r of routes) {
        const m = r.method === method ? r.regex.exec(path) : null;
        if (!m) {
          continue;
        }
        const params = Object.fromEntries(r.names.map((n, i) => [n, decodeURIComponent(m[i + 1])]));
        const result = await r.handler({ method, path, params, query: parsed.searchParams, body });
        return reply(result.status, result.body, { ...rateHeaders, ...result.headers });
      }
      reply(404, { message: 'Not Found', documentation_url: DOCS }, rateHeaders);
    } catch (error) {
      if (error instanceof HttpFailure) {
        if (error.status === 401 && req.headers.authorization) {
          auth = 'invalid';
        }
        return reply(error.status, { message: error.message, documentation_url: DOCS });
      }
      reply(500, { message: `FakeGitHub internal error: ${(error as Error).message}` });
    }
  }

  private spendRateLimit(): Record<string, string> {
    this.rateRemaining = Math.max(0, this.rateRemaining - 1);
    return {
      'x-ratelimit-limit': String(RATE_LIMIT),
      'x-ratelimit-remaining': String(this.rateRemaining),
      'x-ratelimit-used': String(RATE_LIMIT - this.rateRemaining),
      'x-ratelimit-reset': String(Math.ceil(Date.now() / 1000) + 3600),
      'x-ratelimit-resource': 'core',
    };
  }

  private rateLimited(method: string, path: string): FakeRouteResult | undefined {
    const now = Date.now();
    if (this.rateLimitWindow && now >= this.rateLimitWindow.until) {
      this.rateLimitWindow = undefined;
    }
    if (!this.rateLimitWindow && this.rateLimitArm && matches(this.rateLimitArm, method, path)) {
      const arm = this.rateLimitArm;
      this.rateLimitArm = undefined;
      const resetEpochSeconds = Math.ceil((now + arm.resetInSeconds * 1000) / 1000);
      // Primary: refused until the announced reset second. Secondary: for retry-after seconds,
      // less a few ms because timers may fire a millisecond early relative to Date.now().
      const until =
        arm.kind === 'primary' ? resetEpochSeconds * 1000 : now + arm.resetInSeconds * 1000 - 20;
      this.rateLimitWindow = { ...arm, until, resetEpochSeconds };
    }
    const w = this.rateLimitWindow;
    if (!w || !matches(w, method, path)) {
      return undefined;
    }
    if (w.kind === 'primary') {
      return {
        status: w.status,
        body: { message: 'API rate limit exceeded for installation.', documentation_url: DOCS },
        headers: {
          'x-ratelimit-limit': '5000',
          'x-ratelimit-remaining': '0',
          'x-ratelimit-used': '5000',
          'x-ratelimit-reset': String(w.resetEpochSeconds),
          'x-ratelimit-resource': 'core',
        },
      };
    }
    return {
      status: w.status,
      body: {
        message:
          'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.',
        documentation_url: DOCS,
      },
      headers: { 'retry-after': String(w.resetInSeconds) },
    };
  }

  private handleInstallation(
    method: string,
    id: string,
    accessTokens: boolean,
    reply: (status: number, payload: unknown) => void,
  ): void {
    if (Number(id) !== this.options.installationId) {
      return reply(404, { message: 'Not Found', documentation_url: DOCS });
    }
    if (accessTokens && method === 'POST') {
      const token = `ghs_${randomBytes(18).toString('base64url').replace(/[-_]/g, 'x')}`;
      // Whole seconds, as GitHub states expires_at; the token dies at exactly the stated time.
      const expiresAt = Math.floor((Date.now() + this.tokenLifetimeMs) / 1000) * 1000;
      this.tokens.set(token, { expiresAt, revoked: false });
      return reply(201, {
        token,
        expires_at: new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        permissions: { issues: 'write', pull_requests: 'write', metadata: 'read' },
        repository_selection: 'all',
      });
    }
    if (!accessTokens && method === 'GET') {
      return reply(200, {
        id: this.options.installationId,
        app_id: this.options.appId,
        app_slug: this.appSlug,
        target_type: 'Organization',
        account: { login: this.account, type: 'Organization' },
        permissions: { issues: 'write', pull_requests: 'write', metadata: 'read' },
      });
    }
    reply(404, { message: 'Not Found', documentation_url: DOCS });
  }

  private checkJwt(header: string | undefined): 'jwt' {
    const jwt = /^bearer\s+(\S+)$/i.exec(header ?? '')?.[1];
    const parts = jwt?.split('.') ?? [];
    if (parts.length !== 3) {
      throw new HttpFailure(401, 'A JSON web token could not be decoded');
    }
    const [head, payload, signature] = parts;
    let claims: { iss?: unknown; exp?: unknown; iat?: unknown };
    try {
      const alg = (JSON.parse(Buffer.from(head, 'base64url').toString()) as { alg?: string }).alg;
      const ok =
        alg === 'RS256' &&
        verify(
          'sha256',
          Buffer.from(`${head}.${payload}`),
          this.publicKey,
          Buffer.from(signature, 'base64url'),
        );
      if (!ok) {
        throw new Error('bad signature');
      }
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as typeof claims;
    } catch {
      throw new HttpFailure(401, 'A JSON web token could not be decoded');
    }
    const now = Math.floor(Date.now() / 1000);
    if (String(claims.iss) !== String(this.options.appId)) {
      throw new HttpFailure(401, "'Issuer' claim ('iss') does not name this GitHub App");
    }
    if (typeof claims.exp !== 'number' || claims.exp <= now) {
      throw new HttpFailure(
        401,
        "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
      );
    }
    if (claims.exp > now + 660) {
      throw new HttpFailure(401, "'Expiration time' claim ('exp') is too far in the future");
    }
    return 'jwt';
  }

  private checkToken(header: string | undefined): 'token' {
    const token = /^(?:token|bearer)\s+(\S+)$/i.exec(header ?? '')?.[1];
    const entry = token === undefined ? undefined : this.tokens.get(token);
    if (!entry || entry.revoked || entry.expiresAt <= Date.now()) {
      throw new HttpFailure(401, 'Bad credentials');
    }
    return 'token';
  }

  // ---- issue comments and labels ------------------------------------------------------------

  private insertComment(
    repo: string,
    issueNumber: number,
    body: string,
    author: string,
  ): StoredComment {
    const now = new Date().toISOString();
    const c: StoredComment = {
      id: this.nextCommentId++,
      repo,
      issueNumber,
      body,
      author,
      createdAt: now,
      updatedAt: now,
      history: [body],
    };
    this.store.set(c.id, c);
    return c;
  }

  private toJson(c: StoredComment): unknown {
    return {
      id: c.id,
      node_id: `IC_${c.id}`,
      url: `${this.baseUrl}/repos/${c.repo}/issues/comments/${c.id}`,
      html_url: `https://github.com/${c.repo}/pull/${c.issueNumber}#issuecomment-${c.id}`,
      issue_url: `${this.baseUrl}/repos/${c.repo}/issues/${c.issueNumber}`,
      body: c.body,
      user: { login: c.author, type: c.author.endsWith('[bot]') ? 'Bot' : 'User' },
      created_at: c.createdAt,
      updated_at: c.updatedAt,
      author_association: 'NONE',
    };
  }

  private createComment(c: FakeRouteContext): FakeRouteResult {
    const body = validBody(c.body);
    const comment = this.insertComment(repoOf(c), issueOf(c), body, `${this.appSlug}[bot]`);
    return { status: 201, body: this.toJson(comment) };
  }

  private findComment(c: FakeRouteContext): StoredComment {
    const comment = this.store.get(Number(c.params.id));
    if (!comment || comment.repo !== repoOf(c)) {
      throw new HttpFailure(404, 'Not Found');
    }
    return comment;
  }

  private getComment(c: FakeRouteContext): FakeRouteResult {
    return { status: 200, body: this.toJson(this.findComment(c)) };
  }

  private updateComment(c: FakeRouteContext): FakeRouteResult {
    const comment = this.findComment(c);
    comment.body = validBody(c.body);
    comment.updatedAt = new Date().toISOString();
    comment.history.push(comment.body);
    return { status: 200, body: this.toJson(comment) };
  }

  private createCheckRun(c: FakeRouteContext): FakeRouteResult {
    try {
      return { status: 201, body: this.checks.create(repoOf(c), c.body) };
    } catch (error) {
      if (error instanceof CheckRunInputError) {
        throw new HttpFailure(422, `Invalid request: ${error.message}`);
      }
      throw error;
    }
  }

  private updateCheckRun(c: FakeRouteContext): FakeRouteResult {
    let run: FakeCheckRun | undefined;
    try {
      run = this.checks.update(repoOf(c), Number(c.params.id), c.body);
    } catch (error) {
      if (error instanceof CheckRunInputError) {
        throw new HttpFailure(422, `Invalid request: ${error.message}`);
      }
      throw error;
    }
    if (!run) {
      throw new HttpFailure(404, 'Not Found');
    }
    return { status: 200, body: run };
  }

  private listComments(c: FakeRouteContext): FakeRouteResult {
    const all = this.comments(repoOf(c), issueOf(c));
    const perPage = Math.min(100, Math.max(1, Number(c.query.get('per_page')) || 30));
    const page = Math.max(1, Number(c.query.get('page')) || 1);
    const last = Math.max(1, Math.ceil(all.length / perPage));
    const items = all
      .slice((page - 1) * perPage, page * perPage)
      .map((x) => this.toJson(this.store.get(x.id)!));
    const link = (p: number, rel: string): string =>
      `<${this.baseUrl}${c.path}?per_page=${perPage}&page=${p}>; rel="${rel}"`;
    const links: string[] = [];
    if (page > 1) {
      links.push(link(page - 1, 'prev'), link(1, 'first'));
    }
    if (page < last) {
      links.push(link(page + 1, 'next'), link(last, 'last'));
    }
    return { status: 200, body: items, headers: links.length ? { link: links.join(', ') } : {} };
  }

  private getPullRequest(c: FakeRouteContext): FakeRouteResult {
    const pr = this.pullStore.get(`${repoOf(c)}#${issueOf(c)}`);
    if (pr === undefined) {
      throw new HttpFailure(404, 'Not Found');
    }
    return { status: 200, body: pr };
  }

  private labelKey(c: FakeRouteContext): string {
    return `${repoOf(c)}#${issueOf(c)}`;
  }

  private labelList(c: FakeRouteContext): unknown[] {
    return (this.labelStore.get(this.labelKey(c)) ?? []).map((name) => ({ name }));
  }

  private getLabels(c: FakeRouteContext): FakeRouteResult {
    return { status: 200, body: this.labelList(c) };
  }

  private addLabels(c: FakeRouteContext): FakeRouteResult {
    const requested = Array.isArray(c.body) ? c.body : (c.body as { labels?: unknown })?.labels;
    if (!Array.isArray(requested) || requested.some((l) => typeof l !== 'string' || l === '')) {
      throw new HttpFailure(422, 'Invalid request: labels must be a list of names');
    }
    const current = this.labelStore.get(this.labelKey(c)) ?? [];
    this.labelStore.set(this.labelKey(c), [...new Set([...current, ...(requested as string[])])]);
    return { status: 200, body: this.labelList(c) };
  }

  private removeLabel(c: FakeRouteContext): FakeRouteResult {
    const current = this.labelStore.get(this.labelKey(c)) ?? [];
    if (!current.includes(c.params.name)) {
      throw new HttpFailure(404, 'Label does not exist');
    }
    this.labelStore.set(
      this.labelKey(c),
      current.filter((l) => l !== c.params.name),
    );
    return { status: 200, body: this.labelList(c) };
  }
}

function route(method: string, pattern: string, handler: FakeRouteHandler): Route {
  const names: string[] = [];
  const source = pattern
    .split('/')
    .map((part) => {
      if (!part.startsWith(':')) {
        return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      }
      names.push(part.slice(1));
      return '([^/]+)';
    })
    .join('/');
  return { method: method.toUpperCase(), regex: new RegExp(`^${source}$`), names, handler };
}

function matches(
  filter: { method?: string; path?: string | RegExp },
  method: string,
  path: string,
): boolean {
  if (filter.method !== undefined && filter.method.toUpperCase() !== method) {
    return false;
  }
  if (filter.path === undefined) {
    return true;
  }
  return typeof filter.path === 'string' ? filter.path === path : filter.path.test(path);
}

function snapshot(c: StoredComment): FakeComment {
  return { ...c, history: [...c.history] };
}

function repoOf(c: FakeRouteContext): string {
  return `${c.params.owner}/${c.params.repo}`;
}

function issueOf(c: FakeRouteContext): number {
  const n = Number(c.params.n);
  if (!Number.isInteger(n) || n <= 0) {
    throw new HttpFailure(404, 'Not Found');
  }
  return n;
}

function validBody(payload: unknown): string {
  const body = (payload as { body?: unknown } | undefined)?.body;
  if (typeof body !== 'string' || body === '') {
    throw new HttpFailure(422, 'Invalid request: body is required');
  }
  if (body.length > MAX_COMMENT_LENGTH) {
    throw new HttpFailure(
      422,
      `Validation Failed: body is too long (maximum is ${MAX_COMMENT_LENGTH} characters)`,
    );
  }
  return body;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_REQUEST_BYTES) {
      throw new HttpFailure(413, 'Payload too large');
    }
    chunks.push(chunk as Buffer);
  }
  if (size === 0) {
    return undefined;
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new HttpFailure(400, 'Problems parsing JSON');
  }
}
