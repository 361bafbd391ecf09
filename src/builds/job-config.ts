import { lstat, mkdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { encode } from 'ini';
import { writeFileAtomic } from '../common/atomic-file.js';
import type { BuildEnvConfig } from '../config/app-config.js';
import { describeTarget } from './build-plan.js';

/**
 * The files the bot adds to a job directory for the job script
 * (scripts/slurm/eessi-bot-build.slurm): `cfg/job.cfg`, and the seed's cvmfs customizations.
 */
export interface JobConfigInput {
  readonly buildenv: BuildEnvConfig;
  readonly target: string;
  /** owner/name */
  readonly repo: string;
  readonly prNumber: number;
  readonly baseRef: string;
  readonly baseSha: string;
  readonly headSha: string;
  readonly mergeSha: string;
}

const JOB_CFG = join('cfg', 'job.cfg');

export function renderJobConfig(input: JobConfigInput): string {
  const { osType, softwareSubdir, generic } = describeTarget(input.target);
  return encode({
    site_config: {
      local_tmp: input.buildenv.localTmp,
      http_proxy: input.buildenv.httpProxy,
      https_proxy: input.buildenv.httpsProxy,
      load_modules: input.buildenv.loadModules,
    },
    architecture: {
      software_subdir: softwareSubdir,
      os_type: osType,
      generic,
    },
    repository: {
      repo: input.repo,
    },
    pr: {
      repo: input.repo,
      pr_number: input.prNumber,
      base_ref: input.baseRef,
      base_sha: input.baseSha,
      head_sha: input.headSha,
      merge_sha: input.mergeSha,
    },
  });
}

/**
 * Writes cfg/job.cfg. The job dir holds the PR's tree, so `cfg` is checked not to be a symlink
 * the PR planted (the merge step rejects such trees too; this guards the write itself).
 */
export async function writeJobConfig(jobDir: string, input: JobConfigInput): Promise<void> {
  const cfgDir = join(jobDir, 'cfg');
  try {
    const info = await lstat(cfgDir);
    if (!info.isDirectory()) {
      throw new Error(
        `${cfgDir} is not a directory (the pull request's tree has a cfg that is a file or symlink)`,
      );
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw error;
    }
    await mkdir(cfgDir);
  }
  // writeFileAtomic renames over the name, so a planted cfg/job.cfg symlink is replaced, not followed.
  await writeFileAtomic(join(jobDir, JOB_CFG), renderJobConfig(input));
}

/** The job-dir file each cvmfs customization goes to: the basename of its path. */
export function customizationFileName(path: string): string {
  const name = basename(path);
  if (name === '' || name === '.' || name === '..') {
    throw new Error(`[buildenv] cvmfs_customizations: ${JSON.stringify(path)} has no file name`);
  }
  return name;
}

/**
 * As the seed does: for each `"/path/to/file": "line"`, appends `line` to a file named after the
 * path's basename in the job dir (the job script installs it into the build container). Appends
 * to a file of that name the PR's tree holds; refuses a symlink, which would write elsewhere.
 */
export async function applyCvmfsCustomizations(
  jobDir: string,
  customizations: Readonly<Record<string, string>>,
): Promise<void> {
  const additions = new Map<string, string>();
  for (const [path, line] of Object.entries(customizations)) {
    const name = customizationFileName(path);
    additions.set(name, `${additions.get(name) ?? ''}${line}\n`);
  }
  for (const [name, text] of additions) {
    const file = join(jobDir, name);
    let existing = '';
    try {
      const info = await lstat(file);
      if (!info.isFile()) {
        throw new Error(
          `${file} is not a regular file (symlink or directory in the pull request's tree); not writing the cvmfs customization`,
        );
      }
      existing = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw error;
      }
    }
    const separator = existing !== '' && !existing.endsWith('\n') ? '\n' : '';
    await writeFileAtomic(file, `${existing}${separator}${text}`);
  }
}
