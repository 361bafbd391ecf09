import { lstat, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { encode } from 'ini';
import { writeFileAtomic } from '../common/atomic-file.js';
import type { BuildEnvConfig, RepoTarget } from '../config/app-config.js';
import { describeTarget } from './build-plan.js';
import type { ExportVar } from './build-request.js';
import { formatConfigparser, type IniSection } from './configparser-format.js';

/**
 * The files the bot adds to a job directory for the job script: `cfg/job.cfg` (seed layout for
 * scripts/slurm/eessi-bot-build.slurm, v0.9 layout for bot-build.slurm), the seed's cvmfs
 * customizations, and for v0.9 the repository configuration and `cfg/export_vars.sh`.
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
  await ensureCfgDir(jobDir);
  // writeFileAtomic renames over the name, so a planted cfg/job.cfg symlink is replaced, not followed.
  await writeFileAtomic(join(jobDir, JOB_CFG), renderJobConfig(input));
}

async function ensureCfgDir(jobDir: string): Promise<string> {
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
  return cfgDir;
}

/** What a v0.9 job's cfg/job.cfg says (upstream tasks/build.py prepare_job_cfg). */
export interface V09JobConfigInput {
  readonly buildenv: BuildEnvConfig;
  readonly jobDir: string;
  /** `[repo_targets] repos_cfg_dir`; when set, its copy in the job's cfg/ is named. */
  readonly reposCfgDir?: string;
  readonly repoId: string;
  /** The repo id's repos.cfg section, if it has one. */
  readonly repo?: RepoTarget;
  readonly nodeType: string;
  /** The CPU subdir built for. */
  readonly softwareSubdir: string;
  readonly osType: string;
  /** Accelerators built for, `a+b`; empty for CPU builds. */
  readonly accelerator: string;
}

const EXPORT_VARS_FILE = join('cfg', 'export_vars.sh');

/**
 * v0.9's cfg/job.cfg, byte for byte: `[site_config]` with only the settings an operator set (in
 * upstream's order), `[repository]` with the repos.cfg values the repo id has, `[architecture]`.
 */
export function renderV09JobConfig(input: V09JobConfigInput): string {
  const { buildenv, repo } = input;
  const siteConfig: [string, string | undefined][] = [
    ['build_logs_dir', buildenv.buildLogsDir],
    ['container_cachedir', buildenv.containerCachedir],
    ['http_proxy', buildenv.httpProxy],
    ['https_proxy', buildenv.httpsProxy],
    ['load_modules', buildenv.loadModules],
    ['local_tmp', buildenv.localTmp],
    ['shared_fs_path', buildenv.sharedFsPath],
    ['site_config_script', buildenv.siteConfigScript],
  ];
  const repository: [string, string | undefined][] = [
    ['repos_cfg_dir', input.reposCfgDir ? join(input.jobDir, 'cfg') : undefined],
    ['repo_id', input.repoId],
    ['container', repo?.container],
    ['repo_name', repo?.repoName],
    ['repo_version', repo?.repoVersion],
  ];
  const sections: IniSection[] = [
    ['site_config', onlySet(siteConfig)],
    ['repository', onlySet(repository)],
    [
      'architecture',
      [
        ['node_type', input.nodeType],
        ['software_subdir', input.softwareSubdir],
        ['os_type', input.osType],
        ['accelerator', input.accelerator],
      ],
    ],
  ];
  return formatConfigparser(sections);
}

function onlySet(entries: [string, string | undefined][]): [string, string][] {
  return entries.filter((entry): entry is [string, string] => !!entry[1]);
}

/**
 * cfg/export_vars.sh, sourced by the job script before the PR's bot/build.sh: one
 * `export NAME='value'` per variable. Names are shell names and values single-quoted (a `'`
 * becomes `'\''`), so no value can run anything or end the line early when sourced.
 */
export function renderExportVars(vars: readonly ExportVar[]): string {
  return vars
    .map(({ name, value }) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        throw new Error(`export variable name ${JSON.stringify(name)} is not a shell name`);
      }
      if (value.includes('\0')) {
        throw new Error(`export variable ${name}: a value cannot hold a NUL byte`);
      }
      return `export ${name}='${value.replace(/'/g, "'\\''")}'\n`;
    })
    .join('');
}

/**
 * The v0.9 job files: `repos_cfg_dir` copied into cfg/ (as upstream's copytree), cfg/job.cfg,
 * and cfg/export_vars.sh when the request exports variables. The bot's files replace whatever
 * the PR's tree has under those names, symlinks included, and are never written through one.
 */
export async function writeV09JobFiles(
  input: V09JobConfigInput,
  exportVars: readonly ExportVar[],
): Promise<void> {
  const cfgDir = await ensureCfgDir(input.jobDir);
  if (input.reposCfgDir) {
    await copyTree(input.reposCfgDir, cfgDir);
  }
  await writeFileAtomic(join(input.jobDir, JOB_CFG), renderV09JobConfig(input));
  if (exportVars.length > 0) {
    await writeFileAtomic(join(input.jobDir, EXPORT_VARS_FILE), renderExportVars(exportVars));
  }
}

/**
 * Copies the operator's directory (symlinks in it followed, as copytree does by default) into a
 * directory of the job, where the PR may have planted symlinks: each file is written by rename
 * over its name, and anything in the way of a directory that is not one is removed first.
 */
async function copyTree(source: string, target: string): Promise<void> {
  for (const name of await readdir(source)) {
    const from = join(source, name);
    const to = join(target, name);
    const info = await stat(from);
    if (info.isDirectory()) {
      const existing = await lstat(to).catch(() => undefined);
      if (existing && !existing.isDirectory()) {
        await rm(to, { recursive: true, force: true });
      }
      if (!existing?.isDirectory()) {
        await mkdir(to);
      }
      await copyTree(from, to);
    } else if (info.isFile()) {
      await writeFileAtomic(to, await readFile(from), info.mode & 0o777);
    }
  }
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
