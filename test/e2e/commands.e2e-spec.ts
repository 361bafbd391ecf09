/**
 * PR comment commands through the built bot (`node dist/main.js serve`): signed `issue_comment`
 * deliveries shaped like GitHub's, FakeGitHub over HTTP, real git, the local executor as the
 * scheduler (jobs stay held: no job manager runs). Each command, several in one comment, edited
 * and deleted comments, a [bot] sender, a refused sender, a malformed payload, two instances with
 * different app_name on one PR, and kill -9 at both ends of the work between the first reply and
 * its edit.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeGitHub, type FakeComment } from '../fakes/fake-github.server.js';
import { botEnv, writeBotConfig } from '../support/bot-config.js';
import { startServer, stopAllBots, type BotServer } from '../support/bot-process.js';
import { createGitFixture, type GitFixture } from '../support/git-fixture.js';
import { generateAppKeys, type AppKeys } from '../support/make-config.js';
import { fixturePullRequest, pullRequestCommentPayload } from '../support/payloads.js';

jest.setTimeout(120_000);

const SECRET = 'commands-e2e-secret';
const REPO_ID = 'eessi.io-2023.06-software';
const ZEN4 = 'x86_64/amd/zen4';
const GRACE = 'aarch64/nvidia/grace';

let fixture: GitFixture;
let keys: AppKeys;
let github: FakeGitHub;
let root: string;

beforeAll(async () => {
  fixture = createGitFixture();
  keys = generateAppKeys();
  github = new FakeGitHub({ appId: 1, installationId: 2, publicKey: keys.publicKey });
  await github.start();
  root = mkdtempSync(join(tmpdir(), 'eessi-bot-commands-e2e-'));
});

let prs = 10;
/** A fresh pull request (merges cleanly) for each test, so comment counts are the test's own. */
function newPullRequest(): number {
  const pr = ++prs;
  const head = fixture.addPullRequest(pr, { [`easystacks/pr-${pr}.yml`]: `pr: ${pr}\n` });
  github.seedPullRequest(fixture.repo, pr, fixturePullRequest(fixture, pr, head));
  return pr;
}

afterEach(async () => {
  await stopAllBots();
});

afterAll(async () => {
  await github.stop();
  fixture.cleanup();
  rmSync(root, { recursive: true, force: true });
});

interface Instance {
  readonly name: string;
  readonly dir: string;
  readonly config: string;
  readonly jobIdsDir: string;
}

/** A v0.9-format app.cfg for instance `name`, building on the given node types. */
function instance(name: string, nodes: Record<string, string>, chatlevel = 'basic'): Instance {
  const dir = mkdtempSync(join(root, `${name}-`));
  const script = join(dir, 'job.sh');
  writeFileSync(script, '#!/bin/sh\necho never released in these tests\n');
  chmodSync(script, 0o755);
  const config = writeBotConfig({
    root: dir,
    privateKey: keys.privateKey,
    appName: name,
    installationId: 2,
    apiUrl: github.url,
    buildJobScript: script,
    buildenv: { job_handover_protocol: 'hold_release', build_permission: 'alice' },
    nodeTypeMap: Object.fromEntries(
      Object.entries(nodes).map(([node, cpu]) => [
        node,
        { os: 'linux', cpu_subdir: cpu, slurm_params: '', repo_targets: [REPO_ID] },
      ]),
    ),
    repos: { [REPO_ID]: { repo_name: 'software.eessi.io', repo_version: '2023.06' } },
    sections: { bot_control: { command_permission: 'alice bob', chatlevel } },
  });
  return { name, dir, config, jobIdsDir: join(dir, 'job-ids') };
}

function start(inst: Instance, label = inst.name): Promise<BotServer> {
  return startServer({
    config: inst.config,
    env: botEnv(SECRET, fixture.env),
    jobManager: false,
    label,
  });
}

function comment(
  pr: number,
  body: string,
  opts: { sender?: string; action?: 'created' | 'edited' | 'deleted' } = {},
) {
  return pullRequestCommentPayload({
    body,
    sender: opts.sender ?? 'alice',
    action: opts.action,
    repo: fixture.repo,
    number: pr,
    commentId: Math.floor(Math.random() * 1e9) + 1,
  });
}

async function until(what: string, check: () => boolean, timeoutMs = 60_000): Promise<void> {
  for (const started = Date.now(); Date.now() - started < timeoutMs;) {
    if (check()) {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The reply of one delivery (found by its marker), once it has been edited with the results. */
async function finalReply(deliveryId: string, app: string): Promise<FakeComment> {
  const find = () =>
    github.comments().find((c) => c.body.includes(`<!-- bot:reply ${deliveryId} ${app} -->`));
  await until(`the reply to ${deliveryId}`, () => (find()?.history.length ?? 0) >= 2);
  return find()!;
}

function submitted(inst: Instance): string[] {
  const dir = join(inst.jobIdsDir, 'submitted');
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

function repliesTo(deliveryId: string): FakeComment[] {
  return github.comments().filter((c) => c.body.includes(`<!-- bot:reply ${deliveryId} `));
}

describe('commands through the built bot', () => {
  it('answers several commands of one comment in one reply, then status and cancel', async () => {
    const siteA = instance('site-a', { zen4: ZEN4 });
    const pr = newPullRequest();
    const bot = await start(siteA);
    const id = randomUUID();
    const body = [
      'Trying the bot:',
      'bot: help',
      'bot: show_config',
      `bot: build for:arch=${ZEN4}`,
      'bot: status',
      'bot: frobnicate',
    ].join('\r\n');
    expect(await bot.deliver('issue_comment', comment(pr, body), SECRET, id)).toBe(202);
    const reply = await finalReply(id, 'site-a');
    expect(repliesTo(id)).toHaveLength(1);
    expect(reply.history).toHaveLength(2);
    expect(reply.history[0]).toContain(
      '- received `bot: build for:arch=x86_64/amd/zen4` from `alice`',
    );
    expect(reply.history[0]).not.toContain('submitted');
    const [jobId] = submitted(siteA);
    expect(submitted(siteA)).toHaveLength(1);
    expect(reply.body).toContain('**How to send commands to bot instance `site-a`**');
    expect(reply.body).toContain(
      '  - Node type `zen4`:\n    - OS: `linux`\n    - CPU subdir: `x86_64/amd/zen4`',
    );
    expect(reply.body).toMatch(
      new RegExp(
        `submitted one job:\\n  - job \\[\`${jobId}\`\\]\\(https://github.com/${fixture.repo}/pull/${pr}#issuecomment-\\d+\\) on \`site-a\`, node type \`zen4\``,
      ),
    );
    // status runs after build in the same comment: it sees the job
    expect(reply.body).toMatch(
      new RegExp(`\\|x86_64/amd/zen4\\|x86_64/amd/zen4\\|${REPO_ID}\\|\\[${jobId}\\]\\(`),
    );
    expect(reply.body).toContain(
      '- `bot: frobnicate`: `frobnicate` is not a command; `bot: help` lists the commands',
    );

    // status last_build with a filter, through the comments' pages
    for (let i = 0; i < 120; i++) {
      github.seedComment(fixture.repo, pr, `filler ${i}`, 'someone');
    }
    const statusId = randomUUID();
    await bot.deliver(
      'issue_comment',
      comment(pr, `bot: status last_build repo:2023`),
      SECRET,
      statusId,
    );
    const status = await finalReply(statusId, 'site-a');
    expect(status.body).toContain(
      'newest job per architecture and repository of instance `site-a`',
    );
    expect(status.body).toMatch(
      new RegExp(`\\[${jobId}\\]\\(https://github.com/[^)]+#issuecomment-\\d+\\)\\|submitted\\|`),
    );
    expect(
      github.requests.filter(
        (r) =>
          r.method === 'GET' && /issues\/\d+\/comments$/.test(r.path) && r.query.includes('page=2'),
      ).length,
    ).toBeGreaterThan(0);

    // cancel by someone else: refused; by the requester: the held job is cancelled
    const refusedId = randomUUID();
    await bot.deliver(
      'issue_comment',
      comment(pr, `bot: cancel jobid:${jobId}`, { sender: 'bob' }),
      SECRET,
      refusedId,
    );
    expect((await finalReply(refusedId, 'site-a')).body).toContain(
      `\`bob\` may not cancel it (its requester \`alice\``,
    );
    const cancelId = randomUUID();
    await bot.deliver(
      'issue_comment',
      comment(pr, `bot: cancel jobid:${jobId},4242424`),
      SECRET,
      cancelId,
    );
    const cancelled = await finalReply(cancelId, 'site-a');
    expect(cancelled.body).toContain(`- job \`${jobId}\`: cancelled`);
    expect(cancelled.body).toContain(
      '- job `4242424`: not a job of instance `site-a` on this pull request; not touched',
    );
    const jobComment = github
      .comments()
      .find((c) => c.body.includes(`<!-- bot:job ${jobId} site-a -->`))!;
    expect(jobComment.body).toMatch(
      /\|cancelled\|job cancelled by `alice` with the cancel command\|/,
    );
    expect(bot.output()).not.toMatch(/ERROR/);
  });

  it('ignores edited and deleted comments, [bot] senders and malformed payloads; refuses strangers once', async () => {
    const siteA = instance('site-a', { zen4: ZEN4 });
    const pr = newPullRequest();
    const bot = await start(siteA);
    const onPr = () => github.comments(fixture.repo, pr);
    expect(
      await bot.deliver('issue_comment', comment(pr, 'bot: help', { action: 'edited' }), SECRET),
    ).toBe(202);
    expect(
      await bot.deliver('issue_comment', comment(pr, 'bot: help', { action: 'deleted' }), SECRET),
    ).toBe(202);
    expect(
      await bot.deliver(
        'issue_comment',
        comment(pr, `bot: build for:arch=${ZEN4}`, { sender: 'site-b[bot]' }),
        SECRET,
      ),
    ).toBe(202);
    const malformed = comment(pr, 'bot: help');
    malformed.comment.body = null;
    expect(await bot.deliver('issue_comment', malformed, SECRET)).toBe(202);
    await bot.waitForLine(/comment\.body: expected a string, got null/);
    await bot.waitForLine(/edited: commands are read from new comments only/);
    await bot.waitForLine(/deleted: commands are read from new comments only/);
    await bot.waitForLine(/written by a bot \(author site-b\[bot\]\): not read/);

    const refusedId = randomUUID();
    await bot.deliver(
      'issue_comment',
      comment(pr, `bot: build for:arch=${ZEN4}`, { sender: 'mallory' }),
      SECRET,
      refusedId,
    );
    // GitHub redelivers it by hand: still one reply (the inbox knows the id)
    expect(
      await bot.deliver(
        'issue_comment',
        comment(pr, `bot: build for:arch=${ZEN4}`, { sender: 'mallory' }),
        SECRET,
        refusedId,
      ),
    ).toBe(200);
    await until('the refusal', () => repliesTo(refusedId).length === 1);
    expect(repliesTo(refusedId)[0].body).toContain(
      '- account `mallory` has no permission to send commands on this instance',
    );
    expect(onPr()).toHaveLength(1);
    expect(submitted(siteA)).toEqual([]);
    expect(existsSync(join(siteA.dir, 'jobs'))).toBe(false);
    // the bot still serves
    const helpId = randomUUID();
    await bot.deliver('issue_comment', comment(pr, 'bot: help'), SECRET, helpId);
    await finalReply(helpId, 'site-a');
    expect(bot.output()).not.toMatch(/ERROR/);
  });

  it('two instances on one PR each build only what is theirs', async () => {
    const siteA = instance('site-a', { zen4: ZEN4 });
    const siteB = instance('site-b', { grace: GRACE });
    const pr = newPullRequest();
    const [a, b] = await Promise.all([start(siteA), start(siteB)]);
    const body = [
      `bot: build for:arch=${ZEN4} inst:site-a`,
      `bot: build for:arch=${GRACE} inst:site-b`,
      'bot: help inst:^site-c$',
    ].join('\n');
    const [idA, idB] = [randomUUID(), randomUUID()];
    // GitHub sends each App its own delivery of the same comment.
    await Promise.all([
      a.deliver('issue_comment', comment(pr, body), SECRET, idA),
      b.deliver('issue_comment', comment(pr, body), SECRET, idB),
    ]);
    const [replyA, replyB] = await Promise.all([
      finalReply(idA, 'site-a'),
      finalReply(idB, 'site-b'),
    ]);
    expect(submitted(siteA)).toHaveLength(1);
    expect(submitted(siteB)).toHaveLength(1);
    expect(replyA.body).toContain(
      '`bot: build for:arch=x86_64/amd/zen4 inst:site-a`: submitted one job:',
    );
    expect(replyA.body).not.toContain('aarch64');
    expect(replyB.body).toContain(
      '`bot: build for:arch=aarch64/nvidia/grace inst:site-b`: submitted one job:',
    );
    expect(replyB.body).not.toContain('zen4');
    for (const reply of [replyA, replyB]) {
      expect(reply.body).not.toContain('site-c');
    }
    const jobComments = (app: string) =>
      github
        .comments(fixture.repo, pr)
        .filter((c) => c.body.includes(` ${app} -->`) && c.body.includes('<!-- bot:job '));
    expect(jobComments('site-a')).toHaveLength(1);
    expect(jobComments('site-b')).toHaveLength(1);
  });
});

describe('kill -9 between the reply and its edit', () => {
  it.each([
    ['before the submission (reading the PR)', { method: 'GET', path: /\/pulls\/\d+$/ }],
    [
      'after the submission (editing the reply)',
      { method: 'PATCH', path: /\/issues\/comments\/\d+$/ },
    ],
  ])('%s: after the restart, one reply and the job submitted once', async (_when, hold) => {
    const siteA = instance('site-a', { zen4: ZEN4 });
    const pr = newPullRequest();
    const first = await start(siteA, 'serve#1');
    const id = randomUUID();
    const held = github.holdNext(hold);
    await first.deliver('issue_comment', comment(pr, `bot: build for:arch=${ZEN4}`), SECRET, id);
    await held.reached;
    expect(repliesTo(id)).toHaveLength(1);
    await first.kill('SIGKILL');
    held.release();
    const jobsBefore = submitted(siteA).length;
    const second = await start(siteA, 'serve#2');
    const reply = await finalReply(id, 'site-a');
    expect(repliesTo(id)).toHaveLength(1);
    expect(submitted(siteA)).toHaveLength(1);
    expect(jobsBefore).toBe(hold.method === 'GET' ? 0 : 1);
    expect(reply.body).toContain('submitted one job:');
    expect(
      github.comments(fixture.repo, pr).filter((c) => c.body.includes('<!-- bot:job ')),
    ).toHaveLength(1);
    expect(second.output()).not.toMatch(/ERROR/);
  });
});
