import { createPrivateKey } from 'node:crypto';
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { BotMetrics } from '../common/metrics/bot-metrics.js';
import {
  GitHubApiError,
  type HttpErrorLike,
  isInstallationTokenRefused,
  toGitHubApiError,
} from './github-api-error.js';
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
  /** The comment's web page (listComments only). */
  readonly htmlUrl?: string;
}

/** What a build takes from a pull request read through the API (GET /repos/:o/:r/pulls/:n). */
export interface PullRequestInfo {
  readonly number: number;
  readonly state: string;
  readonly base: {
    readonly ref: string;
    readonly sha: string;
    readonly repo: { readonly full_name: string; readonly clone_url: string } | null;
  };
  readonly head: {
    readonly ref: string;
    readonly sha: string;
    readonly repo: { readonly full_name: string; readonly clone_url: string } | null;
  };
}

/** "owner/name" */
export type RepoFullName = string;

/** What a check run shows (POST/PATCH /repos/{o}/{r}/check-runs). */
export interface CheckRunState {
  readonly status: 'queued' | 'in_progress' | 'completed';
  /** Only with status completed. */
  readonly conclusion?: 'success' | 'failure' | 'cancelled';
  readonly title: string;
  /** Markdown. */
  readonly summary: string;
}

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

  /** A check run on `headSha`; returns its id. Needs the App permission `checks: write`. */
  async createCheckRun(
    repo: RepoFullName,
    name: string,
    headSha: string,
    state: CheckRunState,
  ): Promise<{ id: number }> {
    const { owner, name: repoName } = splitRepo(repo);
    return this.call(`creating check run '${name}' on ${repo}`, async () => {
      const { data } = await this.octokit.rest.checks.create({
        owner,
        repo: repoName,
        name,
        head_sha: headSha,
        ...checkRunFields(state),
        // Like a comment: a blind retry after a 5xx could create it twice.
        request: { retries: 0 },
      });
      return { id: data.id };
    });
  }

  async updateCheckRun(
    repo: RepoFullName,
    checkRunId: number,
    state: CheckRunState,
  ): Promise<void> {
    const { owner, name } = splitRepo(repo);
    await this.call(`updating check run ${checkRunId} of ${repo}`, async () => {
      await this.octokit.rest.checks.update({
        owner,
        repo: name,
        check_run_id: checkRunId,
        ...checkRunFields(state),
      });
    });
  }

  /** The pull request's base and head as GitHub knows them now. */
  async getPullRequest(repo: RepoFullName, prNumber: number): Promise<PullRequestInfo> {
    const { owner, name } = splitRepo(repo);
    return this.call(`reading pull request ${repo}#${prNumber}`, async () => {
      const { data } = await this.octokit.rest.pulls.get({
        owner,
        repo: name,
        pull_number: prNumber,
      });
      const side = (ref: typeof data.base) => ({
        ref: ref.ref,
        sha: ref.sha,
        repo: ref.repo && { full_name: ref.repo.full_name, clone_url: ref.repo.clone_url },
      });
      return {
        number: data.number,
        state: data.state,
        base: side(data.base),
        head: side(data.head),
      };
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
      return all.map((c) => ({
        id: c.id,
        body: c.body ?? '',
        byBot: c.user?.type === 'Bot',
        htmlUrl: c.html_url,
      }));
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
      if (!isInstallationTokenRefused(error)) {
        throw toGitHubApiError(error, operation, this.app, this.attempts);
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
      throw toGitHubApiError(error, operation, this.app, this.attempts);
    }
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

function checkRunFields(state: CheckRunState) {
  return {
    status: state.status,
    ...(state.conclusion ? { conclusion: state.conclusion } : {}),
    output: { title: state.title, summary: state.summary },
  };
}
