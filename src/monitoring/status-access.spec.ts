import { describe, expect, it } from '@jest/globals';
import type { IncomingMessage } from 'node:http';
import { hashPassword } from '../common/password-hash.js';
import { StatusAccess } from './status-access.js';

function request(remoteAddress: string, authorization?: string): IncomingMessage {
  return {
    socket: { remoteAddress },
    headers: authorization ? { authorization } : {},
  } as IncomingMessage;
}

const basic = (credentials: string) => `Basic ${Buffer.from(credentials).toString('base64')}`;

describe('StatusAccess', () => {
  it('lets only loopback clients in by default, IPv4, IPv6 and IPv4-mapped alike', async () => {
    const access = new StatusAccess(['127.0.0.1']);
    for (const address of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) {
      expect([address, await access.check(request(address))]).toEqual([address, { allowed: true }]);
    }
    for (const address of ['10.0.0.1', '::ffff:10.0.0.1', '2001:db8::1']) {
      expect(await access.check(request(address))).toEqual({ allowed: false, status: 403 });
    }
  });

  it('takes addresses and CIDR ranges, and 0.0.0.0 for everyone', async () => {
    const ranges = new StatusAccess(['10.1.0.0/16', '192.0.2.7', 'fd00::/8']);
    expect((await ranges.check(request('::ffff:10.1.200.3'))).allowed).toBe(true);
    expect((await ranges.check(request('192.0.2.7'))).allowed).toBe(true);
    expect((await ranges.check(request('fd12::5'))).allowed).toBe(true);
    expect((await ranges.check(request('10.2.0.1'))).allowed).toBe(false);
    expect((await ranges.check(request('127.0.0.1'))).allowed).toBe(false);
    expect((await new StatusAccess(['0.0.0.0']).check(request('203.0.113.9'))).allowed).toBe(true);
  });

  it('asks for basic auth when status_auth is set, after the address check', async () => {
    const access = new StatusAccess(['127.0.0.1'], {
      user: 'ops',
      passwordHash: await hashPassword('pa:ss word'),
    });
    expect(await access.check(request('127.0.0.1'))).toEqual({ allowed: false, status: 401 });
    expect(await access.check(request('127.0.0.1', basic('ops:wrong')))).toEqual({
      allowed: false,
      status: 401,
    });
    expect(await access.check(request('127.0.0.1', basic('op:pa:ss word')))).toEqual({
      allowed: false,
      status: 401,
    });
    expect(await access.check(request('127.0.0.1', 'Bearer abc'))).toEqual({
      allowed: false,
      status: 401,
    });
    expect(await access.check(request('127.0.0.1', basic('ops:pa:ss word')))).toEqual({
      allowed: true,
    });
    // Right credentials from the wrong place are still refused.
    expect(await access.check(request('10.0.0.1', basic('ops:pa:ss word')))).toEqual({
      allowed: false,
      status: 403,
    });
  });
});
