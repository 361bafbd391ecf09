import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';

/**
 * What the deploy side shares with the built-in S3 uploader without loading it: the AWS SDK is
 * tens of MiB of a process's memory, and is loaded (s3-uploader.ts) only when an upload starts.
 */

export interface FileDigest {
  readonly sizeBytes: number;
  readonly sha256: string;
  readonly md5: string;
}

export type PutOutcome = 'uploaded' | 'present';

/** An object of that name exists and is not this file: nothing is overwritten. */
export class ObjectConflictError extends Error {
  override readonly name = 'ObjectConflictError';
}

export interface PendingMultipart {
  readonly bucket: string;
  readonly key: string;
  readonly uploadId: string;
}

/**
 * Told of a multipart upload as soon as it exists (to abort it after a crash: its parts cost
 * storage), and with undefined once it is complete.
 */
export type MultipartObserver = (pending: PendingMultipart | undefined) => Promise<void>;

/** Size, sha256 and MD5 of a file, read once. */
export async function digestFile(path: string): Promise<FileDigest> {
  const sha256 = createHash('sha256');
  const md5 = createHash('md5');
  let sizeBytes = 0;
  for await (const chunk of createReadStream(path)) {
    const bytes = chunk as Buffer;
    sha256.update(bytes);
    md5.update(bytes);
    sizeBytes += bytes.length;
  }
  const info = await stat(path);
  if (info.size !== sizeBytes) {
    throw new Error(`${path} changed while it was read`);
  }
  return { sizeBytes, sha256: sha256.digest('hex'), md5: md5.digest('hex') };
}
