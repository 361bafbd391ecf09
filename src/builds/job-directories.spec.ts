import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createGitFixture, type GitFixture } from '../../test/support/git-fixture.js';
import { cleanupAfterAll } from '../../test/support/test-kit.js';
import {
  claimRunDir,
  checkoutTarget,
  prepareMergedTree,
  TreeError,
  type MergeMethod,
} from './job-directories.js';

let fixture: GitFixture;
let restoreEnv: () => void;
let work: string;
const cleanup = cleanupAfterAll();

beforeAll(() => {
  fixture = createGitFixture();
  restoreEnv = fixture.useEnv();
  work = cleanup.tempDirSync('eessi-bot-jobdirs-');
});

afterAll(() => {
  restoreEnv();
  fixture.cleanup();
});

function git(args: string[], cwd: string): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();
}

let counter = 0;
function freshDir(): string {
  const dir = join(work, `case-${++counter}`);
  mkdirSync(dir);
  return dir;
}

describe('claimRunDir', () => {
  it('claims run_001, run_002, … and never hands one name to two concurrent callers', async () => {
    const eventDir = join(freshDir(), 'event_x');
    const names = await Promise.all(Array.from({ length: 12 }, () => claimRunDir(eventDir)));
    expect(new Set(names).size).toBe(12);
    expect([...names].sort()).toEqual(
      Array.from({ length: 12 }, (_, i) => `run_${String(i + 1).padStart(3, '0')}`),
    );
    expect(await claimRunDir(eventDir)).toBe('run_013');
  });
});

describe.each<MergeMethod>(['merge-tree', 'worktree'])('prepareMergedTree (%s)', (mergeMethod) => {
  it('merges the PR head into the base branch with the bot identity, and targets get cheap clones', async () => {
    const dir = freshDir();
    const cache = join(dir, '.git-cache');
    const tree = await prepareMergedTree(
      cache,
      { url: fixture.url, baseRef: fixture.baseRef, prNumber: fixture.cleanPr },
      { mergeMethod },
    );
    expect(tree.baseSha).toBe(fixture.baseSha);
    expect(tree.headSha).toBe(fixture.headSha[fixture.cleanPr]);
    expect(
      git(['rev-parse', `${tree.mergeSha}^1`, `${tree.mergeSha}^2`], cache).split('\n'),
    ).toEqual([tree.baseSha, tree.headSha]);
    expect(git(['log', '-1', '--format=%an <%ae>|%cn', tree.mergeSha], cache)).toBe(
      'eessi-bot <eessi-bot@localhost.invalid>|eessi-bot',
    );

    const target = join(dir, 'run_001', 'linux_x86_64_generic');
    await checkoutTarget(cache, target, tree, fixture.url);
    expect(git(['rev-parse', 'HEAD'], target)).toBe(tree.mergeSha);
    // Both sides are in the checkout: the base's README change and the PR's new file.
    expect(readFileSync(join(target, 'README.md'), 'utf8')).toContain('changed on the base branch');
    expect(existsSync(join(target, 'easystacks', 'eessi-2023.06-eb-4.9.0-2023b.yml'))).toBe(true);
    expect(git(['remote', 'get-url', 'origin'], target)).toBe(fixture.url);
    expect(git(['rev-parse', `origin/${fixture.baseRef}`], target)).toBe(tree.baseSha);
    expect(git(['status', '--porcelain'], target)).toBe('');
  });

  it('reports a conflict as TreeError("conflict") naming the file', async () => {
    const cache = join(freshDir(), '.git-cache');
    const error = await prepareMergedTree(
      cache,
      { url: fixture.url, baseRef: fixture.baseRef, prNumber: fixture.conflictPr },
      { mergeMethod },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TreeError);
    expect((error as TreeError).reason).toBe('conflict');
    expect((error as TreeError).detail).toContain('README.md');
  });
});

describe('prepareMergedTree failures', () => {
  it('a missing PR ref is a fetch failure with git’s message', async () => {
    const error = await prepareMergedTree(join(freshDir(), 'c'), {
      url: fixture.url,
      baseRef: fixture.baseRef,
      prNumber: 999,
    }).catch((e: unknown) => e);
    expect((error as TreeError).reason).toBe('fetch');
    expect((error as TreeError).detail).toMatch(/refs\/pull\/999\/head/);
  });

  it('a missing base branch is a fetch failure', async () => {
    const error = await prepareMergedTree(join(freshDir(), 'c'), {
      url: fixture.url,
      baseRef: 'no-such-branch',
      prNumber: 1,
    }).catch((e: unknown) => e);
    expect((error as TreeError).reason).toBe('fetch');
  });

  it.each(['-upload-pack=touch', 'a..b', 'with space', 'new\nline', 'x:y', '@{u}'])(
    'refuses the base branch name %j before running anything with it',
    async (name) => {
      const cache = join(freshDir(), 'c');
      const error = await prepareMergedTree(cache, {
        url: fixture.url,
        baseRef: name,
        prNumber: 1,
      }).catch((e: unknown) => e);
      expect((error as TreeError).reason).toBe('invalid-ref');
      expect(existsSync(cache)).toBe(false);
    },
  );

  it('refuses a tree that plants slurm-*.out, _bot_job* or a cfg symlink', async () => {
    const n = 50;
    fixture.addPullRequest(n, {
      'slurm-1234.out': { symlink: '/etc/passwd' },
      _bot_job99: 'x',
      cfg: { symlink: '/tmp' },
      'default.local': { symlink: '/etc/hosts' },
    });
    const error = await prepareMergedTree(
      join(freshDir(), 'c'),
      { url: fixture.url, baseRef: fixture.baseRef, prNumber: n },
      { botFiles: ['default.local'] },
    ).catch((e: unknown) => e);
    expect((error as TreeError).reason).toBe('reserved-name');
    for (const name of ['slurm-1234.out', '_bot_job99', 'cfg', 'default.local']) {
      expect((error as TreeError).detail).toContain(name);
    }
  });

  it('fetches with the token’s extra header in the environment (git.spec checks git reads it)', async () => {
    // The fixture's file:// remote ignores the header: this checks the extra config breaks nothing.
    const dir = freshDir();
    const tree = await prepareMergedTree(join(dir, 'c'), {
      url: fixture.url,
      baseRef: fixture.baseRef,
      prNumber: fixture.cleanPr,
      fetchEnv: {
        GIT_CONFIG_COUNT: '1',
        GIT_CONFIG_KEY_0: 'http.https://github.com/.extraheader',
        GIT_CONFIG_VALUE_0: 'AUTHORIZATION: basic eA==',
      },
    });
    expect(tree.headSha).toBe(fixture.headSha[1]);
    expect(readdirSync(dir)).toEqual(['c']);
  });
});
