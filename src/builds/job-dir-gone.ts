import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic, writeFileExclusive } from '../common/atomic-file.js';
import { pathExists } from '../common/fs-entries.js';

/**
 * A tracked job's dir is no longer where the job was recorded: the PR closed and its job dirs
 * moved to the trash bin while the job manager (here or on another host) was still at the job.
 * Nothing is written for such a job any more: a write would bring back an empty copy of the dir,
 * and a comment rendered from it would have lost its rows.
 */
export class JobDirGoneError extends Error {
  constructor(
    readonly jobId: string,
    readonly jobDir: string,
  ) {
    super(`job ${jobId}: its job dir ${jobDir} is gone (moved to the trash bin?)`);
    this.name = 'JobDirGoneError';
  }
}

/** Throws JobDirGoneError unless the job dir is there. */
export async function assertJobDir(jobId: string, jobDir: string): Promise<void> {
  if (!(await pathExists(jobDir))) {
    throw new JobDirGoneError(jobId, jobDir);
  }
}

/** writeFileAtomic of a file directly in the job dir, which is never made. */
export function replaceInJobDir(
  jobId: string,
  jobDir: string,
  path: string,
  data: string,
): Promise<void> {
  return inJobDir(jobId, jobDir, () =>
    writeFileAtomic(path, data, 0o644, { createParents: false }),
  );
}

/**
 * writeFileExclusive of a file in a directory of the job dir (the rows dir), which is made if
 * missing; the job dir itself is never made.
 */
export function createInJobDir(
  jobId: string,
  jobDir: string,
  path: string,
  data: string,
): Promise<boolean> {
  return inJobDir(jobId, jobDir, async () => {
    await mkdir(dirname(path)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') {
        throw error;
      }
    });
    return writeFileExclusive(path, data, 0o644, { createParents: false });
  });
}

/** An ENOENT from a write into the job dir is JobDirGoneError when the job dir went missing. */
async function inJobDir<T>(jobId: string, jobDir: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      await assertJobDir(jobId, jobDir);
    }
    throw error;
  }
}
