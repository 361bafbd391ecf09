import { isAbsolute } from 'node:path';
import type { BuildEnvConfig, ConfigGeneration, JobHandoverProtocol } from './app-config.js';
import { hasControlCharacter, type ConfigSectionReader } from './config-section.reader.js';
import type { ConfigEntry } from './read-configparser.js';
import { requiredCommand, requiredPath } from './required-entries.js';
import { readableFileProblem } from './readable-file.js';
import { TEMPLATE_PLACEHOLDERS } from './template-placeholders.js';

/** Reads [buildenv]: where and how jobs are prepared and submitted. */

export const BUILDENV_REQUIRED = [
  'build_job_script',
  'jobs_base_dir',
  'local_tmp',
  'submit_command',
];
export const DEFAULT_NO_BUILD_PERMISSION_COMMENT =
  'Label `bot:build` has been set by user `{build_labeler}`, but this user is not allowed to trigger builds on this bot instance';
const DEFAULT_JOB_DELAY_BEGIN_FACTOR = 2;
const JOB_HANDOVER_PROTOCOLS: readonly JobHandoverProtocol[] = ['hold_release', 'delayed_begin'];
const JOB_NAME_CHARS = /^[A-Za-z0-9._-]+$/;
const EXPORT_VAR = /^[A-Za-z_][A-Za-z0-9_]*=/;
// What `git clone` accepts as a repository: a URL, scp-like `user@host:path`, or a local path.
const GIT_REPOSITORY = /^(?:(?:https?|ssh|git|file):\/\/\S+|[\w.-]+@[\w.-]+:\S+|\/\S*)$/;

export function readBuildEnv(
  section: ConfigSectionReader,
  appName: string,
  generation: ConfigGeneration,
): BuildEnvConfig {
  const script = readBuildJobScript(section, generation);

  const cvmfsEntry = section.get('cvmfs_customizations');
  const cvmfsCustomizations =
    cvmfsEntry && cvmfsEntry.value !== ''
      ? section.jsonStringMap(
          'cvmfs_customizations',
          cvmfsEntry,
          '{"/etc/cvmfs/default.local": "CVMFS_HTTP_PROXY=\\"http://proxy:3128\\""}',
        )
      : {};

  const jobsBaseDir = requiredPath(
    section,
    'jobs_base_dir',
    'the directory under which job directories are created',
  );

  const tmpEntry = section.required(
    'local_tmp',
    'the temporary directory on the build node, e.g. /tmp/\\$USER/EESSI',
  );
  // Not made absolute: it names a directory on the compute node, and `\$VAR` parts stay for the job.
  const localTmp = tmpEntry ? section.expandedOnly('local_tmp', tmpEntry) : undefined;

  const submitCommand = requiredCommand(
    section,
    'submit_command',
    'the job submission command, e.g. /usr/bin/sbatch',
  );

  const buildPermission = section.logins(
    'build_permission',
    generation === 'v09' ? 'start builds' : undefined,
  );

  // Paths on the compute node, handed to the job in cfg/job.cfg: expanded like local_tmp.
  const sharedFsPath = section.optionalExpanded('shared_fs_path');
  const buildLogsDir = section.optionalExpanded('build_logs_dir');
  const containerCachedir = section.optionalExpanded('container_cachedir');
  const siteConfigScript = section.optionalExpanded('site_config_script');

  return {
    buildJobScript: script.path ?? '',
    ...(script.repo !== undefined ? { buildJobScriptRepo: script.repo } : {}),
    cvmfsCustomizations: cvmfsCustomizations ?? {},
    httpProxy: section.string('http_proxy', ''),
    httpsProxy: section.string('https_proxy', ''),
    jobsBaseDir: jobsBaseDir ?? '',
    loadModules: section.string('load_modules', ''),
    localTmp: localTmp ?? '',
    slurmParams: section.string('slurm_params', ''),
    submitCommand: submitCommand ?? '',
    buildPermission,
    noBuildPermissionComment: section.template(
      'no_build_permission_comment',
      TEMPLATE_PLACEHOLDERS.buildenv.no_build_permission_comment,
      DEFAULT_NO_BUILD_PERMISSION_COMMENT,
    ),
    jobName: readJobName(section, appName),
    scheduler: readScheduler(section),
    ...(sharedFsPath !== undefined ? { sharedFsPath } : {}),
    ...(buildLogsDir !== undefined ? { buildLogsDir } : {}),
    ...(containerCachedir !== undefined ? { containerCachedir } : {}),
    ...(siteConfigScript !== undefined ? { siteConfigScript } : {}),
    jobHandoverProtocol: readHandoverProtocol(section, generation),
    jobDelayBeginFactor: section.positiveNumber(
      'job_delay_begin_factor',
      'delayed_begin starts a job after this many poll intervals',
      DEFAULT_JOB_DELAY_BEGIN_FACTOR,
    ),
    allowUpdateSubmitOpts: section.boolean('allow_update_submit_opts', false),
    cancelOnPush: section.boolean('cancel_on_push', false),
    allowedExportVars: readAllowedExportVars(section),
    cloneGitRepoVia:
      section.choice('clone_git_repo_via', ['https', 'ssh'] as const, 'how to clone', 'https') ??
      'https',
  };
}

/**
 * `build_job_script` is a local file, or (v0.9 format) `path@git-repo`: the repository is cloned
 * into each job dir and the script taken from `path` inside it. An existing local file whose name
 * contains `@` stays a local file.
 */
function readBuildJobScript(
  section: ConfigSectionReader,
  generation: ConfigGeneration,
): { path?: string; repo?: string } {
  const entry = section.required(
    'build_job_script',
    'the path of the job script submitted for every build (or path@git-repo)',
  );
  if (!entry) {
    return {};
  }
  const local = section.path('build_job_script', entry);
  if (local === undefined) {
    return {};
  }
  const problem = readableFileProblem(local);
  if (problem === undefined) {
    return { path: local };
  }
  if (generation === 'v09' && entry.value.includes('@')) {
    return readRemoteScript(section, entry);
  }
  section.problem('build_job_script', entry, `${local} ${problem}`);
  return {};
}

function readRemoteScript(
  section: ConfigSectionReader,
  entry: ConfigEntry,
): { path?: string; repo?: string } {
  const at = entry.value.indexOf('@');
  const path = entry.value.slice(0, at);
  const repo = section.expandedOnly('build_job_script', {
    ...entry,
    value: entry.value.slice(at + 1),
  });
  const form = '(path@git-repo: the job script at path inside that repository)';
  let ok = repo !== undefined;
  if (path === '' || isAbsolute(path) || path.split('/').some((part) => part === '..')) {
    section.problem(
      'build_job_script',
      entry,
      `${JSON.stringify(path)} must be a relative path inside the repository ${form}`,
    );
    ok = false;
  }
  if (repo !== undefined && (repo.startsWith('-') || !GIT_REPOSITORY.test(repo))) {
    section.problem(
      'build_job_script',
      entry,
      `${JSON.stringify(repo)} is neither an existing file nor a git repository URL ${form}`,
    );
    ok = false;
  }
  return ok ? { path, repo } : {};
}

function readHandoverProtocol(
  section: ConfigSectionReader,
  generation: ConfigGeneration,
): JobHandoverProtocol {
  const meaning = 'how the job manager takes over a submitted job: hold_release or delayed_begin';
  if (generation === 'v09') {
    return (
      section.choice('job_handover_protocol', JOB_HANDOVER_PROTOCOLS, meaning) ?? 'hold_release'
    );
  }
  const chosen = section.choice(
    'job_handover_protocol',
    JOB_HANDOVER_PROTOCOLS,
    meaning,
    'hold_release',
  );
  if (chosen === 'delayed_begin') {
    section.warn(
      'job_handover_protocol',
      section.get('job_handover_protocol'),
      'delayed_begin applies only with node_type_map (v0.9 format); with arch_target_map jobs are held and released',
    );
  }
  return 'hold_release';
}

function readAllowedExportVars(section: ConfigSectionReader): string[] {
  const entry = section.get('allowed_exportvars');
  if (!entry || entry.value === '') {
    return [];
  }
  const example = '["SKIP_TESTS=yes", "SKIP_TESTS=no"]';
  const parsed = section.json('allowed_exportvars', entry, example);
  if (parsed === undefined) {
    return [];
  }
  if (!Array.isArray(parsed)) {
    section.problem(
      'allowed_exportvars',
      entry,
      `must be a JSON list of "NAME=value" strings, e.g. ${example}`,
    );
    return [];
  }
  const allowed: string[] = [];
  for (const item of parsed as unknown[]) {
    const at = entry.value.indexOf(JSON.stringify(item));
    const line = at === -1 ? entry.line : section.positionOf(entry, at).line;
    if (typeof item !== 'string' || !EXPORT_VAR.test(item)) {
      section.problemAtLine(
        'allowed_exportvars',
        line,
        `${JSON.stringify(item)} is not a "NAME=value" string (NAME: letters, digits and _, not starting with a digit)`,
      );
    } else if (hasControlCharacter(item)) {
      section.problemAtLine(
        'allowed_exportvars',
        line,
        `${JSON.stringify(item)} contains a line break or control character`,
      );
    } else {
      allowed.push(item);
    }
  }
  return allowed;
}

function readJobName(section: ConfigSectionReader, appName: string): string {
  const entry = section.get('job_name');
  if (!entry || entry.value === '') {
    return defaultJobName(appName);
  }
  if (JOB_NAME_CHARS.test(entry.value)) {
    return entry.value;
  }
  // squeue output is parsed by columns; a job name with spaces or '|' would break that.
  section.problem(
    'job_name',
    entry,
    `${JSON.stringify(entry.value)} may only contain letters, digits, '.', '_' and '-'`,
  );
  return defaultJobName(appName);
}

function readScheduler(section: ConfigSectionReader): BuildEnvConfig['scheduler'] {
  const entry = section.get('scheduler');
  if (!entry || entry.value === '') {
    return 'slurm';
  }
  const value = entry.value.toLowerCase();
  if (value === 'slurm' || value === 'local') {
    return value;
  }
  section.problem(
    'scheduler',
    entry,
    `${JSON.stringify(entry.value)} is not a known scheduler; use 'slurm' or 'local'`,
  );
  return 'slurm';
}

/** `eessi-bot-<app_name>` reduced to characters Slurm job names and squeue output handle safely. */
export function defaultJobName(appName: string): string {
  const safe = appName.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '');
  return safe === '' ? 'eessi-bot' : `eessi-bot-${safe}`;
}
