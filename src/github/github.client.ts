import { createPrivateKey } from 'node:crypto';
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { BotMetrics } from '../common/metrics/bot-metrics.js';
import { GITHUB_APP_SETTINGS, type GitHubAppSettings } from './github-app.settings.js';
import { collectHookDeliveries, type HookDeliveryListing } from './hook-deliveries.js';
import {
  createOctokit,
  DEFAULT_CLIENT_OPTIONS,
  type BotOctokit,
  type GitHubClientOptions,
  type OctokitBundle,
} from './octokit.factory.js';

export type { GitHubClientOptions } from './octokit.factory.js';

/** Optional provider: tests give small retry delays and no write pacing (see FakeGitHub). */
export const GITHUB_CLIENT_OPTIONS = Symbol('GITHUB_CLIENT_OPTIONS');

export interface IssueComment {
  readonly id: number;
  readonly body: string;
  /** Posted by a bot account (an App's `<slug>[bot]`): only such comments can be the bot's own. */
  readonly byBot?: boolean;
}

/** "owner/name" */
export type RepoFullName = string;

export interface InstallationInfo {
  readonly id: number;
  /** Login of the user or organisation the App is installed on. */
  readonly account: string;
  readonly appId: number;
  readonly appSlug: string;
}

export interface InstallationTokenInfo {
  /** Never log it. */
  readonly token: string;
  /** ISO 8601, as GitHub sent it. */
  readonly expiresAt: string;
}

export type GitHubErrorKind =
  | 'key' // private_key unusable before any request
  | 'app-auth' // GitHub refused the App JWT: app_id / private_key
  | 'installation' // installation_id unknown to GitHub
  | 'token' // installation token refused even after minting a new one
  | 'rate-limit'
  | 'forbidden'
  | 'not-found'
  | 'invalid' // 400 / 422: the request itself
  | 'server' // 5xx after every retry
  | 'network'; // no answer at all after every retry

/** An operator-facing failure of a GitHub call: the message says what to check. */
export class GitHubApiError extends Error {
  override readonly name = 'GitHubApiError';

  constructor(
    message: string,
    readonly kind: GitHubErrorKind,
    /** HTTP status, undefined when GitHub did not answer. */
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

interface HttpErrorLike {
  status: number;
  message: string;
  response?: { headers?: Record<string, string | undefined> };
  request?: { url?: string };
}

@Injectable()
export class GitHubClient {
  private readonly logger = new Logger(GitHubClient.name);
  private readonly attempts: number;
  private readonly keyProblem?: string;
  private bundle?: OctokitBundle;

  constructor(
    @Inject(GITHUB_APP_SETTINGS) private readonly app: GitHubAppSettings,
    @Optional() @Inject(GITHUB_CLIENT_OPTIONS) private readonly options: GitHubClientOptions = {},
    @Optional() private readonly metrics?: BotMetrics,
  ) {
    this.attempts = (options.retries ?? DEFAULT_CLIENT_OPTIONS.retries) + 1;
    this.keyProblem = checkPrivateKey(app.privateKey);
  }

  /**
   * Built on first use, after the key check: auth-app throws on an empty key, and a process that
   * never talks to GitHub (or a test) must still be able to construct the client.
   */
  private get octokit(): BotOctokit {
    this.bundle ??= createOctokit(this.app, this.options, this.logger, this.metrics);
    return this.bundle.octokit;
  }

  /** Installation access token (cached, refreshed before expiry). Never log it. */
  async installationToken(): Promise<string> {
    return (await this.installationAuth()).token;
  }

  /** The cached installation token with its expiry, minted if missing or close to expiry. */
  async installationAuth(): Promise<InstallationTokenInfo> {
    return this.call('minting an installation token', async () => {
      const auth = (await this.octokit.auth({ type: 'installation' })) as InstallationTokenInfo;
      return { token: auth.token, expiresAt: auth.expiresAt };
    });
  }

  /** GET /app/installations/:id, authenticated as the App itself (JWT). */
  async getInstallation(): Promise<InstallationInfo> {
    const id = this.app.installationId;
    return this.call(`reading installation ${id}`, async () => {
      const { data } = await this.octokit.rest.apps.getInstallation({ installation_id: id });
      const account = data.account as { login?: string; slug?: string } | null;
      return {
        id: data.id,
        account: account?.login ?? account?.slug ?? '',
        appId: data.app_id,
        appSlug: data.app_slug,
      };
    });
  }

  /**
   * The App's webhook deliveries (all installations) back to `since`, newest first, reading at
   * most `maxPages` pages of 100. Authenticated as the App (JWT), as GitHub requires.
   */
  async listHookDeliveries(since: Date, maxPages: number): Promise<HookDeliveryListing> {
    return this.call("listing the App's webhook deliveries", () =>
      collectHookDeliveries(
        this.octokit.paginate.iterator(this.octokit.rest.apps.listWebhookDeliveries, {
          per_page: 100,
        }),
        since,
        maxPages,
      ),
    );
  }

  /** Asks GitHub to send delivery attempt `id` again (same X-GitHub-Delivery); App JWT. */
  async redeliverHookDelivery(id: number): Promise<void> {
    await this.call(`asking GitHub to redeliver webhook delivery ${id}`, async () => {
      await this.octokit.rest.apps.redeliverWebhookDelivery({ delivery_id: id });
    });
  }

  async createComment(
    repo: RepoFullName,
    issueNumber: number,
    body: string,
  ): Promise<IssueComment> {
    const { owner, name } = splitRepo(repo);
    return this.call(`creating a comment on ${repo}#${issueNumber}`, async () => {
      const { data } = await this.octokit.rest.issues.createComment({
        owner,
        repo: name,
        issue_number: issueNumber,
        body,
        // Not retried on 5xx: GitHub may have created the comment before failing to answer, and
        // a blind retry would post it twice. Callers retry later by searching the job marker first.
        request: { retries: 0 },
      });
      return { id: data.id, body: data.body ?? '' };
    });
  }

  /** undefined when the comment does not exist (deleted on GitHub). */
  async getComment(repo: RepoFullName, commentId: number): Promise<IssueComment | undefined> {
    const { owner, name } = splitRepo(repo);
    return this.call(`reading comment ${commentId} of ${repo}`, async () => {
      try {
        const { data } = await this.octokit.rest.issues.getComment({
          owner,
          repo: name,
          comment_id: commentId,
        });
        return { id: data.id, body: data.body ?? '' };
      } catch (error) {
        if ((error as Partial<HttpErrorLike>).status === 404) {
          return undefined;
        }
        throw error;
      }
    });
  }

  async updateComment(repo: RepoFullName, commentId: number, body: string): Promise<IssueComment> {
    const { owner, name } = splitRepo(repo);
    return this.call(`updating comment ${commentId} of ${repo}`, async () => {
      const { data } = await this.octokit.rest.issues.updateComment({
        owner,
        repo: name,
        comment_id: commentId,
        body,
      });
      return { id: data.id, body: data.body ?? '' };
    });
  }

  /** All comments of an issue/PR (paginated). */
  async listComments(repo: RepoFullName, issueNumber: number): Promise<IssueComment[]> {
    const { owner, name } = splitRepo(repo);
    return this.call(`listing comments of ${repo}#${issueNumber}`, async () => {
      const all = await this.octokit.paginate(this.octokit.rest.issues.listComments, {
        owner,
        repo: name,
        issue_number: issueNumber,
        per_page: 100,
      });
      return all.map((c) => ({ id: c.id, body: c.body ?? '', byBot: c.user?.type === 'Bot' }));
    });
  }

  private async call<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    if (this.keyProblem) {
      throw new GitHubApiError(
        `cannot sign the App JWT while ${operation}: private_key from ${this.app.privateKeyPath} ` +
          `is unusable (${this.keyProblem}): check private_key in [github] of ${this.app.configPath}`,
        'key',
      );
    }
    try {
      return await fn();
    } catch (error) {
      if (!this.isInstallationTokenRefused(error)) {
        throw this.toApiError(error, operation);
      }
    }
    // A token can die before its expiry (App reinstalled, permissions changed): mint a new one once.
    this.logger.warn(
      `GitHub refused the cached installation token while ${operation}: minting a new one`,
    );
    this.bundle?.forgetTokens();
    try {
      return await fn();
    } catch (error) {
      throw this.toApiError(error, operation);
    }
  }

  private isInstallationTokenRefused(error: unknown): boolean {
    const e = error as Partial<HttpErrorLike>;
    return e.status === 401 && !isAppRoute(e.request?.url);
  }

  private toApiError(error: unknown, operation: string): Error {
    if (error instanceof GitHubApiError) {
      return error;
    }
    const e = error as Partial<HttpErrorLike>;
    const github = this.app;
    const where = `in [github] of ${github.configPath}`;
    if (typeof e.status !== 'number' || e.request === undefined) {
      // Not an HTTP failure (a bug, or an error from another realm): pass it on untouched.
      return typeof e.message === 'string' ? (error as Error) : new Error(String(error));
    }
    const status = e.status;
    const detail = e.message ?? '';
    const url = e.request.url;
    const fail = (kind: GitHubErrorKind, message: string, answered = true) =>
      new GitHubApiError(message, kind, answered ? status : undefined, { cause: error });

    if (e.response === undefined) {
      return fail(
        'network',
        `cannot reach GitHub at api_url ${github.apiUrl} while ${operation} (${detail}; ` +
          `${this.attempts} attempts): check api_url ${where} (or GITHUB_API_URL), DNS, proxy and network`,
        false,
      );
    }
    if (isAppRoute(url) && status === 401) {
      return fail(
        'app-auth',
        `GitHub refused the App's JWT while ${operation} (401 ${detail}): check app_id ` +
          `(${github.appId}) and private_key (${github.privateKeyPath}) ${where}`,
      );
    }
    if (isAppRoute(url) && status === 404 && isHookRoute(url)) {
      return fail('not-found', `GitHub has no such webhook delivery (404 while ${operation})`);
    }
    if (isAppRoute(url) && status === 404) {
      return fail(
        'installation',
        `GitHub App ${github.appId} has no installation ${github.installationId} (404 while ` +
          `${operation}): check installation_id ${where}`,
      );
    }
    if (status === 401) {
      return fail(
        'token',
        `GitHub refused a freshly minted installation token while ${operation} (401 ${detail}): ` +
          `check that the App is still installed (installation_id ${github.installationId} ${where})`,
      );
    }
    const headers = e.response.headers ?? {};
    if (
      (status === 403 || status === 429) &&
      (headers['x-ratelimit-remaining'] === '0' ||
        headers['retry-after'] !== undefined ||
        /rate limit/i.test(detail))
    ) {
      return fail(
        'rate-limit',
        `GitHub rate limit while ${operation} (${status} ${detail}), still limited after every ` +
          `wait: the call can be repeated later`,
      );
    }
    if (status === 403) {
      return fail(
        'forbidden',
        `GitHub refused ${operation} (403 ${detail}): check the App's permissions (issues and ` +
          `pull requests: read & write) and that it is installed on the repository`,
      );
    }
    if (status === 404) {
      return fail(
        'not-found',
        `GitHub found nothing while ${operation} (404): check the repository and number, and ` +
          `that installation ${github.installationId} covers the repository`,
      );
    }
    if (status >= 500) {
      return fail(
        'server',
        `GitHub answered ${status} while ${operation} after ${this.attempts} attempts (${detail}): ` +
          `see https://www.githubstatus.com`,
      );
    }
    return fail('invalid', `GitHub refused ${operation} (${status} ${detail})`);
  }
}

/** Routes GitHub authenticates with the App JWT rather than an installation token. */
function isAppRoute(url: string | undefined): boolean {
  return pathMatches(url, /\/app(\/installations\/[^/]+(\/access_tokens)?)?$/) || isHookRoute(url);
}

/** `/app/hook/deliveries[/<id>[/attempts]]` */
function isHookRoute(url: string | undefined): boolean {
  return pathMatches(url, /\/app\/hook\/deliveries(\/[^/]+(\/attempts)?)?$/);
}

function pathMatches(url: string | undefined, pattern: RegExp): boolean {
  if (!url) {
    return false;
  }
  try {
    return pattern.test(new URL(url).pathname);
  } catch {
    return false;
  }
}

function splitRepo(repo: RepoFullName): { owner: string; name: string } {
  // Owners are letters, digits, '-' (and '_' on GitHub Enterprise); names also allow '.', but
  // '.' and '..' would walk the API path, so they are refused with the rest.
  const m = /^([A-Za-z0-9][A-Za-z0-9_-]*)\/([A-Za-z0-9_.-]+)$/.exec(repo);
  if (!m || m[2] === '.' || m[2] === '..') {
    throw new Error(`invalid repository '${repo}': expected owner/name`);
  }
  return { owner: m[1], name: m[2] };
}

/** A readable reason when the key cannot sign RS256, so no request is wasted on it. */
function checkPrivateKey(pem: string): string | undefined {
  try {
    const key = createPrivateKey(pem);
    return key.asymmetricKeyType === 'rsa' ? undefined : `a ${key.asymmetricKeyType} key, not RSA`;
  } catch (error) {
    return `not a PEM private key: ${(error as Error).message}`;
  }
}
