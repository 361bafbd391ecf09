import { describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { labeledPullRequestPayload } from '../../test/support/payloads.js';
import { makeConfig } from '../../test/support/make-config.js';
import {
  assertInside,
  assertPullRequestContext,
  buildSubmitRequest,
  describeTarget,
  eventDirOf,
  InvalidDeliveryError,
  mayBuild,
  monthDirName,
  parseLabeledDelivery,
  parsePullRequestDelivery,
  repoUrl,
  runDirName,
  targetDirName,
} from './build-plan.js';

const SHA = 'a'.repeat(40);
type Payload = ReturnType<typeof labeledPullRequestPayload>;

function delivery(payload: unknown, id = 'd-1', receivedAt = '2024-05-01T00:00:00Z') {
  return { id, receivedAt, payload };
}

function payload(overrides: Parameters<typeof labeledPullRequestPayload>[0] = {}) {
  return labeledPullRequestPayload({
    label: 'bot:build',
    sender: 'alice',
    repo: 'EESSI/software-layer',
    number: 42,
    head: { sha: SHA },
    base: { ref: 'main' },
    ...overrides,
  });
}

describe('parseLabeledDelivery', () => {
  it('reads the fields a build needs from a real pull_request.labeled payload', () => {
    const event = parseLabeledDelivery(delivery(payload()));
    expect(event).toEqual({
      deliveryId: 'd-1',
      receivedAt: new Date('2024-05-01T00:00:00Z'),
      label: 'bot:build',
      sender: 'alice',
      repo: 'EESSI/software-layer',
      prNumber: 42,
      baseRef: 'main',
      headSha: SHA,
      gitOrigin: 'https://github.com',
      privateRepo: false,
    });
    expect(repoUrl(event)).toBe('https://github.com/EESSI/software-layer.git');
  });

  it('takes the host of a GitHub Enterprise clone_url, and only a plain https one', () => {
    const ghes = payload({ cloneUrl: 'https://ghe.example.org/EESSI/software-layer.git' });
    expect(parseLabeledDelivery(delivery(ghes)).gitOrigin).toBe('https://ghe.example.org');
    for (const cloneUrl of [
      'file:///tmp/x/EESSI/software-layer.git',
      'https://user:pw@evil.example/EESSI/software-layer.git',
      'https://evil.example/other/repo.git',
      'not a url',
    ]) {
      expect(parseLabeledDelivery(delivery(payload({ cloneUrl }))).gitOrigin).toBe(
        'https://github.com',
      );
    }
  });

  it('marks private repositories', () => {
    const p = payload();
    p.repository.private = true;
    expect(parseLabeledDelivery(delivery(p)).privateRepo).toBe(true);
    p.repository.private = 'yes';
    expect(parseLabeledDelivery(delivery(p)).privateRepo).toBe(false);
  });

  it.each<[string, (p: Payload) => void, RegExp]>([
    ['no label', (p) => delete p.label, /not a well-formed/],
    ['a string PR number', (p) => (p.number = '42'), /not a well-formed/],
    [
      'a repository name that climbs',
      (p) => {
        p.repository.full_name = '../etc';
        p.pull_request.base.repo.full_name = '../etc';
      },
      /is not owner\/name/,
    ],
    [
      'a base repo other than the repository',
      (p) => (p.pull_request.base.repo.full_name = 'other/repo'),
      /base\.repo/,
    ],
    ['a head sha that is not one', (p) => (p.pull_request.head.sha = '$(touch x)'), /head\.sha/],
  ])('rejects %s', (_, mutate, message) => {
    const p = payload();
    mutate(p);
    expect(() => parseLabeledDelivery(delivery(p))).toThrow(InvalidDeliveryError);
    expect(() => parseLabeledDelivery(delivery(p))).toThrow(message);
  });

  it('rejects delivery ids that could name another directory, and unreadable dates', () => {
    expect(() => parseLabeledDelivery(delivery(payload(), '../x'))).toThrow(/delivery id/);
    expect(() => parseLabeledDelivery(delivery(payload(), ''))).toThrow(/delivery id/);
    expect(() => parseLabeledDelivery(delivery(payload(), 'd', 'yesterday'))).toThrow(/receivedAt/);
  });
});

describe('directories', () => {
  it('files an event under the UTC month it arrived in', () => {
    expect(monthDirName(new Date('2024-01-31T23:30:00-02:00'))).toBe('2024.02');
    expect(monthDirName(new Date('2024-12-31T23:59:59Z'))).toBe('2024.12');
    const dir = eventDirOf('/jobs', {
      receivedAt: new Date('2024-03-05T10:00:00Z'),
      prNumber: 7,
      deliveryId: 'ab-12',
    });
    expect(dir).toBe(join('/jobs', '2024.03', 'pr_7', 'event_ab-12'));
  });

  it('refuses PR numbers and delivery ids that are not safe names', () => {
    const at = new Date();
    expect(() => eventDirOf('/jobs', { receivedAt: at, prNumber: 0, deliveryId: 'a' })).toThrow(
      /positive integer/,
    );
    expect(() => eventDirOf('/jobs', { receivedAt: at, prNumber: 1.5, deliveryId: 'a' })).toThrow(
      /positive integer/,
    );
    expect(() =>
      eventDirOf('/jobs', { receivedAt: at, prNumber: 1, deliveryId: '../../x' }),
    ).toThrow(/cannot name a directory/);
  });

  it('assertInside accepts only paths strictly below the base', () => {
    expect(() => assertInside('/jobs', '/jobs/a/b')).not.toThrow();
    for (const path of ['/jobs', '/jobs/../etc', '/jobsx/a', '/etc']) {
      expect(() => assertInside('/jobs', path)).toThrow(/not inside/);
    }
  });

  it('names run and target directories', () => {
    expect(runDirName(1)).toBe('run_001');
    expect(runDirName(1234)).toBe('run_1234');
    expect(targetDirName('linux/x86_64/amd/zen2')).toBe('linux_x86_64_amd_zen2');
    expect(() => targetDirName('linux/../x')).toThrow(/cannot name a directory/);
    expect(() => targetDirName('linux')).toThrow(/cannot name a directory/);
  });

  it('describes a target for job.cfg', () => {
    expect(describeTarget('linux/x86_64/amd/zen2')).toEqual({
      osType: 'linux',
      softwareSubdir: 'x86_64/amd/zen2',
      generic: false,
    });
    expect(describeTarget('linux/aarch64/generic')).toEqual({
      osType: 'linux',
      softwareSubdir: 'aarch64/generic',
      generic: true,
    });
  });
});

describe('buildSubmitRequest', () => {
  const config = makeConfig({
    root: '/r',
    buildenv: {
      slurmParams: `--hold --time=1:0:0 --comment "a b" 'c;$(d)'`,
      httpProxy: 'http://p:1',
      httpsProxy: '',
      loadModules: 'git',
      localTmp: '/tmp/$USER/x',
    },
  });

  it('splits operator parameters like a shell (no expansion) and adds the job script options', () => {
    expect(
      buildSubmitRequest(
        config.buildenv,
        'linux/x86_64/generic',
        '--constraint shape=c4',
        '/jobs/j',
      ),
    ).toEqual({
      workDir: '/jobs/j',
      schedulerArgs: [
        '--hold',
        '--time=1:0:0',
        '--comment',
        'a b',
        'c;$(d)',
        '--constraint',
        'shape=c4',
      ],
      jobName: 'eessi-bot-test-bot',
      script: config.buildenv.buildJobScript,
      scriptArgs: [
        '--tmpdir',
        '/tmp/$USER/x',
        '--http-proxy',
        'http://p:1',
        '--load-modules',
        'git',
        '--generic',
      ],
    });
    expect(
      buildSubmitRequest(config.buildenv, 'linux/x86_64/amd/zen2', '', '/j').scriptArgs,
    ).not.toContain('--generic');
  });

  it('names the config key of an unbalanced quote', () => {
    expect(() =>
      buildSubmitRequest(config.buildenv, 'linux/x86_64/generic', '--constraint "x', '/j'),
    ).toThrow(/arch_target_map entry "linux\/x86_64\/generic" in app\.cfg: unterminated/);
  });
});

describe('mayBuild', () => {
  it('lets anyone build when the list is empty, else only listed logins (case-insensitive)', () => {
    expect(mayBuild('anyone', [])).toBe(true);
    expect(mayBuild('Alice', ['bob', 'alice'])).toBe(true);
    expect(mayBuild('mallory', ['bob', 'alice'])).toBe(false);
    expect(mayBuild('', ['bob'])).toBe(false);
  });
});

describe('v0.9 rules', () => {
  it('an empty build_permission lets nobody build under a v0.9 config', () => {
    expect(mayBuild('anyone', [], 'v09')).toBe(false);
    expect(mayBuild('Alice', ['alice'], 'v09')).toBe(true);
  });

  it('clone_git_repo_via = ssh fetches git@<host>:owner/repo.git', () => {
    const ctx = { gitOrigin: 'https://github.com', repo: 'EESSI/software-layer' };
    expect(repoUrl(ctx, 'ssh')).toBe('git@github.com:EESSI/software-layer.git');
    expect(repoUrl({ ...ctx, gitOrigin: 'https://ghe.example.org' }, 'ssh')).toBe(
      'git@ghe.example.org:EESSI/software-layer.git',
    );
  });

  it('a context a caller built itself is checked before it becomes paths and URLs', () => {
    const event = parseLabeledDelivery(delivery(payload()));
    expect(() => assertPullRequestContext(event)).not.toThrow();
    expect(() => assertPullRequestContext({ ...event, gitOrigin: 'ext::sh -c id' })).toThrow(
      /git origin "ext::sh -c id" is not https:\/\/host/,
    );
    expect(() => assertPullRequestContext({ ...event, repo: '../x' })).toThrow(/not owner\/name/);
    expect(() => assertPullRequestContext({ ...event, prNumber: 0 })).toThrow(/positive integer/);
  });

  it('reads the PR context of a pull_request delivery of any action', () => {
    const opened = { ...payload(), action: 'opened' };
    delete (opened as { label?: unknown }).label;
    expect(parsePullRequestDelivery(delivery(opened))).toMatchObject({
      repo: 'EESSI/software-layer',
      prNumber: 42,
      sender: 'alice',
    });
    expect(() => parsePullRequestDelivery(delivery({ action: 'opened' }))).toThrow(
      /not a well-formed pull_request payload/,
    );
  });
});
