import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { AppConfig, ConfigGeneration, NodeType, RepoTargetsConfig } from './app-config.js';
import { detectGeneration, readArchTargetMap } from './architecture-targets.reader.js';
import { BUILDENV_REQUIRED, readBuildEnv } from './buildenv.reader.js';
import { unknownKeyWarnings } from './config-keys.js';
import { ConfigReadContext } from './config-section.reader.js';
import { ConfigError } from './config.errors.js';
import { GITHUB_REQUIRED, readGithub } from './github.reader.js';
import { readEventHandler } from './event-handler.reader.js';
import { JOB_MANAGER_REQUIRED, readJobManager } from './job-manager.reader.js';
import { readNodeTypes } from './node-types.reader.js';
import { readConfigParser } from './read-configparser.js';
import { readRepoTargets } from './repos-cfg.reader.js';
import { readBotControl, readCleanUp, readTemplates } from './templates.reader.js';

export { defaultJobName, DEFAULT_NO_BUILD_PERMISSION_COMMENT } from './buildenv.reader.js';
import { readDeployConfig } from './deploy-config.reader.js';

export interface LoadedConfig {
  /** Deep-frozen. */
  readonly config: AppConfig;
  /** Things worth telling the operator that do not stop the bot (typos, loose key permissions). */
  readonly warnings: readonly string[];
}

/**
 * Reads app.cfg (Python configparser format, as the upstream EESSI bot uses) into a typed, frozen
 * AppConfig. Both generations of the file are read: the seed format (`arch_target_map`) and
 * upstream v0.9's (`node_type_map`, repos.cfg, comment commands); which one a file is follows
 * from `[architecturetargets]`. Every problem in the file is collected and thrown as one
 * ConfigError; a missing file is reported on its own since nothing else can be checked.
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

  const generation = detectGeneration(context);
  const github = readGithub(context.section('github', GITHUB_REQUIRED));
  const botControl = readBotControl(context.section('bot_control', []), generation);
  const buildenv = readBuildEnv(
    context.section('buildenv', BUILDENV_REQUIRED),
    github.appName,
    generation,
  );
  const targets = readTargets(context, generation);
  const jobManager = readJobManager(context.section('job_manager', JOB_MANAGER_REQUIRED));
  const eventHandler = readEventHandler(context.section('event_handler', []), buildenv.jobsBaseDir);
  const templates = readTemplates(context, generation);
  const cleanUp = readCleanUp(context.section('clean_up', []));
  const deploy = readDeployConfig(context, text);

  if (context.problems.length > 0) {
    throw new ConfigError(context.problems, context.warnings);
  }
  const config: AppConfig = {
    configPath,
    github,
    buildenv,
    architectureTargets: { archTargetMap: targets.archTargetMap },
    jobManager,
    eventHandler,
    generation,
    botControl,
    nodeTypes: targets.nodeTypes,
    repoTargets: targets.repoTargets,
    templates,
    cleanUp,
    ...(deploy ? { deploy } : {}),
  };
  return { config: deepFreeze(config), warnings: Object.freeze([...context.warnings]) };
}

/**
 * What to build on: the seed format's arch_target_map, or (v0.9) the node types and the
 * repositories their repo_targets name.
 */
function readTargets(
  context: ConfigReadContext,
  generation: ConfigGeneration,
): {
  archTargetMap: Readonly<Record<string, string>>;
  nodeTypes: readonly NodeType[];
  repoTargets: RepoTargetsConfig;
} {
  const section = context.section('architecturetargets', []);
  const none = { archTargetMap: {}, nodeTypes: [], repoTargets: { repos: {} } };
  if (generation === 'seed') {
    if (!section.get('arch_target_map')) {
      return none;
    }
    return { ...none, archTargetMap: readArchTargetMap(section).archTargetMap };
  }
  const entry = section.get('node_type_map');
  let nodeTypes: NodeType[] = [];
  if (entry && entry.value === '') {
    section.problem('node_type_map', entry, 'is empty; describe the build node types in it');
  } else if (entry) {
    nodeTypes = readNodeTypes(section, entry);
  }
  const repoTargets = readRepoTargets(
    context,
    context.section('repo_targets', []),
    section,
    nodeTypes,
  );
  return { ...none, nodeTypes, repoTargets };
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
  if (error.code === 'EISDIR') {
    return `${shown}: is a directory, not a configuration file`;
  }
  return `${shown}: cannot read the configuration file (${error.code ?? error.message}); check its permissions`;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) {
      deepFreeze(child);
    }
  }
  return value;
}
