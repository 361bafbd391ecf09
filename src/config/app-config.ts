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
  /** `check_runs`: one GitHub check run per job, kept in step with its comment (needs `checks: write`). */
  readonly checkRuns: boolean;
}

export interface BuildEnvConfig {
  /**
   * The job script: an absolute, readable file; or, with buildJobScriptRepo set, a relative path
   * inside that repository.
   */
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
  /**
   * Logins allowed to trigger builds. Empty: anyone with the seed format (generation 'seed'), as
   * the seed did; nobody with the v0.9 format, as v0.9 does (check-config warns).
   */
  readonly buildPermission: readonly string[];
  /** Template with `{build_labeler}`. */
  readonly noBuildPermissionComment: string;
  /** Slurm --job-name of every job this bot instance submits (default derived from app_name). */
  readonly jobName: string;
  readonly scheduler: 'slurm' | 'local';
  /** `build_job_script = path@repo`: the repository cloned into the job dir, path taken inside it. */
  readonly buildJobScriptRepo?: string;
  /** v0.9 [site_config] values handed to the job in cfg/job.cfg (only those set). */
  readonly sharedFsPath?: string;
  readonly buildLogsDir?: string;
  readonly containerCachedir?: string;
  readonly siteConfigScript?: string;
  /** v0.9: how a submitted job reaches the scheduler; seed configs always hold and release. */
  readonly jobHandoverProtocol: JobHandoverProtocol;
  /** delayed_begin: --begin=now+<factor × poll_interval> (default 2). */
  readonly jobDelayBeginFactor: number;
  /** Run the PR's bot/det_submit_opts as a separate, time-limited process (never imported). */
  readonly allowUpdateSubmitOpts: boolean;
  /** `cancel_on_push`: a new push to a PR cancels its jobs still held or pending from the old head. */
  readonly cancelOnPush: boolean;
  /** `NAME=value` pairs a build request may export to the job (cfg/export_vars.sh). */
  readonly allowedExportVars: readonly string[];
  readonly cloneGitRepoVia: 'https' | 'ssh';
}

export type JobHandoverProtocol = 'hold_release' | 'delayed_begin';

export interface ArchitectureTargetsConfig {
  /** target (e.g. "linux/x86_64/amd/zen2") → extra sbatch parameters (raw string). */
  readonly archTargetMap: Readonly<Record<string, string>>;
}

export interface JobManagerConfig {
  readonly jobIdsDir: string;
  readonly pollCommand: string;
  readonly pollIntervalSeconds: number;
  readonly scontrolCommand: string;
  /**
   * Arguments written after the executable in scontrol_command, put before every scontrol call's
   * own (e.g. `--clusters=%(cluster)s`). They may hold `%(jobid)s`, `%(cluster)s`,
   * `%(partition)s`, `%(state)s`, `%(reason)s`: fill each with fillPercentPlaceholders() from the
   * job's squeue row. Absent or empty: none.
   */
  readonly scontrolArgs?: readonly string[];
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
  /** Seconds between two missed-webhook catch-up passes (default 600); 0 turns catch-up off. */
  readonly redeliverIntervalSeconds: number;
  /**
   * Client addresses (IP or CIDR) that may read /status, /status.json and /metrics; default
   * 127.0.0.1 (loopback only). 0.0.0.0 or :: lets every client in.
   */
  readonly statusBind: readonly string[];
  /** HTTP basic auth for the same pages, when set. */
  readonly statusAuth?: StatusAuthConfig;
}

export interface StatusAuthConfig {
  readonly user: string;
  /** `scrypt:<salt>:<hash>` as printed by `eessi-bot hash-password` (see common/password-hash.ts). */
  readonly passwordHash: string;
}

/** Which generation of app.cfg (and so of the PR protocol) this is; follows from the file. */
export type ConfigGeneration = 'seed' | 'v09';

// incognito < minimal < basic < chatty (src/common/chat-level.ts, where the posting path reads it).
export { CHAT_LEVELS, type ChatLevel } from '../common/chat-level.js';
import type { ChatLevel } from '../common/chat-level.js';

export interface BotControlConfig {
  /** Logins allowed to send any command (v0.9 format: empty = nobody). */
  readonly commandPermission: readonly string[];
  /** Reply template with {app_name}, {comment_response}, {comment_result}. */
  readonly commandResponseFmt: string;
  readonly chatlevel: ChatLevel;
}

/** One entry of v0.9's node_type_map. */
export interface NodeType {
  readonly name: string;
  readonly os: string;
  /** CPU subdir, e.g. `x86_64/amd/zen4`. */
  readonly cpuSubdir: string;
  /** Raw sbatch parameters; split with splitWords() (no shell). */
  readonly slurmParams: string;
  /** Repo ids (sections of repos.cfg, or EESSI / EESSI-pilot) built on this node type. */
  readonly repoTargets: readonly string[];
  /** Accelerators of the node, e.g. `nvidia/cc80`; empty = CPU only (`"None"` or absent). */
  readonly accel: readonly string[];
}

/** One section of repos_cfg_dir/repos.cfg (ids without a section have only `id`). */
export interface RepoTarget {
  readonly id: string;
  readonly repoName?: string;
  readonly repoVersion?: string;
  readonly container?: string;
  /** config_map: file in repos_cfg_dir → the path it stands for in the build container. */
  readonly configMap: Readonly<Record<string, string>>;
}

export interface RepoTargetsConfig {
  /** Copied to the job's cfg/; holds repos.cfg. */
  readonly reposCfgDir?: string;
  readonly repos: Readonly<Record<string, RepoTarget>>;
}

/** [submitted_job_comments], placeholders filled by name (never evaluated). */
export interface SubmittedJobTemplates {
  readonly newJobInstanceRepo: string;
  readonly buildOnArch: string;
  readonly buildForArch: string;
  readonly jobdir: string;
  readonly withAccelerator: string;
  readonly awaitsReleaseHoldReleaseMsg: string;
  readonly awaitsReleaseDelayedBeginMsg: string;
}

export interface CommentTemplates {
  readonly submittedJob: SubmittedJobTemplates;
  /** [new_job_comments] awaits_launch ({extra_info}). */
  readonly awaitsLaunch: string;
  /** [running_job_comments] running_job ({job_id}). */
  readonly runningJob: string;
  /** [finished_job_comments] ({filename}). */
  readonly jobResultUnknownFmt: string;
  readonly jobTestUnknownFmt: string;
  /** [download_pr_comments] by key as in app.cfg (git_clone_failure, git_clone_tip, …). */
  readonly downloadPr: Readonly<Record<string, string>>;
}

export type UploadPolicy = 'all' | 'latest' | 'once' | 'none';

/** A [deploycfg] value given either once, or as a JSON map repo id → value. */
export type PerRepoValue =
  | { readonly kind: 'single'; readonly value: string }
  | { readonly kind: 'map'; readonly byRepo: Readonly<Record<string, string>> };

export interface SigningConfig {
  readonly script: string;
  readonly key: string;
  readonly containerRuntime?: string;
}

export interface DeployConfig {
  /** Label that triggers a deploy (default `bot:deploy`). */
  readonly label: string;
  readonly artefactUploadScript?: string;
  readonly endpointUrl?: string;
  readonly bucketName: PerRepoValue;
  readonly uploadPolicy: UploadPolicy;
  readonly deployPermission: readonly string[];
  /** Template with {deploy_labeler}. */
  readonly noDeployPermissionComment: string;
  readonly metadataPrefix: PerRepoValue;
  readonly artefactPrefix: PerRepoValue;
  /** repo id → how to sign its artefacts. */
  readonly signing: Readonly<Record<string, SigningConfig>>;
}

export interface CleanUpConfig {
  readonly trashBinDir?: string;
  /** Template with {job_dirs}, {trash_bin_dir}. */
  readonly movedJobDirsComment: string;
  /** `cancel_on_close`: closing or merging a PR cancels its unfinished jobs (scancel). */
  readonly cancelOnClose: boolean;
}

export interface AppConfig {
  /** Absolute path of the app.cfg this came from (for messages). */
  readonly configPath: string;
  readonly github: GithubConfig;
  readonly buildenv: BuildEnvConfig;
  readonly architectureTargets: ArchitectureTargetsConfig;
  readonly jobManager: JobManagerConfig;
  readonly eventHandler: EventHandlerConfig;
  /** seed: arch_target_map + label `bot:build`; v09: node_type_map + PR comment commands. */
  readonly generation: ConfigGeneration;
  readonly botControl: BotControlConfig;
  /** v09 only (empty for seed configs). */
  readonly nodeTypes: readonly NodeType[];
  readonly repoTargets: RepoTargetsConfig;
  /** Upstream's defaults where a section or key is absent. */
  readonly templates: CommentTemplates;
  /** Present when the file has a [deploycfg] section. */
  readonly deploy?: DeployConfig;
  readonly cleanUp: CleanUpConfig;
}

/** Nest injection token for AppConfig. */
export const APP_CONFIG = Symbol('APP_CONFIG');
