import { createPrivateKey } from 'node:crypto';
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { parsePasswordHash } from '../common/password-hash.js';
import type {
  AppConfig,
  ArchitectureTargetsConfig,
  BuildEnvConfig,
  EventHandlerConfig,
  GithubConfig,
  JobManagerConfig,
  StatusAuthConfig,
} from './app-config.js';
import { unknownKeyWarnings } from './config-keys.js';
import {
  ConfigReadContext,
  parseHttpUrl,
  type ConfigSectionReader,
} from './config-section.reader.js';
import { ConfigError } from './config.errors.js';
import { readConfigParser, type ConfigEntry } from './read-configparser.js';
import { DEFAULT_BOT_CONTROL, DEFAULT_CLEAN_UP, DEFAULT_TEMPLATES } from './upstream-defaults.js';

export interface LoadedConfig {
  /** Deep-frozen. */
  readonly config: AppConfig;
  /** Things worth telling the operator that do not stop the bot (typos, loose key permissions). */
  readonly warnings: readonly string[];
}

export const DEFAULT_API_URL = 'https://api.github.com';
export const DEFAULT_COMMAND_TIMEOUT_SECONDS = 60;
export const DEFAULT_REDELIVER_INTERVAL_SECONDS = 600;
export const DEFAULT_STATUS_BIND: readonly string[] = ['127.0.0.1'];
export const DEFAULT_NO_BUILD_PERMISSION_COMMENT =
  'Label `bot:build` has been set by user `{build_labeler}`, but this user is not allowed to trigger builds on this bot instance';
const STATE_DIR_NAME = '.eessi-bot-state';
const JOB_NAME_CHARS = /^[A-Za-z0-9._-]+$/;
const PEM_PRIVATE_KEY = /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----/;

/**
 * Reads app.cfg (Python configparser format, as the upstream EESSI bot uses) into a typed, frozen
 * AppConfig. Every problem in the file is collected and thrown as one ConfigError; a missing file is
 * reported on its own since nothing else can be checked.
 * Env overrides: GITHUB_API_URL (github.api_url), GITHUB_APP_SECRET_TOKEN (the webhook secret,
 * deliberately never read from the file).
 */
export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const configPath = resolve(path);
  let text: string;
  try {
    text = readFileSync(configPath, 'utf8');
  } catch (error) {
    throw new ConfigError([fileProblem(path, configPath, error as NodeJS.ErrnoException)]);
  }

  const parsed = readConfigParser(text, path);
  const context = new ConfigReadContext(parsed, path, dirname(configPath), env);
  context.problems.push(...parsed.errors);
  context.warnings.push(...parsed.warnings, ...unknownKeyWarnings(parsed, path));

  const github = readGithub(context.section('github', GITHUB_REQUIRED));
  const buildenv = readBuildEnv(context.section('buildenv', BUILDENV_REQUIRED), github.appName);
  const architectureTargets = readArchitectureTargets(
    context.section('architecturetargets', ['arch_target_map']),
  );
  const jobManager = readJobManager(context.section('job_manager', JOB_MANAGER_REQUIRED));
  const eventHandler = readEventHandler(context.section('event_handler', []), buildenv.jobsBaseDir);

  if (context.problems.length > 0) throw new ConfigError(context.problems, context.warnings);
  const config: AppConfig = {
    configPath,
    github,
    buildenv,
    architectureTargets,
    jobManager,
    eventHandler,
    generation: 'seed',
    botControl: DEFAULT_BOT_CONTROL,
    nodeTypes: [],
    repoTargets: { repos: {} },
    templates: DEFAULT_TEMPLATES,
    cleanUp: DEFAULT_CLEAN_UP,
  };
  return { config: deepFreeze(config), warnings: Object.freeze([...context.warnings]) };
}

/**
 * `serve` cannot verify webhook signatures without the secret, while check-config and job-manager
 * runs do not need it; so it is optional at load time and demanded here.
 */
export function requireWebhookSecret(config: AppConfig): string {
  const secret = config.github.webhookSecret;
  if (secret === undefined || secret === '') {
    throw new ConfigError([
      'environment variable GITHUB_APP_SECRET_TOKEN is not set: set it to the webhook secret of the GitHub App (Settings > Developer settings > GitHub Apps > your app > Webhook secret) before starting the server',
    ]);
  }
  return secret;
}

function fileProblem(shown: string, absolute: string, error: NodeJS.ErrnoException): string {
  if (error.code === 'ENOENT') {
    return `${shown}: configuration file not found (looked at ${absolute}); copy app.cfg.example to ${shown} and fill it in`;
  }
  if (error.code === 'EISDIR') return `${shown}: is a directory, not a configuration file`;
  return `${shown}: cannot read the configuration file (${error.code ?? error.message}); check its permissions`;
}

const GITHUB_REQUIRED = ['app_id', 'app_name', 'installation_id', 'private_key'];

function readGithub(section: ConfigSectionReader): GithubConfig {
  const appId = section.positiveInt('app_id', "the GitHub App's numeric App ID");
  const appNameEntry = section.required(
    'app_name',
    'a short name for this bot instance, shown in PR comments',
  );
  if (
    appNameEntry &&
    (/[<>]/.test(appNameEntry.value) || hasControlCharacter(appNameEntry.value))
  ) {
    // The name goes into the hidden `<!-- bot:job … -->` marker of every job comment.
    section.problem('app_name', appNameEntry, 'must be one line without < or > characters');
  }
  const installationId = section.positiveInt(
    'installation_id',
    'the numeric ID of the App installation on the repository',
  );
  const keyEntry = section.required(
    'private_key',
    'the path of the .pem private key generated for the GitHub App',
  );
  const privateKeyPath = keyEntry ? section.path('private_key', keyEntry) : undefined;
  const privateKey =
    keyEntry && privateKeyPath ? readPrivateKey(section, keyEntry, privateKeyPath) : undefined;

  const apiUrl = readApiUrl(section);
  const secret = section.env.GITHUB_APP_SECRET_TOKEN;
  return {
    appId: appId ?? 0,
    appName: appNameEntry?.value ?? '',
    installationId: installationId ?? 0,
    privateKeyPath: privateKeyPath ?? '',
    privateKey: privateKey ?? '',
    apiUrl,
    ...(secret !== undefined && secret !== '' ? { webhookSecret: secret } : {}),
  };
}

/** GITHUB_API_URL wins over the file, so tests and GHES setups can redirect without editing it. */
function readApiUrl(section: ConfigSectionReader): string {
  const fromEnv = section.env.GITHUB_API_URL;
  if (fromEnv !== undefined && fromEnv !== '') {
    const url = parseHttpUrl(fromEnv);
    if (url === undefined) {
      section.envProblem(
        'GITHUB_API_URL',
        `${JSON.stringify(fromEnv)} is not an http:// or https:// URL`,
      );
    }
    return url ?? DEFAULT_API_URL;
  }
  const entry = section.get('api_url');
  if (!entry || entry.value === '') return DEFAULT_API_URL;
  return section.httpUrl('api_url', entry) ?? DEFAULT_API_URL;
}

function readPrivateKey(
  section: ConfigSectionReader,
  entry: ConfigEntry,
  path: string,
): string | undefined {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    section.problem(
      'private_key',
      entry,
      code === 'ENOENT'
        ? `${path} does not exist; download a private key from the GitHub App's settings page and point private_key at it`
        : `cannot read ${path} (${code}); it must be readable by the user running the bot`,
    );
    return undefined;
  }
  // Never quote the file's content in a message: it may be a real key with a typo around it.
  if (!PEM_PRIVATE_KEY.test(pem)) {
    section.problem(
      'private_key',
      entry,
      `${path} does not contain a PEM private key (a '-----BEGIN RSA PRIVATE KEY-----' block as downloaded from the GitHub App's settings)`,
    );
    return undefined;
  }
  try {
    createPrivateKey(pem);
  } catch (error) {
    section.problem(
      'private_key',
      entry,
      `${path} holds a PEM block that is not a usable private key (${(error as Error).message}); download a new key`,
    );
    return undefined;
  }
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    section.warn(
      'private_key',
      entry,
      `${path} is accessible by group or others (mode ${mode.toString(8).padStart(4, '0')}); run chmod 600 ${path}`,
    );
  }
  return pem;
}

const BUILDENV_REQUIRED = ['build_job_script', 'jobs_base_dir', 'local_tmp', 'submit_command'];

function readBuildEnv(section: ConfigSectionReader, appName: string): BuildEnvConfig {
  const scriptEntry = section.required(
    'build_job_script',
    'the path of the job script submitted for every build',
  );
  let buildJobScript = scriptEntry ? section.path('build_job_script', scriptEntry) : undefined;
  if (scriptEntry && buildJobScript !== undefined) {
    const problem = readableFileProblem(buildJobScript);
    if (problem) {
      section.problem('build_job_script', scriptEntry, `${buildJobScript} ${problem}`);
      buildJobScript = undefined;
    }
  }

  const cvmfsEntry = section.get('cvmfs_customizations');
  const cvmfsCustomizations =
    cvmfsEntry && cvmfsEntry.value !== ''
      ? section.jsonStringMap(
          'cvmfs_customizations',
          cvmfsEntry,
          '{"/etc/cvmfs/default.local": "CVMFS_HTTP_PROXY=\\"http://proxy:3128\\""}',
        )
      : {};

  const baseEntry = section.required(
    'jobs_base_dir',
    'the directory under which job directories are created',
  );
  const jobsBaseDir = baseEntry ? section.path('jobs_base_dir', baseEntry) : undefined;

  const tmpEntry = section.required(
    'local_tmp',
    'the temporary directory on the build node, e.g. /tmp/\\$USER/EESSI',
  );
  // Not made absolute: it names a directory on the compute node, and `\$VAR` parts stay for the job.
  const localTmp = tmpEntry ? section.expandedOnly('local_tmp', tmpEntry) : undefined;

  const submitEntry = section.required(
    'submit_command',
    'the job submission command, e.g. /usr/bin/sbatch',
  );
  const submitCommand = submitEntry ? section.command('submit_command', submitEntry) : undefined;

  const jobNameEntry = section.get('job_name');
  let jobName = defaultJobName(appName);
  if (jobNameEntry && jobNameEntry.value !== '') {
    if (JOB_NAME_CHARS.test(jobNameEntry.value)) jobName = jobNameEntry.value;
    else {
      // squeue output is parsed by columns; a job name with spaces or '|' would break that.
      section.problem(
        'job_name',
        jobNameEntry,
        `${JSON.stringify(jobNameEntry.value)} may only contain letters, digits, '.', '_' and '-'`,
      );
    }
  }

  const schedulerEntry = section.get('scheduler');
  let scheduler: BuildEnvConfig['scheduler'] = 'slurm';
  if (schedulerEntry && schedulerEntry.value !== '') {
    const value = schedulerEntry.value.toLowerCase();
    if (value === 'slurm' || value === 'local') scheduler = value;
    else {
      section.problem(
        'scheduler',
        schedulerEntry,
        `${JSON.stringify(schedulerEntry.value)} is not a known scheduler; use 'slurm' or 'local'`,
      );
    }
  }

  return {
    buildJobScript: buildJobScript ?? '',
    cvmfsCustomizations: cvmfsCustomizations ?? {},
    httpProxy: section.string('http_proxy', ''),
    httpsProxy: section.string('https_proxy', ''),
    jobsBaseDir: jobsBaseDir ?? '',
    loadModules: section.string('load_modules', ''),
    localTmp: localTmp ?? '',
    slurmParams: section.string('slurm_params', ''),
    submitCommand: submitCommand ?? '',
    buildPermission: section
      .string('build_permission', '')
      .split(/\s+/)
      .filter((login) => login !== ''),
    noBuildPermissionComment:
      section.string('no_build_permission_comment', '') || DEFAULT_NO_BUILD_PERMISSION_COMMENT,
    jobName,
    scheduler,
    // Seed behaviour until the v0.9 keys are read (issue 12).
    jobHandoverProtocol: 'hold_release',
    jobDelayBeginFactor: 2,
    allowUpdateSubmitOpts: false,
    allowedExportVars: [],
    cloneGitRepoVia: 'https',
  };
}

/** `eessi-bot-<app_name>` reduced to characters Slurm job names and squeue output handle safely. */
export function defaultJobName(appName: string): string {
  const safe = appName.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '');
  return safe === '' ? 'eessi-bot' : `eessi-bot-${safe}`;
}

function readableFileProblem(path: string): string | undefined {
  try {
    if (!statSync(path).isFile()) return 'is not a regular file';
    accessSync(path, constants.R_OK);
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR'
      ? 'does not exist'
      : `cannot be read by this user (${code})`;
  }
}

const TARGET_SEGMENTS = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)+$/;

function readArchitectureTargets(section: ConfigSectionReader): ArchitectureTargetsConfig {
  const example = '{"linux/x86_64/generic": "--constraint shape=c4.2xlarge"}';
  const entry = section.required(
    'arch_target_map',
    `a JSON object mapping build targets to sbatch parameters, e.g. ${example}`,
  );
  const map = entry ? section.jsonStringMap('arch_target_map', entry, example) : undefined;
  if (!entry || !map) return { archTargetMap: {} };
  const targets = Object.keys(map);
  if (targets.length === 0) {
    section.problem('arch_target_map', entry, `has no targets; add at least one, e.g. ${example}`);
  }
  for (const target of targets) {
    // Targets become directory names under each job dir, so nothing may climb out of it.
    const segments = target.split('/');
    if (!TARGET_SEGMENTS.test(target) || segments.some((s) => s === '.' || s === '..')) {
      section.problem(
        'arch_target_map',
        entry,
        `target ${JSON.stringify(target)} must look like os/arch[/vendor/cpu] with only letters, digits, '.', '_' and '-' in each part`,
      );
    }
  }
  return { archTargetMap: map };
}

const JOB_MANAGER_REQUIRED = ['job_ids_dir', 'poll_command', 'poll_interval', 'scontrol_command'];

function readJobManager(section: ConfigSectionReader): JobManagerConfig {
  const idsEntry = section.required(
    'job_ids_dir',
    'the directory where the job manager tracks submitted jobs',
  );
  const jobIdsDir = idsEntry ? section.path('job_ids_dir', idsEntry) : undefined;
  const pollEntry = section.required(
    'poll_command',
    'the queue listing command, e.g. /usr/bin/squeue',
  );
  const pollCommand = pollEntry ? section.command('poll_command', pollEntry) : undefined;
  const pollIntervalSeconds = section.positiveInt(
    'poll_interval',
    'seconds between two polls of the queue',
  );
  const scontrolEntry = section.required(
    'scontrol_command',
    'the job control command, e.g. /usr/bin/scontrol',
  );
  const scontrolCommand = scontrolEntry
    ? section.command('scontrol_command', scontrolEntry)
    : undefined;

  const scancelEntry = section.get('scancel_command');
  // Not checked when defaulted: only a few actions cancel jobs, and a missing scancel must not
  // stop a bot that never needs it.
  const scancelCommand =
    scancelEntry && scancelEntry.value !== ''
      ? section.command('scancel_command', scancelEntry)
      : join(dirname(scontrolCommand ?? scontrolEntry?.value ?? 'scontrol'), 'scancel');

  const commandTimeoutSeconds = section.positiveInt(
    'command_timeout',
    'seconds before a scheduler command is killed',
    DEFAULT_COMMAND_TIMEOUT_SECONDS,
  );
  const logPath = optionalPath(section, 'log_path');

  return {
    jobIdsDir: jobIdsDir ?? '',
    pollCommand: pollCommand ?? '',
    pollIntervalSeconds: pollIntervalSeconds ?? 0,
    scontrolCommand: scontrolCommand ?? '',
    scancelCommand: scancelCommand ?? '',
    commandTimeoutSeconds: commandTimeoutSeconds ?? DEFAULT_COMMAND_TIMEOUT_SECONDS,
    ...(logPath !== undefined ? { logPath } : {}),
  };
}

function readEventHandler(section: ConfigSectionReader, jobsBaseDir: string): EventHandlerConfig {
  const stateDir = optionalPath(section, 'state_dir') ?? join(jobsBaseDir, STATE_DIR_NAME);
  const logPath = optionalPath(section, 'log_path');
  const smeeEntry = section.get('smee_url');
  const smeeUrl =
    smeeEntry && smeeEntry.value !== '' ? section.httpUrl('smee_url', smeeEntry) : undefined;
  const redeliverIntervalSeconds = readRedeliverInterval(section);
  const statusBind = readStatusBind(section);
  const statusAuth = readStatusAuth(section);
  return {
    stateDir,
    ...(logPath !== undefined ? { logPath } : {}),
    ...(smeeUrl !== undefined ? { smeeUrl } : {}),
    redeliverIntervalSeconds,
    statusBind,
    ...(statusAuth !== undefined ? { statusAuth } : {}),
  };
}

function readRedeliverInterval(section: ConfigSectionReader): number {
  const entry = section.get('redeliver_interval');
  if (!entry || entry.value === '') return DEFAULT_REDELIVER_INTERVAL_SECONDS;
  const value = /^[0-9]+$/.test(entry.value) ? Number(entry.value) : NaN;
  if (!Number.isSafeInteger(value)) {
    section.problem(
      'redeliver_interval',
      entry,
      `${JSON.stringify(entry.value)} is not a number of seconds (0 turns missed-webhook catch-up off)`,
    );
    return DEFAULT_REDELIVER_INTERVAL_SECONDS;
  }
  return value;
}

/** Addresses or CIDR ranges, separated by spaces or commas. */
function readStatusBind(section: ConfigSectionReader): readonly string[] {
  const entry = section.get('status_bind');
  if (!entry || entry.value.trim() === '') return DEFAULT_STATUS_BIND;
  const items = entry.value.split(/[\s,]+/).filter((item) => item !== '');
  for (const item of items) {
    if (!isAddressOrRange(item)) {
      section.problem(
        'status_bind',
        entry,
        `${JSON.stringify(item)} is not an IP address or CIDR range (e.g. 127.0.0.1, 10.0.0.0/8, 0.0.0.0 for every client)`,
      );
    }
  }
  return items;
}

function isAddressOrRange(text: string): boolean {
  const [address, prefix, ...rest] = text.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  const bits = /^[0-9]{1,3}$/.test(prefix) ? Number(prefix) : NaN;
  return bits >= 0 && bits <= (family === 4 ? 32 : 128);
}

function readStatusAuth(section: ConfigSectionReader): StatusAuthConfig | undefined {
  const entry = section.get('status_auth');
  if (!entry || entry.value === '') return undefined;
  const colon = entry.value.indexOf(':');
  const user = colon > 0 ? entry.value.slice(0, colon) : '';
  const passwordHash = colon > 0 ? entry.value.slice(colon + 1) : '';
  // Never quote the value: it is a password hash.
  const problem =
    user === '' || /\s/.test(user)
      ? 'expected USER:scrypt:<salt>:<hash> as printed by `eessi-bot hash-password USER`'
      : parsePasswordHash(passwordHash);
  if (typeof problem === 'string') {
    section.problem('status_auth', entry, problem);
    return undefined;
  }
  return { user, passwordHash };
}

function optionalPath(section: ConfigSectionReader, key: string): string | undefined {
  const entry = section.get(key);
  return entry && entry.value !== '' ? section.path(key, entry) : undefined;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

function hasControlCharacter(value: string): boolean {
  return [...value].some((c) => c.charCodeAt(0) < 0x20);
}
