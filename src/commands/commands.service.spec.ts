import { githubAppSettingsOf } from '../app-options.js';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FAST_GITHUB_CLIENT_OPTIONS, FakeGitHub } from '../../test/fakes/fake-github.server.js';
import { FakeSlurm } from '../../test/fakes/fake-slurm.js';
import { createGitFixture, type GitFixture } from '../../test/support/git-fixture.js';
import { generateAppKeys, makeConfig, type AppKeys } from '../../test/support/make-config.js';
import {
  fixturePullRequest,
  labeledPullRequestPayload,
  pullRequestCommentPayload,
  type Json,
} from '../../test/support/payloads.js';
import { cleanupAfterEach } from '../../test/support/test-kit.js';
import { InvalidDeliveryError } from '../builds/build-plan.js';
import type { AppConfig, ChatLevel, NodeType } from '../config/app-config.js';
import { ConfigModule } from '../config/config.module.js';
import { DeliveryProgressStore } from '../common/delivery-progress.js';
import { GITHUB_CLIENT_OPTIONS } from '../github/github.client.js';
import { GitHubModule } from '../github/github.module.js';
import { SLURM } from '../slurm/slurm.tokens.js';
import { containsCommandLine } from './command-lines.js';
import { CommandsModule } from './commands.module.js';
import { CommandsService } from './commands.service.js';

/**
 * The commands handler wired by Nest as in production (builds, deploy, the chatlevel gate), with
 * FakeGitHub over HTTP, FakeSlurm and real git: who may command, loop protection, what the reply
 * says at each chatlevel, instance filters, and malformed payloads.
 */
jest.setTimeout(30_000);

const NODE_TYPES: NodeType[] = [
  {
    name: 'zen4',
    os: 'linux',
    cpuSubdir: 'x86_64/amd/zen4',
    slurmParams: '-p zen4',
    repoTargets: ['eessi.io-2023.06-software'],
    accel: [],
  },
  {
    name: 'zen4-h100',
    os: 'linux',
    cpuSubdir: 'x86_64/amd/zen4',
    slurmParams: '-p gpu',
    repoTargets: ['eessi.io-2023.06-software'],
    accel: ['nvidia/cc90'],
  },
];

let fixture: GitFixture;
let restoreEnv: () => void;
let keys: AppKeys;
const cleanup = cleanupAfterEach();

beforeAll(() => {
  Logger.overrideLogger(false);
  fixture = createGitFixture();
  restoreEnv = fixture.useEnv();
  keys = generateAppKeys();
});

afterAll(() => {
  restoreEnv();
  fixture.cleanup();
});

interface World {
  readonly config: AppConfig;
  readonly github: FakeGitHub;
  readonly slurm: FakeSlurm;
  readonly commands: CommandsService;
  readonly stateDir: string;
  comment(
    body: string,
    opts?: { sender?: string; action?: 'edited' | 'deleted'; id?: string },
  ): Promise<void>;
  /** Bodies of the comments on the PR, oldest first. */
  bodies(): string[];
}

async function world(
  opts: { chatlevel?: ChatLevel; commandPermission?: string[]; appName?: string } = {},
): Promise<World> {
  const root = mkdtempSync(join(tmpdir(), 'eessi-bot-commands-'));
  const github = new FakeGitHub({ appId: 1, installationId: 2, publicKey: keys.publicKey });
  await github.start();
  cleanup.defer(async () => {
    await github.stop();
    rmSync(root, { recursive: true, force: true });
  });
  const config = makeConfig({
    root,
    github: { privateKey: keys.privateKey, apiUrl: github.url, appName: opts.appName ?? 'site-a' },
    buildenv: { buildPermission: ['alice'], allowedExportVars: ['SKIP_TESTS=yes'] },
    architectureTargets: { archTargetMap: {} },
    rest: {
      generation: 'v09',
      nodeTypes: NODE_TYPES,
      botControl: {
        commandPermission: opts.commandPermission ?? ['alice', 'bob'],
        commandResponseFmt: 'Instance {app_name}:\n{comment_response}\n{comment_result}',
        chatlevel: opts.chatlevel ?? 'basic',
      },
    },
  });
  const slurm = new FakeSlurm();
  const moduleRef: TestingModule = await Test.createTestingModule({
    imports: [
      ConfigModule.forConfig(config),
      GitHubModule.register({
        app: githubAppSettingsOf(config),
        chatlevel: config.botControl.chatlevel,
      }),
      CommandsModule,
    ],
  })
    .overrideProvider(SLURM)
    .useValue(slurm)
    .overrideProvider(GITHUB_CLIENT_OPTIONS)
    .useValue({ ...FAST_GITHUB_CLIENT_OPTIONS, retries: 0 })
    .compile();
  cleanup.defer(() => moduleRef.close());
  const pr = fixture.cleanPr;
  github.seedPullRequest(fixture.repo, pr, fixturePullRequest(fixture, pr, fixture.headSha[pr]));
  const stateDir = join(root, 'progress');
  const progress = new DeliveryProgressStore(stateDir);
  const commands = moduleRef.get(CommandsService);
  let n = 0;
  return {
    config,
    github,
    slurm,
    commands,
    stateDir,
    comment: (body, o = {}) => {
      const id = o.id ?? `delivery-${++n}`;
      return commands.handleComment(
        {
          id,
          receivedAt: '2025-01-15T12:00:00Z',
          payload: pullRequestCommentPayload({
            body,
            sender: o.sender ?? 'alice',
            action: o.action,
            repo: fixture.repo,
            number: pr,
          }),
        },
        progress.of(id),
      );
    },
    bodies: () => github.comments(fixture.repo, pr).map((c) => c.body),
  };
}

describe('what is read', () => {
  it('answers the commands of a new comment in one reply, posted and then edited once', async () => {
    const w = await world();
    await w.comment('Please:\nbot: help\nbot: show_config');
    const [reply] = w.github.comments(fixture.repo, fixture.cleanPr);
    expect(w.github.comments()).toHaveLength(1);
    expect(reply.history).toHaveLength(2);
    expect(reply.history[0]).toContain('received `bot: help` from `alice`');
    expect(reply.history[0]).not.toContain('How to send commands');
    expect(reply.body).toContain('**How to send commands to bot instance `site-a`**');
    expect(reply.body).toContain('- Node type `zen4-h100`:');
    expect(reply.body).toMatch(/<!-- bot:reply delivery-1 site-a -->$/);
    for (const body of reply.history) {
      expect(containsCommandLine(body)).toBe(false);
    }
  });

  it('ignores edited and deleted comments, comments without commands, and issues', async () => {
    const w = await world();
    await w.comment('bot: help', { action: 'edited' });
    await w.comment('bot: help', { action: 'deleted' });
    await w.comment('LGTM, the bot build for zen4 looks fine');
    const onIssue = pullRequestCommentPayload({ body: 'bot: help', sender: 'alice' });
    delete onIssue.issue.pull_request;
    await w.commands.handleComment(
      { id: 'issue-1', receivedAt: '2025-01-15T12:00:00Z', payload: onIssue },
      new DeliveryProgressStore(w.stateDir).of('issue-1'),
    );
    expect(w.github.requestCount()).toBe(0);
  });

  it.each([
    ['eessi-bot-site-b[bot]', (p: Json) => p],
    ['a Bot-typed author', (p: Json) => ((p.comment.user.type = 'Bot'), p)],
    [
      'an App acting for a user',
      (p: Json) => ((p.comment.performed_via_github_app = { id: 9 }), p),
    ],
  ])('never reads a comment by %s (no loops between instances)', async (sender, spoil) => {
    const w = await world({ commandPermission: ['alice', sender] });
    const payload = spoil(
      pullRequestCommentPayload({
        body: 'bot: help',
        sender: sender.endsWith('[bot]') ? sender : 'alice',
      }),
    );
    await w.commands.handleComment(
      { id: 'bot-1', receivedAt: '2025-01-15T12:00:00Z', payload },
      new DeliveryProgressStore(w.stateDir).of('bot-1'),
    );
    expect(w.github.requestCount()).toBe(0);
  });

  it('refuses a malformed payload naming the field (the route logs it and moves on)', async () => {
    const w = await world();
    const payload = pullRequestCommentPayload({ body: 'bot: help' });
    payload.comment.user = null;
    await expect(
      w.commands.handleComment(
        { id: 'bad-1', receivedAt: '2025-01-15T12:00:00Z', payload },
        new DeliveryProgressStore(w.stateDir).of('bad-1'),
      ),
    ).rejects.toThrow(
      new InvalidDeliveryError(
        'delivery "bad-1": not a well-formed issue_comment payload: comment.user: expected an object, got null',
      ),
    );
    expect(w.github.requestCount()).toBe(0);
  });

  it('answers only its own instance: other inst: filters are ignored silently', async () => {
    const w = await world();
    await w.comment('bot: help inst:site-b\nbot: show_config instance:^site-(b|c)$');
    expect(w.github.requestCount()).toBe(0);
    await w.comment('bot: help inst:site-b\nbot: show_config inst:site-a');
    const reply = w.bodies()[0];
    expect(reply).toContain('`bot: show_config inst:site-a`');
    expect(reply).not.toContain('`bot: help inst:site-b`');
  });

  it('gives a near miss a short hint, and nothing more', async () => {
    const w = await world();
    await w.comment('bot show_config');
    expect(w.bodies()).toHaveLength(1);
    expect(w.bodies()[0]).toContain(
      '- `bot show_config` is not a command; did you mean `bot: show_config`?',
    );
    expect(w.bodies()[0]).not.toContain('Node type');
  });

  it('names an unknown command and points at help', async () => {
    const w = await world();
    await w.comment('bot: rebuild-everything');
    expect(w.bodies()[0]).toContain(
      '- `bot: rebuild-everything`: `rebuild-everything` is not a command; `bot: help` lists the commands',
    );
  });

  it('answers a bad token with the token, and goes on with the other commands', async () => {
    const w = await world();
    await w.comment('bot: build for:arch=x86_64/amd/zen4 repo:(\nbot: status');
    const reply = w.bodies()[0];
    expect(reply).toContain('not understood: `repo:(`: not a valid pattern');
    expect(reply).toContain('- `bot: status`: no job of instance `site-a` on this pull request');
    expect(w.slurm.jobs()).toHaveLength(0);
  });
});

describe('permissions', () => {
  it('refuses a sender without command_permission in one short reply naming the login', async () => {
    const w = await world({ commandPermission: ['alice'] });
    await w.comment('bot: help\nbot: build for:arch=x86_64/amd/zen4', { sender: 'mallory' });
    await w.comment('bot: help', { sender: 'mallory', id: 'delivery-1' }); // redelivered
    expect(w.bodies()).toHaveLength(1);
    expect(w.bodies()[0]).toContain(
      '- account `mallory` has no permission to send commands on this instance',
    );
    expect(existsSync(w.stateDir)).toBe(false);
    expect(existsSync(w.config.buildenv.jobsBaseDir)).toBe(false);
  });

  it('under a v0.9 config, empty command_permission means nobody', async () => {
    const w = await world({ commandPermission: [] });
    await w.comment('bot: help');
    expect(w.bodies()[0]).toContain('`alice` has no permission to send commands');
  });

  it('needs build_permission for build: refusal names the login, leaves nothing on disk', async () => {
    const w = await world();
    await w.comment('bot: build for:arch=x86_64/amd/zen4', { sender: 'bob' });
    expect(w.bodies()).toHaveLength(1);
    expect(w.bodies()[0]).toContain('- account `bob` has no permission to build on this instance');
    expect(w.slurm.jobs()).toHaveLength(0);
    expect(existsSync(w.stateDir)).toBe(false);
    expect(existsSync(w.config.buildenv.jobsBaseDir)).toBe(false);
  });
});

describe('build', () => {
  it('builds the matching node types and lists each job in the reply', async () => {
    const w = await world();
    await w.comment('bot: build for:arch=x86_64/amd/zen4');
    expect(w.slurm.jobs()).toHaveLength(1);
    const [jobId] = w.slurm.jobs().map((j) => j.id);
    const reply = w.bodies()[0];
    expect(reply).toContain('`bot: build for:arch=x86_64/amd/zen4`: submitted one job:');
    expect(reply).toMatch(
      new RegExp(
        `- job \\[\`${jobId}\`\\]\\(https://github.com/${fixture.repo}/pull/${fixture.cleanPr}#issuecomment-\\d+\\) on \`site-a\`, node type \`zen4\`, for \`x86_64/amd/zen4\`, on \`x86_64/amd/zen4\`, repository \`eessi.io-2023.06-software\``,
      ),
    );
    expect(w.bodies()).toHaveLength(2); // the reply and the job's comment
  });

  it('uses a GPU node type only when an accelerator is asked for, by for: or by a filter', async () => {
    const w = await world();
    await w.comment('bot: build for:arch=x86_64/amd/zen4 acc:nvidia');
    expect(w.slurm.jobs().map((j) => j.schedulerArgs)).toEqual([
      expect.arrayContaining(['-p', 'gpu']),
    ]);
    await w.comment('bot: build for:arch=x86_64/amd/zen4,accel=nvidia/cc90');
    expect(w.slurm.jobs()).toHaveLength(2);
    expect(w.slurm.jobs()[1].schedulerArgs).toEqual(expect.arrayContaining(['-p', 'gpu']));
  });

  it('says why nothing was built, naming the closest node types', async () => {
    const w = await world();
    await w.comment('bot: build for:arch=x86_64/amd/zen5');
    expect(w.bodies()[0]).toContain('no job started: no node type has CPU subdir x86_64/amd/zen5');
    expect(w.bodies()[0]).toContain('closest node types: zen4 (x86_64/amd/zen4)');
    expect(w.slurm.jobs()).toHaveLength(0);
  });

  it('refuses an export variable that is not allowed, naming it, and builds nothing', async () => {
    const w = await world();
    await w.comment('bot: build for:arch=x86_64/amd/zen4 exp:SKIP_TESTS=no');
    expect(w.bodies()[0]).toContain('`SKIP_TESTS=no` is not in this instance');
    expect(w.slurm.jobs()).toHaveLength(0);
  });

  it('is idempotent per delivery: handled again, one reply and the jobs once', async () => {
    const w = await world();
    await w.comment('bot: build for:arch=x86_64/amd/zen4', { id: 'again' });
    await w.comment('bot: build for:arch=x86_64/amd/zen4', { id: 'again' });
    expect(w.slurm.jobs()).toHaveLength(1);
    expect(w.bodies()).toHaveLength(2);
  });
});

describe('chatlevel', () => {
  it('incognito: nothing is posted, the build still runs', async () => {
    const w = await world({ chatlevel: 'incognito' });
    await w.comment('bot: build for:arch=x86_64/amd/zen4\nbot: help');
    await w.comment('bot show_config');
    expect(w.slurm.jobs()).toHaveLength(1);
    expect(w.github.requestCount({ method: 'POST', path: /comments$/ })).toBe(0);
  });

  it('minimal: answers commands, but no hints and no refusals', async () => {
    const w = await world({ chatlevel: 'minimal' });
    await w.comment('bot show_config');
    await w.comment('bot: help', { sender: 'mallory' });
    expect(w.bodies()).toHaveLength(0);
    await w.comment('bot: help');
    expect(w.bodies()).toHaveLength(1);
    expect(w.bodies()[0]).not.toContain('read as');
  });

  it('chatty: the reply also says how each command was read', async () => {
    const w = await world({ chatlevel: 'chatty' });
    await w.comment('bot: status last_build arch:zen4-');
    expect(w.bodies()[0]).toContain('  - read as `status last_build architecture:zen4/`');
  });
});

describe('status and cancel', () => {
  it('status: a table of this instance’s jobs on the PR, from its records', async () => {
    const w = await world();
    await w.comment('bot: build for:arch=x86_64/amd/zen4');
    await w.comment('bot: build for:arch=x86_64/amd/zen4');
    const [first, second] = w.slurm.jobs().map((j) => j.id);
    await w.comment('bot: status\nbot: status last_build\nbot: status job:^nothing$');
    const reply = w.bodies().at(-1)!;
    expect(reply).toContain('`bot: status`: 2 job(s) of instance `site-a` on this pull request:');
    expect(reply).toContain('|on|for|repo|job|state|result|date|');
    const rows = reply.split('\n').filter((line) => /^\|x86_64/.test(line));
    expect(rows).toHaveLength(3);
    expect(rows[0]).toMatch(
      new RegExp(
        `^\\|x86_64/amd/zen4\\|x86_64/amd/zen4\\|eessi.io-2023.06-software\\|\\[${first}\\]\\(https://github.com/[^)]+#issuecomment-\\d+\\)\\|submitted\\|\\|`,
      ),
    );
    expect(rows[2]).toContain(`[${second}]`); // last_build: the newest only
    expect(reply).toContain(
      '`bot: status job:^nothing$`: none of the 2 job(s) of instance `site-a` on this pull request is selected',
    );
  });

  it('cancel: the requester and build-permitted accounts cancel unfinished jobs of this PR only', async () => {
    const w = await world({ commandPermission: ['alice', 'bob', 'carol'] });
    await w.comment('bot: build for:arch=x86_64/amd/zen4', { sender: 'alice' });
    const [jobId] = w.slurm.jobs().map((j) => j.id);
    await w.comment(`bot: cancel jobid:${jobId},999999`, { sender: 'bob' });
    expect(w.slurm.jobs()[0].state).toBe('PENDING');
    let reply = w.bodies().at(-1)!;
    expect(reply).toContain(
      `- job \`${jobId}\`: \`bob\` may not cancel it (its requester \`alice\``,
    );
    expect(reply).toContain(
      '- job `999999`: not a job of instance `site-a` on this pull request; not touched',
    );
    await w.comment(`bot: cancel jobid:${jobId}`, { sender: 'alice' });
    reply = w.bodies().at(-1)!;
    expect(reply).toContain(`- job \`${jobId}\`: cancelled`);
    expect((await w.slurm.endState(jobId))?.state).toBe('CANCELLED');
    const jobComment = w.github
      .comments(fixture.repo, fixture.cleanPr)
      .find((c) => c.body.includes(`<!-- bot:job ${jobId} site-a -->`))!;
    expect(jobComment.body).toMatch(
      /\|cancelled\|job cancelled by `alice` with the cancel command\|/,
    );
    // Only ids the bot submitted for this PR were ever handed to scancel.
    expect(w.slurm.calls.filter((c) => c.method === 'cancel').map((c) => c.args)).toEqual([
      [jobId],
    ]);
  });

  it('deploy: without [deploycfg] the instance says it does not deploy', async () => {
    const w = await world();
    await w.comment('bot: deploy');
    expect(w.bodies()[0]).toContain('`bot: deploy`: this instance does not deploy');
  });
});

describe('the label and new pull requests under a v0.9 config', () => {
  it('bot:build only answers how builds are started (basic), once', async () => {
    const w = await world();
    const delivery = {
      id: 'label-1',
      receivedAt: '2025-01-15T12:00:00Z',
      payload: labeledPullRequestPayload({
        label: 'bot:build',
        repo: fixture.repo,
        number: fixture.cleanPr,
      }),
    };
    expect(w.commands.answersBuildLabel(delivery.payload)).toBe(true);
    await w.commands.answerBuildLabel(delivery);
    await w.commands.answerBuildLabel(delivery);
    expect(w.bodies()).toHaveLength(1);
    expect(w.bodies()[0]).toContain('builds are started with the command `bot: build for:arch=…`');
    expect(w.slurm.jobs()).toHaveLength(0);
    expect(existsSync(w.config.buildenv.jobsBaseDir)).toBe(false);
  });

  it('a PR opened gets show_config at chatlevel chatty only', async () => {
    const opened = (id: string) => {
      const payload = labeledPullRequestPayload({ repo: fixture.repo, number: fixture.cleanPr });
      payload.action = 'opened';
      delete payload.label;
      return { id, receivedAt: '2025-01-15T12:00:00Z', payload };
    };
    const basic = await world();
    await basic.commands.showConfigOnOpened(opened('open-1'));
    expect(basic.bodies()).toHaveLength(0);
    const chatty = await world({ chatlevel: 'chatty' });
    await chatty.commands.showConfigOnOpened(opened('open-2'));
    expect(chatty.bodies()).toHaveLength(1);
    expect(chatty.bodies()[0]).toContain('Instance `site-a` is configured to build on:');
  });
});

describe('near misses from accounts without command permission', () => {
  it('get no reply at all (a near miss is not a command to refuse)', async () => {
    const w = await world({ commandPermission: ['alice'] });
    await w.comment('bot show_config', { sender: 'mallory' });
    expect(w.github.requestCount()).toBe(0);
  });
});
