import { describe, expect, it } from '@jest/globals';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { cleanupAfterEach } from '../../test/support/test-kit.js';
import { freeTarget, moveDir, prDirsOf, trashBinDirFor, trashTargetOf } from './trash-bin.js';

const cleanup = cleanupAfterEach();

describe('trash bin layout', () => {
  it('is trash_bin_dir/<owner>/<repo>/<YYYY.MM.DD> of the UTC day the PR closed, as upstream v0.9', () => {
    expect(trashBinDirFor('/trash', 'EESSI/software-layer', new Date('2024-04-02T23:30:00Z'))).toBe(
      '/trash/EESSI/software-layer/2024.04.02',
    );
  });

  it.each(['../etc', 'EESSI/..', 'EESSI', 'a/b/c', 'a/b c'])(
    'refuses the repository name %p, which could leave the trash bin',
    (repo) => {
      expect(() => trashBinDirFor('/trash', repo, new Date())).toThrow(/cannot name a trash bin/);
    },
  );

  it('puts YYYY.MM/pr_<N> under the day, keeping the month', () => {
    expect(trashTargetOf('/jobs/2024.03/pr_7', '/trash/o/r/2024.04.02')).toBe(
      '/trash/o/r/2024.04.02/2024.03/pr_7',
    );
  });

  it('finds the PR dir of every month, and only month dirs', async () => {
    const base = await cleanup.tempDir('trash-bin-');
    for (const dir of ['2024.02/pr_7', '2024.03/pr_7', '2024.03/pr_70', 'other/pr_7']) {
      mkdirSync(join(base, dir), { recursive: true });
    }
    writeFileSync(join(base, '2024.04'), '');
    expect(await prDirsOf(base, 7)).toEqual([
      join(base, '2024.02/pr_7'),
      join(base, '2024.03/pr_7'),
    ]);
    expect(await prDirsOf(join(base, 'missing'), 7)).toEqual([]);
  });

  it('never reuses a target name: a second close on the same day gets pr_<N>.2', async () => {
    const dir = await cleanup.tempDir('trash-bin-');
    expect(await freeTarget(join(dir, 'pr_7'))).toBe(join(dir, 'pr_7'));
    mkdirSync(join(dir, 'pr_7'));
    mkdirSync(join(dir, 'pr_7.2'));
    expect(await freeTarget(join(dir, 'pr_7'))).toBe(join(dir, 'pr_7.3'));
  });
});

describe('moveDir', () => {
  async function prDir(): Promise<{ root: string; source: string }> {
    const root = await cleanup.tempDir('trash-bin-');
    const source = join(root, 'jobs/2024.03/pr_7');
    mkdirSync(join(source, 'event_1/run_001'), { recursive: true });
    writeFileSync(join(source, 'event_1/run_001/slurm-1.out'), 'log');
    symlinkSync(join(source, 'event_1/run_001'), join(source, '1'));
    return { root, source };
  }

  it('moves the whole dir, links kept as links, creating the parents', async () => {
    const { root, source } = await prDir();
    const target = join(root, 'trash/o/r/2024.04.02/2024.03/pr_7');
    await moveDir(source, target);
    expect(existsSync(source)).toBe(false);
    expect(readFileSync(join(target, 'event_1/run_001/slurm-1.out'), 'utf8')).toBe('log');
    expect(readlinkSync(join(target, '1'))).toBe(join(source, 'event_1/run_001'));
  });

  it('resumed after the copy was renamed into place, only removes the source', async () => {
    const { root, source } = await prDir();
    const target = join(root, 'trash/pr_7');
    mkdirSync(target, { recursive: true });
    writeFileSync(join(target, 'copied'), '');
    await moveDir(source, target);
    expect(existsSync(source)).toBe(false);
    expect(existsSync(join(target, 'copied'))).toBe(true);
  });

  it('does nothing when the source is already gone (moved by an earlier attempt)', async () => {
    const { root } = await prDir();
    const target = join(root, 'trash/pr_7');
    await expect(moveDir(join(root, 'jobs/2024.03/pr_8'), target)).resolves.toBeUndefined();
    expect(existsSync(target)).toBe(false);
  });
});
