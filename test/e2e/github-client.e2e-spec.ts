import { readFileSync } from 'node:fs';
import { Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  afterAll,
  afterEach,
  beforeAll,
  beforeEach,
  describe,
  expect,
  it,
  jest,
} from '@jest/globals';
import { githubAppSettingsOf } from '../../src/app-options.js';
import type { AppConfig } from '../../src/config/app-config.js';
import { checkOnline } from '../../src/github/check-online.js';
import {
  GITHUB_APP_SETTINGS,
  type GitHubAppSettings,
} from '../../src/github/github-app.settings.js';
import { GitHubApiError } from '../../src/github/github-api-error.js';
import {
  GITHUB_CLIENT_OPTIONS,
  GitHubClient,
  type GitHubClientOptions,
} from '../../src/github/github.client.js';
import { FAST_GITHUB_CLIENT_OPTIONS, FakeGitHub } from '../fakes/fake-github.server.js';
import { generateAppKeys, makeConfig } from '../support/make-config.js';

const APP_ID = 4242;
const INSTALLATION_ID = 77;
const REPO = 'EESSI/software-layer';

const appKey = generateAppKeys();
const otherKey = generateAppKeys();

function config(apiUrl: string, github: Partial<AppConfig['github']> = {}): GitHubAppSettings {
  const appConfig = makeConfig({
    root: '/etc/eessi-bot',
    github: {
      appId: APP_ID,
      appName: 'eessi-bot-citest',
      installationId: INSTALLATION_ID,
      privateKey: appKey.privateKey,
      apiUrl,
      ...github,
    },
  });
  return githubAppSettingsOf(appConfig);
}

/** Every line our code hands to Nest's Logger (or, by mistake, to console), silenced in output. */
function captureLogs(): { lines: string[]; restore: () => void } {
  const lines: string[] = [];
  const record = (...args: unknown[]): void => {
    lines.push(
      args.map((a) => (a instanceof Error ? `${a.message} ${a.stack}` : String(a))).join(' '),
    );
  };
  const spies = [
    ...(['log', 'error', 'warn', 'debug', 'verbose', 'fatal'] as const).map((m) =>
      jest.spyOn(Logger.prototype, m).mockImplementation(record),
    ),
    ...(['log', 'info', 'warn', 'error', 'debug'] as const).map((m) =>
      jest.spyOn(console, m).mockImplementation(record),
    ),
  ];
  return { lines, restore: () => spies.forEach((s) => s.mockRestore()) };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('GitHubClient against FakeGitHub', () => {
  let fake: FakeGitHub;
  let logs: ReturnType<typeof captureLogs>;

  const client = (options: GitHubClientOptions = {}, github: Partial<AppConfig['github']> = {}) =>
    new GitHubClient(config(fake.url, github), { ...FAST_GITHUB_CLIENT_OPTIONS, ...options });

  beforeEach(async () => {
    logs = captureLogs();
    fake = new FakeGitHub({
      appId: APP_ID,
      installationId: INSTALLATION_ID,
      publicKey: appKey.publicKey,
    });
    await fake.start();
  });

  afterEach(async () => {
    await fake.stop();
    logs.restore();
  });

  describe('App authentication', () => {
    it('mints an installation token with a JWT the server verifies', async () => {
      const token = await client().installationToken();

      expect(fake.issuedTokens()).toEqual([token]);
      expect(token).toMatch(/^ghs_/);
      expect(fake.requests).toEqual([
        expect.objectContaining({
          method: 'POST',
          path: `/app/installations/${INSTALLATION_ID}/access_tokens`,
          status: 201,
          auth: 'jwt',
        }),
      ]);
    });

    it('reports a JWT signed by the wrong key as an app_id/private_key problem', async () => {
      const wrong = client({}, { privateKey: otherKey.privateKey });

      const error = await wrong.createComment(REPO, 1, 'hello').catch((e: unknown) => e);

      expect(error).toBeInstanceOf(GitHubApiError);
      expect(error).toMatchObject({ kind: 'app-auth', status: 401 });
      expect((error as Error).message).toMatch(
        /check app_id \(4242\) and private_key \(\/etc\/eessi-bot\/app\.pem\)/,
      );
      expect((error as Error).message).toContain('/etc/eessi-bot/app.cfg');
      expect(fake.requestCount({ path: /access_tokens$/, status: 401 })).toBe(1);
      expect(fake.comments()).toEqual([]);
    });

    it('refuses a private key that is not a PEM key before any request', async () => {
      const broken = client({}, { privateKey: '-----BEGIN RSA PRIVATE KEY-----\nnot a key\n' });

      await expect(broken.installationToken()).rejects.toMatchObject({
        kind: 'key',
        message: expect.stringMatching(
          /private_key from \/etc\/eessi-bot\/app\.pem .*check private_key/,
        ),
      });
      expect(fake.requests).toEqual([]);
    });

    it('reuses one installation token across many calls, parallel ones included', async () => {
      const c = client();
      await c.createComment(REPO, 1, 'first');
      await Promise.all([
        c.listComments(REPO, 1),
        c.createComment(REPO, 1, 'second'),
        c.getComment(REPO, 1),
      ]);
      await c.installationToken();

      expect(fake.requestCount({ method: 'POST', path: /access_tokens$/ })).toBe(1);
      expect(fake.requestCount({ path: /^\/repos\// })).toBe(4);
      expect(
        fake.requests.filter((r) => r.path.startsWith('/repos/')).every((r) => r.auth === 'token'),
      ).toBe(true);
    });

    it('mints a new token when the cached one nears expiry, before GitHub refuses it', async () => {
      await fake.stop();
      fake = new FakeGitHub({
        appId: APP_ID,
        installationId: INSTALLATION_ID,
        publicKey: appKey.publicKey,
        tokenLifetimeSeconds: 3,
      });
      await fake.start();
      const c = client({ tokenRefreshMarginSeconds: 1 });

      // expires_at is in whole seconds (as GitHub sends it): 2-3 s from now; refresh 1 s before.
      const { token: first, expiresAt } = await c.installationAuth();
      const expiry = Date.parse(expiresAt);
      expect(await c.installationToken()).toBe(first);
      await sleep(expiry - 900 - Date.now());
      await c.createComment(REPO, 3, 'after refresh');
      const second = await c.installationToken();
      expect(second).not.toBe(first);
      expect(fake.requestCount({ method: 'POST', path: /access_tokens$/ })).toBe(2);

      await sleep(expiry + 50 - Date.now());
      const stale = await fetch(`${fake.url}/repos/${REPO}/issues/3/comments`, {
        headers: { authorization: `token ${first}` },
      });
      expect(stale.status).toBe(401);
      expect(await c.listComments(REPO, 3)).toEqual([
        expect.objectContaining({ body: 'after refresh' }),
      ]);
      expect(fake.requestCount({ method: 'POST', path: /access_tokens$/ })).toBe(2);
      expect(fake.requests.filter((r) => r.status === 401).map((r) => r.auth)).toEqual(['invalid']);
    });

    it('mints a new token once when GitHub refuses the cached one (App reinstalled)', async () => {
      const c = client();
      await c.createComment(REPO, 4, 'before');
      fake.revokeTokens();

      const created = await c.createComment(REPO, 4, 'after');

      expect(fake.comment(created.id)?.body).toBe('after');
      expect(fake.requestCount({ method: 'POST', path: /access_tokens$/ })).toBe(2);
      const text = logs.lines.join('\n');
      expect(text).toMatch(
        /refused the cached installation token while creating a comment on EESSI\/software-layer#4/,
      );
      for (const token of fake.issuedTokens()) {
        expect(text).not.toContain(token);
      }
    }, 20_000);

    it('reads the installation with the App JWT', async () => {
      await expect(client().getInstallation()).resolves.toEqual({
        id: INSTALLATION_ID,
        account: 'EESSI',
        appId: APP_ID,
        appSlug: 'eessi-bot-test',
      });
      expect(fake.requests[0]).toMatchObject({
        path: `/app/installations/${INSTALLATION_ID}`,
        auth: 'jwt',
      });
    });

    it('reports an unknown installation as an installation_id problem', async () => {
      const error = await client({}, { installationId: 999 })
        .createComment(REPO, 1, 'x')
        .catch((e: unknown) => e);

      expect(error).toMatchObject({ kind: 'installation', status: 404 });
      expect((error as Error).message).toMatch(/no installation 999 .*check installation_id/);
    });

    it('can be built by Nest from GITHUB_APP_SETTINGS and GITHUB_CLIENT_OPTIONS', async () => {
      const moduleRef = await Test.createTestingModule({
        providers: [
          GitHubClient,
          { provide: GITHUB_APP_SETTINGS, useValue: config(fake.url) },
          { provide: GITHUB_CLIENT_OPTIONS, useValue: FAST_GITHUB_CLIENT_OPTIONS },
        ],
      }).compile();

      const created = await moduleRef.get(GitHubClient).createComment(REPO, 9, 'from nest');

      expect(fake.comment(created.id)?.body).toBe('from nest');
      await moduleRef.close();
    });
  });

  describe('issue comments', () => {
    it('creates, reads, updates and lists comments', async () => {
      const c = client();

      const created = await c.createComment(REPO, 12, 'job 1 submitted');
      const other = await c.createComment(REPO, 13, 'elsewhere');
      const updated = await c.updateComment(REPO, created.id, 'job 1 finished');

      expect(updated).toEqual({ id: created.id, body: 'job 1 finished' });
      expect(await c.getComment(REPO, created.id)).toEqual({
        id: created.id,
        body: 'job 1 finished',
      });
      expect(fake.comment(created.id)).toMatchObject({
        repo: REPO,
        issueNumber: 12,
        history: ['job 1 submitted', 'job 1 finished'],
      });
      expect(await c.listComments(REPO, 12)).toEqual([
        {
          id: created.id,
          body: 'job 1 finished',
          byBot: true,
          htmlUrl: `https://github.com/${REPO}/pull/12#issuecomment-${created.id}`,
        },
      ]);
      expect(await c.listComments(REPO, 13)).toEqual([
        {
          id: other.id,
          body: 'elsewhere',
          byBot: true,
          htmlUrl: `https://github.com/${REPO}/pull/13#issuecomment-${other.id}`,
        },
      ]);
      expect(await c.listComments(REPO, 14)).toEqual([]);
    });

    it('returns undefined for a missing comment, or one of another repository', async () => {
      const c = client();
      const elsewhere = fake.seedComment('EESSI/other', 1, 'not here');

      expect(await c.getComment(REPO, 999_999)).toBeUndefined();
      expect(await c.getComment(REPO, elsewhere.id)).toBeUndefined();
    });

    it('reports updating a missing comment as not found', async () => {
      await expect(client().updateComment(REPO, 999_999, 'x')).rejects.toMatchObject({
        kind: 'not-found',
        status: 404,
      });
    });

    it('follows pagination over more than 100 comments', async () => {
      const bodies = Array.from({ length: 250 }, (_, i) => `comment ${i}`);
      for (const body of bodies) {
        fake.seedComment(REPO, 7, body);
      }
      fake.seedComment(REPO, 8, 'another PR');

      const listed = await client().listComments(REPO, 7);

      expect(listed.map((c) => c.body)).toEqual(bodies);
      expect(new Set(listed.map((c) => c.id)).size).toBe(250);
      expect(
        fake.requests
          .filter((r) => r.path === `/repos/${REPO}/issues/7/comments`)
          .map((r) => r.query),
      ).toEqual(['per_page=100', 'per_page=100&page=2', 'per_page=100&page=3']);
    });

    it('rejects a repository that is not owner/name without calling GitHub', async () => {
      await expect(client().createComment('../../etc', 1, 'x')).rejects.toThrow(
        /invalid repository '\.\.\/\.\.\/etc': expected owner\/name/,
      );
      expect(fake.requests).toEqual([]);
    });
  });

  describe('retries and rate limits', () => {
    it('retries 5xx answers with back-off, then succeeds', async () => {
      const c = client();
      await c.installationToken();
      const created = fake.seedComment(REPO, 5, 'before');
      fake.failNext(2, {
        status: 502,
        method: 'PATCH',
        path: `/repos/${REPO}/issues/comments/${created.id}`,
      });

      await c.updateComment(REPO, created.id, 'eventually');

      expect(fake.comment(created.id)?.body).toBe('eventually');
      expect(
        fake.requests
          .filter((r) => r.path.endsWith(`/comments/${created.id}`))
          .map((r) => r.status),
      ).toEqual([502, 502, 200]);
      const text = logs.lines.join('\n');
      expect(text).toContain(`PATCH /repos/${REPO}/issues/comments/${created.id} failed: 502`);
      expect(text).toMatch(/attempt 1\/4, retrying in 10 ms/);
      expect(text).toMatch(/attempt 2\/4, retrying in 40 ms/);
    });

    it('never retries creating a comment: a 5xx may come after GitHub created it', async () => {
      const c = client();
      await c.installationToken();
      fake.failNext(1, { status: 502, method: 'POST', path: `/repos/${REPO}/issues/9/comments` });

      const error = await c.createComment(REPO, 9, 'once').catch((e: unknown) => e);

      expect(error).toMatchObject({ kind: 'server', status: 502 });
      expect(fake.requestCount({ method: 'POST', path: /\/9\/comments$/ })).toBe(1);
    });

    it('gives up after every attempt fails with 500', async () => {
      const c = client({ retries: 2 });
      await c.installationToken();
      fake.failNext(100, { status: 500, path: /comments$/ });

      const error = await c.listComments(REPO, 6).catch((e: unknown) => e);

      expect(error).toMatchObject({ kind: 'server', status: 500 });
      expect((error as Error).message).toMatch(
        /answered 500 while listing comments of EESSI\/software-layer#6 after 3 attempts/,
      );
      expect(fake.requestCount({ path: /comments$/ })).toBe(3);
    });

    it('retries a 5xx from the token endpoint too', async () => {
      fake.failNext(1, { status: 503, path: /access_tokens$/ });

      await client().createComment(REPO, 2, 'ok');

      expect(
        fake.requests.filter((r) => r.path.endsWith('access_tokens')).map((r) => r.status),
      ).toEqual([503, 201]);
    });

    it('waits out a primary rate limit until its reset time, then succeeds', async () => {
      const c = client();
      await c.installationToken();
      fake.rateLimitNext({ kind: 'primary', resetInSeconds: 1 });
      const started = Date.now();

      const created = await c.createComment(REPO, 10, 'after the reset');

      const limited = fake.requests.find((r) => r.status === 403);
      expect(limited).toMatchObject({ method: 'POST', path: `/repos/${REPO}/issues/10/comments` });
      expect(fake.comment(created.id)?.body).toBe('after the reset');
      // The fake refuses everything before the announced reset second: success proves the wait.
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
      expect(fake.requestCount({ path: /\/10\/comments$/ })).toBe(2);
      expect(logs.lines.join('\n')).toMatch(
        new RegExp(`primary rate limit on POST /repos/${REPO}/issues/10/comments: waiting \\d+ s`),
      );
    }, 15_000);

    it.each([403, 429] as const)(
      'waits out a secondary rate limit (%i + retry-after), then succeeds',
      async (status) => {
        const c = client();
        await c.installationToken();
        fake.rateLimitNext({ kind: 'secondary', resetInSeconds: 1, status });
        const started = Date.now();

        const comments = await c.listComments(REPO, 11);

        expect(comments).toEqual([]);
        expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
        expect(
          fake.requests.filter((r) => r.path.endsWith('/11/comments')).map((r) => r.status),
        ).toEqual([status, 200]);
        expect(logs.lines.join('\n')).toMatch(
          /secondary rate limit on GET \/repos\/EESSI\/software-layer\/issues\/11\/comments\?per_page=100: waiting 1 s/,
        );
      },
      15_000,
    );

    it('fails with a rate-limit error once the allowed waits are used up', async () => {
      const c = client({ rateLimitRetries: 0 });
      await c.installationToken();
      fake.rateLimitNext({ kind: 'secondary', resetInSeconds: 30 });

      await expect(c.getComment(REPO, 1)).rejects.toMatchObject({
        kind: 'rate-limit',
        status: 403,
      });
    });

    it('spaces comment creation by default, as GitHub asks of integrations', async () => {
      const c = new GitHubClient(config(fake.url));
      await c.installationToken();

      const started = Date.now();
      await Promise.all([c.createComment(REPO, 15, 'a'), c.createComment(REPO, 15, 'b')]);

      const [first, second] = fake.comments(REPO, 15);
      expect(Date.parse(second.createdAt) - Date.parse(first.createdAt)).toBeGreaterThanOrEqual(
        2900,
      );
      expect(Date.now() - started).toBeGreaterThanOrEqual(2900);
    }, 15_000);

    it('reports an unreachable server as a network error naming api_url, and recovers', async () => {
      const c = client({ retries: 2 });
      await c.installationToken();
      fake.setDown(true);

      const error = await c.listComments(REPO, 20).catch((e: unknown) => e);

      expect(error).toMatchObject({ kind: 'network', status: undefined });
      expect((error as Error).message).toContain(`cannot reach GitHub at api_url ${fake.url}`);
      expect((error as Error).message).toMatch(
        /check api_url in \[github\] of \/etc\/eessi-bot\/app\.cfg/,
      );
      expect(logs.lines.join('\n')).toMatch(/network error .*attempt 1\/3/);

      fake.setDown(false);
      const created = await c.createComment(REPO, 20, 'back');
      expect(fake.comments(REPO, 20).map((x) => x.id)).toEqual([created.id]);
    });
  });

  describe('identity and secrecy', () => {
    it('sends a User-Agent naming the bot, its version and app_name', async () => {
      const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string })
        .version;
      const c = client();
      await c.createComment(REPO, 1, 'ua');
      await c.getInstallation();

      expect(fake.requests.length).toBe(3);
      for (const r of fake.requests) {
        expect(r.userAgent.startsWith(`eessi-bot/${version} (eessi-bot-citest) `)).toBe(true);
      }
    });

    it('never logs a token, a JWT or the private key, even while retrying and failing', async () => {
      const c = client({ retries: 1 });
      await c.createComment(REPO, 30, 'one');
      fake.failNext(1, { status: 502 });
      await c.listComments(REPO, 30);
      fake.rateLimitNext({ kind: 'secondary', resetInSeconds: 1 });
      await c.getComment(REPO, 1);
      fake.setDown(true);
      await c.createComment(REPO, 30, 'three').catch(() => undefined);
      fake.setDown(false);
      await client({}, { privateKey: otherKey.privateKey })
        .installationToken()
        .catch(() => undefined);

      const text = logs.lines.join('\n');
      // The scenario must have produced log lines, or this test would prove nothing.
      expect(text).toMatch(/retrying/);
      expect(text).toMatch(/secondary rate limit/);
      expect(fake.issuedTokens().length).toBe(1);
      for (const token of fake.issuedTokens()) {
        expect(text).not.toContain(token);
      }
      expect(text).not.toMatch(/eyJ[\w-]+\.[\w-]+\./);
      expect(text).not.toContain('PRIVATE KEY');
      expect(text).not.toContain(appKey.privateKey.split('\n')[1]);
    }, 15_000);
  });
});

describe('checkOnline', () => {
  let fake: FakeGitHub;
  let logs: ReturnType<typeof captureLogs>;

  beforeAll(async () => {
    logs = captureLogs();
    fake = new FakeGitHub({
      appId: APP_ID,
      installationId: INSTALLATION_ID,
      publicKey: appKey.publicKey,
      account: 'EESSI',
      appSlug: 'eessi-bot-x',
    });
    await fake.start();
  });

  afterAll(async () => {
    await fake.stop();
    logs.restore();
  });

  it('describes the App, the installation and the minted token', async () => {
    const before = Date.now();
    const sentence = await checkOnline(config(fake.url), FAST_GITHUB_CLIENT_OPTIONS);

    const m =
      /^GitHub App 'eessi-bot-x' \(id 4242\) installation 77 on account 'EESSI': token minted, expires (\S+) \(api_url (\S+)\)$/.exec(
        sentence,
      );
    expect(m).not.toBeNull();
    expect(Date.parse(m![1]) - before).toBeGreaterThan(3500 * 1000);
    expect(m![2]).toBe(fake.url);
    for (const token of fake.issuedTokens()) {
      expect(sentence).not.toContain(token);
    }
  });

  it('points at app_id and private_key when GitHub refuses the JWT', async () => {
    await expect(
      checkOnline(
        config(fake.url, { privateKey: otherKey.privateKey }),
        FAST_GITHUB_CLIENT_OPTIONS,
      ),
    ).rejects.toThrow(/check app_id \(4242\) and private_key/);
    await expect(
      checkOnline(config(fake.url, { appId: 1 }), FAST_GITHUB_CLIENT_OPTIONS),
    ).rejects.toThrow(/check app_id \(1\) and private_key/);
  });

  it('points at installation_id when the installation is unknown', async () => {
    await expect(
      checkOnline(config(fake.url, { installationId: 5 }), FAST_GITHUB_CLIENT_OPTIONS),
    ).rejects.toThrow(/GitHub App 4242 has no installation 5 .*check installation_id/);
  });

  it('points at api_url when nothing answers there', async () => {
    const gone = new FakeGitHub({
      appId: APP_ID,
      installationId: INSTALLATION_ID,
      publicKey: appKey.publicKey,
    });
    await gone.start();
    const url = gone.url;
    await gone.stop();

    await expect(checkOnline(config(url), FAST_GITHUB_CLIENT_OPTIONS)).rejects.toThrow(
      new RegExp(`cannot reach GitHub at api_url ${url.replace(/\./g, '\\.')}.*check api_url`),
    );
  });
});
