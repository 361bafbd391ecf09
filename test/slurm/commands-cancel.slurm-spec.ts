/**
 * `bot: cancel` on a real Slurm, through the built bot: `bot: build` submits a held job
 * (`sbatch --hold`, no job manager runs, so it stays held), `bot: cancel jobid:<N>` scancels it,
 * and a job of the same user that the bot did not submit, named in the same command, is left
 * alone. Needs `npm run build` and the local cluster of scripts/dev/slurm-local.sh (SLURM_CONF
 * set); this suite never starts or stops the cluster, and cancels only its own job name.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeGitHub, type FakeComment } from '../fakes/fake-github.server.js';
import { writeSlurmBotConfig } from '../support/bot-config.js';
import { startServer, stopAllBots } from '../support/bot-process.js';
import { createGitFixture, type GitFixture } from '../support/git-fixture.js';
import { generateAppKeys } from '../support/make-config.js';
import { fixturePullRequest, pullRequestCommentPayload } from '../support/payloads.js';
import {
  queue,
  requireSlurmCluster,
  sbatchHeld,
  scancelByName,
  showJob,
  SLURM_COMMANDS,
  waitUntil,
  type SlurmCluster,
} from '../support/slurm-cluster.js';

jest.setTimeout(180_000);

const SECRET = 'commands-cancel-secret';
const APP_NAME = 'slurm-commands';
const JOB_NAME = `bot-cancel-${process.pid}`;
const FOREIGN_NAME = `not-the-bot-${process.pid}`;
const REPO_ID = 'eessi.io-2023.06-software';

let cluster: SlurmCluster;
let fixture: GitFixture;
let github: FakeGitHub;
let root: string;
const keys = generateAppKeys();

beforeAll(async () => {
  cluster = await requireSlurmCluster();
  fixture = createGitFixture();
  github = new FakeGitHub({ appId: 1, installationId: 2, publicKey: keys.publicKey });
  await github.start();
  root = mkdtempSync(join(tmpdir(), 'eessi-bot-commands-slurm-'));
  github.seedPullRequest(
    fixture.repo,
    fixture.cleanPr,
    fixturePullRequest(fixture, fixture.cleanPr, fixture.headSha[fixture.cleanPr]),
  );
});

afterAll(async () => {
  await stopAllBots();
  await scancelByName(JOB_NAME);
  await scancelByName(FOREIGN_NAME);
  await github?.stop();
  fixture?.cleanup();
  if (root) {
    rmSync(root, { recursive: true, force: true });
  }
});

function writeConfig(): string {
  const script = join(root, 'job.sh');
  writeFileSync(script, '#!/bin/sh\necho this job is cancelled before it is released\n');
  chmodSync(script, 0o755);
  return writeSlurmBotConfig({
    root,
    privateKey: keys.privateKey,
    apiUrl: github.url,
    appName: APP_NAME,
    jobName: JOB_NAME,
    buildJobScript: script,
    repoIds: [REPO_ID],
    commands: SLURM_COMMANDS,
    pollIntervalSeconds: 60,
  });
}

async function reply(deliveryId: string): Promise<FakeComment> {
  const find = () =>
    github.comments().find((c) => c.body.includes(`<!-- bot:reply ${deliveryId} ${APP_NAME} -->`));
  await waitUntil(
    `the reply to ${deliveryId}`,
    () => ((find()?.history.length ?? 0) >= 2 ? true : undefined),
    {
      timeoutMs: 60_000,
    },
  );
  return find()!;
}

describe('bot: cancel on a real Slurm', () => {
  it('scancels the bot’s own held job of the PR and never touches a foreign job', async () => {
    const bot = await startServer({
      config: writeConfig(),
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        USER: process.env.USER,
        LANG: 'C.UTF-8',
        NO_COLOR: '1',
        SLURM_CONF: cluster.conf,
        GITHUB_APP_SECRET_TOKEN: SECRET,
        ...fixture.env,
      },
      jobManager: false,
    });
    const payload = (body: string) =>
      pullRequestCommentPayload({
        body,
        sender: 'alice',
        repo: fixture.repo,
        number: fixture.cleanPr,
      });

    const buildId = randomUUID();
    await bot.deliver(
      'issue_comment',
      payload('bot: build for:arch=x86_64/amd/zen4'),
      SECRET,
      buildId,
    );
    await reply(buildId);
    const [held] = await queue({ name: JOB_NAME });
    expect(held).toMatchObject({ state: 'PENDING', reason: 'JobHeldUser' });
    const foreign = await sbatchHeld({ jobName: FOREIGN_NAME, cwd: root, wrap: 'sleep 1' });

    const cancelId = randomUUID();
    await bot.deliver(
      'issue_comment',
      payload(`bot: cancel jobid:${held.id},${foreign}`),
      SECRET,
      cancelId,
    );
    const answer = await reply(cancelId);
    expect(answer.body).toContain(`- job \`${held.id}\`: cancelled`);
    expect(answer.body).toContain(
      `- job \`${foreign}\`: not a job of instance \`${APP_NAME}\` on this pull request; not touched`,
    );
    await waitUntil('the job cancelled in Slurm', async () => {
      const job = await showJob(held.id);
      return job === undefined || job.JobState === 'CANCELLED' ? true : undefined;
    });
    expect((await queue({ name: FOREIGN_NAME })).map((j) => j.id)).toEqual([foreign]);
    const jobComment = github
      .comments()
      .find((c) => c.body.includes(`<!-- bot:job ${held.id} ${APP_NAME} -->`))!;
    expect(jobComment.body).toMatch(
      /\|cancelled\|job cancelled by `alice` with the cancel command\|/,
    );
    expect(bot.output()).not.toMatch(/ERROR/);
  });
});
