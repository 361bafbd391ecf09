import { describe, it, expect, beforeEach, afterEach } from '@jest/globals';
import { join } from 'node:path';
import {
  createConfigSandbox,
  readFixture,
  replaceOnce,
  type ConfigSandbox,
} from '../../test/fixtures/config/config-sandbox.js';
import { hashPassword } from '../common/password-hash.js';
import { describeConfig, maskUrlPasswords } from './describe-config.js';
import { loadConfig } from './load-config.js';

describe('describeConfig', () => {
  let sandbox: ConfigSandbox;

  beforeEach(() => {
    sandbox = createConfigSandbox();
  });

  afterEach(() => sandbox.cleanup());

  function describeFixture(text: string, env: NodeJS.ProcessEnv = sandbox.env): string {
    return describeConfig(loadConfig(sandbox.writeConfig(text), env).config);
  }

  it('shows the resolved values, section by section', () => {
    const text = describeFixture(readFixture('valid.cfg'));
    const lines = text.split('\n');

    expect(lines[0]).toBe(`Configuration from ${join(sandbox.dir, 'app.cfg')}`);
    expect(lines[1]).toBe(
      'Format: seed (arch_target_map; builds are requested with the label bot:build)',
    );
    expect(lines.filter((line) => line.startsWith('['))).toEqual([
      '[github]',
      '[buildenv]',
      '[architecturetargets]',
      '[job_manager]',
      '[event_handler]',
    ]);
    expect(text).toMatch(/^ {2}app_id +123456$/m);
    expect(text).toMatch(/^ {2}api_url +https:\/\/ghe\.example\.org\/api\/v3$/m);
    expect(text).toMatch(
      new RegExp(`^ {2}submit_command +${join(sandbox.binDir, 'sbatch')}$`, 'm'),
    );
    expect(text).toMatch(
      new RegExp(`^ {2}scancel_command +${join(sandbox.binDir, 'scancel')}$`, 'm'),
    );
    expect(text).toMatch(
      /^ {2}arch_target_map\n {4}linux\/x86_64\/generic +--constraint shape=c4\.2xlarge\n {4}linux\/x86_64\/amd\/zen2 +--constraint shape=c5a\.2xlarge$/m,
    );
    expect(text).toMatch(/^ {2}build_permission +alice bob$/m);
    expect(text).toMatch(/^ {2}poll_interval +30 s$/m);
  });

  it('never shows the private key or the webhook secret', () => {
    const env = { ...sandbox.env, GITHUB_APP_SECRET_TOKEN: 'whsec-very-secret-value' };
    const text = describeFixture(readFixture('valid.cfg'), env);

    expect(text).toMatch(
      new RegExp(`^ {2}private_key +${sandbox.keyPath} \\(content not shown\\)$`, 'm'),
    );
    expect(text).not.toContain('PRIVATE KEY');
    expect(text).toMatch(/^ {2}webhook secret +\(set\)/m);
    expect(text).not.toContain('whsec-very-secret-value');
  });

  it('says when the webhook secret is not set, and shows defaults readably', () => {
    const text = describeFixture(readFixture('minimal.cfg'));

    expect(text).toMatch(/^ {2}webhook secret +\(not set\)/m);
    expect(text).toMatch(/^ {2}build_permission +\(anyone\)$/m);
    expect(text).toMatch(/^ {2}http_proxy +\(empty\)$/m);
    expect(text).toMatch(/^ {2}cvmfs_customizations +\(none\)$/m);
  });

  it('shows the status page access and catch-up settings, never the password hash', async () => {
    const hash = await hashPassword('s3cret');
    const text = describeFixture(
      replaceOnce(
        readFixture('valid.cfg'),
        'smee_url = https://smee.io/abc123',
        `smee_url = https://smee.io/abc123\nredeliver_interval = 0\nstatus_bind = 10.0.0.0/8\nstatus_auth = ops:${hash}`,
      ),
    );

    expect(text).toMatch(/^ {2}redeliver_interval +0 \(missed-webhook catch-up off\)$/m);
    expect(text).toMatch(/^ {2}status_bind +10\.0\.0\.0\/8$/m);
    expect(text).toMatch(/^ {2}status_auth +user ops, password hash set$/m);
    expect(text).not.toContain(hash.split(':')[2]);
  });

  it('masks passwords in proxy URLs', () => {
    const config = replaceOnce(
      readFixture('valid.cfg'),
      'https_proxy = http://proxy.example.org:3129/',
      'https_proxy = http://bot:hunter2@proxy.example.org:3129/',
    );

    const text = describeFixture(config);

    expect(text).not.toContain('hunter2');
    expect(text).toMatch(/^ {2}https_proxy +http:\/\/bot:\*\*\*@proxy\.example\.org:3129\/$/m);
  });

  it('keeps the lines of a multi-line value in the value column', () => {
    const config = replaceOnce(
      readFixture('valid.cfg'),
      'no_build_permission_comment = User `{build_labeler}` may not build here',
      'no_build_permission_comment = first line\n    second line',
    );

    const lines = describeFixture(config).split('\n');
    const at = lines.findIndex((line) => line.includes('no_build_permission_comment'));

    expect(lines[at + 1].trim()).toBe('second line');
    expect(lines[at + 1].indexOf('second')).toBe(lines[at].indexOf('first'));
  });
});

describe('describeConfig for a v0.9-format file', () => {
  let sandbox: ConfigSandbox;

  beforeEach(() => {
    sandbox = createConfigSandbox();
    sandbox.copyFixtureDir('repos');
  });

  afterEach(() => sandbox.cleanup());

  function describeV09(edit?: [string, string]): string {
    const fixture = readFixture('v09.cfg');
    const text = edit ? replaceOnce(fixture, ...edit) : fixture;
    return describeConfig(loadConfig(sandbox.writeConfig(text), sandbox.env).config);
  }

  it('prints every job a build can become: node types × repository targets', () => {
    const lines = describeV09().split('\n');
    const at = lines.indexOf('[architecturetargets]');

    expect(lines[1]).toBe(
      'Format: v0.9 (node_type_map; builds are requested with `bot: build` comments)',
    );
    expect(lines.slice(at + 1, at + 8)).toEqual([
      '  node type  os     cpu_subdir            accel                    repo target                repo name/version',
      '  ---------  -----  --------------------  -----------------------  -------------------------  ---------------------------',
      '  cpu_zen4   linux  x86_64/amd/zen4       -                        eessi.io-2023.06-software  software.eessi.io 2023.06',
      '  cpu_zen4   linux  x86_64/amd/zen4       -                        eessi.io-2025.06-software  software.eessi.io 2025.06',
      '  gpu_h100   linux  x86_64/amd/zen4       nvidia/cc90              eessi.io-2025.06-software  software.eessi.io 2025.06',
      '  gpu_mixed  linux  x86_64/intel/icelake  nvidia/cc70,nvidia/cc80  eessi.io-2023.06-software  software.eessi.io 2023.06',
      "  arm_grace  linux  aarch64/nvidia/grace  -                        EESSI                      (build container's default)",
    ]);
    expect(lines[at + 8]).toBe('');
  });

  it('shows the v0.9 sections and keys, and only the comment texts that differ from upstream', () => {
    const text = describeV09();

    expect(text.split('\n').filter((line) => line.startsWith('['))).toEqual([
      '[github]',
      '[bot_control]',
      '[buildenv]',
      '[architecturetargets]',
      '[repo_targets]',
      '[job_manager]',
      '[event_handler]',
      '[clean_up]',
      '[submitted_job_comments]',
      '[new_job_comments]',
      '[running_job_comments]',
      '[finished_job_comments]',
      '[download_pr_comments]',
    ]);
    expect(text).toMatch(/^ {2}command_permission +alice bob carol$/m);
    expect(text).toMatch(/^ {2}chatlevel +chatty$/m);
    expect(text).toMatch(
      /^ {2}build_job_script +scripts\/bot-build\.slurm in https:\/\/github\.com\/EESSI\/eessi-bot-software-layer\.git \(cloned into each job dir\)$/m,
    );
    expect(text).toMatch(/^ {2}job_handover_protocol +delayed_begin$/m);
    // 2.5 × poll_interval 60
    expect(text).toMatch(
      /^ {2}job_delay_begin_factor +2\.5 \(jobs may start 150 s after submission\)$/m,
    );
    expect(text).toMatch(/^ {2}allowed_exportvars +SKIP_TESTS=yes SKIP_TESTS=no EESSI_DEBUG=1$/m);
    expect(text).toMatch(/^ {2}scontrol_command +\S+\/scontrol --clusters=%\(cluster\)s$/m);
    expect(text).toMatch(/^ {2}running_job +job `\{job_id\}` has started$/m);
  });

  it('says who may send commands and build when the lists are empty', () => {
    const text = describeV09(['command_permission = alice bob carol', 'command_permission =']);

    expect(text).toMatch(/^ {2}command_permission +\(nobody\)$/m);
    expect(describeV09(['build_permission = alice bob', 'build_permission ='])).toMatch(
      /^ {2}build_permission +\(nobody\)$/m,
    );
  });

  it('marks repository ids that repos.cfg lacks, and node types without repositories', () => {
    const text = describeV09([
      '"repo_targets": ["EESSI"]',
      '"repo_targets": ["eessi.io-2026.06-software"]',
    ]);

    expect(text).toMatch(
      /^ {2}arm_grace .* eessi\.io-2026\.06-software +\(not in repos\.cfg: build container's default\)$/m,
    );
    const none = describeV09([',\n        "repo_targets": ["EESSI"]', '']);
    expect(none).toMatch(
      /^ {2}arm_grace +linux +aarch64\/nvidia\/grace +- +- +\(none: never used\)$/m,
    );
  });
});

describe('maskUrlPasswords', () => {
  it('masks only the password part of URLs, anywhere in a text', () => {
    expect(maskUrlPasswords('CVMFS_HTTP_PROXY="http://u:p@a:3128|socks5://x:y@b:1080"')).toBe(
      'CVMFS_HTTP_PROXY="http://u:***@a:3128|socks5://x:***@b:1080"',
    );
  });

  it('leaves URLs without credentials and host:port pairs alone', () => {
    expect(maskUrlPasswords('http://proxy:3128/ and https://user@host/x')).toBe(
      'http://proxy:3128/ and https://user@host/x',
    );
  });
});
