import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/*
 * Password hashes for the status page's basic auth (`[event_handler] status_auth`), written as
 * `scrypt:<salt>:<hash>` (base64url, so no `$` for app.cfg's variable expansion to trip over).
 * scrypt is in node:crypto and made for this: a leaked app.cfg does not give the password away.
 */

const SCHEME = 'scrypt';
const KEY_LENGTH = 32;
const SALT_LENGTH = 16;
/** Node's defaults (N = 2^14, r = 8): ~30 ms per check on the 2-core machine, 16 MiB of memory. */
const COST = { N: 16384, r: 8, p: 1 } as const;

export interface PasswordHash {
  readonly salt: Buffer;
  readonly hash: Buffer;
}

function derive(password: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, KEY_LENGTH, COST, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

/** `scrypt:<salt>:<hash>` for `password`, with a fresh random salt. */
export async function hashPassword(
  password: string,
  salt = randomBytes(SALT_LENGTH),
): Promise<string> {
  const hash = await derive(password, salt);
  return `${SCHEME}:${salt.toString('base64url')}:${hash.toString('base64url')}`;
}

/** The hash written by hashPassword(), or a message saying what is wrong with `text`. */
export function parsePasswordHash(text: string): PasswordHash | string {
  const parts = text.split(':');
  const base64url = /^[A-Za-z0-9_-]+$/;
  if (
    parts.length !== 3 ||
    parts[0] !== SCHEME ||
    !parts.slice(1).every((p) => base64url.test(p))
  ) {
    return `expected ${SCHEME}:<salt>:<hash> as printed by \`eessi-bot hash-password USER\``;
  }
  const salt = Buffer.from(parts[1], 'base64url');
  const hash = Buffer.from(parts[2], 'base64url');
  if (salt.length < 8 || hash.length !== KEY_LENGTH) {
    return `the salt or hash has the wrong length; generate it again with \`eessi-bot hash-password USER\``;
  }
  return { salt, hash };
}

/** Whether `password` matches; the comparison takes the same time wherever it differs. */
export async function verifyPassword(password: string, expected: PasswordHash): Promise<boolean> {
  return timingSafeEqual(await derive(password, expected.salt), expected.hash);
}

/** Equality of two strings in a time that does not depend on where they differ (nor on length). */
export function constantTimeEquals(a: string, b: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();
  return timingSafeEqual(digest(a), digest(b));
}
