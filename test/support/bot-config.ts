import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The checkout this file belongs to (the nearest directory with a package.json), from test/ and
 * from the benchmarks' build in dist-bench/ alike. The benchmarks use this file outside Jest:
 * nothing here may import the test kit.
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

/**
 * An app.cfg (and its private key) for the built bot in `root`, as an operator would write it:
 * the local executor, everything under `root`. Keys not given keep the values below.
 */
export interface BotConfigOptions {
  readonly root: string;
  readonly privateKey: string;
  readonly appId?: number;
  readonly appName?: string;
  readonly installationId?: number;
  /** `[github] api_url`; leave it out only where the bot never talks to GitHub. */
  readonly apiUrl?: string;
  readonly archTargetMap?: Readonly<Record<string, string>>;
  readonly pollIntervalSeconds?: number;
  /** `[event_handler] redeliver_interval`; 0 (off) unless given. */
  readonly redeliverIntervalSeconds?: number;
  /** `[event_handler] log_path`, if the bot should log to a file too. */
  readonly logPath?: string;
}

/** Writes `<root>/app.pem` and `<root>/app.cfg`; returns the config's path. */
export function writeBotConfig(opts: BotConfigOptions): string {
  const { root } = opts;
  const keyPath = join(root, 'app.pem');
  writeFileSync(keyPath, opts.privateKey);
  chmodSync(keyPath, 0o600);
  const path = join(root, 'app.cfg');
  writeFileSync(
    path,
    [
      '[github]',
      `app_id = ${opts.appId ?? 1}`,
      `app_name = ${opts.appName ?? 'test-bot'}`,
      `installation_id = ${opts.installationId ?? 1}`,
      `private_key = ${keyPath}`,
      ...(opts.apiUrl ? [`api_url = ${opts.apiUrl}`] : []),
      '',
      '[buildenv]',
      'scheduler = local',
      `build_job_script = ${join(projectRoot(), 'scripts', 'slurm', 'eessi-bot-build.slurm')}`,
      `jobs_base_dir = ${join(root, 'jobs')}`,
      `local_tmp = ${join(root, 'tmp')}`,
      'submit_command = sbatch',
      '',
      '[architecturetargets]',
      `arch_target_map = ${JSON.stringify(opts.archTargetMap ?? { 'linux/x86_64/generic': '' })}`,
      '',
      '[job_manager]',
      `job_ids_dir = ${join(root, 'job-ids')}`,
      `poll_interval = ${opts.pollIntervalSeconds ?? 60}`,
      'poll_command = squeue',
      'scontrol_command = scontrol',
      '',
      '[event_handler]',
      `state_dir = ${join(root, 'state')}`,
      // Off unless asked for: a pass would ask GitHub (api.github.com by default) for deliveries.
      `redeliver_interval = ${opts.redeliverIntervalSeconds ?? 0}`,
      ...(opts.logPath ? [`log_path = ${opts.logPath}`] : []),
      '',
    ].join('\n'),
  );
  return path;
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
