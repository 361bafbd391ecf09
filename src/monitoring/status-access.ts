import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';
import {
  constantTimeEquals,
  parsePasswordHash,
  verifyPassword,
  type PasswordHash,
} from '../common/password-hash.js';
import type { StatusAuthConfig } from '../config/app-config.js';

export type AccessVerdict =
  { readonly allowed: true } | { readonly allowed: false; readonly status: 401 | 403 };

/** A verified Authorization header is trusted this long, so that a page view costs no scrypt. */
const VERIFIED_FOR_MS = 5 * 60_000;
const MAX_VERIFIED = 32;

/**
 * Who may read /status, /status.json and /metrics: clients whose address `[event_handler]
 * status_bind` lists (default: loopback only), and, when `status_auth` is set, who also sends its
 * user and password (HTTP basic auth). The webhook and /health are not behind this.
 */
export class StatusAccess {
  /** Every client address may ask (0.0.0.0 or :: in status_bind). */
  readonly everyone: boolean;
  private readonly allowed = new BlockList();
  private readonly auth?: { user: string; hash: PasswordHash };
  /** sha256 of Authorization headers that passed, with when they stop being trusted. */
  private readonly verified = new Map<string, number>();

  constructor(bind: readonly string[], auth?: StatusAuthConfig) {
    this.everyone = bind.includes('0.0.0.0') || bind.includes('::');
    for (const item of bind) {
      const [address, prefix] = item.split('/');
      const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
      if (address === '127.0.0.1' && prefix === undefined) {
        // "localhost": every loopback address, IPv4 or IPv6.
        this.allowed.addSubnet('127.0.0.0', 8, 'ipv4');
        this.allowed.addAddress('::1', 'ipv6');
      } else if (prefix === undefined) {
        this.allowed.addAddress(address, family);
      } else {
        this.allowed.addSubnet(address, Number(prefix), family);
      }
    }
    if (auth) {
      const hash = parsePasswordHash(auth.passwordHash);
      // loadConfig checked the hash already; a bad one here refuses everyone rather than no one.
      this.auth = {
        user: auth.user,
        hash: typeof hash === 'string' ? { salt: Buffer.alloc(16), hash: Buffer.alloc(0) } : hash,
      };
    }
  }

  get requiresPassword(): boolean {
    return this.auth !== undefined;
  }

  async check(req: IncomingMessage): Promise<AccessVerdict> {
    if (!this.addressAllowed(req.socket.remoteAddress)) {
      return { allowed: false, status: 403 };
    }
    if (this.auth && !(await this.credentialsValid(req.headers.authorization))) {
      return { allowed: false, status: 401 };
    }
    return { allowed: true };
  }

  private addressAllowed(remote: string | undefined): boolean {
    if (this.everyone) {
      return true;
    }
    if (!remote) {
      return false;
    }
    // An IPv4 client of a dual-stack server shows as ::ffff:a.b.c.d.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remote)?.[1];
    const address = mapped ?? remote;
    return this.allowed.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
  }

  private async credentialsValid(header: string | undefined): Promise<boolean> {
    const auth = this.auth!;
    const encoded = /^Basic ([A-Za-z0-9+/=]{1,1024})$/i.exec(header ?? '')?.[1];
    if (!encoded) {
      return false;
    }
    const now = Date.now();
    const key = createHash('sha256').update(encoded).digest('base64');
    if ((this.verified.get(key) ?? 0) > now) {
      return true;
    }
    const decoded = Buffer.from(encoded, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) {
      return false;
    }
    const userMatches = constantTimeEquals(decoded.slice(0, colon), auth.user);
    // The password is checked whatever the user, so that the time taken tells nothing.
    const passwordMatches = await verifyPassword(decoded.slice(colon + 1), auth.hash).catch(
      () => false,
    );
    if (!userMatches || !passwordMatches) {
      return false;
    }
    if (this.verified.size >= MAX_VERIFIED) {
      this.verified.clear();
    }
    this.verified.set(key, now + VERIFIED_FOR_MS);
    return true;
  }
}
