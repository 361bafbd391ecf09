import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeConfig } from '../../test/support/make-config.js';
import { formatConfigparser } from './configparser-format.js';
import {
  renderExportVars,
  renderV09JobConfig,
  writeV09JobFiles,
  type V09JobConfigInput,
} from './job-config.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'eessi-bot-jobcfg-v09-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const JOB_DIR =
  '/jobs/2025.01/pr_7/event_d1/run_001/x86_64/amd/zen4/nvidia/cc90/eessi.io-2023.06-software';

const fullBuildenv = makeConfig({
  root: '/r',
  buildenv: {
    buildLogsDir: '/shared/logs',
    containerCachedir: '/scratch/containers',
    httpProxy: 'http://p:3128',
    httpsProxy: 'http://p:3129',
    loadModules: 'git/2.39',
    localTmp: '/tmp/$USER/EESSI',
    sharedFsPath: '/shared',
    siteConfigScript: '/opt/site.sh',
  },
}).buildenv;

const input: V09JobConfigInput = {
  buildenv: fullBuildenv,
  jobDir: JOB_DIR,
  reposCfgDir: '/etc/eessi-bot/repos',
  repoId: 'eessi.io-2023.06-software',
  repo: {
    id: 'eessi.io-2023.06-software',
    repoName: 'software.eessi.io',
    repoVersion: '2023.06',
    container: 'docker://ghcr.io/eessi/build-node:debian12',
    configMap: {},
  },
  nodeType: 'zen4-h100',
  softwareSubdir: 'x86_64/amd/zen4',
  osType: 'linux',
  accelerator: 'nvidia/cc90',
};

describe('renderV09JobConfig', () => {
  it('writes the bytes Python’s configparser writes for v0.9’s job.cfg', () => {
    // Produced by configparser.ConfigParser().write() with the same values (Python 3.11).
    expect(renderV09JobConfig({ ...input, accelerator: '' })).toBe(
      '[site_config]\nbuild_logs_dir = /shared/logs\ncontainer_cachedir = /scratch/containers\nhttp_proxy = http://p:3128\nhttps_proxy = http://p:3129\nload_modules = git/2.39\nlocal_tmp = /tmp/$USER/EESSI\nshared_fs_path = /shared\nsite_config_script = /opt/site.sh\n\n' +
        `[repository]\nrepos_cfg_dir = ${JOB_DIR}/cfg\nrepo_id = eessi.io-2023.06-software\ncontainer = docker://ghcr.io/eessi/build-node:debian12\nrepo_name = software.eessi.io\nrepo_version = 2023.06\n\n` +
        '[architecture]\nnode_type = zen4-h100\nsoftware_subdir = x86_64/amd/zen4\nos_type = linux\naccelerator = \n\n',
    );
  });

  it('leaves out site settings that are not set, and repository values of an id without a section', () => {
    const minimal = makeConfig({
      root: '/r',
      buildenv: { localTmp: '/tmp/x', httpProxy: '', httpsProxy: '', loadModules: '' },
    }).buildenv;
    expect(
      renderV09JobConfig({
        ...input,
        buildenv: minimal,
        reposCfgDir: undefined,
        repoId: 'EESSI',
        repo: undefined,
      }),
    ).toBe(
      '[site_config]\nlocal_tmp = /tmp/x\n\n' +
        '[repository]\nrepo_id = EESSI\n\n' +
        '[architecture]\nnode_type = zen4-h100\nsoftware_subdir = x86_64/amd/zen4\nos_type = linux\naccelerator = nvidia/cc90\n\n',
    );
  });
});

describe('formatConfigparser', () => {
  it('indents continuation lines with a tab, as configparser does', () => {
    expect(formatConfigparser([['s', [['k', 'a\nb\r\nc']]]])).toBe('[s]\nk = a\n\tb\n\tc\n\n');
  });

  it('refuses a key that would change the file’s structure', () => {
    expect(() => formatConfigparser([['s', [['k = x\n[t]', 'v']]]])).toThrow(/INI key/);
  });
});

describe('renderExportVars', () => {
  const hostile = [
    '$(touch PWNED)',
    '`touch PWNED`',
    "it's; touch PWNED",
    '"double" \\ back\\slash',
    "multi\nline\n'; touch PWNED; '",
    "''''",
    '${HOME:-x}',
    '',
  ];

  it('one export per variable, each value single-quoted', () => {
    expect(
      renderExportVars([
        { name: 'SKIP_TESTS', value: 'yes' },
        { name: 'X', value: "it's" },
      ]),
    ).toBe("export SKIP_TESTS='yes'\nexport X='it'\\''s'\n");
  });

  it('a shell sourcing the file gets every hostile value back exactly, and runs nothing', () => {
    const vars = hostile.map((value, i) => ({ name: `V${i}`, value }));
    const file = join(dir, 'export_vars.sh');
    const print = hostile.map((_, i) => `printf '%s\\0' "$V${i}"`).join('; ');
    return writeFile(file, renderExportVars(vars)).then(() => {
      const out = execFileSync('bash', ['-c', `source "$1"; ${print}`, 'bash', file], {
        cwd: dir,
        encoding: 'utf8',
      });
      expect(out.split('\0').slice(0, -1)).toEqual(hostile);
      expect(existsSync(join(dir, 'PWNED'))).toBe(false);
    });
  });

  it('refuses a name that is not a shell name, and a NUL in a value', () => {
    expect(() => renderExportVars([{ name: 'A;touch x', value: '1' }])).toThrow(/not a shell name/);
    expect(() => renderExportVars([{ name: 'A', value: 'a\0b' }])).toThrow(/NUL/);
  });
});

describe('writeV09JobFiles', () => {
  it('copies repos_cfg_dir into cfg/, writes job.cfg and export_vars.sh, never through the PR’s symlinks', async () => {
    const repos = join(dir, 'repos');
    await mkdir(join(repos, 'sub'), { recursive: true });
    await writeFile(join(repos, 'repos.cfg'), '[eessi.io-2023.06-software]\n');
    await writeFile(join(repos, 'sub', 'default.local'), 'CVMFS_X=1\n');
    const outside = join(dir, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'precious'), 'keep');
    const jobDir = join(dir, 'job');
    await mkdir(join(jobDir, 'cfg'), { recursive: true });
    // Planted by the PR: a file symlink and a directory symlink where the bot writes.
    await symlink(join(outside, 'precious'), join(jobDir, 'cfg', 'repos.cfg'));
    await symlink(outside, join(jobDir, 'cfg', 'sub'));
    await symlink(join(outside, 'precious'), join(jobDir, 'cfg', 'export_vars.sh'));

    await writeV09JobFiles({ ...input, jobDir, reposCfgDir: repos }, [
      { name: 'SKIP_TESTS', value: 'yes' },
    ]);

    expect(await readFile(join(outside, 'precious'), 'utf8')).toBe('keep');
    expect((await lstat(join(jobDir, 'cfg', 'sub'))).isDirectory()).toBe(true);
    expect(await readFile(join(jobDir, 'cfg', 'repos.cfg'), 'utf8')).toBe(
      '[eessi.io-2023.06-software]\n',
    );
    expect(await readFile(join(jobDir, 'cfg', 'sub', 'default.local'), 'utf8')).toBe('CVMFS_X=1\n');
    expect(await readFile(join(jobDir, 'cfg', 'job.cfg'), 'utf8')).toContain(
      `repos_cfg_dir = ${jobDir}/cfg\n`,
    );
    expect(await readFile(join(jobDir, 'cfg', 'export_vars.sh'), 'utf8')).toBe(
      "export SKIP_TESTS='yes'\n",
    );
  });

  it('writes no export_vars.sh when nothing is exported', async () => {
    const jobDir = join(dir, 'job');
    await mkdir(jobDir);
    await writeV09JobFiles({ ...input, jobDir, reposCfgDir: undefined }, []);
    expect(existsSync(join(jobDir, 'cfg', 'export_vars.sh'))).toBe(false);
    expect(existsSync(join(jobDir, 'cfg', 'job.cfg'))).toBe(true);
  });
});
