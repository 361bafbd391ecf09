import { beforeEach, describe, expect, it } from '@jest/globals';
import { lstat, mkdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decode } from 'ini';
import { makeConfig } from '../../test/support/make-config.js';
import { cleanupAfterEach } from '../../test/support/test-kit.js';
import {
  applyCvmfsCustomizations,
  renderJobConfig,
  writeJobConfig,
  type JobConfigInput,
} from './job-config.js';

const cleanup = cleanupAfterEach();
let dir: string;

beforeEach(async () => {
  dir = await cleanup.tempDir('eessi-bot-jobcfg-');
});

const buildenv = makeConfig({
  root: '/r',
  buildenv: {
    localTmp: '/tmp/$USER/EESSI',
    httpProxy: 'http://p:3128',
    httpsProxy: 'http://p:3129',
    loadModules: 'git;x#y',
  },
}).buildenv;

const input: JobConfigInput = {
  buildenv,
  target: 'linux/x86_64/amd/zen2',
  repo: 'EESSI/software-layer',
  prNumber: 12,
  baseRef: 'main;$(touch x)#1',
  baseSha: 'b'.repeat(40),
  headSha: 'h'.repeat(40),
  mergeSha: 'm'.repeat(40),
};

describe('renderJobConfig', () => {
  it('holds what the job script reads, values with ; and # intact after a round trip', () => {
    expect(decode(renderJobConfig(input))).toEqual({
      site_config: {
        local_tmp: '/tmp/$USER/EESSI',
        http_proxy: 'http://p:3128',
        https_proxy: 'http://p:3129',
        load_modules: 'git;x#y',
      },
      architecture: { software_subdir: 'x86_64/amd/zen2', os_type: 'linux', generic: false },
      repository: { repo: 'EESSI/software-layer' },
      pr: {
        repo: 'EESSI/software-layer',
        pr_number: '12',
        base_ref: 'main;$(touch x)#1',
        base_sha: input.baseSha,
        head_sha: input.headSha,
        merge_sha: input.mergeSha,
      },
    });
    expect(
      decode(renderJobConfig({ ...input, target: 'linux/aarch64/generic' })).architecture.generic,
    ).toBe(true);
  });
});

describe('writeJobConfig', () => {
  it('writes cfg/job.cfg, replacing a cfg/job.cfg symlink instead of writing through it', async () => {
    const outside = join(dir, 'outside');
    await writeFile(outside, 'precious');
    const jobDir = join(dir, 'job');
    await mkdir(join(jobDir, 'cfg'), { recursive: true });
    await symlink(outside, join(jobDir, 'cfg', 'job.cfg'));
    await writeJobConfig(jobDir, input);
    expect((await lstat(join(jobDir, 'cfg', 'job.cfg'))).isFile()).toBe(true);
    expect(await readFile(outside, 'utf8')).toBe('precious');
  });

  it('refuses a cfg that is a symlink to elsewhere', async () => {
    const jobDir = join(dir, 'job');
    await mkdir(join(dir, 'elsewhere'));
    await mkdir(jobDir);
    await symlink(join(dir, 'elsewhere'), join(jobDir, 'cfg'));
    await expect(writeJobConfig(jobDir, input)).rejects.toThrow(/cfg is not a directory/);
    expect(await readlink(join(jobDir, 'cfg'))).toBe(join(dir, 'elsewhere'));
  });
});

describe('applyCvmfsCustomizations', () => {
  it('appends each line to a file named after the path’s basename, creating or extending it', async () => {
    await writeFile(join(dir, 'default.local'), 'EXISTING=1');
    await applyCvmfsCustomizations(dir, {
      '/etc/cvmfs/default.local': 'CVMFS_HTTP_PROXY="http://p:3128"',
      '/etc/cvmfs/domain.d/eessi.io.local': 'CVMFS_SERVER_URL=x',
    });
    expect(await readFile(join(dir, 'default.local'), 'utf8')).toBe(
      'EXISTING=1\nCVMFS_HTTP_PROXY="http://p:3128"\n',
    );
    expect(await readFile(join(dir, 'eessi.io.local'), 'utf8')).toBe('CVMFS_SERVER_URL=x\n');
  });

  it('does nothing without customizations', async () => {
    await applyCvmfsCustomizations(dir, {});
    expect((await lstat(dir)).isDirectory()).toBe(true);
  });

  it('refuses to write through a symlink', async () => {
    await writeFile(join(dir, 'target'), 'keep');
    await symlink(join(dir, 'target'), join(dir, 'default.local'));
    await expect(
      applyCvmfsCustomizations(dir, { '/etc/cvmfs/default.local': 'X=1' }),
    ).rejects.toThrow(/not a regular file/);
    expect(await readFile(join(dir, 'target'), 'utf8')).toBe('keep');
  });
});
