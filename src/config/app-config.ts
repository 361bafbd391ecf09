/**
 * The typed, frozen view of app.cfg that the rest of the bot reads.
 * Produced only by loadConfig(); every path is absolute and already expanded.
 */
export interface GithubConfig {
  readonly appId: number;
  readonly appName: string;
  readonly installationId: number;
  readonly privateKeyPath: string;
  /** PEM text of the App's private key (never logged). */
  readonly privateKey: string;
  /** REST API base URL, e.g. https://api.github.com (env GITHUB_API_URL overrides). */
  readonly apiUrl: string;
  /** Webhook secret from env GITHUB_APP_SECRET_TOKEN; required to serve (never logged). */
  readonly webhookSecret?: string;
}

export interface BuildEnvConfig {
  readonly buildJobScript: string;
  /** `"/path/to/file": "line"` map from cvmfs_customizations (may be empty). */
  readonly cvmfsCustomizations: Readonly<Record<string, string>>;
  readonly httpProxy: string;
  readonly httpsProxy: string;
  readonly jobsBaseDir: string;
  readonly loadModules: string;
  /**
   * Scratch dir on the compute node: variables expanded at load time except `\$VAR`, which stays
   * `$VAR` for the job script to expand there; not made absolute.
   */
  readonly localTmp: string;
  /** Raw slurm_params string; split into words with splitWords() (no shell). */
  readonly slurmParams: string;
  readonly submitCommand: string;
  /** Logins allowed to trigger builds; empty = anyone (as upstream). */
  readonly buildPermission: readonly string[];
  /** Template with `{build_labeler}`. */
  readonly noBuildPermissionComment: string;
  /** Slurm --job-name of every job this bot instance submits (default derived from app_name). */
  readonly jobName: string;
  readonly scheduler: 'slurm' | 'local';
}

export interface ArchitectureTargetsConfig {
  /** target (e.g. "linux/x86_64/amd/zen2") → extra sbatch parameters (raw string). */
  readonly archTargetMap: Readonly<Record<string, string>>;
}

export interface JobManagerConfig {
  readonly jobIdsDir: string;
  readonly pollCommand: string;
  readonly pollIntervalSeconds: number;
  readonly scontrolCommand: string;
  /** scancel; default: `scancel` beside scontrol_command. */
  readonly scancelCommand: string;
  /** Timeout for every scheduler command, seconds (default 60). */
  readonly commandTimeoutSeconds: number;
  readonly logPath?: string;
}

export interface EventHandlerConfig {
  /** Inbox and other bot state; default `<jobs_base_dir>/.eessi-bot-state`. */
  readonly stateDir: string;
  readonly logPath?: string;
  readonly smeeUrl?: string;
}

export interface AppConfig {
  /** Absolute path of the app.cfg this came from (for messages). */
  readonly configPath: string;
  readonly github: GithubConfig;
  readonly buildenv: BuildEnvConfig;
  readonly architectureTargets: ArchitectureTargetsConfig;
  readonly jobManager: JobManagerConfig;
  readonly eventHandler: EventHandlerConfig;
}

/** Nest injection token for AppConfig. */
export const APP_CONFIG = Symbol('APP_CONFIG');
