import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');

/**
 * What `npm pack` ships, unpacked as an operator installs it: the compiled bot must find the files
 * it loads at run time beside itself (the local executor's job supervisor, the demo's inputs).
 */
describe('the published package', () => {
  let scratch: string;
  let unpacked: string;

  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'dist', 'main.js'))) {
      throw new Error(`${ROOT}/dist is missing: run npm run build first (npm test does)`);
    }
    scratch = await mkdtemp(join(tmpdir(), 'eessi-bot-package-'));
    const { stdout } = await run('npm', ['pack', '--silent', '--pack-destination', scratch], {
      cwd: ROOT,
    });
    await run('tar', ['-xzf', join(scratch, stdout.trim()), '-C', scratch]);
    unpacked = join(scratch, 'package');
    // Installed dependencies, as `npm install` would provide them.
    await symlink(join(ROOT, 'node_modules'), join(unpacked, 'node_modules'));
  }, 60_000);

  afterAll(async () => {
    if (scratch) {
      await rm(scratch, { recursive: true, force: true });
    }
  });

  it('holds the compiled bot with its job supervisor, the job script and the demo inputs', async () => {
    const shipped = [
      'dist/main.js',
      'dist/slurm/local-executor.js',
      'dist/slurm/supervise-job.cjs',
      'dist/demo/run-demo.js',
      'scripts/slurm/eessi-bot-build.slurm',
      'examples/events/pull_request.labeled.json',
      'app.cfg.example',
    ];
    expect(shipped.filter((file) => !existsSync(join(unpacked, file)))).toEqual([]);
    // Sources and tests stay out of it.
    const top = await readdir(unpacked);
    expect(top).not.toContain('src');
    expect(top).not.toContain('test');
  });

  it('runs a job through the local executor of the unpacked package', async () => {
    const workDir = join(scratch, 'job');
    await mkdir(workDir);
    const script = join(workDir, 'job.sh');
    await writeFile(script, '#!/bin/sh\necho "hello from job $SLURM_JOB_ID"\n');
    await chmod(script, 0o755);
    const driver = [
      "import { Logger } from '@nestjs/common';",
      "import { LocalExecutor } from './dist/slurm/local-executor.js';",
      'Logger.overrideLogger(false);',
      'const [stateDir, workDir, script] = process.argv.slice(1);',
      'const executor = new LocalExecutor({ stateDir, pollIntervalMs: 20 });',
      "const req = { jobName: 'pkg', workDir, script, scriptArgs: [], schedulerArgs: [] };",
      'const { jobId } = await executor.submit(req);',
      'await executor.release(jobId);',
      'let end;',
      'for (let i = 0; i < 500; i++) {',
      '  end = await executor.endState(jobId);',
      "  if (end.state !== 'PENDING' && end.state !== 'RUNNING') break;",
      '  await new Promise((done) => setTimeout(done, 20));',
      '}',
      'await executor.close();',
      'process.stdout.write(JSON.stringify({ jobId, end }));',
    ].join('\n');
    const { stdout } = await run(
      process.execPath,
      ['--input-type=module', '-e', driver, join(scratch, 'state'), workDir, script],
      { cwd: unpacked, timeout: 30_000 },
    );
    const { jobId, end } = JSON.parse(stdout) as { jobId: string; end: { state: string } };
    expect(end).toEqual({ state: 'COMPLETED', exitCode: '0:0' });
    expect(await readFile(join(workDir, `slurm-${jobId}.out`), 'utf8')).toBe(
      `hello from job ${jobId}\n`,
    );
  }, 60_000);
});
