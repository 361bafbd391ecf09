import type { AppConfig, BuildEnvConfig, CommentTemplates } from './app-config.js';
import { BUILT_IN_REPO_IDS } from './repos-cfg.reader.js';
import { DEFAULT_BOT_CONTROL, DEFAULT_CLEAN_UP, DEFAULT_TEMPLATES } from './upstream-defaults.js';

/** A value of undefined prints the key alone, as the heading of the indented rows after it. */
type Row = readonly [key: string, value: string | undefined];

interface Section {
  readonly name: string;
  readonly rows: readonly Row[];
  /** Printed after the rows as they are (a table). */
  readonly lines?: readonly string[];
}

/**
 * The resolved configuration as `check-config` prints it: what the bot will actually use, after
 * defaults, expansion and env overrides, and for the v0.9 format the jobs a build can become
 * (node types × repository targets). Secrets never appear: the private key is shown by path, the
 * webhook secret only as set or not, and passwords inside URLs (proxies) are masked.
 */
export function describeConfig(config: AppConfig): string {
  const { github, jobManager, eventHandler } = config;
  const v09 = config.generation === 'v09';
  const scontrol = [jobManager.scontrolCommand, ...(jobManager.scontrolArgs ?? [])].join(' ');
  const sections: Section[] = [
    {
      name: 'github',
      rows: [
        ['app_id', String(github.appId)],
        ['app_name', github.appName],
        ['installation_id', String(github.installationId)],
        ['private_key', `${github.privateKeyPath} (content not shown)`],
        ['api_url', github.apiUrl],
        ['check_runs', String(github.checkRuns)],
        [
          'webhook secret',
          `${github.webhookSecret ? '(set)' : '(not set)'} from env GITHUB_APP_SECRET_TOKEN`,
        ],
      ],
    },
    ...(v09 ? [botControlSection(config)] : []),
    { name: 'buildenv', rows: buildEnvRows(config.buildenv, v09, jobManager.pollIntervalSeconds) },
    v09
      ? { name: 'architecturetargets', rows: [], lines: nodeTypeTable(config) }
      : {
          name: 'architecturetargets',
          rows: mapRows('arch_target_map', config.architectureTargets.archTargetMap),
        },
    ...(v09
      ? [
          {
            name: 'repo_targets',
            rows: [['repos_cfg_dir', config.repoTargets.reposCfgDir ?? '(not set)'] as const],
          },
        ]
      : []),
    {
      name: 'job_manager',
      rows: [
        ['job_ids_dir', jobManager.jobIdsDir],
        ['poll_command', jobManager.pollCommand],
        ['poll_interval', `${jobManager.pollIntervalSeconds} s`],
        ['scontrol_command', scontrol],
        ['scancel_command', jobManager.scancelCommand],
        ['command_timeout', `${jobManager.commandTimeoutSeconds} s`],
        ['log_path', jobManager.logPath ?? '(standard output)'],
      ],
    },
    {
      name: 'event_handler',
      rows: [
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
    },
    ...(v09 ? [cleanUpSection(config)] : []),
    ...changedTemplateSections(config.templates),
  ];

  const lines = [
    `Configuration from ${config.configPath}`,
    v09
      ? 'Format: v0.9 (node_type_map; builds are requested with `bot: build` comments)'
      : 'Format: seed (arch_target_map; builds are requested with the label bot:build)',
  ];
  for (const { name, rows, lines: extra } of sections) {
    lines.push('', `[${name}]`);
    const width = Math.max(0, ...rows.map(([key]) => key.length));
    for (const [key, value] of rows) {
      if (value === undefined) {
        lines.push(`  ${key}`);
        continue;
      }
      const shown = value === '' ? '(empty)' : maskUrlPasswords(value);
      // Continuation lines of multi-line values stay in the value column.
      lines.push(`  ${key.padEnd(width)}  ${shown.replaceAll('\n', `\n${' '.repeat(width + 4)}`)}`);
    }
    if (extra) {
      lines.push(...extra.map((line) => `  ${line}`));
    }
  }
  return lines.join('\n');
}

function botControlSection(config: AppConfig): Section {
  const { botControl } = config;
  return {
    name: 'bot_control',
    rows: [
      [
        'command_permission',
        botControl.commandPermission.length > 0
          ? botControl.commandPermission.join(' ')
          : '(nobody)',
      ],
      ['chatlevel', botControl.chatlevel],
      [
        'command_response_fmt',
        botControl.commandResponseFmt === DEFAULT_BOT_CONTROL.commandResponseFmt
          ? "(upstream's default)"
          : botControl.commandResponseFmt,
      ],
    ],
  };
}

function buildEnvRows(buildenv: BuildEnvConfig, v09: boolean, pollInterval: number): Row[] {
  const permission = buildenv.buildPermission.join(' ') || (v09 ? '(nobody)' : '(anyone)');
  const script =
    buildenv.buildJobScriptRepo === undefined
      ? buildenv.buildJobScript
      : `${buildenv.buildJobScript} in ${buildenv.buildJobScriptRepo} (cloned into each job dir)`;
  const rows: Row[] = [
    ['build_job_script', script],
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
    ['build_permission', permission],
    ['no_build_permission_comment', buildenv.noBuildPermissionComment],
  ];
  if (!v09) {
    return rows;
  }
  const delay = Math.trunc(buildenv.jobDelayBeginFactor * pollInterval);
  return [
    ...rows,
    ['shared_fs_path', buildenv.sharedFsPath ?? '(not set)'],
    ['build_logs_dir', buildenv.buildLogsDir ?? '(not set)'],
    ['container_cachedir', buildenv.containerCachedir ?? '(not set)'],
    ['site_config_script', buildenv.siteConfigScript ?? '(not set)'],
    ['job_handover_protocol', buildenv.jobHandoverProtocol],
    [
      'job_delay_begin_factor',
      buildenv.jobHandoverProtocol === 'delayed_begin'
        ? `${buildenv.jobDelayBeginFactor} (jobs may start ${delay} s after submission)`
        : `${buildenv.jobDelayBeginFactor} (unused with hold_release)`,
    ],
    ['allow_update_submit_opts', String(buildenv.allowUpdateSubmitOpts)],
    ['cancel_on_push', String(buildenv.cancelOnPush)],
    ['allowed_exportvars', buildenv.allowedExportVars.join(' ') || '(none)'],
    ['clone_git_repo_via', buildenv.cloneGitRepoVia],
  ];
}

/** One row per job a build can become: node type × each of its repository targets. */
function nodeTypeTable(config: AppConfig): string[] {
  const header = ['node type', 'os', 'cpu_subdir', 'accel', 'repo target', 'repo name/version'];
  const rows: string[][] = [];
  for (const nodeType of config.nodeTypes) {
    const accel = nodeType.accel.length > 0 ? nodeType.accel.join(',') : '-';
    const base = [nodeType.name, nodeType.os, nodeType.cpuSubdir, accel];
    if (nodeType.repoTargets.length === 0) {
      rows.push([...base, '-', '(none: never used)']);
    }
    for (const id of nodeType.repoTargets) {
      rows.push([...base, id, repoDescription(config, id)]);
    }
  }
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column].length)),
  );
  const format = (cells: readonly string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column]))
      .join('  ')
      .trimEnd();
  return [format(header), format(widths.map((width) => '-'.repeat(width))), ...rows.map(format)];
}

function repoDescription(config: AppConfig, id: string): string {
  const repo = Object.hasOwn(config.repoTargets.repos, id)
    ? config.repoTargets.repos[id]
    : undefined;
  if (repo) {
    return [repo.repoName, repo.repoVersion].filter((part) => part !== undefined).join(' ');
  }
  return BUILT_IN_REPO_IDS.includes(id)
    ? "(build container's default)"
    : "(not in repos.cfg: build container's default)";
}

function cleanUpSection(config: AppConfig): Section {
  const { cleanUp } = config;
  return {
    name: 'clean_up',
    rows: [
      ['trash_bin_dir', cleanUp.trashBinDir ?? '(not set: job dirs stay after a PR closes)'],
      [
        'moved_job_dirs_comment',
        cleanUp.movedJobDirsComment === DEFAULT_CLEAN_UP.movedJobDirsComment
          ? "(upstream's default)"
          : cleanUp.movedJobDirsComment,
      ],
      ['cancel_on_close', String(cleanUp.cancelOnClose)],
    ],
  };
}

/** Only the comment texts that differ from upstream's defaults, under their app.cfg sections. */
function changedTemplateSections(templates: CommentTemplates): Section[] {
  const defaults = DEFAULT_TEMPLATES;
  const submitted = templates.submittedJob;
  const pick = (pairs: [string, string, string][]): Row[] =>
    pairs.filter(([, value, fallback]) => value !== fallback).map(([key, value]) => [key, value]);
  const candidates: Section[] = [
    {
      name: 'submitted_job_comments',
      rows: pick([
        [
          'new_job_instance_repo',
          submitted.newJobInstanceRepo,
          defaults.submittedJob.newJobInstanceRepo,
        ],
        ['build_on_arch', submitted.buildOnArch, defaults.submittedJob.buildOnArch],
        ['build_for_arch', submitted.buildForArch, defaults.submittedJob.buildForArch],
        ['jobdir', submitted.jobdir, defaults.submittedJob.jobdir],
        ['with_accelerator', submitted.withAccelerator, defaults.submittedJob.withAccelerator],
        [
          'awaits_release_hold_release_msg',
          submitted.awaitsReleaseHoldReleaseMsg,
          defaults.submittedJob.awaitsReleaseHoldReleaseMsg,
        ],
        [
          'awaits_release_delayed_begin_msg',
          submitted.awaitsReleaseDelayedBeginMsg,
          defaults.submittedJob.awaitsReleaseDelayedBeginMsg,
        ],
      ]),
    },
    {
      name: 'new_job_comments',
      rows: pick([['awaits_launch', templates.awaitsLaunch, defaults.awaitsLaunch]]),
    },
    {
      name: 'running_job_comments',
      rows: pick([['running_job', templates.runningJob, defaults.runningJob]]),
    },
    {
      name: 'finished_job_comments',
      rows: pick([
        ['job_result_unknown_fmt', templates.jobResultUnknownFmt, defaults.jobResultUnknownFmt],
        ['job_test_unknown_fmt', templates.jobTestUnknownFmt, defaults.jobTestUnknownFmt],
      ]),
    },
    {
      name: 'download_pr_comments',
      rows: pick(
        Object.entries(templates.downloadPr).map(([key, value]) => [
          key,
          value,
          defaults.downloadPr[key],
        ]),
      ),
    },
  ];
  return candidates.filter((section) => section.rows.length > 0);
}

function mapRows(key: string, map: Readonly<Record<string, string>>): Row[] {
  const entries = Object.entries(map);
  if (entries.length === 0) {
    return [[key, '(none)']];
  }
  return [[key, undefined], ...entries.map(([name, value]): Row => [`  ${name}`, value])];
}

/** `http://user:secret@proxy:3128` → `http://user:***@proxy:3128`, anywhere in the text. */
export function maskUrlPasswords(text: string): string {
  return text.replace(/([A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s/:@]*):[^\s/@]*@/g, '$1:***@');
}
