import { beforeEach, describe, expect, it } from '@jest/globals';
import { lstat, mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanupAfterEach } from '../../test/support/test-kit.js';
import { symlinkAtomic, writeFileAtomic, writeFileExclusive } from './atomic-file.js';

describe('atomic-file', () => {
  const cleanup = cleanupAfterEach();
  let dir: string;

  beforeEach(async () => {
    dir = await cleanup.tempDir('eessi-bot-atomic-');
  });

  /** Names a crashed or failed write could leave behind: `.<name>.tmp-<pid>-<hex>`. */
  async function tempFiles(where = dir): Promise<string[]> {
    return (await readdir(where)).filter((name) => name.includes('.tmp-'));
  }

  describe('writeFileAtomic', () => {
    it('replaces a longer file completely and leaves only the target behind', async () => {
      const path = join(dir, 'state.txt');
      await writeFileAtomic(path, 'a much longer first version of the content\n');
      await writeFileAtomic(path, 'short\n');

      expect(await readFile(path, 'utf8')).toBe('short\n');
      expect(await readdir(dir)).toEqual(['state.txt']);
    });

    it('creates missing parent directories', async () => {
      const path = join(dir, 'a', 'b', 'c.txt');
      await writeFileAtomic(path, new Uint8Array([104, 105]));
      expect(await readFile(path, 'utf8')).toBe('hi');
    });

    it('fails when the parent is a file, leaving no temp file', async () => {
      await writeFile(join(dir, 'plain'), 'not a dir');
      await expect(writeFileAtomic(join(dir, 'plain', 'x.txt'), 'data')).rejects.toThrow();
      expect(await readdir(dir)).toEqual(['plain']);
    });

    it('removes its temp file when the final rename fails (target is a directory)', async () => {
      const target = join(dir, 'taken');
      await mkdir(join(target, 'child'), { recursive: true });

      await expect(writeFileAtomic(target, 'data')).rejects.toThrow();

      expect(await tempFiles()).toEqual([]);
      expect((await lstat(target)).isDirectory()).toBe(true);
    });
  });

  describe('symlinkAtomic', () => {
    it('creates a link, then replaces it to point elsewhere without a temp left', async () => {
      const first = join(dir, 'first');
      const second = join(dir, 'second');
      await mkdir(first);
      await mkdir(second);
      const link = join(dir, 'links', '1234');

      await symlinkAtomic(first, link);
      expect(await readlink(link)).toBe(first);

      await symlinkAtomic(second, link);
      expect(await readlink(link)).toBe(second);
      expect(await readdir(join(dir, 'links'))).toEqual(['1234']);
    });

    it('replaces a link created by someone else (plain symlink)', async () => {
      const link = join(dir, 'l');
      await symlink('/nowhere/old', link);
      await symlinkAtomic('/nowhere/new', link);
      expect(await readlink(link)).toBe('/nowhere/new');
      expect(await tempFiles()).toEqual([]);
    });
  });

  describe('writeFileExclusive', () => {
    it('lets the first writer win; the second gets false and the content stays the first', async () => {
      const path = join(dir, 'rows', '0-submitted');

      expect(await writeFileExclusive(path, 'first')).toBe(true);
      expect(await writeFileExclusive(path, 'second')).toBe(false);

      expect(await readFile(path, 'utf8')).toBe('first');
      expect(await readdir(join(dir, 'rows'))).toEqual(['0-submitted']);
    });

    it('gives exactly one winner among 20 concurrent writers, whose content is the file', async () => {
      const path = join(dir, 'claim');
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => writeFileExclusive(path, `writer ${i}`)),
      );

      expect(results.filter(Boolean)).toHaveLength(1);
      const winner = results.indexOf(true);
      expect(await readFile(path, 'utf8')).toBe(`writer ${winner}`);
      expect(await readdir(dir)).toEqual(['claim']);
    });

    it('throws (not false) for errors other than "exists", leaving no temp file', async () => {
      const sub = join(dir, 'sub');
      await writeFile(sub, 'a file where a dir should be');
      await expect(writeFileExclusive(join(sub, 'x'), 'data')).rejects.toThrow();
      expect(await readdir(dir)).toEqual(['sub']);
    });
  });
});
