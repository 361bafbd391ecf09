import { afterEach, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BOT_BUILD_JOB_SCRIPT,
  type JobDir,
  type MakeJobDirOptions,
  V09_SOFTWARE_LAYER,
  makeJobDir,
  readWithConfigparser,
  removeTree,
  runJobScript,
  v09JobCfgText,
} from '../support/job-dir.js';

// scripts/slurm/bot-build.slurm (the v0.9 job protocol) run with bash as Slurm would run it on a
// node; test/slurm/bot-build-script.slurm-spec.ts runs the same script through the real sbatch.

const TEST_USER = 'eessi-v09-user';
let nextJobId = 9300;
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  while (cleanups.length > 0) {
    await cleanups.pop()!();
  }
});

async function scratchDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'eessi-bot-scratch-'));
  cleanups.push(() => removeTree(dir));
  return dir;
}

/**
 * A job dir from the v0.9 fixture repository with `cfg/job.cfg` as the bot writes it, local_tmp
 * in a fresh scratch directory unless `site_config` says otherwise.
 */
async function jobDir(
  opts: {
    files?: MakeJobDirOptions['files'];
    site_config?: Record<string, string | undefined>;
    remove?: string[];
    jobCfg?: string | null;
  } = {},
): Promise<JobDir & { localTmp: string }> {
  const localTmp = await scratchDir();
  const jobCfg =
    opts.jobCfg !== undefined
      ? opts.jobCfg
      : v09JobCfgText({ site_config: { local_tmp: localTmp, ...opts.site_config } });
  const dir = await makeJobDir({
    repo: V09_SOFTWARE_LAYER,
    jobCfg: null,
    files: { ...(jobCfg === null ? {} : { 'cfg/job.cfg': jobCfg }), ...opts.files },
  });
  cleanups.push(() => dir.remove());
  for (const path of opts.remove ?? []) {
    await rm(join(dir.dir, path));
  }
  return { ...dir, localTmp };
}

function runJob(dir: string, env: Record<string, string> = {}, args: string[] = []) {
  const jobId = String(nextJobId++);
  return runJobScript({ script: BOT_BUILD_JOB_SCRIPT, dir, jobId, user: TEST_USER, args, env });
}

/** `_bot_job<ID>.<kind>` read by Python's configparser, as upstream's job manager reads it. */
function jobFile(dir: string, jobId: string, kind: 'result' | 'test') {
  const path = join(dir, `_bot_job${jobId}.${kind}`);
  if (!existsSync(path)) {
    throw new Error(`${path} does not exist`);
  }
  return readWithConfigparser(path);
}

async function tarballsIn(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => /^eessi-.*-software-.*\.tar\./.test(f));
}

/** The steps the script announced, in order ("running bot/build.sh", ...). */
function stepsRun(log: string): string[] {
  return [...log.matchAll(/\] bot-build: running (\S+)$/gm)].map((m) => m[1]);
}

const script = (body: string) => ({
  content: `#!/usr/bin/env bash\nset -euo pipefail\n${body}\n`,
  mode: 0o755,
});

describe('bot-build.slurm (v0.9 job protocol)', () => {
  it('builds, checks, tests and checks the tests: SUCCESS, [TEST] row, exit 0, TMPDIR removed', async () => {
    const site = await scratchDir();
    const siteScript = join(site, 'site config.sh');
    await writeFile(siteScript, 'export SITE_CONFIG_MARK="from the site"\nfalse\n');
    const job = await jobDir({
      site_config: { site_config_script: siteScript },
      files: { 'cfg/export_vars.sh': "export EXPORTED_BY_REQUEST='a b;c'\n" },
    });

    const run = await runJob(job.dir);

    expect(run.code).toBe(0);
    expect(stepsRun(run.log)).toEqual([
      'bot/build.sh',
      'bot/check-build.sh',
      'bot/test.sh',
      'bot/check-test.sh',
    ]);
    const tarballs = await tarballsIn(job.dir);
    expect(tarballs).toEqual([
      expect.stringMatching(/^eessi-2025\.06-software-linux-x86_64-amd-zen4-\d{11}\.tar\.zst$/),
    ]);
    expect(
      execFileSync('tar', ['--zstd', '-tf', join(job.dir, tarballs[0])], { encoding: 'utf8' }),
    ).toContain('2025.06/software/linux/x86_64/amd/zen4/modules/all/Hello/2.12.1.lua');

    const result = jobFile(job.dir, run.jobId, 'result');
    expect(result.RESULT.status).toBe('SUCCESS');
    expect(result.RESULT.artefacts.trim()).toBe(tarballs[0]);
    expect(jobFile(job.dir, run.jobId, 'test')).toEqual({
      TEST: { comment_description: ':grin: SUCCESS: 2 tests passed', status: 'SUCCESS' },
    });

    // Site script and exported variables reached the build; the site script's last status is
    // only logged.
    expect(run.log).toContain('build.sh: SITE_CONFIG_MARK=from the site\n');
    expect(run.log).toContain('build.sh: EXPORTED_BY_REQUEST=a b;c\n');
    expect(run.log).toContain(`site configuration script ${siteScript} returned status 1`);
    // TMPDIR was a private directory under local_tmp, gone after the job.
    const tmp = /^build\.sh: TMPDIR=(.+)$/m.exec(run.log)?.[1];
    expect(tmp).toMatch(new RegExp(`^${job.localTmp}/eessi_job\\.\\w{10}$`));
    expect(existsSync(tmp!)).toBe(false);
    expect(await readdir(job.localTmp)).toEqual([]);
  }, 30_000);

  it('names the accelerator in the tarball of a GPU build', async () => {
    const job = await jobDir({
      files: {
        'cfg/job.cfg': v09JobCfgText({
          site_config: { local_tmp: await scratchDir() },
          architecture: { accelerator: 'nvidia/cc90' },
        }),
      },
    });

    const run = await runJob(job.dir);

    expect(run.code).toBe(0);
    expect(await tarballsIn(job.dir)).toEqual([
      expect.stringMatching(
        /^eessi-2025\.06-software-linux-x86_64-amd-zen4-accel-nvidia-cc90-\d{11}\.tar\.zst$/,
      ),
    ]);
  }, 30_000);

  it("exits with the build's status on a failed build, still checking and testing", async () => {
    const job = await jobDir({ files: { 'bot/FAIL': 'fail this build\n' } });

    const run = await runJob(job.dir);

    expect(run.code).toBe(1);
    expect(stepsRun(run.log)).toEqual([
      'bot/build.sh',
      'bot/check-build.sh',
      'bot/test.sh',
      'bot/check-test.sh',
    ]);
    expect(await tarballsIn(job.dir)).toEqual([]);
    const result = jobFile(job.dir, run.jobId, 'result');
    expect(result.RESULT.status).toBe('FAILURE');
    expect(result.RESULT.comment_description).toContain('build exited with status 1');
    expect(result.RESULT.artefacts).toBe('');
    expect(await readdir(job.localTmp)).toEqual([]);
  }, 30_000);

  it('writes a default UNKNOWN result and [TEST] file when check-build.sh and check-test.sh are missing', async () => {
    const job = await jobDir({ remove: ['bot/check-build.sh', 'bot/check-test.sh'] });

    const run = await runJob(job.dir);

    expect(run.code).toBe(0);
    expect(stepsRun(run.log)).toEqual(['bot/build.sh', 'bot/test.sh']);
    const { RESULT } = jobFile(job.dir, run.jobId, 'result');
    expect(RESULT.status).toBe('UNKNOWN');
    expect(RESULT.artefacts).toBe('');
    expect(RESULT.comment_description).toMatch(
      /^<details><summary>:shrug: UNKNOWN _\(click triangle for detailed information\)_<\/summary><ul><li>Did not find `bot\/check-build\.sh` in the job's directory; bot\/build\.sh exited with status 0\.<\/li>.*<\/ul><\/details>$/,
    );
    const test = jobFile(job.dir, run.jobId, 'test');
    expect(Object.keys(test)).toEqual(['TEST']);
    expect(test.TEST.status).toBe('UNKNOWN');
    expect(test.TEST.comment_description).toContain('Did not find `bot/check-test.sh`');
  }, 30_000);

  it('keeps a result file the build wrote itself, and says so when check-build.sh writes none', async () => {
    const own = await jobDir({
      remove: ['bot/check-build.sh'],
      files: {
        'bot/build.sh': script(
          'printf "[RESULT]\\nstatus = SUCCESS\\ncomment_description = own verdict\\nartefacts =\\n" > "_bot_job${SLURM_JOB_ID}.result"',
        ),
      },
    });
    const silent = await jobDir({ files: { 'bot/check-build.sh': script('exit 4') } });

    const ownRun = await runJob(own.dir);
    const silentRun = await runJob(silent.dir);

    expect(jobFile(own.dir, ownRun.jobId, 'result').RESULT.comment_description).toBe('own verdict');
    const { RESULT } = jobFile(silent.dir, silentRun.jobId, 'result');
    expect(RESULT.status).toBe('UNKNOWN');
    expect(RESULT.comment_description).toContain(
      `bot/check-build.sh exited with status 4 without writing \`_bot_job${silentRun.jobId}.result\``,
    );
  }, 30_000);

  describe('SKIP_TESTS', () => {
    it('skips bot/test.sh when the build request exports SKIP_TESTS=yes; check-test.sh still runs', async () => {
      const job = await jobDir({ files: { 'cfg/export_vars.sh': "export SKIP_TESTS='yes'\n" } });

      const run = await runJob(job.dir);

      expect(run.code).toBe(0);
      expect(stepsRun(run.log)).toEqual([
        'bot/build.sh',
        'bot/check-build.sh',
        'bot/check-test.sh',
      ]);
      expect(run.log).toContain('SKIP_TESTS=yes: not running bot/test.sh');
      expect(jobFile(job.dir, run.jobId, 'test').TEST).toEqual({
        comment_description: ':shrug: UNKNOWN: the tests did not run',
        status: 'UNKNOWN',
      });
    }, 30_000);

    it('says the tests were skipped when there is no check-test.sh', async () => {
      const job = await jobDir({
        remove: ['bot/check-test.sh'],
        files: { 'cfg/export_vars.sh': "export SKIP_TESTS='yes'\n" },
      });

      const run = await runJob(job.dir);

      expect(jobFile(job.dir, run.jobId, 'test').TEST.comment_description).toContain(
        'Tests were not run: the build request set `SKIP_TESTS=yes`.',
      );
    }, 30_000);

    it('ignores SKIP_TESTS from the submitting environment', async () => {
      const job = await jobDir();

      const run = await runJob(job.dir, { SKIP_TESTS: 'yes' });

      expect(stepsRun(run.log)).toContain('bot/test.sh');
      expect(jobFile(job.dir, run.jobId, 'test').TEST.status).toBe('SUCCESS');
    }, 30_000);
  });

  describe('failures before the build', () => {
    it('exits 1 with a FAILURE result when bot/build.sh is missing', async () => {
      const job = await jobDir({ remove: ['bot/build.sh'] });

      const run = await runJob(job.dir);

      expect(run.code).toBe(1);
      expect(stepsRun(run.log)).toEqual([]);
      const { RESULT } = jobFile(job.dir, run.jobId, 'result');
      expect(RESULT.status).toBe('FAILURE');
      expect(RESULT.comment_description).toContain(`no bot/build.sh in ${job.dir}`);
      expect(await readdir(job.localTmp)).toEqual([]);
    }, 30_000);

    it('exits 1 with a FAILURE result when cfg/job.cfg is missing', async () => {
      const job = await jobDir({ jobCfg: null });

      const run = await runJob(job.dir);

      expect(run.code).toBe(1);
      expect(stepsRun(run.log)).toEqual([]);
      expect(jobFile(job.dir, run.jobId, 'result').RESULT.comment_description).toContain(
        `cfg/job.cfg not found in ${job.dir}`,
      );
    }, 30_000);

    it('refuses a site_config_script that is not there, naming it', async () => {
      const job = await jobDir({ site_config: { site_config_script: '/nonexistent/site.sh' } });

      const run = await runJob(job.dir);

      expect(run.code).toBe(1);
      expect(stepsRun(run.log)).toEqual([]);
      expect(jobFile(job.dir, run.jobId, 'result').RESULT.comment_description).toContain(
        "site_config_script '/nonexistent/site.sh' from cfg/job.cfg is not a readable file",
      );
      expect(await readdir(job.localTmp)).toEqual([]);
    }, 30_000);

    it('refuses a job.cfg that gives local_tmp twice', async () => {
      const scratch = await scratchDir();
      const job = await jobDir({
        jobCfg: `[site_config]\nlocal_tmp = ${scratch}\nLOCAL_TMP: ${scratch}/other\n`,
      });

      const run = await runJob(job.dir);

      expect(run.code).toBe(1);
      expect(run.log).toContain('cfg/job.cfg: [site_config] local_tmp is given more than once');
      expect(jobFile(job.dir, run.jobId, 'result').RESULT.status).toBe('FAILURE');
    }, 30_000);

    it.each<{ what: string; env: Record<string, string>; args: string[]; message: string }>([
      { what: 'an argument', env: {}, args: ['--tmpdir'], message: 'takes no arguments' },
      {
        what: 'no SLURM_JOB_ID',
        env: { SLURM_JOB_ID: '' },
        args: [],
        message: 'SLURM_JOB_ID is not set',
      },
    ])('exits 2 for $what', async ({ env, args, message }) => {
      const job = await jobDir();

      const run = await runJob(job.dir, env, args);

      expect(run.code).toBe(2);
      expect(run.log).toContain(message);
      expect(stepsRun(run.log)).toEqual([]);
    });
  });

  describe('reading cfg/job.cfg', () => {
    it('reads values raw as configparser does: `#`, `;`, quotes and `:` stay, $VAR expands on the node, $(...) never runs', async () => {
      const scratch = await scratchDir();
      const marker = join(scratch, 'pwned');
      const localTmp = `${scratch}/$USER/\${TAG}/#x;y "q":$(touch ${marker})\`touch ${marker}\``;
      const job = await jobDir({
        jobCfg: [
          '# written by hand',
          '[architecture]',
          'software_subdir = x86_64/amd/zen4',
          '[site_config]',
          '; a comment line',
          `Local_Tmp:${localTmp}   `,
          'other = one',
          '  site_config_script = /is/a/continuation/of/other',
          '',
        ].join('\r\n'),
      });

      const run = await runJob(job.dir, { TAG: 'tag1' });

      expect(run.code).toBe(0);
      expect(existsSync(marker)).toBe(false);
      const expected = `${scratch}/${TEST_USER}/tag1/#x;y "q":$(touch ${marker})\`touch ${marker}\``;
      const tmp = /^build\.sh: TMPDIR=(.+)$/m.exec(run.log)?.[1];
      expect(tmp?.startsWith(`${expected}/eessi_job.`)).toBe(true);
      expect(run.log).toContain('no [site_config] site_config_script in cfg/job.cfg');
      expect(await readdir(expected)).toEqual([]);
    }, 30_000);

    it('refuses a local_tmp naming an unset variable, or a relative one', async () => {
      const unset = await jobDir({ site_config: { local_tmp: '/tmp/$EESSI_BOT_UNSET_VAR/x' } });
      const relative = await jobDir({ site_config: { local_tmp: 'scratch/x' } });

      const unsetRun = await runJob(unset.dir);
      const relativeRun = await runJob(relative.dir);

      expect(unsetRun.code).toBe(1);
      expect(unsetRun.log).toContain('$EESSI_BOT_UNSET_VAR is not set');
      expect(jobFile(unset.dir, unsetRun.jobId, 'result').RESULT.comment_description).toContain(
        "cannot expand [site_config] local_tmp '/tmp/$EESSI_BOT_UNSET_VAR/x'",
      );
      expect(relativeRun.code).toBe(1);
      expect(relativeRun.log).toContain("local_tmp 'scratch/x'");
      expect(relativeRun.log).toContain('is not an absolute path');
      expect(existsSync(join(relative.dir, 'scratch'))).toBe(false);
    }, 30_000);
  });
});
