import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The checkout this file belongs to (the nearest directory with a package.json), from test/ and
 * from the benchmarks' build in dist-bench/ alike. The benchmarks use this file outside Jest:
 * nothing here may import the test kit (bot-process.ts does).
 */
function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    }
    dir = parent;
  }
  return dir;
}

/** One `[architecturetargets] node_type_map` entry (v0.9 format). */
export interface NodeTypeEntry {
  readonly os: string;
  readonly cpu_subdir: string;
  readonly accel?: string;
  readonly slurm_params: string;
  readonly repo_targets: readonly string[];
}

type Section = Readonly<Record<string, string | number>>;

/**
 * An app.cfg (and its private key) for the built bot in `root`, as an operator would write it:
 * the local executor, everything under `root` (jobs/, tmp/, job-ids/, state/). Keys not given keep
 * the values below.
 */
export interface BotConfigOptions {
  readonly root: string;
  readonly privateKey: string;
  readonly appId?: number;
  readonly appName?: string;
  readonly installationId?: number;
  /** `[github] api_url`; leave it out only where the bot never talks to GitHub. */
  readonly apiUrl?: string;
  /** `[buildenv] build_job_script`; default the shipped scripts/slurm/eessi-bot-build.slurm. */
  readonly buildJobScript?: string;
  /** More `[buildenv]` keys (build_permission, job_handover_protocol, …). */
  readonly buildenv?: Section;
  /** Seed format (the default): `[architecturetargets] arch_target_map`. */
  readonly archTargetMap?: Readonly<Record<string, string>>;
  /** v0.9 format: `[architecturetargets] node_type_map` instead of arch_target_map. */
  readonly nodeTypeMap?: Readonly<Record<string, NodeTypeEntry>>;
  /**
   * v0.9 format: the sections of `<root>/repos/repos.cfg` by repo id (repo_name, repo_version, …),
   * written there and named by `[repo_targets] repos_cfg_dir`.
   */
  readonly repos?: Readonly<Record<string, Section>>;
  readonly pollIntervalSeconds?: number;
  /** `[event_handler] redeliver_interval`; 0 (off) unless given. */
  readonly redeliverIntervalSeconds?: number;
  /** `[event_handler] log_path`, if the bot should log to a file too. */
  readonly logPath?: string;
  /** Whole further sections, by name: `bot_control`, `repo_targets`, `deploycfg`, templates, … */
  readonly sections?: Readonly<Record<string, Section>>;
}

/** Writes `<root>/app.pem` and `<root>/app.cfg`; returns the config's path. */
export function writeBotConfig(opts: BotConfigOptions): string {
  const { root } = opts;
  const keyPath = join(root, 'app.pem');
  writeFileSync(keyPath, opts.privateKey);
  chmodSync(keyPath, 0o600);
  const targets: Section = opts.nodeTypeMap
    ? { node_type_map: JSON.stringify(opts.nodeTypeMap) }
    : { arch_target_map: JSON.stringify(opts.archTargetMap ?? { 'linux/x86_64/generic': '' }) };
  const sections: Record<string, Section> = {
    github: {
      app_id: opts.appId ?? 1,
      app_name: opts.appName ?? 'test-bot',
      installation_id: opts.installationId ?? 1,
      private_key: keyPath,
      ...(opts.apiUrl ? { api_url: opts.apiUrl } : {}),
    },
    buildenv: {
      scheduler: 'local',
      build_job_script:
        opts.buildJobScript ?? join(projectRoot(), 'scripts', 'slurm', 'eessi-bot-build.slurm'),
      jobs_base_dir: join(root, 'jobs'),
      local_tmp: join(root, 'tmp'),
      submit_command: 'sbatch',
      ...opts.buildenv,
    },
    architecturetargets: targets,
    job_manager: {
      job_ids_dir: join(root, 'job-ids'),
      poll_interval: opts.pollIntervalSeconds ?? 60,
      poll_command: 'squeue',
      scontrol_command: 'scontrol',
    },
    event_handler: {
      state_dir: join(root, 'state'),
      // Off unless asked for: a pass would ask GitHub (api.github.com by default) for deliveries.
      redeliver_interval: opts.redeliverIntervalSeconds ?? 0,
      ...(opts.logPath ? { log_path: opts.logPath } : {}),
    },
  };
  if (opts.repos) {
    const reposCfgDir = join(root, 'repos');
    mkdirSync(reposCfgDir, { recursive: true });
    writeFileSync(join(reposCfgDir, 'repos.cfg'), iniText(opts.repos));
    sections.repo_targets = { repos_cfg_dir: reposCfgDir };
  }
  const path = join(root, 'app.cfg');
  writeFileSync(path, iniText({ ...sections, ...opts.sections }));
  return path;
}

/** `[name]` and `key = value` lines, a blank line after each section. */
function iniText(sections: Readonly<Record<string, Section>>): string {
  return Object.entries(sections)
    .map(([name, keys]) =>
      [`[${name}]`, ...Object.entries(keys).map(([key, value]) => `${key} = ${value}`), ''].join(
        '\n',
      ),
    )
    .join('\n');
}

/** The environment of a bot child process: nothing inherited but PATH and HOME. */
export function botEnv(
  secret: string,
  extra: Readonly<Record<string, string>> = {},
): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NO_COLOR: '1',
    GITHUB_APP_SECRET_TOKEN: secret,
    ...extra,
  };
}

/**
 * A v0.9-format app.cfg for the built bot on the local Slurm of scripts/dev/slurm-local.sh:
 * `bot: build for:arch=x86_64/amd/zen4` (by `alice`) plans one held job per repository in
 * `repoIds`, submitted with Debian's sbatch as `jobName` and released by the job manager
 * (hold_release). Writes `<root>/app.pem`, `<root>/repos/repos.cfg` and `<root>/app.cfg`;
 * returns the config's path.
 */
export interface SlurmBotConfigOptions {
  readonly root: string;
  readonly privateKey: string;
  readonly apiUrl: string;
  readonly appName: string;
  readonly jobName: string;
  readonly buildJobScript: string;
  readonly repoIds: readonly string[];
  /** Client commands by full path (test/support/slurm-cluster.ts SLURM_COMMANDS). */
  readonly commands: { sbatch: string; squeue: string; scontrol: string; scancel: string };
  readonly pollIntervalSeconds?: number;
  readonly chatlevel?: 'basic' | 'chatty';
  readonly checkRuns?: boolean;
  readonly cancelOnPush?: boolean;
  /** `[clean_up] trash_bin_dir`; left out when not given. */
  readonly trashBinDir?: string;
}

export function writeSlurmBotConfig(opts: SlurmBotConfigOptions): string {
  const { root } = opts;
  const keyPath = join(root, 'app.pem');
  writeFileSync(keyPath, opts.privateKey);
  chmodSync(keyPath, 0o600);
  const reposDir = join(root, 'repos');
  mkdirSync(reposDir, { recursive: true });
  writeFileSync(
    join(reposDir, 'repos.cfg'),
    opts.repoIds
      .map((id) => `[${id}]\nrepo_name = software.eessi.io\nrepo_version = 2023.06\n`)
      .join('\n'),
  );
  const nodeTypes = {
    zen4: {
      os: 'linux',
      cpu_subdir: 'x86_64/amd/zen4',
      slurm_params: '',
      repo_targets: opts.repoIds,
    },
  };
  const path = join(root, 'app.cfg');
  writeFileSync(
    path,
    [
      '[github]',
      'app_id = 1',
      `app_name = ${opts.appName}`,
      'installation_id = 2',
      `private_key = ${keyPath}`,
      `api_url = ${opts.apiUrl}`,
      `check_runs = ${opts.checkRuns ?? false}`,
      '',
      '[bot_control]',
      'command_permission = alice',
      `chatlevel = ${opts.chatlevel ?? 'basic'}`,
      '',
      '[buildenv]',
      `build_job_script = ${opts.buildJobScript}`,
      `jobs_base_dir = ${join(root, 'jobs')}`,
      `local_tmp = ${join(root, 'tmp')}`,
      'slurm_params = --time=00:10:00',
      `submit_command = ${opts.commands.sbatch}`,
      `job_name = ${opts.jobName}`,
      'job_handover_protocol = hold_release',
      'build_permission = alice',
      `cancel_on_push = ${opts.cancelOnPush ?? false}`,
      '',
      '[architecturetargets]',
      `node_type_map = ${JSON.stringify(nodeTypes)}`,
      '',
      '[repo_targets]',
      `repos_cfg_dir = ${reposDir}`,
      '',
      '[job_manager]',
      `job_ids_dir = ${join(root, 'job-ids')}`,
      `poll_command = ${opts.commands.squeue}`,
      `poll_interval = ${opts.pollIntervalSeconds ?? 1}`,
      `scontrol_command = ${opts.commands.scontrol}`,
      `scancel_command = ${opts.commands.scancel}`,
      '',
      ...(opts.trashBinDir ? ['[clean_up]', `trash_bin_dir = ${opts.trashBinDir}`, ''] : []),
      '[event_handler]',
      `state_dir = ${join(root, 'state')}`,
      'redeliver_interval = 0',
      '',
    ].join('\n'),
  );
  return path;
}
