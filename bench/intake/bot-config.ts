import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * An app.cfg as an operator writes one, for the built bot under load: local executor, one
 * target, logs to a file, everything under `root`. Returns its path.
 */
export async function writeBotConfig(
  root: string,
  keyPath: string,
  projectRoot: string,
): Promise<string> {
  const path = join(root, 'app.cfg');
  await writeFile(
    path,
    [
      '[github]',
      'app_id = 1',
      'app_name = bench-bot',
      'installation_id = 1',
      `private_key = ${keyPath}`,
      '',
      '[buildenv]',
      'scheduler = local',
      `build_job_script = ${join(projectRoot, 'scripts', 'slurm', 'eessi-bot-build.slurm')}`,
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
      `log_path = ${join(root, 'log', 'event-handler.log')}`,
      '',
    ].join('\n'),
  );
  return path;
}

/**
 * The node options the systemd unit (docs/deploy/eessi-bot.service) starts the bot with: the
 * words between `node` and `dist/main.js` in its ExecStart.
 */
export function unitNodeOptions(projectRoot: string): string[] {
  const unit = readFileSync(join(projectRoot, 'docs', 'deploy', 'eessi-bot.service'), 'utf8');
  const execStart = /^ExecStart=(.*)$/m.exec(unit)?.[1];
  if (!execStart) {
    throw new Error('docs/deploy/eessi-bot.service has no ExecStart line');
  }
  const words = execStart.trim().split(/\s+/);
  const script = words.findIndex((word) => word.endsWith('/dist/main.js'));
  return words.slice(1, script);
}
