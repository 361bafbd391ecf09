import { cp, lstat, mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { namesIn, pathExists } from '../common/fs-entries.js';

/** `jobs_base_dir/YYYY.MM/`: the month a PR's job dirs were made in (v0.9's layout). */
const MONTH_DIR = /^\d{4}\.\d{2}$/;

/**
 * `trash_bin_dir/<owner>/<repo>/<YYYY.MM.DD>`, the day (UTC) the PR closed, as upstream v0.9
 * lays it out (`tasks/clean_up.py`, `handle_pull_request_closed_event`). The repo name comes from
 * the payload: only `owner/name` made of GitHub's name characters is accepted, so it cannot climb
 * out of the trash bin.
 */
export function trashBinDirFor(root: string, repo: string, closedAt: Date): string {
  if (!/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(repo) || repo.split('/').some(isDotName)) {
    throw new Error(`repository name ${JSON.stringify(repo)} cannot name a trash bin directory`);
  }
  const day = closedAt.toISOString().slice(0, 10).replaceAll('-', '.');
  return join(root, repo, day);
}

function isDotName(part: string): boolean {
  return part === '.' || part === '..';
}

/** Every `jobs_base_dir/YYYY.MM/pr_<N>` that exists: a PR built across months has several. */
export async function prDirsOf(jobsBaseDir: string, prNumber: number): Promise<string[]> {
  const months = (await namesIn(jobsBaseDir)).filter((name) => MONTH_DIR.test(name)).sort();
  const dirs: string[] = [];
  for (const month of months) {
    const dir = join(jobsBaseDir, month, `pr_${prNumber}`);
    if (await isDirectory(dir)) {
      dirs.push(dir);
    }
  }
  return dirs;
}

/** Where a PR dir goes: `<trash bin dir>/YYYY.MM/pr_<N>`, as upstream moves it. */
export function trashTargetOf(prDir: string, trashBinDir: string): string {
  return join(trashBinDir, basename(dirname(prDir)), basename(prDir));
}

/**
 * A free target name: the PR may have been closed, reopened, built and closed again on one day,
 * and an earlier move must never be overwritten. `pr_7`, then `pr_7.2`, `pr_7.3`, ...
 */
export async function freeTarget(target: string): Promise<string> {
  for (let n = 1; ; n++) {
    const candidate = n === 1 ? target : `${target}.${n}`;
    if (!(await pathExists(candidate))) {
      return candidate;
    }
  }
}

/**
 * Moves `source` to `target` (which must not exist yet) without ever deleting what is not
 * copied: one rename on the same filesystem; across filesystems a full copy to a temp name
 * beside the target, a rename into place, and only then the source removed. Safe to repeat
 * after a crash at any point: the temp copy of an interrupted attempt is redone, and a target
 * already in place with its source still present means only the removal is left.
 */
export async function moveDir(source: string, target: string): Promise<void> {
  if (!(await pathExists(source))) {
    return;
  }
  await mkdir(dirname(target), { recursive: true });
  if (await pathExists(target)) {
    // Complete: only a finished copy is ever renamed to the target's name.
    await rm(source, { recursive: true });
    return;
  }
  try {
    await rename(source, target);
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') {
      throw error;
    }
  }
  const temp = join(dirname(target), `.${basename(target)}.copying`);
  await rm(temp, { recursive: true, force: true });
  // Links are copied as they are: a job dir's links must not turn into copies of their targets.
  await cp(source, temp, {
    recursive: true,
    verbatimSymlinks: true,
    preserveTimestamps: true,
    errorOnExist: true,
  });
  await rename(temp, target);
  await rm(source, { recursive: true });
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isDirectory();
  } catch {
    return false;
  }
}
