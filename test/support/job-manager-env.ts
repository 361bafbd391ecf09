import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppConfig } from '../../src/config/app-config.js';
import { removeTree } from './job-dir.js';
import { FIXTURE_DEFAULTS } from './job-fixture.js';
import { generateAppKeys, makeConfig, type AppKeys } from './make-config.js';

/**
 * What a job-manager test needs: fresh temporary directories, an App key pair for FakeGitHub and
 * an AppConfig (makeConfig) naming the fixture's app and job name and pointing at a GitHub URL.
 */
export interface JobManagerTestEnv {
  readonly root: string;
  readonly jobsBaseDir: string;
  readonly jobIdsDir: string;
  readonly publicKey: string;
  readonly privateKey: string;
  config(apiUrl: string, pollIntervalSeconds?: number): AppConfig;
  remove(): Promise<void>;
}

export const TEST_APP_ID = 4242;
export const TEST_INSTALLATION_ID = 777;

let keys: AppKeys | undefined;

/** One key pair per process: generating a 2048-bit RSA key takes a noticeable time. */
export function testAppKeys(): AppKeys {
  keys ??= generateAppKeys();
  return keys;
}

export async function createJobManagerTestEnv(): Promise<JobManagerTestEnv> {
  const root = await mkdtemp(join(tmpdir(), 'eessi-bot-job-manager-'));
  const jobsBaseDir = join(root, 'jobs');
  const jobIdsDir = join(root, 'job-ids');
  const { publicKey, privateKey } = testAppKeys();
  return {
    root,
    jobsBaseDir,
    jobIdsDir,
    publicKey,
    privateKey,
    remove: () => removeTree(root),
    config: (apiUrl, pollIntervalSeconds = 1) =>
      makeConfig({
        root,
        github: {
          appId: TEST_APP_ID,
          installationId: TEST_INSTALLATION_ID,
          appName: FIXTURE_DEFAULTS.appName,
          privateKey,
          apiUrl,
        },
        buildenv: { jobsBaseDir, jobName: FIXTURE_DEFAULTS.jobName },
        jobManager: { jobIdsDir, pollIntervalSeconds },
      }),
  };
}
