/**
 * The built bot (`node dist/main.js serve`) killed with SIGKILL in the middle of uploading an
 * artefact (its second multipart part is on the wire), then started again: the inbox hands the
 * unfinished delivery back to the deploy, which finishes the upload once; nothing claimed the
 * upload before it finished, and a later deploy with upload_policy `once` uploads nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JobStore } from '../../src/builds/job-store.js';
import { FakeGitHub } from '../fakes/fake-github.server.js';
import { botEnv, writeBotConfig } from '../support/bot-config.js';
import { describeExit, startServer, stopAllBots } from '../support/bot-process.js';
import { createTrackedJob, FIXTURE_DEFAULTS } from '../support/job-fixture.js';
import { generateAppKeys } from '../support/make-config.js';
import { labeledPullRequestPayload } from '../support/payloads.js';
import { S3_ENV, startS3Server, type S3Server } from '../support/s3-server.js';

const SECRET = 'deploy-crash-secret';
const { repo: REPO, prNumber: PR, appName: APP_NAME } = FIXTURE_DEFAULTS;
const NAME = 'eessi-2023.06-software-linux-x86_64-amd-zen2-1700009000.tar.gz';
/** Above the built-in uploader's 64 MiB part size: two parts. */
const SIZE = 70 * 1024 * 1024;

const root = mkdtempSync(join(tmpdir(), 'deploy-crash-e2e-'));
const keys = generateAppKeys();
let s3: S3Server;
let github: FakeGitHub;

beforeAll(async () => {
  s3 = await startS3Server();
  await s3.createBucket('staging');
  github = new FakeGitHub({ appId: 1, installationId: 2, publicKey: keys.publicKey });
  await github.start();
});

afterAll(async () => {
  await stopAllBots();
  await github.stop();
  await s3.stop();
  rmSync(root, { recursive: true, force: true });
});

function writeConfig(): string {
  return writeBotConfig({
    root,
    privateKey: keys.privateKey,
    appName: APP_NAME,
    installationId: 2,
    apiUrl: github.url,
    sections: {
      deploycfg: {
        endpoint_url: s3.url,
        bucket_name: 'staging',
        upload_policy: 'once',
        deploy_permission: 'alice',
        artefact_prefix: 'crash/${pull_request_number}',
      },
    },
  });
}

const env = (): NodeJS.ProcessEnv => botEnv(SECRET, S3_ENV);

async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  for (let waited = 0; waited < 60_000; waited += 200) {
    if (await check()) {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('a deploy killed mid-upload', () => {
  it('finishes after a restart: one upload, recorded once, never claimed early', async () => {
    const config = writeConfig();
    const jobsBaseDir = join(root, 'jobs');
    const comment = github.seedComment(REPO, PR, 'job 501 comment');
    const job = await createTrackedJob({
      jobIdsDir: join(root, 'job-ids'),
      jobsBaseDir,
      jobId: '501',
      commentId: comment.id,
      tarballs: [{ name: NAME, sizeBytes: SIZE }],
      resultFile: `[RESULT]\nstatus = SUCCESS\nartefacts =\n    ${NAME}\n`,
    });
    await new JobStore(join(root, 'job-ids')).finish('501');
    const uploadedTxt = join(jobsBaseDir, '2026.11', `pr_${PR}`, 'uploaded.txt');
    const rowsDir = join(job.jobDir, '_bot_job501.rows');
    const key = `crash/${PR}/${NAME}`;
    const completions = () =>
      s3.requests.filter(
        (r) => r.method === 'POST' && r.path.startsWith(`/staging/${key}?uploadId`),
      ).length;
    const payload = labeledPullRequestPayload({
      label: 'bot:deploy',
      sender: 'alice',
      repo: REPO,
      number: PR,
    });

    const first = await startServer({ config, env: env(), jobManager: false, label: 'serve#1' });
    const held = s3.holdNext((r) => r.method === 'PUT' && r.path.includes('partNumber=2'));
    expect(await first.deliver('pull_request', payload, SECRET, 'deploy-crash-1')).toBe(202);
    await held;

    // Part 2 is on the wire: nothing may claim the upload yet.
    expect(existsSync(uploadedTxt)).toBe(false);
    expect(
      existsSync(rowsDir) ? readdirSync(rowsDir).filter((n) => n.includes('deploy')) : [],
    ).toEqual([]);
    expect(github.comment(comment.id)?.body).not.toContain('uploaded');
    expect(describeExit(await first.kill('SIGKILL'))).toBe('signal SIGKILL');
    expect(completions()).toBe(0);

    const second = await startServer({ config, env: env(), jobManager: false, label: 'serve#2' });
    await until('the upload recorded after the restart', () =>
      (github.comment(comment.id)?.body ?? '').includes('|uploaded|'),
    );

    const object = await s3.object('staging', key);
    const expected = createHash('sha256').update(Buffer.alloc(SIZE)).digest('hex');
    expect(object?.body.length).toBe(SIZE);
    expect(object?.metadata.sha256).toBe(expected);
    expect(completions()).toBe(1);
    expect(readFileSync(uploadedTxt, 'utf8')).toBe(`501/${NAME}\n`);
    const body = github.comment(comment.id)!.body;
    expect(body.match(/\|uploaded\|/g)).toHaveLength(1);
    expect(body).not.toContain('not uploaded');

    // The label again: `once` uploads nothing more.
    expect(await second.deliver('pull_request', payload, SECRET, 'deploy-crash-2')).toBe(202);
    await until('the second deploy recorded', () =>
      (github.comment(comment.id)?.body ?? '').includes('|not uploaded|'),
    );
    expect(completions()).toBe(1);
    expect(readFileSync(uploadedTxt, 'utf8')).toBe(`501/${NAME}\n`);
    expect(github.comment(comment.id)!.body).toContain(
      `payload already uploaded for this PR as \`501/${NAME}\``,
    );
    expect(second.output()).not.toMatch(/ERROR/);
  }, 120_000);
});
