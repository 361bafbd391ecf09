import { execFileSync, spawn } from 'node:child_process';
import {
  chmod,
  cp,
  lstat,
  mkdir,
  mkdtemp,
  open,
  readFile,
  readdir,
  rm,
  writeFile,
} from 'node:fs/promises';
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

/** The job script of the v0.9 job protocol (bot/build.sh, check-build, test, check-test). */
export const BOT_BUILD_JOB_SCRIPT = join(REPO_ROOT, 'scripts', 'slurm', 'bot-build.slurm');

/** A repository with the four bot/ scripts of the v0.9 protocol (test/fixtures/software-layer-v09). */
export const V09_SOFTWARE_LAYER = join(REPO_ROOT, 'test', 'fixtures', 'software-layer-v09');

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
 * cfg/job.cfg of the v0.9 protocol as configparser writes it (`key = value`), for a zen4 node
 * building repository 2025.06; `overrides` are merged section by section (`undefined` drops a key).
 */
export function v09JobCfgText(
  overrides: Readonly<Record<string, Readonly<Record<string, string | undefined>>>> = {},
): string {
  const sections: Record<string, Record<string, string | undefined>> = {
    site_config: { local_tmp: '/tmp/$USER/EESSI' },
    repository: {
      repos_cfg_dir: 'cfg',
      repo_id: 'eessi.io-2025.06-software',
      repo_name: 'software.eessi.io',
      repo_version: '2025.06',
    },
    architecture: {
      node_type: 'zen4',
      software_subdir: 'x86_64/amd/zen4',
      os_type: 'linux',
      accelerator: '',
    },
  };
  for (const [section, values] of Object.entries(overrides)) {
    sections[section] = { ...(sections[section] ?? {}), ...values };
  }
  return Object.entries(sections)
    .map(([section, values]) => {
      const lines = Object.entries(values)
        .filter((entry): entry is [string, string] => entry[1] !== undefined)
        .map(([key, value]) => `${key} = ${value}`);
      return [`[${section}]`, ...lines, ''].join('\n');
    })
    .join('\n');
}

export interface JobScriptRun {
  readonly jobId: string;
  readonly code: number | null;
  /** slurm-<ID>.out: stdout and stderr, as Slurm writes them by default. */
  readonly log: string;
}

/**
 * Runs a job script with bash as Slurm would on a compute node: working directory = job dir,
 * SLURM_JOB_ID set, stdout and stderr into slurm-<ID>.out, and a clean environment (no proxies,
 * module functions or Slurm variables leak in from the host; `env` adds to it).
 */
export async function runJobScript(opts: {
  readonly script: string;
  readonly dir: string;
  readonly jobId: string;
  readonly user: string;
  readonly args?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}): Promise<JobScriptRun> {
  const logPath = join(opts.dir, `slurm-${opts.jobId}.out`);
  const logFile = await open(logPath, 'w');
  try {
    const child = spawn('bash', [opts.script, ...(opts.args ?? [])], {
      cwd: opts.dir,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: tmpdir(),
        USER: opts.user,
        SLURM_JOB_ID: opts.jobId,
        ...opts.env,
      },
      stdio: ['ignore', logFile.fd, logFile.fd],
    });
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (exitCode) => resolve(exitCode));
    });
    return { jobId: opts.jobId, code, log: await readFile(logPath, 'utf8') };
  } finally {
    await logFile.close();
  }
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

/**
 * Reads an INI file with Python's configparser (RawConfigParser, as upstream's job manager reads
 * result files): section → key → value. Proves that a file our scripts write is valid for it.
 */
export function readWithConfigparser(path: string): Record<string, Record<string, string>> {
  const program = [
    'import configparser, json, sys',
    'parser = configparser.RawConfigParser()',
    'parser.read(sys.argv[1], encoding="utf-8")',
    'print(json.dumps({s: dict(parser[s]) for s in parser.sections()}))',
  ].join('\n');
  const out = execFileSync('python3', ['-c', program, path], { encoding: 'utf8' });
  return JSON.parse(out) as Record<string, Record<string, string>>;
}
