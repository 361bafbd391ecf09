/**
 * A real S3-compatible server for deploy tests: s3rver (pure JS, from npm) on 127.0.0.1, storing
 * in a temp dir, behind a small pass-through HTTP front that logs each request and can hold one
 * (to kill the bot while an upload is in flight) or refuse all connections (the server down).
 *
 *   const s3 = await startS3Server();            s3.url → endpoint_url
 *   await s3.createBucket('staging');
 *   await s3.object('staging', 'key')            → { body, metadata } | undefined
 *   s3.requests                                  → [{ method, path }]
 *   const held = s3.holdNext((r) => …);  await held  (the request never reaches s3rver)
 *   await s3.setDown(true)
 *   await s3.stop()
 *
 * Credentials: s3rver accepts S3RVER / S3RVER (S3_ENV gives them as the AWS chain reads them).
 */
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const S3_ENV = {
  AWS_ACCESS_KEY_ID: 'S3RVER',
  AWS_SECRET_ACCESS_KEY: 'S3RVER',
  AWS_REGION: 'us-east-1',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  // awscli must not read a developer's ~/.aws
  AWS_CONFIG_FILE: '/dev/null',
  AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
} as const;

export interface S3Request {
  readonly method: string;
  /** Path and query, e.g. `/staging/a/b.tar.gz?partNumber=2&uploadId=…`. */
  readonly path: string;
}

export interface StoredObject {
  readonly body: Buffer;
  readonly metadata: Record<string, string>;
}

export interface S3Server {
  readonly url: string;
  readonly requests: readonly S3Request[];
  createBucket(name: string): Promise<void>;
  object(bucket: string, key: string): Promise<StoredObject | undefined>;
  keys(bucket: string): Promise<string[]>;
  /** Resolves when a matching request arrives; that request is never answered. */
  holdNext(match: (request: S3Request) => boolean): Promise<S3Request>;
  /** Stops listening (connections refused) or listens again on the same port. */
  setDown(down: boolean): Promise<void>;
  stop(): Promise<void>;
}

export async function startS3Server(): Promise<S3Server> {
  const dir = mkdtempSync(join(tmpdir(), 's3rver-'));
  const backend = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir });
  const { port: backendPort } = await backend.run();

  const requests: S3Request[] = [];
  const sockets = new Set<Socket>();
  let down = false;
  let hold: { match: (r: S3Request) => boolean; resolve: (r: S3Request) => void } | undefined;

  const front: Server = createServer((req, res) => {
    const seen = { method: req.method ?? '', path: req.url ?? '' };
    requests.push(seen);
    if (hold?.match(seen)) {
      const { resolve } = hold;
      hold = undefined;
      resolve(seen);
      return; // held: neither forwarded nor answered
    }
    const upstream = httpRequest(
      {
        host: '127.0.0.1',
        port: backendPort,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  front.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  const port = (front.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;

  // The SDK's notice that its 2027 releases need Node 22 is not the test's business.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const client = new S3Client({
    endpoint: `http://127.0.0.1:${backendPort}`,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });

  return {
    url,
    requests,
    async createBucket(name) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    async object(bucket, key) {
      try {
        const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        const body = Buffer.from(await answer.Body!.transformToByteArray());
        return { body, metadata: answer.Metadata ?? {} };
      } catch (error) {
        if ((error as { name?: string }).name === 'NoSuchKey') {
          return undefined;
        }
        throw error;
      }
    },
    async keys(bucket) {
      const answer = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
      return (answer.Contents ?? []).map((o) => o.Key!).sort();
    },
    holdNext(match) {
      return new Promise((resolve) => (hold = { match, resolve }));
    },
    async setDown(value) {
      if (value === down) {
        return;
      }
      down = value;
      if (value) {
        // Nobody listens on the port any more: connections are refused, as with a stopped server.
        for (const socket of sockets) {
          socket.destroy();
        }
        await new Promise<void>((resolve) => front.close(() => resolve()));
      } else {
        await new Promise<void>((resolve) => front.listen(port, '127.0.0.1', resolve));
      }
    },
    async stop() {
      for (const socket of sockets) {
        socket.destroy();
      }
      if (!down) {
        await new Promise<void>((resolve) => front.close(() => resolve()));
      }
      client.destroy();
      await backend.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
