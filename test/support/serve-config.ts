import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateAppKeys } from './make-config.js';

/**
 * The checkout this file belongs to (the nearest directory with a package.json), from test/ and
 * from the benchmarks' build in dist-bench/ alike. The benchmarks run outside Jest: nothing here
 * may import the test kit.
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

export interface ServeConfigOptions {
  readonly appName: string;
  /** `[event_handler] log_path`, if the bot should log to a file too. */
  readonly logPath?: string;
}

/**
 * An app.cfg for `node dist/main.js serve` as an operator writes one (local executor, one
 * target), with a fresh App key beside it (mode 0600, as the config check wants), everything under
 * `root`. Returns the paths of both files.
 */
export function writeServeConfig(
  root: string,
  options: ServeConfigOptions,
): { readonly config: string; readonly keyPath: string } {
  const keyPath = join(root, 'app.pem');
  writeFileSync(keyPath, generateAppKeys().privateKey);
  chmodSync(keyPath, 0o600);
  const config = join(root, 'app.cfg');
  writeFileSync(
    config,
    [
      '[github]',
      'app_id = 1',
      `app_name = ${options.appName}`,
      'installation_id = 1',
      `private_key = ${keyPath}`,
      '',
      '[buildenv]',
      'scheduler = local',
      `build_job_script = ${join(projectRoot(), 'scripts', 'slurm', 'eessi-bot-build.slurm')}`,
      `jobs_base_dir = ${join(root, 'jobs')}`,
      `local_tmp = ${join(root, 'tmp')}`,
      'submit_command = sbatch',
      '',
      '[architecturetargets]',
      'arch_target_map = {"linux/x86_64/generic": ""}',
      '',
      '[job_manager]',
      `job_ids_dir = ${join(root, 'job-ids')}`,
      'poll_interval = 60',
      'poll_command = squeue',
      'scontrol_command = scontrol',
      '',
      '[event_handler]',
      `state_dir = ${join(root, 'state')}`,
      ...(options.logPath ? [`log_path = ${options.logPath}`] : []),
      '',
    ].join('\n'),
  );
  return { config, keyPath };
}
