import { afterEach, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanupAfterEach } from '../../test/support/test-kit.js';
import { extraHeaderEnv, GitError, gitVersion, runGit } from './git.js';

const saved = process.env.GIT_CONFIG_COUNT;
afterEach(() => {
  if (saved === undefined) {
    delete process.env.GIT_CONFIG_COUNT;
  } else {
    process.env.GIT_CONFIG_COUNT = saved;
  }
});

describe('runGit', () => {
  const cleanup = cleanupAfterEach();

  it('passes arguments as data, never to a shell', async () => {
    const dir = await cleanup.tempDir('eessi-bot-git-');
    const marker = join(dir, 'PWNED');
    const hostile = `refs/heads/x;$(touch${'${IFS}'}${marker})\`touch${'${IFS}'}${marker}\``;
    await runGit(['check-ref-format', hostile], { cwd: dir });
    expect(existsSync(marker)).toBe(false);
  });

  it('fails with a GitError carrying the exit status and stderr', async () => {
    const error = await runGit(['rev-parse', '--verify', 'no-such-ref'], { cwd: tmpdir() }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(GitError);
    expect((error as GitError).exitCode).toBe(128);
    expect((error as GitError).message).toMatch(
      /^git rev-parse --verify no-such-ref: exited 128: fatal:/,
    );
  });

  it('reads the installed version', async () => {
    const [major, minor] = await gitVersion();
    expect(major).toBeGreaterThanOrEqual(2);
    expect(minor).toBeGreaterThanOrEqual(0);
  });
});

describe('extraHeaderEnv', () => {
  const urlMatch = (url: string, env: Record<string, string>) =>
    runGit(['config', '--get-urlmatch', 'http.extraheader', url], { env }).then(
      (r) => r.stdout.trim(),
      (e: GitError) => (e.exitCode === 1 ? '' : Promise.reject(e)),
    );

  it('gives git an Authorization header for that origin only', async () => {
    const env = extraHeaderEnv('https://github.com', 'ghs_secret');
    const expected = `AUTHORIZATION: basic ${Buffer.from('x-access-token:ghs_secret').toString('base64')}`;
    expect(await urlMatch('https://github.com/EESSI/software-layer.git', env)).toBe(expected);
    expect(await urlMatch('https://mirror.example/EESSI/software-layer.git', env)).toBe('');
    expect(JSON.stringify(Object.keys(env))).not.toContain('ghs_secret');
  });

  it('adds to the operator’s own GIT_CONFIG_COUNT entries instead of replacing them', () => {
    process.env.GIT_CONFIG_COUNT = '2';
    const env = extraHeaderEnv('https://github.com', 't');
    expect(env.GIT_CONFIG_COUNT).toBe('3');
    expect(env.GIT_CONFIG_KEY_2).toBe('http.https://github.com/.extraheader');
  });
});
