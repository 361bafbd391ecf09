import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * A real "GitHub" for git: a bare repository at `<root>/remotes/<owner>/<name>.git` holding a base
 * branch and `refs/pull/<N>/head` refs, reached from `https://github.com/<owner>/<name>.git`
 * through a GIT_CONFIG_GLOBAL file with `url.file://<root>/remotes/.insteadOf = https://github.com/`
 * — the same mechanism an operator's mirror setting would use.
 *
 *   PR 1 (`clean`): adds a file; merges into the base branch without conflict (a real merge: the
 *                   base moved on after the PR branched off).
 *   PR 2 (`conflict`): changes the README line the base branch also changed.
 */
export interface GitFixture {
  readonly root: string;
  readonly repo: string;
  readonly url: string;
  readonly bareDir: string;
  /** Environment that makes git (ours and the bot's) see the fixture: set it on process.env. */
  readonly env: Readonly<Record<string, string>>;
  readonly baseRef: string;
  readonly baseSha: string;
  readonly cleanPr: number;
  readonly conflictPr: number;
  /** refs/pull/<N>/head of each PR. */
  readonly headSha: Readonly<Record<number, string>>;
  /** A PR branched from the base tip with these files (string: content; {symlink}: a symlink). */
  addPullRequest(n: number, files: Record<string, string | { symlink: string }>): string;
  /** Another branch at the base tip (e.g. a hostile base branch name). */
  addBranch(name: string): void;
  /** Removes refs/pull/<N>/head (a PR whose head GitHub no longer serves). */
  deletePullRef(n: number): void;
  /** Applies `env` to process.env; returns a function restoring the previous values. */
  useEnv(): () => void;
  cleanup(): void;
}

export interface GitFixtureOptions {
  readonly repo?: string;
  readonly baseRef?: string;
  /** Extra files in the base branch (benchmarks: a repository of realistic size). */
  readonly extraFiles?: number;
}

const IDENTITY = {
  GIT_AUTHOR_NAME: 'Fixture Author',
  GIT_AUTHOR_EMAIL: 'author@example.invalid',
  GIT_COMMITTER_NAME: 'Fixture Author',
  GIT_COMMITTER_EMAIL: 'author@example.invalid',
};

export function createGitFixture(opts: GitFixtureOptions = {}): GitFixture {
  const repo = opts.repo ?? 'EESSI/software-layer';
  const baseRef = opts.baseRef ?? 'main';
  const root = mkdtempSync(join(tmpdir(), 'eessi-bot-git-'));
  const gitConfig = join(root, 'gitconfig');
  writeFileSync(
    gitConfig,
    `[url "file://${root}/remotes/"]\n\tinsteadOf = https://github.com/\n[init]\n\tdefaultBranch = ${JSON.stringify(baseRef)}\n`,
  );
  const env = { GIT_CONFIG_GLOBAL: gitConfig, GIT_CONFIG_NOSYSTEM: '1' };
  const work = join(root, 'work');
  const bareDir = join(root, 'remotes', `${repo}.git`);
  const git = (args: string[], cwd = work): string =>
    execFileSync('git', args, {
      cwd,
      env: { ...process.env, ...env, ...IDENTITY, LC_ALL: 'C' },
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
    }).trim();
  const write = (files: Record<string, string | { symlink: string }>): void => {
    for (const [path, content] of Object.entries(files)) {
      const full = join(work, path);
      mkdirSync(dirname(full), { recursive: true });
      rmSync(full, { force: true, recursive: true });
      if (typeof content === 'string') {
        writeFileSync(full, content);
      } else {
        symlinkSync(content.symlink, full);
      }
    }
    git(['add', '--all']);
  };
  const commit = (message: string): string => {
    git(['commit', '--quiet', '--allow-empty', '-m', message]);
    return git(['rev-parse', 'HEAD']);
  };

  mkdirSync(work, { recursive: true });
  git(['init', '--quiet', '-b', baseRef]);
  write({
    'README.md': 'EESSI software layer\nline two\nline three\n',
    'easystacks/eessi-2023.06-eb-4.9.0-2023a.yml': 'easyconfigs:\n  - foss-2023a.eb\n',
  });
  const extra: Record<string, string> = {};
  for (let i = 0; i < (opts.extraFiles ?? 0); i++) {
    extra[`easyconfigs/${String(i % 500).padStart(3, '0')}/pkg-${i}.eb`] =
      `name = 'pkg${i}'\nversion = '1.${i}'\n`;
  }
  if (opts.extraFiles) {
    write(extra);
  }
  const forkPoint = commit('initial');

  git(['checkout', '--quiet', '-b', 'pr-clean']);
  write({ 'easystacks/eessi-2023.06-eb-4.9.0-2023b.yml': 'easyconfigs:\n  - GCC-13.2.0.eb\n' });
  const cleanHead = commit('add 2023b easystack');

  git(['checkout', '--quiet', '-b', 'pr-conflict', forkPoint]);
  write({ 'README.md': 'EESSI software layer\nline two changed by the PR\nline three\n' });
  const conflictHead = commit('change line two in the PR');

  git(['checkout', '--quiet', baseRef]);
  write({ 'README.md': 'EESSI software layer\nline two changed on the base branch\nline three\n' });
  const baseSha = commit('change line two on the base branch');

  mkdirSync(dirname(bareDir), { recursive: true });
  git(['clone', '--quiet', '--bare', work, bareDir], root);
  git(['push', '--quiet', bareDir, `pr-clean:refs/pull/1/head`, `pr-conflict:refs/pull/2/head`]);

  const headSha: Record<number, string> = { 1: cleanHead, 2: conflictHead };
  return {
    root,
    repo,
    url: `https://github.com/${repo}.git`,
    bareDir,
    env,
    baseRef,
    baseSha,
    cleanPr: 1,
    conflictPr: 2,
    headSha,
    addPullRequest(n, files) {
      git(['checkout', '--quiet', '-B', `pr-${n}`, baseRef]);
      write(files);
      const sha = commit(`pull request ${n}`);
      git(['checkout', '--quiet', baseRef]);
      git(['push', '--quiet', '--force', bareDir, `pr-${n}:refs/pull/${n}/head`]);
      headSha[n] = sha;
      return sha;
    },
    addBranch(name) {
      git(['update-ref', `refs/heads/${name}`, baseSha], bareDir);
    },
    deletePullRef(n) {
      git(['update-ref', '-d', `refs/pull/${n}/head`], bareDir);
    },
    useEnv() {
      const previous = Object.fromEntries(Object.keys(env).map((key) => [key, process.env[key]]));
      Object.assign(process.env, env);
      return () => {
        for (const [key, value] of Object.entries(previous)) {
          if (value === undefined) {
            delete process.env[key];
          } else {
            process.env[key] = value;
          }
        }
      };
    },
    cleanup() {
      rmSync(root, { recursive: true, force: true });
    },
  };
}
