import { describe, it, expect, beforeAll } from '@jest/globals';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanupAfterAll } from '../../test/support/test-kit.js';
import { resolveCommand } from './resolve-command.js';

describe('resolveCommand', () => {
  const cleanup = cleanupAfterAll();
  let dir: string;
  let binA: string;
  let binB: string;

  beforeAll(() => {
    dir = cleanup.tempDirSync('resolve-command-');
    binA = join(dir, 'a');
    binB = join(dir, 'b');
    mkdirSync(binA);
    mkdirSync(binB);
    const script = (path: string, mode: number) => {
      writeFileSync(path, '#!/bin/sh\nexit 0\n');
      chmodSync(path, mode);
    };
    script(join(binA, 'squeue'), 0o644); // present but not executable: must be skipped on PATH
    script(join(binB, 'squeue'), 0o755);
    script(join(binB, 'sbatch'), 0o755);
    script(join(dir, 'local-sbatch'), 0o755);
    script(join(dir, 'plain'), 0o644);
    mkdirSync(join(binA, 'scontrol'));
  });

  it('finds a bare name on PATH, skipping non-executable files', () => {
    const env = { PATH: `${binA}:${binB}` };

    expect(resolveCommand('squeue', env, '/')).toEqual({ path: join(binB, 'squeue') });
  });

  it('takes the first executable on PATH', () => {
    chmodSync(join(binA, 'squeue'), 0o755);
    try {
      expect(resolveCommand('squeue', { PATH: `${binA}:${binB}` }, '/')).toEqual({
        path: join(binA, 'squeue'),
      });
    } finally {
      chmodSync(join(binA, 'squeue'), 0o644);
    }
  });

  it('ignores relative PATH entries', () => {
    const result = resolveCommand('sbatch', { PATH: `.:b:` }, dir);

    expect(result).toEqual({
      error: expect.stringContaining("'sbatch' was not found as an executable on PATH"),
    });
  });

  it('reports a name missing from PATH, showing the PATH searched', () => {
    const result = resolveCommand('scancel', { PATH: `${binA}:${binB}` }, '/');

    expect(result).toEqual({ error: expect.stringContaining(`${binA}:${binB}`) });
  });

  it('skips a directory named like the command', () => {
    const result = resolveCommand('scontrol', { PATH: binA }, '/');

    expect('error' in result).toBe(true);
  });

  it('resolves a relative path against the base directory, not PATH', () => {
    expect(resolveCommand('./local-sbatch', { PATH: binB }, dir)).toEqual({
      path: join(dir, 'local-sbatch'),
    });
  });

  it('accepts an absolute executable path', () => {
    expect(resolveCommand(join(binB, 'sbatch'), {}, '/')).toEqual({ path: join(binB, 'sbatch') });
  });

  it('says whether a path is missing, not executable or not a file', () => {
    expect(resolveCommand(join(dir, 'missing'), {}, '/')).toEqual({
      error: `${join(dir, 'missing')} does not exist`,
    });
    expect(resolveCommand(join(dir, 'plain'), {}, '/')).toEqual({
      error: expect.stringContaining(`${join(dir, 'plain')} is not executable`),
    });
    expect(resolveCommand(binA, {}, '/')).toEqual({ error: `${binA} is not a regular file` });
  });

  it('hints that arguments do not belong in a command value', () => {
    const result = resolveCommand(`${join(binB, 'sbatch')} --hold`, {}, '/');

    expect(result).toEqual({
      error: expect.stringContaining('put extra sbatch options in [buildenv] slurm_params'),
    });
  });
});
