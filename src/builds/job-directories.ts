import { mkdir, readdir, rm } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { RUN_DIR_NAME, runDirName } from './build-plan.js';
import type { TreeFailureReason } from './event-comments.js';
import type { MergedTree } from './event-progress.js';
import { GitError, gitVersion, runGit } from './git.js';

/**
 * The PR's tree in job directories, with git only (never a shell, never curl):
 *
 * 1. once per event, a bare cache repository in the event dir fetches the base branch and
 *    `refs/pull/<N>/head` from the base repository;
 * 2. the PR head is merged into the base branch once, inside the cache (`git merge-tree
 *    --write-tree` + `commit-tree`, no working tree; a temporary worktree on git < 2.38);
 * 3. each target dir is a `git clone --local` of the cache (objects hard-linked, so it costs one
 *    checkout) with the merge commit checked out.
 *
 * The merge commit is made with a fixed identity, so no git identity of the operator is needed.
 */
export class TreeError extends Error {
  override readonly name = 'TreeError';
  constructor(
    readonly reason: TreeFailureReason,
    /** What git said, for the PR comment (first lines are shown). */
    readonly detail: string,
    message: string,
  ) {
    super(message);
  }
}

export interface TreeSource {
  /** https URL of the base repository; git's insteadOf settings apply to it. */
  readonly url: string;
  readonly baseRef: string;
  readonly prNumber: number;
  /** Extra environment for the fetch (the installation token's http.extraHeader), never logged. */
  readonly fetchEnv?: Readonly<Record<string, string>>;
}

export type MergeMethod = 'merge-tree' | 'worktree';

export interface PrepareTreeOptions {
  /** Default: merge-tree when git >= 2.38, else worktree. */
  readonly mergeMethod?: MergeMethod;
  /** Top-level names the job dir needs for the bot's own files (cvmfs customization files). */
  readonly botFiles?: readonly string[];
  /** Top-level names the bot creates itself (the job script's repository): must not exist. */
  readonly botDirs?: readonly string[];
}

/** Author and committer of the merge commit: the bot, whatever the operator's git config says. */
const MERGE_IDENTITY_ENV: Readonly<Record<string, string>> = {
  GIT_AUTHOR_NAME: 'eessi-bot',
  GIT_AUTHOR_EMAIL: 'eessi-bot@localhost.invalid',
  GIT_COMMITTER_NAME: 'eessi-bot',
  GIT_COMMITTER_EMAIL: 'eessi-bot@localhost.invalid',
};

/**
 * Claims the next free `run_NNN` in the event dir with mkdir, which only one caller can win, so
 * concurrent or repeated handling never shares a directory. Returns its name.
 */
export async function claimRunDir(eventDir: string): Promise<string> {
  await mkdir(eventDir, { recursive: true });
  const taken = (await readdir(eventDir))
    .map((name) => RUN_DIR_NAME.exec(name))
    .filter((match): match is RegExpExecArray => match !== null)
    .map((match) => Number(match[1]));
  let next = Math.max(0, ...taken) + 1;
  for (;;) {
    const name = runDirName(next);
    try {
      await mkdir(join(eventDir, name));
      return name;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw error;
      }
      next += 1;
    }
  }
}

/** Full ref names only, checked by git itself, so no branch name can be taken for an option. */
async function assertBranchName(branch: string): Promise<void> {
  const problem =
    branch.startsWith('-') || [...branch].some((c) => c.charCodeAt(0) < 0x20 || c === '\x7f');
  try {
    if (!problem) {
      await runGit(['check-ref-format', `refs/heads/${branch}`]);
      return;
    }
  } catch (error) {
    if (!(error instanceof GitError) || error.exitCode === undefined) {
      throw error;
    }
  }
  throw new TreeError(
    'invalid-ref',
    `invalid branch name: ${JSON.stringify(branch)}`,
    'base branch name rejected by git check-ref-format',
  );
}

async function resolveCommit(cacheDir: string, ref: string): Promise<string> {
  const { stdout } = await runGit(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], {
    cwd: cacheDir,
  });
  return stdout.trim();
}

/**
 * Fetches the base branch and the PR head into a fresh bare cache at `cacheDir` and merges them.
 * @throws TreeError when the author can do something about it (missing ref, conflict, …);
 *         other errors (git missing, disk full) are the operator's and propagate as they are.
 */
export async function prepareMergedTree(
  cacheDir: string,
  source: TreeSource,
  opts: PrepareTreeOptions = {},
): Promise<MergedTree> {
  if (!Number.isSafeInteger(source.prNumber) || source.prNumber <= 0) {
    throw new Error(`PR number ${source.prNumber} is not a positive integer`);
  }
  await assertBranchName(source.baseRef);
  const baseRef = `refs/heads/${source.baseRef}`;
  const headRef = `refs/pull/${source.prNumber}/head`;

  // A cache left by an interrupted attempt is rebuilt: cheaper to reason about than to repair.
  await rm(cacheDir, { recursive: true, force: true });
  // No template: the operator's template dir could hold hooks, and copying it costs time.
  await runGit(['init', '--bare', '--quiet', '--template=', '--', cacheDir]);
  // Clones of the cache then get the base branch as their local branch and origin/<base>.
  await runGit(['symbolic-ref', 'HEAD', baseRef], { cwd: cacheDir });

  try {
    await runGit(
      [
        'fetch',
        '--no-tags',
        '--quiet',
        '--',
        source.url,
        `+${baseRef}:${baseRef}`,
        `+${headRef}:${headRef}`,
      ],
      { cwd: cacheDir, env: source.fetchEnv },
    );
  } catch (error) {
    if (error instanceof GitError && error.exitCode !== undefined) {
      throw new TreeError(
        'fetch',
        error.stderr || error.stdout,
        `fetching ${baseRef} and ${headRef} failed`,
      );
    }
    throw error;
  }
  const baseSha = await resolveCommit(cacheDir, baseRef);
  const headSha = await resolveCommit(cacheDir, headRef);

  const method = opts.mergeMethod ?? (await defaultMergeMethod());
  const message = `Merge pull request #${source.prNumber} (${headSha}) into its base branch (${baseSha})`;
  const mergeSha =
    method === 'merge-tree'
      ? await mergeWithMergeTree(cacheDir, baseSha, headSha, message)
      : await mergeInWorktree(cacheDir, baseSha, headSha, message);
  // Keeps the merge commit reachable in the cache for the clones made from it.
  await runGit(['update-ref', 'refs/bot/merge', mergeSha], { cwd: cacheDir });
  await assertNoReservedNames(cacheDir, mergeSha, opts.botFiles ?? [], opts.botDirs ?? []);
  return { baseSha, headSha, mergeSha };
}

async function defaultMergeMethod(): Promise<MergeMethod> {
  const [major, minor] = await gitVersion();
  return major > 2 || (major === 2 && minor >= 38) ? 'merge-tree' : 'worktree';
}

async function mergeWithMergeTree(
  cacheDir: string,
  baseSha: string,
  headSha: string,
  message: string,
): Promise<string> {
  let tree: string;
  try {
    const { stdout } = await runGit(
      ['merge-tree', '--write-tree', '--name-only', baseSha, headSha],
      { cwd: cacheDir },
    );
    tree = stdout.split('\n')[0].trim();
  } catch (error) {
    if (error instanceof GitError && error.exitCode === 1) {
      // Exit 1 is "conflicts": stdout is the tree, the conflicted files, a blank line, the messages.
      const detail = error.stdout.split('\n').slice(1).join('\n').trim();
      throw new TreeError('conflict', detail, 'merge conflict');
    }
    if (error instanceof GitError && error.exitCode !== undefined) {
      throw new TreeError('other', error.stderr || error.stdout, 'git merge-tree failed');
    }
    throw error;
  }
  const { stdout } = await runGit(
    ['commit-tree', tree, '-p', baseSha, '-p', headSha, '-m', message],
    {
      cwd: cacheDir,
      env: MERGE_IDENTITY_ENV,
    },
  );
  return stdout.trim();
}

/** For git < 2.38: the same merge in a temporary worktree of the cache (one extra checkout). */
async function mergeInWorktree(
  cacheDir: string,
  baseSha: string,
  headSha: string,
  message: string,
): Promise<string> {
  const worktree = `${cacheDir}-merge`;
  await rm(worktree, { recursive: true, force: true });
  await runGit(['worktree', 'prune'], { cwd: cacheDir });
  await runGit(['worktree', 'add', '--detach', '--quiet', '--', worktree, baseSha], {
    cwd: cacheDir,
  });
  try {
    try {
      await runGit(['merge', '--no-ff', '--no-edit', '--quiet', '-m', message, headSha], {
        cwd: worktree,
        env: MERGE_IDENTITY_ENV,
      });
    } catch (error) {
      if (error instanceof GitError && error.exitCode === 1) {
        const detail = `${error.stdout}\n${error.stderr}`.trim();
        throw new TreeError(/CONFLICT/.test(detail) ? 'conflict' : 'other', detail, 'merge failed');
      }
      if (error instanceof GitError && error.exitCode !== undefined) {
        throw new TreeError('other', error.stderr || error.stdout, 'git merge failed');
      }
      throw error;
    }
    return (await runGit(['rev-parse', 'HEAD'], { cwd: worktree })).stdout.trim();
  } finally {
    await rm(worktree, { recursive: true, force: true });
    await runGit(['worktree', 'prune'], { cwd: cacheDir });
  }
}

/**
 * The job dir is the PR's tree, and Slurm and the bot write into it: a PR could otherwise plant a
 * symlink named `slurm-<ID>.out`, `_bot_job<ID>.metadata` or `cfg` and have those writes land
 * anywhere the bot's user may write. Such trees are refused before any job dir exists.
 */
async function assertNoReservedNames(
  cacheDir: string,
  mergeSha: string,
  botFiles: readonly string[],
  botDirs: readonly string[],
): Promise<void> {
  const { stdout } = await runGit(['ls-tree', '-z', mergeSha], { cwd: cacheDir });
  const offending: string[] = [];
  for (const entry of stdout.split('\0')) {
    const tab = entry.indexOf('\t');
    if (tab < 0) {
      continue;
    }
    const mode = entry.slice(0, entry.indexOf(' '));
    const name = entry.slice(tab + 1);
    const isFile = mode === '100644' || mode === '100755';
    if (/^_bot_job/.test(name) || /^slurm-.*\.out$/.test(name)) {
      offending.push(`${name} (reserved for the bot's and Slurm's files)`);
    } else if (name === 'cfg' && mode !== '040000') {
      offending.push('cfg (must be a directory: the bot writes cfg/job.cfg)');
    } else if (botFiles.includes(name) && !isFile) {
      offending.push(
        `${name} (must be a regular file: the bot appends cvmfs customizations to it)`,
      );
    } else if (botDirs.includes(name)) {
      offending.push(`${name} (reserved: the bot clones the job script's repository there)`);
    }
  }
  if (offending.length > 0) {
    throw new TreeError(
      'reserved-name',
      offending.join('\n'),
      `reserved names in the merged tree: ${offending.join(', ')}`,
    );
  }
}

/**
 * Makes `targetDir` a clone of the cache with the merge commit checked out. `--local` hard-links
 * the objects when cache and job dir share a filesystem (they do: both are under the event dir),
 * so each target costs one checkout. Origin is set to the repository's URL, so the job can fetch.
 */
export async function checkoutTarget(
  cacheDir: string,
  targetDir: string,
  tree: MergedTree,
  url: string,
): Promise<void> {
  await rm(targetDir, { recursive: true, force: true });
  await runGit([
    'clone',
    '--local',
    '--no-checkout',
    '--quiet',
    '--template=',
    '--',
    cacheDir,
    targetDir,
  ]);
  await runGit(['checkout', '--quiet', '--detach', tree.mergeSha], { cwd: targetDir });
  await runGit(['remote', 'set-url', 'origin', url], { cwd: targetDir });
}

/**
 * `build_job_script = path@repo`: the directory v0.9 clones `repo` into, in the job dir: the
 * repository's name without `.git`.
 */
export function jobScriptRepoDirName(repo: string): string {
  const name = repo
    .replace(/\/+$/, '')
    .split(/[/:]/)
    .pop()!
    .replace(/\.git$/, '');
  if (!/^[A-Za-z0-9_.-]+$/.test(name) || name === '.' || name === '..' || name === 'cfg') {
    throw new Error(
      `[buildenv] build_job_script: cannot name a directory after the repository ${JSON.stringify(repo)}`,
    );
  }
  return name;
}

/**
 * Clones the job script's repository into the job dir and returns the script's absolute path.
 * A failure is the operator's to fix (URL, access), not the PR author's: it is thrown as is.
 */
export async function cloneJobScriptRepo(
  jobDir: string,
  repo: string,
  scriptPath: string,
): Promise<string> {
  const target = join(jobDir, jobScriptRepoDirName(repo));
  const script = resolve(target, scriptPath);
  if (isAbsolute(scriptPath) || !script.startsWith(`${target}/`)) {
    throw new Error(
      `[buildenv] build_job_script: ${JSON.stringify(scriptPath)} must be a path inside ${repo}`,
    );
  }
  await rm(target, { recursive: true, force: true });
  try {
    await runGit(['clone', '--quiet', '--no-tags', '--template=', '--', repo, target]);
  } catch (error) {
    throw new Error(
      `[buildenv] build_job_script: cloning ${repo} into ${target} failed: ${(error as Error).message}`,
      { cause: error },
    );
  }
  return script;
}
