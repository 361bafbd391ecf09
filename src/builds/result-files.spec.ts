import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CapturingLogger } from '../../test/support/capturing-logger.js';
import { DEFAULT_TEMPLATES } from '../config/upstream-defaults.js';
import { ResultFilesAnalyzer } from './result-files.js';

const ID = '8123456';
const ZST = 'eessi-2025.06-software-linux-x86_64-amd-zen4-accel-nvidia-cc90-17651234567.tar.zst';
const GZ = 'eessi-2025.06-software-linux-x86_64-amd-zen4-17651234567.tar.gz';
const GIB = 2 ** 30;
const RESULT_UNKNOWN = DEFAULT_TEMPLATES.jobResultUnknownFmt.replace(
  '{filename}',
  `_bot_job${ID}.result`,
);
const TEST_UNKNOWN = DEFAULT_TEMPLATES.jobTestUnknownFmt.replace(
  '{filename}',
  `_bot_job${ID}.test`,
);

interface Spec {
  result?: string;
  test?: string;
  output?: string;
  files?: Record<string, number>;
}

describe('ResultFilesAnalyzer (v0.9 job protocol)', () => {
  let root: string;
  let count = 0;
  let warnings: CapturingLogger;
  const analyzer = new ResultFilesAnalyzer(DEFAULT_TEMPLATES);

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'result-files-'));
    warnings = new CapturingLogger();
    Logger.overrideLogger(warnings);
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
    Logger.overrideLogger(['log', 'error', 'warn']);
  });

  async function jobDir(spec: Spec): Promise<string> {
    const dir = join(root, `job${++count}`);
    await mkdir(dir, { recursive: true });
    if (spec.result !== undefined) {
      await writeFile(join(dir, `_bot_job${ID}.result`), spec.result);
    }
    if (spec.test !== undefined) {
      await writeFile(join(dir, `_bot_job${ID}.test`), spec.test);
    }
    if (spec.output !== undefined) {
      await writeFile(join(dir, `slurm-${ID}.out`), spec.output);
    }
    for (const [name, size] of Object.entries(spec.files ?? {})) {
      const handle = await open(join(dir, name), 'w');
      await handle.truncate(size);
      await handle.close();
    }
    return dir;
  }

  describe('the finished row (_bot_job<ID>.result)', () => {
    it('takes comment_description, status and every *.tar.* artefact with its size', async () => {
      const description =
        '<details><summary>:grin: SUCCESS _(click triangle for details)_</summary><ul><li>2 tarballs; a #hash; a ;semicolon</li></ul></details>';
      const dir = await jobDir({
        result: `[RESULT]\ncomment_description = ${description}\nstatus = SUCCESS\nartefacts =\n    ${ZST}\n\t${GZ}\n`,
        files: { [ZST]: 1.25 * GIB, [GZ]: 512 },
      });

      const result = await analyzer.analyze(ID, dir, { state: 'COMPLETED', exitCode: '0:0' });

      expect(result).toEqual({
        status: 'SUCCESS',
        summary: description,
        details: [
          `result file \`_bot_job${ID}.result\`: SUCCESS`,
          `artefact \`${ZST}\` (1.250 GiB)`,
          `artefact \`${GZ}\` (0.000 GiB)`,
        ],
        artefacts: [
          { name: ZST, sizeBytes: 1.25 * GIB },
          { name: GZ, sizeBytes: 512 },
        ],
        source: 'result-file',
        slurmState: 'COMPLETED',
      });
    });

    it('reads FAILURE and UNKNOWN, and treats any other status as UNKNOWN', async () => {
      for (const [written, expected] of [
        ['FAILURE', 'FAILURE'],
        ['unknown', 'UNKNOWN'],
        ['GREAT', 'UNKNOWN'],
      ]) {
        const dir = await jobDir({
          result: `[RESULT]\nstatus = ${written}\ncomment_description = x\nartefacts =\n`,
        });
        expect((await analyzer.analyze(ID, dir)).status).toBe(expected);
      }
    });

    it('uses job_result_unknown_fmt when the file is missing, without a warning', async () => {
      const before = warnings.lines.length;
      const dir = await jobDir({ output: 'build output\n' });

      const result = await analyzer.analyze(ID, dir, { state: 'COMPLETED' }, 'RUNNING');

      expect(result.status).toBe('UNKNOWN');
      expect(result.summary).toBe(RESULT_UNKNOWN);
      expect(result.summary).toContain(`Job results file \`_bot_job${ID}.result\` does not exist`);
      expect(result.artefacts).toEqual([]);
      expect(warnings.lines.slice(before)).toEqual([]);
    });

    it.each([
      [
        'has no [RESULT] section',
        '[TEST]\ncomment_description = wrong file\n',
        /has no \[RESULT\] section/,
      ],
      ['is a directory', undefined, /cannot read .*EISDIR/],
    ])('uses job_result_unknown_fmt when the file %s, and warns', async (_what, text, warning) => {
      const dir = await jobDir(text === undefined ? {} : { result: text });
      if (text === undefined) {
        await mkdir(join(dir, `_bot_job${ID}.result`));
      }
      const before = warnings.lines.length;

      const result = await analyzer.analyze(ID, dir, { state: 'COMPLETED' });

      expect(result.summary).toBe(RESULT_UNKNOWN);
      expect(warnings.lines.slice(before).join('\n')).toMatch(warning);
    });

    it('keeps status and artefacts but uses the unknown text when comment_description is missing', async () => {
      const dir = await jobDir({
        result: `[RESULT]\nstatus = SUCCESS\nartefacts = ${ZST}\n`,
        files: { [ZST]: 10 },
      });

      const result = await analyzer.analyze(ID, dir);

      expect(result.status).toBe('SUCCESS');
      expect(result.summary).toBe(RESULT_UNKNOWN);
      expect(result.artefacts).toEqual([{ name: ZST, sizeBytes: 10 }]);
    });

    it("uses the operator's job_result_unknown_fmt", async () => {
      const custom = new ResultFilesAnalyzer({
        ...DEFAULT_TEMPLATES,
        jobResultUnknownFmt: 'no {filename} here',
      });
      const dir = await jobDir({});

      expect((await custom.analyze(ID, dir)).summary).toBe(`no _bot_job${ID}.result here`);
    });

    it('never stats outside the job dir and neutralises comment openers from the PR', async () => {
      const dir = await jobDir({
        result: `[RESULT]\nstatus = SUCCESS\ncomment_description = ok <!-- hide the rest\nartefacts =\n    ../../../etc/passwd\n`,
      });

      const result = await analyzer.analyze(ID, dir);

      expect(result.summary).toBe('ok &lt;!-- hide the rest');
      expect(result.artefacts).toEqual([{ name: '../../../etc/passwd' }]);
      expect(result.details).toContain('artefact `../../../etc/passwd` (? GiB)');
    });
  });

  describe('a job without result file that did not run to its end', () => {
    it('says it was cancelled (Slurm state), before it started when it never ran', async () => {
      const ran = await jobDir({ output: 'building\n' });
      const neverRan = await jobDir({});

      const a = await analyzer.analyze(ID, ran, { state: 'CANCELLED by 0' }, 'RUNNING');
      const b = await analyzer.analyze(ID, neverRan, { state: 'CANCELLED' }, 'PENDING');

      expect(a.status).toBe('CANCELLED');
      expect(a.summary).toBe(':no_entry_sign: CANCELLED job was cancelled (Slurm state CANCELLED)');
      expect(b.summary).toBe(
        ':no_entry_sign: CANCELLED job was cancelled before it started (Slurm state CANCELLED)',
      );
    });

    it('says it hit its time limit, or ran out of memory (also from slurmstepd lines alone)', async () => {
      const timeout = await jobDir({ output: 'x\n' });
      const oom = await jobDir({
        output: `building\nslurmstepd: error: Detected 1 oom_kill event in StepId=${ID}.batch. Some of the step tasks have been OOM Killed.\n`,
      });

      const a = await analyzer.analyze(ID, timeout, { state: 'TIMEOUT', exitCode: '0:15' });
      const b = await analyzer.analyze(ID, oom, undefined, 'RUNNING');

      expect(a.status).toBe('FAILURE');
      expect(a.summary).toBe(
        ':cry: FAILURE job hit its time limit (Slurm state TIMEOUT, exit code `0:15`)',
      );
      expect(b.summary).toBe(':cry: FAILURE job ran out of memory (Slurm state OUT_OF_MEMORY)');
    });

    it('uses job_result_unknown_fmt for a plain FAILED job: the result file would have said why', async () => {
      const dir = await jobDir({ output: 'x\n' });

      const result = await analyzer.analyze(ID, dir, { state: 'FAILED', exitCode: '1:0' });

      expect(result.status).toBe('UNKNOWN');
      expect(result.summary).toBe(RESULT_UNKNOWN);
    });

    it('lets a result file win over the Slurm state', async () => {
      const dir = await jobDir({
        result: '[RESULT]\nstatus = FAILURE\ncomment_description = own words\n',
      });

      const result = await analyzer.analyze(ID, dir, { state: 'TIMEOUT' });

      expect(result.summary).toBe('own words');
      expect(result.slurmState).toBe('TIMEOUT');
    });
  });

  describe('the test row (_bot_job<ID>.test)', () => {
    it('takes [TEST] comment_description', async () => {
      const dir = await jobDir({
        test: '[TEST]\ncomment_description = :grin: SUCCESS: 12 tests\nstatus = SUCCESS\n',
      });

      expect(await analyzer.testComment(ID, dir)).toBe(':grin: SUCCESS: 12 tests');
    });

    it.each([
      ['missing', undefined],
      [
        "written by upstream's default with [RESULT]",
        '[RESULT]\ncomment_description = wrong section\n',
      ],
      ['without comment_description', '[TEST]\nstatus = SUCCESS\n'],
    ])('uses job_test_unknown_fmt when the file is %s', async (_what, text) => {
      const dir = await jobDir(text === undefined ? {} : { test: text });

      const comment = await analyzer.testComment(ID, dir);

      expect(comment).toBe(TEST_UNKNOWN);
      expect(comment).toContain(`Job test file \`_bot_job${ID}.test\` does not exist`);
    });
  });
});
