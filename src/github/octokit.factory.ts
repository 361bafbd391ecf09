/**
 * Builds the Octokit the bot talks to GitHub with: App JWT → installation token (auth-app),
 * retries for 5xx and network errors (plugin-retry), rate limits waited out (plugin-throttling),
 * and log output that never carries a credential.
 */
import type { Logger } from '@nestjs/common';
import { createAppAuth } from '@octokit/auth-app';
import type { Octokit as CoreOctokit, OctokitOptions } from '@octokit/core';
import { retry } from '@octokit/plugin-retry';
import { throttling, type ThrottlingOptions } from '@octokit/plugin-throttling';
import { Octokit } from '@octokit/rest';
import type { BotMetrics } from '../common/metrics/bot-metrics.js';
import { botVersion } from '../common/package-version.js';
import type { GitHubAppSettings } from './github-app.settings.js';

export interface GitHubClientOptions {
  /** Retries after the first attempt for 5xx and network errors (default 3). */
  readonly retries?: number;
  /** Back-off unit in ms: retry k waits k² × this (default 1000, i.e. 1 s, 4 s, 9 s). */
  readonly retryAfterBaseValue?: number;
  /** How many times one request waits out a rate limit before failing (default 3). */
  readonly rateLimitRetries?: number;
  /**
   * GitHub asks integrations to space content-creating requests (≥ 1 s between writes, 3 s
   * between comments) to stay clear of secondary rate limits; plugin-throttling does that by
   * default. Tests turn it off (default true).
   */
  readonly paceWrites?: boolean;
  /** Mint a new installation token when the cached one has less than this left (default 300 s). */
  readonly tokenRefreshMarginSeconds?: number;
  /** Abort a single HTTP attempt after this long; it then counts as a network error (default 30 s). */
  readonly requestTimeoutMs?: number;
  /** Version in the User-Agent (default: this package's version). */
  readonly version?: string;
}

/** Statuses that a retry cannot fix, or that plugin-throttling handles itself (403, 429). */
const DO_NOT_RETRY = [400, 401, 403, 404, 410, 422, 429, 451] as const;

type ResolvedOptions = Required<Omit<GitHubClientOptions, 'version'>>;

export const DEFAULT_CLIENT_OPTIONS: Readonly<ResolvedOptions> = Object.freeze({
  retries: 3,
  retryAfterBaseValue: 1000,
  rateLimitRetries: 3,
  paceWrites: true,
  tokenRefreshMarginSeconds: 300,
  requestTimeoutMs: 30_000,
});

const BotOctokit = Octokit.plugin(requestMetrics, attemptLogging, retry, throttling);
export type BotOctokit = InstanceType<typeof BotOctokit>;

export interface OctokitBundle {
  readonly octokit: BotOctokit;
  /** Drops cached installation tokens (e.g. after GitHub refused one). */
  readonly forgetTokens: () => void;
}

export function createOctokit(
  github: GitHubAppSettings,
  options: GitHubClientOptions,
  logger: Logger,
  metrics?: BotMetrics,
): OctokitBundle {
  // Keys present but undefined (from a partial config) must not erase the defaults.
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const o: ResolvedOptions & GitHubClientOptions = { ...DEFAULT_CLIENT_OPTIONS, ...given };
  const cache = new ExpiringTokenCache(o.tokenRefreshMarginSeconds * 1000);
  const describe = (octokit: CoreOctokit, request: unknown): string =>
    describeRequest(octokit, request, github.apiUrl);

  const onLimit =
    (kind: 'primary' | 'secondary') =>
    (retryAfter: number, request: unknown, octokit: CoreOctokit, retryCount: number): boolean => {
      const what = describe(octokit, request);
      if (retryCount < o.rateLimitRetries) {
        logger.warn(
          `GitHub ${kind} rate limit on ${what}: waiting ${retryAfter} s, then retrying ` +
            `(${retryCount + 1}/${o.rateLimitRetries})`,
        );
        return true;
      }
      logger.warn(
        `GitHub ${kind} rate limit on ${what}: gave up after ${o.rateLimitRetries} waits`,
      );
      return false;
    };

  const throttle = {
    onRateLimit: onLimit('primary'),
    onSecondaryRateLimit: onLimit('secondary'),
    ...(o.paceWrites ? {} : { write: passThroughGroup, notifications: passThroughGroup }),
  } as unknown as ThrottlingOptions;

  const octokit = new BotOctokit({
    baseUrl: github.apiUrl.replace(/\/+$/, ''),
    userAgent: botUserAgent(github.appName, o.version ?? botVersion()),
    authStrategy: createAppAuth,
    auth: {
      appId: github.appId,
      privateKey: github.privateKey,
      installationId: github.installationId,
      cache,
    },
    log: redactingLog(logger),
    request: { fetch: fetchWithTimeout(o.requestTimeoutMs) },
    retry: {
      retries: o.retries,
      retryAfterBaseValue: o.retryAfterBaseValue,
      doNotRetry: [...DO_NOT_RETRY],
    },
    throttle,
    attemptLog: {
      logger,
      retries: o.retries,
      baseMs: o.retryAfterBaseValue,
      apiUrl: github.apiUrl,
    },
    requestMetrics: metrics ? { metrics, apiUrl: github.apiUrl } : undefined,
  });
  return { octokit, forgetTokens: () => cache.clear() };
}

export function botUserAgent(appName: string, version: string): string {
  return `eessi-bot/${version} (${appName})`;
}

/** Masks anything that looks like a GitHub token, a JWT, an Authorization value or a PEM key. */
export function redactSecrets(text: string): string {
  return text
    .replace(
      /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g,
      '[REDACTED KEY]',
    )
    .replace(/\b(gh[opsur]_|github_pat_)[A-Za-z0-9_]+/g, '$1[REDACTED]')
    .replace(/\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, '[REDACTED JWT]')
    .replace(/\b(bearer|token)\s+(?!\[REDACTED)[A-Za-z0-9_.=+/-]{20,}/gi, '$1 [REDACTED]');
}

function redactingLog(logger: Logger): NonNullable<OctokitOptions['log']> {
  const text = (message: unknown, rest: unknown[]): string =>
    redactSecrets(
      [message, ...rest]
        .map((part) => (typeof part === 'string' ? part : messageOf(part)))
        .filter((part): part is string => part !== undefined)
        .join(' '),
    );
  return {
    // Octokit's debug output dumps request options, Authorization header included: never log it.
    debug: () => undefined,
    // One line per request/response ("GET /path - 200 ... in 12ms"); failures are reported by the
    // client with context, so plugin-request-log's error lines stay at debug level too.
    info: (message: unknown, ...rest: unknown[]) => logger.debug(text(message, rest)),
    warn: (message: unknown, ...rest: unknown[]) => logger.warn(text(message, rest)),
    error: (message: unknown, ...rest: unknown[]) => logger.debug(text(message, rest)),
  };
}

/**
 * auth-app caches tokens for a fixed 59 minutes and ignores `expires_at`; this cache honours it
 * (with a margin), so a token is never used close to its end, whatever lifetime GitHub grants.
 */
export class ExpiringTokenCache {
  private readonly entries = new Map<string, { value: string; refreshAt: number }>();

  constructor(private readonly marginMs: number) {}

  get(key: string): string {
    const entry = this.entries.get(key);
    if (!entry) {
      return '';
    }
    if (Date.now() >= entry.refreshAt) {
      this.entries.delete(key);
      return '';
    }
    return entry.value;
  }

  set(key: string, value: string): void {
    // auth-app serialises "token|createdAt|expiresAt|…"; without a readable expiry, fall back to
    // auth-app's own 59 minutes.
    const expiresAt = Date.parse(value.split('|')[2] ?? '');
    const refreshAt = Number.isFinite(expiresAt)
      ? expiresAt - this.marginMs
      : Date.now() + 59 * 60 * 1000;
    this.entries.set(key, { value, refreshAt });
  }

  clear(): void {
    this.entries.clear();
  }
}

/** Shape check, not instanceof: errors from another realm (Jest VM modules) fail instanceof. */
function messageOf(value: unknown): string | undefined {
  const message = (value as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : undefined;
}

/** Stands in for a Bottleneck group when write pacing is off: runs the job at once. */
const passThroughGroup = {
  key: () => ({
    schedule: (_options: unknown, job: (...args: unknown[]) => unknown, ...args: unknown[]) =>
      Promise.resolve().then(() => job(...args)),
  }),
};

/** Octokit has no request timeout of its own; a stalled connection would block the bot forever. */
function fetchWithTimeout(timeoutMs: number): typeof fetch {
  return (input, init) => {
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = init?.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    return fetch(input, { ...init, signal });
  };
}

interface RequestMetricsOptions {
  metrics: BotMetrics;
  apiUrl: string;
}

type Headers = Record<string, string | number | undefined>;

/**
 * Counts every attempt by status and keeps the rate limit GitHub reports, for /metrics. Innermost
 * of our plugins, so that retries and rate-limit waits are each counted.
 */
function requestMetrics(octokit: CoreOctokit, octokitOptions: OctokitOptions): object {
  const cfg = octokitOptions.requestMetrics as RequestMetricsOptions | undefined;
  if (!cfg) {
    return {};
  }
  const record = (status: number | undefined, headers: Headers | undefined, url: string) => {
    cfg.metrics.githubRequests.inc(status ?? 'error');
    // The App's own requests (JWT) have a budget of their own; the installation's is the one
    // the bot's work spends.
    const remaining = Number(headers?.['x-ratelimit-remaining']);
    if (!Number.isFinite(remaining) || isAppPath(url, cfg.apiUrl)) {
      return;
    }
    const resource = String(headers?.['x-ratelimit-resource'] ?? 'core');
    const limit = Number(headers?.['x-ratelimit-limit']);
    const reset = Number(headers?.['x-ratelimit-reset']);
    cfg.metrics.githubRateLimit.set(resource, {
      remaining,
      ...(Number.isFinite(limit) ? { limit } : {}),
      ...(Number.isFinite(reset) ? { resetAt: reset } : {}),
    });
  };
  octokit.hook.wrap('request', async (request, options) => {
    try {
      const response = await request(options);
      record(response.status, response.headers, options.url);
      return response;
    } catch (error) {
      const e = error as { status?: number; response?: { headers?: Headers } };
      record(e.response ? e.status : undefined, e.response?.headers, options.url);
      throw error;
    }
  });
  return {};
}

/** `/app` and below: routes GitHub authenticates with the App's JWT. */
function isAppPath(url: string, apiUrl: string): boolean {
  const base = apiUrl.replace(/\/+$/, '');
  const path = (url.startsWith(base) ? url.slice(base.length) : url).split('?')[0];
  return path === '/app' || path.startsWith('/app/');
}

interface AttemptLogOptions {
  logger: Logger;
  retries: number;
  baseMs: number;
  apiUrl: string;
}

interface RequestErrorLike {
  status?: number;
  message: string;
  response?: unknown;
  request?: unknown;
}

/**
 * Registered before plugin-retry so that it sits inside it and sees every attempt: plugin-retry
 * itself retries silently.
 */
function attemptLogging(octokit: CoreOctokit, octokitOptions: OctokitOptions): object {
  const cfg = octokitOptions.attemptLog as AttemptLogOptions | undefined;
  if (!cfg) {
    return {};
  }
  octokit.hook.wrap('request', async (request, options) => {
    try {
      return await request(options);
    } catch (error) {
      const e = error as RequestErrorLike;
      const retryable =
        e.request !== undefined &&
        typeof e.status === 'number' &&
        e.status >= 400 &&
        !(DO_NOT_RETRY as readonly number[]).includes(e.status);
      if (retryable) {
        const attempt = ((options.request as { retryCount?: number }).retryCount ?? 0) + 1;
        const what = describeRequest(octokit, options, cfg.apiUrl);
        const cause =
          e.response === undefined ? `network error (${e.message})` : `${e.status} ${e.message}`;
        const perRequest = (options.request as { retries?: number }).retries;
        const retries = perRequest ?? cfg.retries;
        if (attempt <= retries) {
          cfg.logger.warn(
            redactSecrets(
              `${what} failed: ${cause}; attempt ${attempt}/${retries + 1}, ` +
                `retrying in ${attempt * attempt * cfg.baseMs} ms`,
            ),
          );
        } else {
          cfg.logger.warn(
            redactSecrets(`${what} failed: ${cause}; gave up after ${attempt} attempts`),
          );
        }
      }
      throw error;
    }
  });
  return {};
}

/** "METHOD /path?query" relative to the API base (no headers, so no credentials). */
function describeRequest(octokit: CoreOctokit, request: unknown, apiUrl: string): string {
  try {
    const parsed = octokit.request.endpoint.parse(
      request as Parameters<CoreOctokit['request']['endpoint']['parse']>[0],
    );
    const base = apiUrl.replace(/\/+$/, '');
    const url = parsed.url.startsWith(base) ? parsed.url.slice(base.length) : parsed.url;
    return `${parsed.method} ${url}`;
  } catch {
    return 'GitHub request';
  }
}
