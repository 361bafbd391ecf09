import { randomBytes } from 'node:crypto';
import { link, mkdir, open, rename, rm, symlink } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';

function tempPathFor(path: string): string {
  // Same directory as the target so rename() stays on one filesystem (atomic on NFS/Lustre too).
  return join(
    dirname(path),
    `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`,
  );
}

interface WriteOptions {
  /**
   * Whether missing parent directories are made (default true). false where the directory
   * may have been moved away meanwhile and must not come back as an empty copy: the write then
   * fails with ENOENT.
   */
  readonly createParents?: boolean;
}

/** A new temp file beside `path` holding `data`, flushed to disk; returns its name. */
async function writeDurableTemp(
  path: string,
  data: string | Uint8Array,
  mode: number,
  opts: WriteOptions,
): Promise<string> {
  if (opts.createParents ?? true) {
    await mkdir(dirname(path), { recursive: true });
  }
  const tmp = tempPathFor(path);
  const handle = await open(tmp, 'wx', mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(tmp, { force: true });
    throw error;
  }
  await handle.close();
  return tmp;
}

/** Writes a file so that readers see either the old content or the new, never a part. */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  mode = 0o644,
  opts: WriteOptions = {},
): Promise<void> {
  const tmp = await writeDurableTemp(path, data, mode, opts);
  try {
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

/** Creates or replaces a symlink atomically. */
export async function symlinkAtomic(target: string, path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  try {
    await symlink(target, tmp);
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

/**
 * Creates a file with its full content only if no file of that name exists; returns false if one did.
 * Temp file + link(): the name appears complete or not at all, and only one writer can win it.
 */
export async function writeFileExclusive(
  path: string,
  data: string | Uint8Array,
  mode = 0o644,
  opts: WriteOptions = {},
): Promise<boolean> {
  const tmp = await writeDurableTemp(path, data, mode, opts);
  try {
    await link(tmp, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      return false;
    }
    throw error;
  } finally {
    await rm(tmp, { force: true });
  }
}
