import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import {
  ObjectConflictError,
  type FileDigest,
  type MultipartObserver,
  type PutOutcome,
} from './s3-object.js';

/**
 * The built-in uploader: puts one local file as one object, never replacing an object that is
 * already there. What is sent is checked twice: each request carries its Content-MD5 (the server
 * refuses a body that arrived damaged), and the ETag the server answers must be the MD5 (or, for
 * a multipart upload, the MD5 of the parts' MD5s) of the file as read. The object's sha256 goes
 * into its user metadata (`x-amz-meta-sha256`), which is how an existing object is recognised as
 * this very file (a re-run after a crash) rather than something else under the same name.
 */
export interface S3UploaderOptions {
  /** Non-AWS S3 (MinIO, Ceph RGW, …): requests go to `<endpoint>/<bucket>/<key>` (path style). */
  readonly endpointUrl?: string;
  /** Files up to this size go in one PUT; larger ones in parts of this size (S3's minimum: 5 MiB). */
  readonly partSizeBytes?: number;
  /** Attempts per request (the SDK's retry with back-off); default 3. */
  readonly maxAttempts?: number;
}

const DEFAULT_PART_SIZE = 64 * 1024 * 1024;
const MIN_PART_SIZE = 5 * 1024 * 1024;
/** One request (at most one part) may take this long: 64 MiB in 10 minutes is ~110 KB/s. */
const REQUEST_TIMEOUT_MS = 10 * 60 * 1000;

export class S3Uploader {
  private readonly client: S3Client;
  private readonly partSize: number;

  constructor(options: S3UploaderOptions = {}) {
    this.partSize = Math.max(options.partSizeBytes ?? DEFAULT_PART_SIZE, MIN_PART_SIZE);
    // The SDK warns on stderr that releases from 2027 need Node 22; the installed one runs on 20.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    const regionFromEnv = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
    this.client = new S3Client({
      // Credentials: the SDK's standard chain (environment, shared profile, SSO, instance role).
      ...(options.endpointUrl
        ? {
            endpoint: options.endpointUrl,
            forcePathStyle: true,
            region: regionFromEnv ?? 'us-east-1',
          }
        : {}),
      maxAttempts: options.maxAttempts ?? 3,
      // A server that stops answering must not hold the PR's deploy (and its event lane) forever.
      requestHandler: { connectionTimeout: 30_000, requestTimeout: REQUEST_TIMEOUT_MS },
      // Newer SDKs add CRC32 trailers by default, which S3-compatible servers do not all accept;
      // integrity is checked with Content-MD5 and the ETag instead.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  destroy(): void {
    this.client.destroy();
  }

  /**
   * Makes `bucket/key` hold the file: 'uploaded', or 'present' when an object with the file's
   * sha256 is already there.
   * @throws ObjectConflictError when another object has that name; any S3 or network error.
   */
  async putOnce(
    bucket: string,
    key: string,
    path: string,
    digest: FileDigest,
    onMultipart?: MultipartObserver,
  ): Promise<PutOutcome> {
    if (await this.isPresent(bucket, key, digest)) {
      return 'present';
    }
    try {
      if (digest.sizeBytes <= this.partSize) {
        await this.putSingle(bucket, key, path, digest);
      } else {
        await this.putMultipart(bucket, key, path, digest, onMultipart);
      }
    } catch (error) {
      // `If-None-Match: *` lost a race: someone created the object since the check.
      if (statusOf(error) === 412 && (await this.isPresent(bucket, key, digest))) {
        return 'present';
      }
      if (statusOf(error) === 412) {
        throw new ObjectConflictError(conflictText(bucket, key));
      }
      throw error;
    }
    return 'uploaded';
  }

  /** Ends a multipart upload left by a crash (its parts cost storage until aborted). */
  async abortMultipart(bucket: string, key: string, uploadId: string): Promise<void> {
    await this.client.send(
      new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }),
    );
  }

  private async isPresent(bucket: string, key: string, digest: FileDigest): Promise<boolean> {
    let head;
    try {
      head = await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    } catch (error) {
      if (statusOf(error) === 404) {
        return false;
      }
      throw error;
    }
    const sha256 = head.Metadata?.sha256;
    const etag = head.ETag?.replace(/"/g, '');
    const same =
      head.ContentLength === digest.sizeBytes &&
      (sha256 !== undefined ? sha256 === digest.sha256 : etag === digest.md5);
    if (!same) {
      throw new ObjectConflictError(conflictText(bucket, key, sha256));
    }
    return true;
  }

  private async putSingle(
    bucket: string,
    key: string,
    path: string,
    digest: FileDigest,
  ): Promise<void> {
    const answer = await this.client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: createReadStream(path),
        ContentLength: digest.sizeBytes,
        ContentMD5: Buffer.from(digest.md5, 'hex').toString('base64'),
        Metadata: { sha256: digest.sha256 },
        IfNoneMatch: '*',
      }),
    );
    checkEtag(answer.ETag, answer.ServerSideEncryption, [digest.md5], `${bucket}/${key}`);
  }

  private async putMultipart(
    bucket: string,
    key: string,
    path: string,
    digest: FileDigest,
    onMultipart?: MultipartObserver,
  ): Promise<void> {
    const { UploadId: uploadId } = await this.client.send(
      new CreateMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        Metadata: { sha256: digest.sha256 },
      }),
    );
    if (!uploadId) {
      throw new Error(`${bucket}/${key}: the server returned no multipart upload id`);
    }
    await onMultipart?.({ bucket, key, uploadId });
    const parts: CompletedPart[] = [];
    const partDigests: Buffer[] = [];
    const file = await open(path, 'r');
    try {
      const buffer = Buffer.alloc(this.partSize);
      for (
        let offset = 0, number = 1;
        offset < digest.sizeBytes;
        offset += this.partSize, number++
      ) {
        const { bytesRead } = await file.read(buffer, 0, this.partSize, offset);
        const body = buffer.subarray(0, bytesRead);
        const md5 = createHash('md5').update(body).digest();
        partDigests.push(md5);
        const answer = await this.client.send(
          new UploadPartCommand({
            Bucket: bucket,
            Key: key,
            UploadId: uploadId,
            PartNumber: number,
            Body: body,
            ContentLength: bytesRead,
            ContentMD5: md5.toString('base64'),
          }),
        );
        parts.push({ PartNumber: number, ETag: answer.ETag });
      }
      const done = await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
          IfNoneMatch: '*',
        }),
      );
      const composite = `${createHash('md5').update(Buffer.concat(partDigests)).digest('hex')}-${parts.length}`;
      // S3, MinIO and Ceph answer the composite; some simpler servers the whole file's MD5.
      checkEtag(done.ETag, done.ServerSideEncryption, [composite, digest.md5], `${bucket}/${key}`);
    } catch (error) {
      await this.abortMultipart(bucket, key, uploadId).catch(() => undefined);
      throw error;
    } finally {
      await file.close();
    }
    await onMultipart?.(undefined);
  }
}

function checkEtag(
  etag: string | undefined,
  encryption: string | undefined,
  expected: readonly string[],
  where: string,
): void {
  // With KMS encryption S3's ETag is no MD5; the server has checked Content-MD5 already.
  if (etag === undefined || encryption === 'aws:kms' || encryption === 'aws:kms:dsse') {
    return;
  }
  const value = etag.replace(/"/g, '');
  if (!expected.includes(value)) {
    throw new Error(
      `${where}: the server stored something else than the file (ETag ${value}, expected ${expected[0]})`,
    );
  }
}

function conflictText(bucket: string, key: string, sha256?: string): string {
  const theirs = sha256 ? ` (sha256 ${sha256.slice(0, 12)}…)` : '';
  return `\`${bucket}/${key}\` already exists with other content${theirs}; existing objects are never overwritten`;
}

function statusOf(error: unknown): number | undefined {
  if (error instanceof S3ServiceException) {
    return error.$metadata.httpStatusCode;
  }
  return undefined;
}
