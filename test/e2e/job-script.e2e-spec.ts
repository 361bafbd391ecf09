import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  BUILD_JOB_SCRIPT,
  EXAMPLE_SOFTWARE_LAYER,
  type JobDir,
  type MakeJobDirOptions,
  makeJobDir,
  runJobScript,
} from '../support/job-dir.js';
import { cleanupAfterEach } from '../support/test-kit.js';

// The job script runs here with bash directly, as Slurm would run it on a compute node
// (runJobScript: working directory = job dir, SLURM_JOB_ID set, output into slurm-<ID>.out).

const TEST_USER = 'eessi-test-user';
let nextJobId = 9100;
const cleanup = cleanupAfterEach();

async function jobDir(options: MakeJobDirOptions): Promise<JobDir> {
  const dir = await makeJobDir(options);
  cleanup.defer(() => dir.remove());
  return dir;
}

function scratchDir(): Promise<string> {
  return cleanup.tempDir('eessi-bot-scratch-');
}

function runJob(dir: string, args: string[], env: Record<string, string> = {}) {
  const jobId = String(nextJobId++);
  return runJobScript({ script: BUILD_JOB_SCRIPT, dir, jobId, user: TEST_USER, args, env });
}

interface JobResult {
  readonly status: string;
  readonly comment: string;
  readonly artefacts: string[];
}

/** Reads _bot_job<ID>.result: configparser style, artefacts as indented continuation lines. */
async function readResult(dir: string, jobId: string): Promise<JobResult> {
  const text = await readFile(join(dir, `_bot_job${jobId}.result`), 'utf8');
  const lines = text.split('\n');
  expect(lines[0]).toBe('[RESULT]');
  const value = (key: string): string => {
    const line = lines.find((l) => l.startsWith(`${key} =`));
    if (line === undefined) {
      throw new Error(`no ${key} in result file:\n${text}`);
    }
    return line.slice(key.length + 2).trim();
  };
  const artefactsAt = lines.findIndex((l) => l.startsWith('artefacts ='));
  const artefacts: string[] = [];
  for (const line of lines.slice(artefactsAt + 1)) {
    if (!/^\s+\S/.test(line)) {
      break;
    }
    artefacts.push(line.trim());
  }
  return { status: value('status'), comment: value('comment_description'), artefacts };
}

async function tarballsIn(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => /^eessi-.*software-.*\.tar\.gz$/.test(f));
}

/** The private temporary directory the script announced in its log. */
function announcedTmpdir(log: string): string {
  const match = /^\[[^\]]*\] eessi-bot-build: temporary directory: (.+)$/m.exec(log);
  if (match === null) {
    throw new Error(`no temporary directory in log:\n${log}`);
  }
  return match[1];
}

const script = (body: string) => ({
  content: `#!/usr/bin/env bash\nset -euo pipefail\n${body}\n`,
  mode: 0o755,
});

/** A bot/build.sh that reports its environment, for tests that check what the job script set. */
const ENV_REPORTING_BUILD = script(
  [
    'echo "EESSI_TMPDIR=$EESSI_TMPDIR"',
    'echo "TMPDIR=$TMPDIR"',
    'for v in http_proxy HTTP_PROXY https_proxy HTTPS_PROXY LOADED_MODULES EESSI_SOFTWARE_SUBDIR_OVERRIDE EESSI_CPU_FAMILY; do',
    '  echo "$v=${!v-<unset>}"',
    'done',
    'test -d "$EESSI_TMPDIR" && test -w "$EESSI_TMPDIR"',
  ].join('\n'),
);

describe('eessi-bot-build.slurm', () => {
  it('is executable, as are the example repository scripts', async () => {
    for (const path of [
      BUILD_JOB_SCRIPT,
      join(EXAMPLE_SOFTWARE_LAYER, 'bot', 'build.sh'),
      join(EXAMPLE_SOFTWARE_LAYER, 'bot', 'check-build.sh'),
    ]) {
      expect({ path, mode: (await stat(path)).mode & 0o111 }).toEqual({ path, mode: 0o111 });
    }
  });

  describe('current protocol (bot/build.sh)', () => {
    it('builds the example repository: tarball, SUCCESS result, exit 0, temporary directory removed', async () => {
      const job = await jobDir({ repo: EXAMPLE_SOFTWARE_LAYER });
      const scratch = await scratchDir();

      const run = await runJob(job.dir, ['--tmpdir', scratch]);

      expect(run.code).toBe(0);
      const tarballs = await tarballsIn(job.dir);
      expect(tarballs).toHaveLength(1);
      expect(tarballs[0]).toMatch(
        /^eessi-2023\.06-software-linux-x86_64-amd-zen2-\d{10}\.tar\.gz$/,
      );
      const listing = execFileSync('tar', ['-tzf', join(job.dir, tarballs[0])], {
        encoding: 'utf8',
      });
      expect(listing).toContain(
        '2023.06/software/linux/x86_64/amd/zen2/modules/all/zlib/1.2.13.lua',
      );
      expect(listing).toContain(
        '2023.06/software/linux/x86_64/amd/zen2/software/Hello/2.12.1/bin/hello',
      );

      const result = await readResult(job.dir, run.jobId);
      expect(result.status).toBe('SUCCESS');
      expect(result.artefacts).toEqual(tarballs);
      expect(result.comment).toContain(tarballs[0]);

      // The example build leaves a read-only tree in its temporary directory, as EasyBuild does.
      const tmp = announcedTmpdir(run.log);
      expect(tmp.startsWith(`${scratch}/eessi-bot-job.`)).toBe(true);
      expect(existsSync(tmp)).toBe(false);
      expect(await readdir(scratch)).toEqual([]);

      expect(run.log).toContain('No missing modules!');
      expect(run.log).toMatch(
        /^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\] eessi-bot-build: running bot\/build\.sh$/m,
      );
    }, 30_000);

    it('propagates a failing build: non-zero exit, FAILURE result, temporary directory removed', async () => {
      const job = await jobDir({
        repo: EXAMPLE_SOFTWARE_LAYER,
        files: { 'bot/FAIL': 'make this build fail\n' },
      });
      const scratch = await scratchDir();

      const run = await runJob(job.dir, ['--tmpdir', scratch]);

      expect(run.code).toBe(1);
      expect(await tarballsIn(job.dir)).toEqual([]);
      const result = await readResult(job.dir, run.jobId);
      expect(result.status).toBe('FAILURE');
      expect(result.comment).toContain('bot/build.sh exited with status 1');
      expect(result.artefacts).toEqual([]);
      expect(existsSync(announcedTmpdir(run.log))).toBe(false);
      expect(await readdir(scratch)).toEqual([]);
    }, 30_000);

    it.each([
      { buildExit: 3, status: 'FAILURE', comment: 'bot/build.sh exited with status 3' },
      { buildExit: 0, status: 'UNKNOWN', comment: 'no result file was written' },
    ])(
      'without bot/check-build.sh: exit $buildExit gives exit $buildExit and a $status result',
      async ({ buildExit, status, comment }) => {
        const job = await jobDir({
          files: { 'bot/build.sh': script(`echo building; exit ${buildExit}`) },
        });
        const scratch = await scratchDir();

        const run = await runJob(job.dir, ['--tmpdir', scratch]);

        expect(run.code).toBe(buildExit);
        const result = await readResult(job.dir, run.jobId);
        expect(result.status).toBe(status);
        expect(result.comment).toContain(comment);
        expect(await readdir(scratch)).toEqual([]);
      },
      30_000,
    );

    it('gives the build the target from job.cfg, and no subdir override for --generic', async () => {
      const job = await jobDir({ files: { 'bot/build.sh': ENV_REPORTING_BUILD } });
      const scratch = await scratchDir();

      const specific = await runJob(job.dir, ['--tmpdir', scratch]);
      const generic = await runJob(job.dir, ['--tmpdir', scratch, '--generic']);

      expect(specific.code).toBe(0);
      expect(specific.log).toContain('EESSI_SOFTWARE_SUBDIR_OVERRIDE=x86_64/amd/zen2\n');
      expect(specific.log).toContain('EESSI_CPU_FAMILY=x86_64\n');
      expect(generic.code).toBe(0);
      expect(generic.log).toContain('EESSI_SOFTWARE_SUBDIR_OVERRIDE=<unset>\n');
      expect(generic.log).toContain('EESSI_CPU_FAMILY=x86_64\n');
    }, 30_000);
  });

  describe('pilot protocol (seed)', () => {
    // Stand-ins for the EESSI pilot scripts; build_container.sh records each call and runs the
    // command directly instead of in a container.
    const pilotFiles = (minimalEnv: string) => ({
      'init/minimal_eessi_env': minimalEnv,
      'eessi_software_subdir.py': {
        content: [
          'import os, sys',
          'marker = "subdir-attempted"',
          '# The first attempt fails, as archspec sometimes did on busy nodes.',
          'if not os.path.exists(marker):',
          '    open(marker, "w").close()',
          '    print("archspec: cannot read /proc/cpuinfo")',
          '    sys.exit(1)',
          'print("generic" if "--generic" in sys.argv else "detected:", "x86_64/intel/haswell")',
        ].join('\n'),
        mode: 0o644,
      },
      'build_container.sh': script(
        'echo "build_container.sh $*" >> container-calls.log\n[ "$1" = run ] && shift 2\nexec "$@"',
      ),
      'install_software_layer.sh': script(
        'echo "installing with args: $*"\necho "No missing modules!"',
      ),
      'create_tarball.sh': script(
        [
          'tmpdir=$1 version=$2 subdir=$3 target=$4',
          'mkdir -p "$tmpdir/$version/software/linux/$subdir/modules/all"',
          'tar -czf "$target" -C "$tmpdir" "$version"',
        ].join('\n'),
      ),
    });

    it('finds the subdir (with a retry), installs and creates the tarball named by the seed rule', async () => {
      const job = await jobDir({
        files: pilotFiles('export EESSI_PILOT_VERSION=2021.06\nexport EESSI_OS_TYPE=linux\n'),
      });
      const scratch = await scratchDir();

      const run = await runJob(job.dir, [
        '--tmpdir',
        scratch,
        '--https-proxy',
        'http://proxy.example:3128',
      ]);

      expect(run.code).toBe(0);
      expect(run.log).toContain('attempt 2/3');
      const tarballs = await tarballsIn(job.dir);
      expect(tarballs).toHaveLength(1);
      expect(tarballs[0]).toMatch(
        /^eessi-2021\.06-software-linux-x86_64-intel-haswell-\d{10}\.tar\.gz$/,
      );
      expect(run.log).toContain(`${job.dir}/${tarballs[0]} created!\n`);
      const calls = await readFile(join(job.dir, 'container-calls.log'), 'utf8');
      const tmp = announcedTmpdir(run.log);
      expect(calls.split('\n').filter(Boolean)).toEqual([
        `build_container.sh run ${tmp} ./install_software_layer.sh --https-proxy http://proxy.example:3128`,
        `build_container.sh run ${tmp} ./create_tarball.sh ${tmp} 2021.06 x86_64/intel/haswell ${job.dir}/${tarballs[0]}`,
      ]);
      // The seed's rule (log + tarball) judges pilot builds; the script writes no result file.
      expect(existsSync(join(job.dir, `_bot_job${run.jobId}.result`))).toBe(false);
      expect(existsSync(tmp)).toBe(false);
    }, 30_000);

    it('defaults the version to 2021.12 and passes --generic on', async () => {
      const job = await jobDir({ files: pilotFiles('export EESSI_OS_TYPE=linux\n') });
      const scratch = await scratchDir();

      const run = await runJob(job.dir, ['--tmpdir', scratch, '--generic']);

      expect(run.code).toBe(0);
      expect(run.log).toContain("eessi_software_subdir.py said: 'x86_64/intel/haswell'");
      expect(run.log).toContain('installing with args: --generic\n');
      expect(await tarballsIn(job.dir)).toEqual([
        expect.stringMatching(
          /^eessi-2021\.12-software-linux-x86_64-intel-haswell-\d{10}\.tar\.gz$/,
        ),
      ]);
    }, 30_000);
  });

  describe('setup failures', () => {
    it('exits 1 with a FAILURE result naming what it looked for when there is no build protocol', async () => {
      const job = await jobDir({
        files: {
          'README.md': 'not a software-layer repository\n',
          'create_tarball.sh': script(''),
        },
      });

      const run = await runJob(job.dir, ['--tmpdir', await scratchDir()]);

      expect(run.code).toBe(1);
      const result = await readResult(job.dir, run.jobId);
      expect(result.status).toBe('FAILURE');
      expect(result.comment).toMatch(
        /^:cry: FAILURE: no build protocol found \(looked for bot\/build\.sh and the pilot scripts /,
      );
      for (const name of [
        'init/minimal_eessi_env',
        'build_container.sh',
        'install_software_layer.sh',
        'eessi_software_subdir.py',
      ]) {
        expect(result.comment).toContain(name);
      }
      expect(result.comment).toMatch(/missing: [^)]*install_software_layer\.sh/);
      expect(result.comment).not.toMatch(/missing: [^)]*create_tarball\.sh/);
      expect(run.log).toContain('no build protocol found');
    }, 30_000);

    it('says clearly that cfg/job.cfg is missing', async () => {
      const job = await jobDir({ repo: EXAMPLE_SOFTWARE_LAYER, jobCfg: null });

      const run = await runJob(job.dir, []);

      expect(run.code).toBe(1);
      expect(run.log).toContain(`cfg/job.cfg not found in ${job.dir}`);
      expect(run.log).not.toContain('bot/build.sh: building');
      expect((await readResult(job.dir, run.jobId)).status).toBe('FAILURE');
    }, 30_000);

    it.each([
      { args: ['--frobnicate'], message: "unknown option or argument: '--frobnicate'" },
      { args: ['extra-argument'], message: "unknown option or argument: 'extra-argument'" },
      { args: ['--tmpdir'], message: 'option --tmpdir needs a value' },
    ])('exits 2 with usage for $args', async ({ args, message }) => {
      const job = await jobDir({ repo: EXAMPLE_SOFTWARE_LAYER });

      const run = await runJob(job.dir, args);

      expect(run.code).toBe(2);
      expect(run.log).toContain(message);
      expect(run.log).toContain('usage:');
      expect(run.log).not.toContain('bot/build.sh: building');
    });
  });

  describe('modules', () => {
    it('fails with a clear error when --load-modules is given and there is no module command', async () => {
      const job = await jobDir({ repo: EXAMPLE_SOFTWARE_LAYER });
      const scratch = await scratchDir();

      const run = await runJob(job.dir, [
        '--tmpdir',
        scratch,
        '--load-modules',
        'GCC/12.3.0,Python',
      ]);

      expect(run.code).not.toBe(0);
      expect(run.log).toContain('module command not found: cannot load GCC/12.3.0');
      expect(run.log).not.toContain('bot/build.sh: building');
      expect((await readResult(job.dir, run.jobId)).status).toBe('FAILURE');
      expect(await readdir(scratch)).toEqual([]);
    }, 30_000);

    it('loads each module, in order, with the module system found through MODULESHOME', async () => {
      const modulesHome = await scratchDir();
      await makeModulesHome(modulesHome);
      const job = await jobDir({ files: { 'bot/build.sh': ENV_REPORTING_BUILD } });

      const run = await runJob(
        job.dir,
        ['--tmpdir', await scratchDir(), '--load-modules', 'GCC/12.3.0, Python/3.11'],
        {
          MODULESHOME: modulesHome,
        },
      );

      expect(run.code).toBe(0);
      expect(run.log).toContain('LOADED_MODULES=GCC/12.3.0:Python/3.11\n');
    }, 30_000);
  });

  describe('settings', () => {
    it('expands $USER, ${VAR} and \\$VAR in local_tmp from job.cfg on the node', async () => {
      const scratch = await scratchDir();
      const job = await jobDir({
        files: { 'bot/build.sh': ENV_REPORTING_BUILD },
        jobCfg: { site_config: { local_tmp: `${scratch}/$USER/\${JOB_TAG}/\\$JOB_TAG-x` } },
      });

      const run = await runJob(job.dir, [], { JOB_TAG: 'tag1' });

      expect(run.code).toBe(0);
      const base = `${scratch}/${TEST_USER}/tag1/tag1-x`;
      expect(run.log).toMatch(new RegExp(`^EESSI_TMPDIR=${base}/eessi-bot-job\\.\\w{6}$`, 'm'));
      expect(await readdir(base)).toEqual([]);
    }, 30_000);

    it('lets --tmpdir win over local_tmp in job.cfg', async () => {
      const fromCfg = await scratchDir();
      const fromOption = await scratchDir();
      const job = await jobDir({
        files: { 'bot/build.sh': ENV_REPORTING_BUILD },
        jobCfg: { site_config: { local_tmp: fromCfg } },
      });

      const run = await runJob(job.dir, ['--tmpdir', `${fromOption}/$USER`]);

      expect(run.code).toBe(0);
      expect(announcedTmpdir(run.log).startsWith(`${fromOption}/${TEST_USER}/eessi-bot-job.`)).toBe(
        true,
      );
      expect(await readdir(fromCfg)).toEqual([]);
    }, 30_000);

    it('never executes command substitutions or backticks from local_tmp', async () => {
      const scratch = await scratchDir();
      const marker = join(scratch, 'pwned-XYZ');
      const job = await jobDir({
        files: { 'bot/build.sh': ENV_REPORTING_BUILD },
        jobCfg: {
          site_config: { local_tmp: `${scratch}/a$(touch ${marker})/b\`touch ${marker}\`/c` },
        },
      });

      const fromCfg = await runJob(job.dir, []);
      const fromOption = await runJob(job.dir, ['--tmpdir', `$(touch ${marker})`]);

      expect(existsSync(marker)).toBe(false);
      // The value is a (strange but harmless) literal path.
      expect(fromCfg.code).toBe(0);
      expect(announcedTmpdir(fromCfg.log)).toContain(
        `/a$(touch ${marker})/b\`touch ${marker}\`/c/`,
      );
      // Not absolute: refused rather than created under the job dir.
      expect(fromOption.code).toBe(1);
      expect(fromOption.log).toContain('is not an absolute path');
    }, 30_000);

    it('refuses a local_tmp that names an unset variable, naming it', async () => {
      const job = await jobDir({
        files: { 'bot/build.sh': ENV_REPORTING_BUILD },
        jobCfg: { site_config: { local_tmp: '/tmp/$EESSI_BOT_TEST_UNSET_VAR/x' } },
      });

      const run = await runJob(job.dir, []);

      expect(run.code).toBe(1);
      expect(run.log).toContain('$EESSI_BOT_TEST_UNSET_VAR is not set');
      expect((await readResult(job.dir, run.jobId)).comment).toContain(
        "cannot expand local_tmp '/tmp/$EESSI_BOT_TEST_UNSET_VAR/x'",
      );
    }, 30_000);

    it('exports proxies in both cases, options winning over job.cfg (values as ini quotes them)', async () => {
      const job = await jobDir({
        files: { 'bot/build.sh': ENV_REPORTING_BUILD },
        jobCfg: {
          site_config: {
            local_tmp: await scratchDir(),
            http_proxy: 'http://cfg-proxy.example:3128/?auth=a;b#c',
            https_proxy: 'http://cfg-proxy.example:3129',
          },
        },
      });

      const run = await runJob(job.dir, ['--https-proxy', 'http://option-proxy.example:8080']);

      expect(run.code).toBe(0);
      for (const name of ['http_proxy', 'HTTP_PROXY']) {
        expect(run.log).toContain(`${name}=http://cfg-proxy.example:3128/?auth=a;b#c\n`);
      }
      for (const name of ['https_proxy', 'HTTPS_PROXY']) {
        expect(run.log).toContain(`${name}=http://option-proxy.example:8080\n`);
      }
    }, 30_000);

    it('reads ini-escaped values without quotes and leaves proxies unset when none is configured', async () => {
      const job = await jobDir({
        files: { 'bot/build.sh': ENV_REPORTING_BUILD },
        jobCfg: { site_config: { local_tmp: `${await scratchDir()}/semi;colon#hash` } },
      });

      const run = await runJob(job.dir, []);

      expect(run.code).toBe(0);
      expect(announcedTmpdir(run.log)).toContain('/semi;colon#hash/eessi-bot-job.');
      expect(run.log).toContain('http_proxy=<unset>\n');
      expect(run.log).toContain('HTTPS_PROXY=<unset>\n');
    }, 30_000);
  });
});

/** A module system stand-in: MODULESHOME/init/bash defines `module`, as Lmod's does. */
async function makeModulesHome(dir: string): Promise<void> {
  await mkdir(join(dir, 'init'));
  await writeFile(
    join(dir, 'init', 'bash'),
    [
      'module() {',
      '  [ "$1" = load ] || return 1',
      '  export LOADED_MODULES="${LOADED_MODULES:+$LOADED_MODULES:}$2"',
      '}',
    ].join('\n'),
  );
}
