import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import type { GitHubAppSettings } from './github-app.settings.js';
import { GitHubApiError } from './github-api-error.js';
import { GitHubClient } from './github.client.js';
import { quietNestLogger } from '../../test/support/test-kit.js';

const config = (privateKey: string): GitHubAppSettings => ({
  appId: 1,
  appName: 'test-bot',
  installationId: 2,
  privateKey,
  privateKeyPath: '/srv/bot/app.pem',
  // Port 9 (discard) on loopback: if any request went out, the error would be 'network', not 'key'.
  apiUrl: 'http://127.0.0.1:9',
  configPath: '/srv/bot/app.cfg',
});

quietNestLogger();

describe('GitHubClient without a usable private key', () => {
  it('can be constructed, so a process that never calls GitHub still starts', () => {
    expect(() => new GitHubClient(config(''))).not.toThrow();
  });

  it.each([
    ['token', (c: GitHubClient) => c.installationToken()],
    ['installation', (c: GitHubClient) => c.getInstallation()],
    ['create', (c: GitHubClient) => c.createComment('EESSI/software-layer', 1, 'x')],
    ['get', (c: GitHubClient) => c.getComment('EESSI/software-layer', 1)],
    ['update', (c: GitHubClient) => c.updateComment('EESSI/software-layer', 1, 'x')],
    ['list', (c: GitHubClient) => c.listComments('EESSI/software-layer', 1)],
  ])('fails %s with a message naming private_key, its file and app.cfg', async (_name, call) => {
    const error = await call(new GitHubClient(config('not a key'))).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(GitHubApiError);
    expect(error).toMatchObject({ kind: 'key', status: undefined });
    expect((error as Error).message).toMatch(
      /private_key from \/srv\/bot\/app\.pem is unusable \(not a PEM private key.*check private_key in \[github\] of \/srv\/bot\/app\.cfg/,
    );
  });

  it('says so when the key is not an RSA key (GitHub signs App JWTs with RS256)', async () => {
    const { privateKey } = generateKeyPairSync('ed25519', {
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });

    await expect(new GitHubClient(config(privateKey)).installationToken()).rejects.toThrow(
      /a ed25519 key, not RSA/,
    );
  });
});

describe('GitHubClient repository names', () => {
  it('accepts owner/name with the characters GitHub allows', async () => {
    const client = new GitHubClient(config(''));

    // A 'key' failure means the name passed validation and the call got as far as signing.
    await expect(client.createComment('EESSI-x/software_layer.v2', 1, 'x')).rejects.toMatchObject({
      kind: 'key',
    });
  });

  it.each([
    'software-layer',
    'EESSI/software-layer/extra',
    '../etc',
    'EESSI/soft ware',
    '',
    'EESSI/',
  ])('rejects %j before any request', async (repo) => {
    const client = new GitHubClient(config(''));

    await expect(client.createComment(repo, 1, 'x')).rejects.toThrow(
      `invalid repository '${repo}': expected owner/name`,
    );
  });
});
