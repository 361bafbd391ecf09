import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from './bot-process.js';

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
        opts.buildJobScript ?? join(PROJECT_ROOT, 'scripts', 'slurm', 'eessi-bot-build.slurm'),
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
