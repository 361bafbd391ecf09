import type { GitHubAppSettings } from './github-app.settings.js';

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

export interface HttpErrorLike {
  status: number;
  message: string;
  response?: { headers?: Record<string, string | undefined> };
  request?: { url?: string };
}

export function isInstallationTokenRefused(error: unknown): boolean {
  const e = error as Partial<HttpErrorLike>;
  return e.status === 401 && !isAppRoute(e.request?.url);
}

/**
 * An Octokit failure as an operator-facing GitHubApiError: which key of app.cfg or which
 * permission to check. `attempts` is how often the request was tried before giving up.
 */
export function toGitHubApiError(
  error: unknown,
  operation: string,
  github: GitHubAppSettings,
  attempts: number,
): Error {
  if (error instanceof GitHubApiError) {
    return error;
  }
  const e = error as Partial<HttpErrorLike>;
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
        `${attempts} attempts): check api_url ${where} (or GITHUB_API_URL), DNS, proxy and network`,
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
      `GitHub answered ${status} while ${operation} after ${attempts} attempts (${detail}): ` +
        `see https://www.githubstatus.com`,
    );
  }
  return fail('invalid', `GitHub refused ${operation} (${status} ${detail})`);
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
