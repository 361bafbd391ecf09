import { beforeAll, describe, expect, it } from '@jest/globals';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanupAfterAll, quietNestLogger } from '../../test/support/test-kit.js';
import { MAX_DESCRIPTION_CHARS, ResultAnalyzer } from './result-analyzer.js';

const ID = '4242';
const TARBALL = 'eessi-2023.06-software-linux-x86_64-amd-zen2-1700000000.tar.gz';
const GIB = 2 ** 30;

interface JobDirSpec {
  output?: string;
  tarballs?: Record<string, number>;
  result?: string;
  files?: Record<string, string>;
}

describe('ResultAnalyzer', () => {
  const cleanup = cleanupAfterAll();
  let root: string;
  let count = 0;
  const analyzer = new ResultAnalyzer();

  quietNestLogger();
  beforeAll(async () => {
    root = await cleanup.tempDir('result-analyzer-');
  });

  async function jobDir(spec: JobDirSpec): Promise<string> {
    const dir = join(root, `job${++count}`);
    await mkdir(dir, { recursive: true });
    if (spec.output !== undefined) {
      await writeFile(join(dir, `slurm-${ID}.out`), spec.output);
    }
    if (spec.result !== undefined) {
      await writeFile(join(dir, `_bot_job${ID}.result`), spec.result);
    }
    for (const [name, size] of Object.entries(spec.tarballs ?? {})) {
      const handle = await open(join(dir, name), 'w');
      await handle.truncate(size); // sparse: gigabytes cost nothing
      await handle.close();
    }
    for (const [name, text] of Object.entries(spec.files ?? {})) {
      await writeFile(join(dir, name), text);
    }
    return dir;
  }

  describe('the seed rule (no result file)', () => {
    it('reports SUCCESS with the tarball name and size in GiB', async () => {
      const dir = await jobDir({
        output: 'installing...\nNo missing modules!\n/eessi_bot_job/x created!\n',
        tarballs: { [TARBALL]: 1.5 * GIB },
      });
      const result = await analyzer.analyze(ID, dir, { state: 'COMPLETED', exitCode: '0:0' });
      expect(result.status).toBe('SUCCESS');
      expect(result.summary).toBe(`:grin: SUCCESS tarball \`${TARBALL}\` (1.500 GiB) in job dir`);
      expect(result.artefacts).toEqual([{ name: TARBALL, sizeBytes: 1.5 * GIB }]);
      expect(result.slurmState).toBe('COMPLETED');
    });

    it('accepts the message with a CRLF line end but not inside a longer line', async () => {
      const crlf = await jobDir({ output: 'No missing modules!\r\n', tarballs: { [TARBALL]: 10 } });
      expect((await analyzer.analyze(ID, crlf)).status).toBe('SUCCESS');
      const quoted = await jobDir({
        output: 'echo "No missing modules!"\n',
        tarballs: { [TARBALL]: 10 },
      });
      expect((await analyzer.analyze(ID, quoted)).status).toBe('FAILURE');
    });

    it('lists every problem when there is no output and no tarball', async () => {
      const dir = await jobDir({});
      const result = await analyzer.analyze(ID, dir, undefined, 'RUNNING');
      expect(result.status).toBe('FAILURE');
      expect(result.details).toEqual([
        `No slurm output \`slurm-${ID}.out\` in job dir`,
        'No tarball matching `eessi-*software-*.tar.gz` found in job dir',
      ]);
      expect(result.summary).toBe(
        `:cry: FAILURE <ul><li>No slurm output \`slurm-${ID}.out\` in job dir</li>` +
          '<li>No tarball matching `eessi-*software-*.tar.gz` found in job dir</li></ul>',
      );
    });

    it('reports output lacking "No missing modules!"', async () => {
      const dir = await jobDir({
        output: 'ERROR: build failed\nmissing modules: GCC/13.2.0\n',
        tarballs: { [TARBALL]: 10 },
      });
      const result = await analyzer.analyze(ID, dir, { state: 'COMPLETED' });
      expect(result.status).toBe('FAILURE');
      expect(result.details).toEqual(['Slurm output lacks message "No missing modules!"']);
    });

    it('reports more than one tarball', async () => {
      const other = 'eessi-2023.06-software-linux-x86_64-amd-zen2-1700000099.tar.gz';
      const dir = await jobDir({
        output: 'No missing modules!\n',
        tarballs: { [TARBALL]: 10, [other]: 20, 'eessi-2023.06-compat-linux.tar.gz': 5 },
      });
      const result = await analyzer.analyze(ID, dir);
      expect(result.status).toBe('FAILURE');
      expect(result.details).toEqual([
        'Found 2 tarballs in job dir - only 1 matching `eessi-*software-*.tar.gz` expected',
      ]);
      expect(result.artefacts.map((a) => a.name)).toEqual([TARBALL, other]);
    });

    it('quotes a hostile tarball name safely', async () => {
      const name = 'eessi-`|<b>x<b>software-1.tar.gz';
      const dir = await jobDir({ output: 'No missing modules!\n', tarballs: { [name]: 10 } });
      const result = await analyzer.analyze(ID, dir);
      expect(result.status).toBe('SUCCESS');
      expect(result.summary).toContain('``eessi-`|<b>x<b>software-1.tar.gz``');
    });
  });

  describe("Slurm's end state", () => {
    it('reports a job cancelled while pending as cancelled before it started', async () => {
      const dir = await jobDir({});
      const result = await analyzer.analyze(ID, dir, { state: 'CANCELLED by 1000' }, 'PENDING');
      expect(result.status).toBe('CANCELLED');
      expect(result.summary).toBe(
        ':no_entry_sign: CANCELLED job was cancelled before it started (Slurm state CANCELLED)',
      );
    });

    it('reports a running job cancelled by hand as cancelled, not as a build failure', async () => {
      const dir = await jobDir({ output: 'building...\n' });
      const result = await analyzer.analyze(ID, dir, { state: 'CANCELLED', exitCode: '0:15' });
      expect(result.status).toBe('CANCELLED');
      expect(result.summary).toBe(
        ':no_entry_sign: CANCELLED job was cancelled (Slurm state CANCELLED)',
      );
    });

    it("finds a cancellation in slurmstepd's line when the scheduler forgot the job", async () => {
      const dir = await jobDir({
        output: `building...\nslurmstepd: error: *** JOB ${ID} ON node01 CANCELLED AT 2026-11-27T23:51:43 ***\n`,
      });
      const result = await analyzer.analyze(ID, dir, undefined, 'RUNNING');
      expect(result.status).toBe('CANCELLED');
      expect(result.slurmState).toBe('CANCELLED');
    });

    it('ignores cancellation lines about other jobs or not written by slurmstepd', async () => {
      const dir = await jobDir({
        output:
          'slurmstepd: error: *** JOB 999 ON node01 CANCELLED AT 2026-11-27T23:51:43 ***\n' +
          `echo slurmstepd: error: *** JOB ${ID} ON node01 CANCELLED AT 2026-11-27T23:51:43 ***\n` +
          'No missing modules!\n',
        tarballs: { [TARBALL]: 10 },
      });
      expect((await analyzer.analyze(ID, dir)).status).toBe('SUCCESS');
    });

    it('reports a time limit, from the scheduler or from the output', async () => {
      const line = `slurmstepd: error: *** JOB ${ID} ON node01 CANCELLED AT 2026-11-27T23:51:43 DUE TO TIME LIMIT ***\n`;
      const fromOutput = await analyzer.analyze(ID, await jobDir({ output: `x\n${line}` }));
      const fromSlurm = await analyzer.analyze(ID, await jobDir({ output: 'x\n' }), {
        state: 'TIMEOUT',
        exitCode: '0:15',
      });
      for (const result of [fromOutput, fromSlurm]) {
        expect(result.status).toBe('FAILURE');
        expect(result.slurmState).toBe('TIMEOUT');
        expect(result.details[0]).toMatch(/^job hit its time limit \(Slurm state TIMEOUT/);
        expect(result.summary).toMatch(/^:cry: FAILURE <ul><li>job hit its time limit/);
      }
      expect(fromSlurm.details[0]).toBe(
        'job hit its time limit (Slurm state TIMEOUT, exit code `0:15`)',
      );
    });

    it('reports running out of memory', async () => {
      const oom =
        `slurmstepd: error: Detected 1 oom-kill event(s) in StepId=${ID}.batch. ` +
        'Some of your processes may have been killed by the cgroup out-of-memory handler.\n';
      const fromSlurm = await analyzer.analyze(ID, await jobDir({ output: 'x\n' }), {
        state: 'OUT_OF_MEMORY',
        exitCode: '0:125',
      });
      expect(fromSlurm.status).toBe('FAILURE');
      expect(fromSlurm.details[0]).toMatch(/^job ran out of memory \(Slurm state OUT_OF_MEMORY/);

      const fromOutput = await analyzer.analyze(ID, await jobDir({ output: `x\n${oom}` }));
      expect(fromOutput.status).toBe('FAILURE');
      expect(fromOutput.slurmState).toBe('OUT_OF_MEMORY');

      // An oom-kill event the build survived does not undo its success.
      const survived = await analyzer.analyze(
        ID,
        await jobDir({ output: `${oom}No missing modules!\n`, tarballs: { [TARBALL]: 10 } }),
      );
      expect(survived.status).toBe('SUCCESS');
    });

    it('reports a failed job script even when a tarball was made', async () => {
      const dir = await jobDir({ output: 'No missing modules!\n', tarballs: { [TARBALL]: 10 } });
      const result = await analyzer.analyze(ID, dir, { state: 'FAILED', exitCode: '1:0' });
      expect(result.status).toBe('FAILURE');
      expect(result.details).toEqual([
        'job exited with an error (Slurm state FAILED, exit code `1:0`)',
      ]);
    });

    it('says a job that left the queue without output may have been cancelled before starting', async () => {
      const result = await analyzer.analyze(ID, await jobDir({}), undefined, 'PENDING');
      expect(result.status).toBe('UNKNOWN');
      expect(result.summary).toBe(
        ':shrug: UNKNOWN job left the queue without output (cancelled before it started?)',
      );
    });
  });

  describe('the result file', () => {
    it('wins, with multi-line artefacts and ; or # kept in the description', async () => {
      const other = 'eessi-2023.06-software-linux-x86_64-amd-zen2-1700000001.tar.gz';
      const dir = await jobDir({
        result: [
          '[RESULT]',
          'comment_description = <details><summary>:grin: SUCCESS _(click triangle)_</summary>a; b # c</details>',
          'status = SUCCESS',
          'artefacts =',
          `    ${TARBALL}`,
          `    ${other}`,
          '    missing.tar.gz',
          '    ../../../etc/passwd',
          '',
        ].join('\n'),
        tarballs: { [TARBALL]: 2 * GIB, [other]: 7 },
      });
      // The build's own verdict wins over the seed rule (no output at all) and the end state.
      const result = await analyzer.analyze(ID, dir, { state: 'FAILED' });
      expect(result.status).toBe('SUCCESS');
      expect(result.source).toBe('result-file');
      expect(result.summary).toBe(
        '<details><summary>:grin: SUCCESS _(click triangle)_</summary>a; b # c</details>',
      );
      expect(result.artefacts).toEqual([
        { name: TARBALL, sizeBytes: 2 * GIB },
        { name: other, sizeBytes: 7 },
        { name: 'missing.tar.gz' },
        { name: '../../../etc/passwd' },
      ]);
    });

    it('reads status case-insensitively and treats anything else as UNKNOWN', async () => {
      const lower = await jobDir({
        result: '[RESULT]\nstatus = failure\ncomment_description = nope\n',
      });
      expect((await analyzer.analyze(ID, lower)).status).toBe('FAILURE');
      const odd = await jobDir({ result: '[RESULT]\nstatus = maybe\n' });
      const result = await analyzer.analyze(ID, odd);
      expect(result.status).toBe('UNKNOWN');
      expect(result.summary).toBe(':shrug: UNKNOWN');
    });

    it('reads the older summary/details form', async () => {
      const dir = await jobDir({
        result: [
          '[RESULT]',
          'summary = :cry: FAILURE',
          'details =',
          '    :heavy_check_mark: job output file <code>slurm-4242.out</code>',
          '    :heavy_multiplication_x: found message matching <code>ERROR: </code>',
          '',
        ].join('\n'),
      });
      const result = await analyzer.analyze(ID, dir);
      expect(result.status).toBe('UNKNOWN');
      expect(result.summary).toBe(
        ':cry: FAILURE<br/>:heavy_check_mark: job output file <code>slurm-4242.out</code><br/>' +
          ':heavy_multiplication_x: found message matching <code>ERROR: </code>',
      );
      expect(result.details).toHaveLength(2);
    });

    it('falls back to the job output when the file has no [RESULT] section', async () => {
      const dir = await jobDir({
        result: 'garbage without sections\n',
        output: 'No missing modules!\n',
        tarballs: { [TARBALL]: 10 },
      });
      const result = await analyzer.analyze(ID, dir);
      expect(result.source).toBe('job-output');
      expect(result.status).toBe('SUCCESS');
    });

    it('neutralises comment openers and control characters, and truncates long text', async () => {
      const hostile = await jobDir({
        result: `[RESULT]\nstatus = SUCCESS\ncomment_description = ok <!-- hide the rest \u0007bell\n`,
      });
      expect((await analyzer.analyze(ID, hostile)).summary).toBe('ok &lt;!-- hide the rest bell');

      const long = await jobDir({
        result: `[RESULT]\nstatus = FAILURE\ncomment_description = ${'x'.repeat(MAX_DESCRIPTION_CHARS + 500)}\n`,
      });
      const summary = (await analyzer.analyze(ID, long)).summary;
      expect(summary.length).toBeLessThan(MAX_DESCRIPTION_CHARS + 50);
      expect(summary.endsWith('… (truncated)')).toBe(true);
    });
  });
});
