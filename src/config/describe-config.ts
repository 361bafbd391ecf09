import type { AppConfig } from './app-config.js';

/** A value of undefined prints the key alone, as the heading of the indented rows after it. */
type Row = readonly [key: string, value: string | undefined];

/**
 * The resolved configuration as `check-config` prints it: what the bot will actually use, after
 * defaults, expansion and env overrides. Secrets never appear: the private key is shown by path,
 * the webhook secret only as set or not, and passwords inside URLs (proxies) are masked.
 */
export function describeConfig(config: AppConfig): string {
  const { github, buildenv, architectureTargets, jobManager, eventHandler } = config;
  const sections: [string, Row[]][] = [
    [
      'github',
      [
        ['app_id', String(github.appId)],
        ['app_name', github.appName],
        ['installation_id', String(github.installationId)],
        ['private_key', `${github.privateKeyPath} (content not shown)`],
        ['api_url', github.apiUrl],
        [
          'webhook secret',
          `${github.webhookSecret ? '(set)' : '(not set)'} from env GITHUB_APP_SECRET_TOKEN`,
        ],
      ],
    ],
    [
      'buildenv',
      [
        ['build_job_script', buildenv.buildJobScript],
        ['jobs_base_dir', buildenv.jobsBaseDir],
        ['local_tmp', buildenv.localTmp],
        ['submit_command', buildenv.submitCommand],
        ['scheduler', buildenv.scheduler],
        ['job_name', buildenv.jobName],
        ['slurm_params', buildenv.slurmParams],
        ['load_modules', buildenv.loadModules],
        ['http_proxy', buildenv.httpProxy],
        ['https_proxy', buildenv.httpsProxy],
        ...mapRows('cvmfs_customizations', buildenv.cvmfsCustomizations),
        [
          'build_permission',
          buildenv.buildPermission.length > 0 ? buildenv.buildPermission.join(' ') : '(anyone)',
        ],
        ['no_build_permission_comment', buildenv.noBuildPermissionComment],
      ],
    ],
    ['architecturetargets', mapRows('arch_target_map', architectureTargets.archTargetMap)],
    [
      'job_manager',
      [
        ['job_ids_dir', jobManager.jobIdsDir],
        ['poll_command', jobManager.pollCommand],
        ['poll_interval', `${jobManager.pollIntervalSeconds} s`],
        ['scontrol_command', jobManager.scontrolCommand],
        ['scancel_command', jobManager.scancelCommand],
        ['command_timeout', `${jobManager.commandTimeoutSeconds} s`],
        ['log_path', jobManager.logPath ?? '(standard output)'],
      ],
    ],
    [
      'event_handler',
      [
        ['state_dir', eventHandler.stateDir],
        ['log_path', eventHandler.logPath ?? '(standard output)'],
        ['smee_url', eventHandler.smeeUrl ?? '(none: GitHub delivers to this server directly)'],
        [
          'redeliver_interval',
          eventHandler.redeliverIntervalSeconds > 0
            ? `${eventHandler.redeliverIntervalSeconds} s`
            : '0 (missed-webhook catch-up off)',
        ],
        ['status_bind', eventHandler.statusBind.join(' ')],
        [
          'status_auth',
          eventHandler.statusAuth
            ? `user ${eventHandler.statusAuth.user}, password hash set`
            : '(none: no password on /status and /metrics)',
        ],
      ],
    ],
  ];

  const width = Math.max(...sections.flatMap(([, rows]) => rows.map(([key]) => key.length)));
  const lines = [`Configuration from ${config.configPath}`];
  for (const [name, rows] of sections) {
    lines.push('', `[${name}]`);
    for (const [key, value] of rows) {
      if (value === undefined) {
        lines.push(`  ${key}`);
        continue;
      }
      const shown = value === '' ? '(empty)' : maskUrlPasswords(value);
      // Continuation lines of multi-line values stay in the value column.
      lines.push(`  ${key.padEnd(width)}  ${shown.replaceAll('\n', `\n${' '.repeat(width + 4)}`)}`);
    }
  }
  return lines.join('\n');
}

function mapRows(key: string, map: Readonly<Record<string, string>>): Row[] {
  const entries = Object.entries(map);
  if (entries.length === 0) return [[key, '(none)']];
  return [[key, undefined], ...entries.map(([name, value]): Row => [`  ${name}`, value])];
}

/** `http://user:secret@proxy:3128` → `http://user:***@proxy:3128`, anywhere in the text. */
export function maskUrlPasswords(text: string): string {
  return text.replace(/([A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s/:@]*):[^\s/@]*@/g, '$1:***@');
}
