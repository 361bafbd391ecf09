import { createHmac, timingSafeEqual } from 'node:crypto';

const PREFIX = 'sha256=';
const HEX_SHA256 = /^[0-9a-f]{64}$/i;

/**
 * Checks GitHub's `X-Hub-Signature-256` header against the HMAC-SHA256 of the raw request bytes.
 *
 * The bytes must be the ones received, before any parsing: GitHub signs exactly what it sent, and a
 * re-serialised JSON body (key order, whitespace, `\u` escapes) would not match.
 * https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
 */
export function verifySignature(
  secret: string,
  rawBody: Buffer,
  header: string | undefined,
): boolean {
  if (!secret || typeof header !== 'string' || !header.startsWith(PREFIX)) {
    return false;
  }
  const hex = header.slice(PREFIX.length);
  // A malformed header would make Buffer.from(hex) silently drop characters; reject it outright so
  // the length check below compares like with like.
  if (!HEX_SHA256.test(hex)) {
    return false;
  }
  const received = Buffer.from(hex, 'hex');
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  // timingSafeEqual throws on different lengths; the check leaks only the (public) digest length.
  return received.length === expected.length && timingSafeEqual(received, expected);
}
