import { accessSync, constants, statSync } from 'node:fs';

/**
 * Why `path` cannot serve as a file the bot reads (job script, signing key), in words that finish
 * "<key> = <path> …"; undefined when it can.
 */
export function readableFileProblem(path: string): string | undefined {
  try {
    if (!statSync(path).isFile()) {
      return 'is not a regular file';
    }
    accessSync(path, constants.R_OK);
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR'
      ? 'does not exist'
      : `cannot be read by this user (${code})`;
  }
}
