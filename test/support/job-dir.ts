import { chmod, cp, lstat, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'ini';

/** Root of this repository (two levels above test/support/). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The example software-layer repository (files only; `git init` a copy if git is needed). */
export const EXAMPLE_SOFTWARE_LAYER = join(REPO_ROOT, 'examples', 'software-layer');

/** The build job script the bot submits. */
export const BUILD_JOB_SCRIPT = join(REPO_ROOT, 'scripts', 'slurm', 'eessi-bot-build.slurm');

/** cfg/job.cfg as section → key → value, the shape the bot hands to `ini.stringify`. */
export type JobCfgSections = Record<string, Record<string, string | number | boolean>>;

/** A file to place in the job dir: its text, or its text and mode (e.g. 0o755 for scripts). */
export type JobFile = string | { readonly content: string; readonly mode?: number };

export interface MakeJobDirOptions {
  /** Directory whose content is copied into the job dir (modes kept), e.g. EXAMPLE_SOFTWARE_LAYER. */
  readonly repo?: string;
  /** Files added after the copy (replacing copied ones), by path relative to the job dir. */
  readonly files?: Readonly<Record<string, JobFile>>;
  /**
   * Merged section by section over defaultJobCfg() (a key set to `undefined` is dropped);
   * `null` writes no cfg/job.cfg at all.
   */
  readonly jobCfg?: Readonly<
    Record<string, Readonly<Record<string, string | number | boolean | undefined>>>
  > | null;
  /** Where the temporary job dir is created; default: the OS temp dir. */
  readonly parent?: string;
}

export interface JobDir {
  /** Absolute path of the job dir (the working directory of the job). */
  readonly dir: string;
  /** Absolute path of cfg/job.cfg (it may not exist when `jobCfg: null`). */
  readonly jobCfgPath: string;
  /** Removes the job dir, read-only trees included. */
  remove(): Promise<void>;
}

/** The cfg/job.cfg the bot writes for a zen2 target of EESSI/software-layer PR 42. */
function defaultJobCfg(): JobCfgSections {
  return {
    site_config: {
      local_tmp: '/tmp/$USER/EESSI',
      http_proxy: '',
      https_proxy: '',
      load_modules: '',
    },
    architecture: { software_subdir: 'x86_64/amd/zen2', os_type: 'linux', generic: false },
    repository: { repo: 'EESSI/software-layer' },
    pr: { repo: 'EESSI/software-layer', pr_number: 42, base_ref: 'main', head_sha: 'abc123' },
  };
}

function mergeJobCfg(overrides: NonNullable<MakeJobDirOptions['jobCfg']>): JobCfgSections {
  const merged = defaultJobCfg();
  for (const [section, values] of Object.entries(overrides)) {
    const target = { ...(merged[section] ?? {}) };
    for (const [key, value] of Object.entries(values)) {
      if (value === undefined) {
        delete target[key];
      } else {
        target[key] = value;
      }
    }
    merged[section] = target;
  }
  return merged;
}

/** Lays out a job directory as the bot prepares it: repository files plus cfg/job.cfg. */
export async function makeJobDir(options: MakeJobDirOptions = {}): Promise<JobDir> {
  const dir = await mkdtemp(join(options.parent ?? tmpdir(), 'eessi-bot-jobdir-'));
  if (options.repo !== undefined) {
    await cp(options.repo, dir, { recursive: true, preserveTimestamps: true });
  }
  for (const [relativePath, file] of Object.entries(options.files ?? {})) {
    const path = join(dir, relativePath);
    const { content, mode } = typeof file === 'string' ? { content: file, mode: undefined } : file;
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, content);
    if (mode !== undefined) {
      await chmod(path, mode);
    }
  }
  const jobCfgPath = join(dir, 'cfg', 'job.cfg');
  if (options.jobCfg !== null) {
    await mkdir(dirname(jobCfgPath), { recursive: true });
    await writeFile(jobCfgPath, stringify(mergeJobCfg(options.jobCfg ?? {})));
  }
  return { dir, jobCfgPath, remove: () => removeTree(dir) };
}

/**
 * `rm -rf` that also copes with read-only directories (builds leave them, and a failed test may
 * leave a job's temporary directory behind).
 */
export async function removeTree(path: string): Promise<void> {
  const stat = await lstat(path).catch(() => undefined);
  if (stat === undefined) {
    return;
  }
  if (stat.isDirectory()) {
    await chmod(path, 0o700);
    for (const entry of await readdir(path)) {
      await removeTree(join(path, entry));
    }
  }
  await rm(path, { recursive: true, force: true });
}
