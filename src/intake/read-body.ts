import type { IncomingMessage } from 'node:http';

/** Thrown when a request body exceeds the limit; nothing past the limit has been buffered. */
export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`request body exceeds ${limit} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

/**
 * Reads a request body as raw bytes, refusing early (before buffering it) once it passes `limit`.
 *
 * Raw bytes because the webhook signature covers exactly what GitHub sent; the limit because
 * GitHub caps payloads at 25 MB (https://docs.github.com/en/webhooks/webhook-events-and-payloads),
 * so anything larger is not from GitHub and must not be held in memory.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    return Promise.reject(new BodyTooLargeError(limit));
  }
  if (req.readableEnded) {
    // Only happens if a body parser ran first; reading would wait forever.
    return Promise.reject(
      new Error('request body already consumed: the app must be created with bodyParser: false'),
    );
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        chunks.length = 0;
        reject(new BodyTooLargeError(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const onAborted = (): void => onError(new Error('client aborted the request'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}

/**
 * Throws away what is left of a body the server answered without reading, up to `maxBytes`, then
 * cuts the connection. Most HTTP clients send the whole body before they read the answer, so
 * closing at once would make them see a reset instead of the 413 or 415; an endless body must not
 * hold the connection forever either.
 */
export function discardRest(req: IncomingMessage, maxBytes: number): void {
  if (req.readableEnded || req.destroyed) {
    return;
  }
  let discarded = 0;
  req.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > maxBytes) {
      req.socket.destroy();
    }
  });
  req.on('error', () => undefined);
  req.resume();
}
