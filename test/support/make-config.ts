import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import type {
  AppConfig,
  ArchitectureTargetsConfig,
  BuildEnvConfig,
  EventHandlerConfig,
  GithubConfig,
  JobManagerConfig,
} from '../../src/config/app-config.js';
import {
  defaultJobName,
  DEFAULT_NO_BUILD_PERMISSION_COMMENT,
} from '../../src/config/load-config.js';
import {
  DEFAULT_BOT_CONTROL,
  DEFAULT_CLEAN_UP,
  DEFAULT_TEMPLATES,
} from '../../src/config/upstream-defaults.js';

/** An RSA key pair in the formats GitHub uses (PKCS#1 private key), for FakeGitHub and the client. */
export interface AppKeys {
  readonly privateKey: string;
  readonly publicKey: string;
}

export function generateAppKeys(): AppKeys {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  return { privateKey, publicKey };
}

export interface ConfigParts {
  /** Directory under which jobs_base_dir, job_ids_dir and state_dir are placed. */
  readonly root: string;
  readonly github?: Partial<GithubConfig>;
  readonly buildenv?: Partial<BuildEnvConfig>;
  readonly architectureTargets?: Partial<ArchitectureTargetsConfig>;
  readonly jobManager?: Partial<JobManagerConfig>;
  readonly eventHandler?: Partial<EventHandlerConfig>;
  /** Whole top-level parts (generation, nodeTypes, templates, deploy, …). */
  readonly rest?: Partial<
    Pick<
      AppConfig,
      'generation' | 'botControl' | 'nodeTypes' | 'repoTargets' | 'templates' | 'deploy' | 'cleanUp'
    >
  >;
}

/**
 * An AppConfig as loadConfig() would return it, for specs that vary a few keys (in the manner of
 * immich's mockEnvData(partial)). Nothing is read from disk; commands are not checked.
 */
export function makeConfig(parts: ConfigParts): AppConfig {
  const appName = parts.github?.appName ?? 'test-bot';
  const jobsBaseDir = parts.buildenv?.jobsBaseDir ?? join(parts.root, 'jobs');
  return Object.freeze({
    configPath: join(parts.root, 'app.cfg'),
    github: {
      appId: 1,
      appName,
      installationId: 2,
      privateKeyPath: join(parts.root, 'app.pem'),
      privateKey: '',
      apiUrl: 'http://127.0.0.1:9',
      checkRuns: false,
      ...parts.github,
    },
    buildenv: {
      buildJobScript: '/opt/bot/scripts/slurm/eessi-bot-build.slurm',
      cvmfsCustomizations: {},
      httpProxy: '',
      httpsProxy: '',
      jobsBaseDir,
      loadModules: '',
      localTmp: '/tmp/$USER/EESSI',
      slurmParams: '--hold',
      submitCommand: '/usr/bin/sbatch',
      buildPermission: [],
      noBuildPermissionComment: DEFAULT_NO_BUILD_PERMISSION_COMMENT,
      jobName: defaultJobName(appName),
      scheduler: 'slurm' as const,
      jobHandoverProtocol: 'hold_release' as const,
      jobDelayBeginFactor: 2,
      allowUpdateSubmitOpts: false,
      cancelOnPush: false,
      allowedExportVars: [],
      cloneGitRepoVia: 'https' as const,
      ...parts.buildenv,
    },
    architectureTargets: {
      archTargetMap: { 'linux/x86_64/generic': '--constraint shape=c4.2xlarge' },
      ...parts.architectureTargets,
    },
    jobManager: {
      jobIdsDir: join(parts.root, 'job_ids'),
      pollCommand: '/usr/bin/squeue',
      pollIntervalSeconds: 60,
      scontrolCommand: '/usr/bin/scontrol',
      scancelCommand: '/usr/bin/scancel',
      commandTimeoutSeconds: 60,
      ...parts.jobManager,
    },
    eventHandler: {
      stateDir: join(jobsBaseDir, '.eessi-bot-state'),
      // Off unless a test wants it: a pass would ask GitHub for the App's deliveries.
      redeliverIntervalSeconds: 0,
      statusBind: ['127.0.0.1'],
      ...parts.eventHandler,
    },
    generation: 'seed' as const,
    botControl: DEFAULT_BOT_CONTROL,
    nodeTypes: [],
    repoTargets: { repos: {} },
    templates: DEFAULT_TEMPLATES,
    cleanUp: DEFAULT_CLEAN_UP,
    ...parts.rest,
  });
}
