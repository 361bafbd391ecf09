import { describe, expect, it } from '@jest/globals';
import { signBody } from '../../test/support/test-kit.js';
import { verifySignature } from './webhook-signature.js';

const secret = "It's a Secret to Everybody";
// GitHub's documented test vector: https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
const body = 'Hello, World!';
const documentedSignature =
  'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';

describe('verifySignature', () => {
  it('accepts the signature from GitHub documentation', () => {
    expect(verifySignature(secret, Buffer.from(body), documentedSignature)).toBe(true);
  });

  it('accepts a signature made by Octokit over the exact bytes, multibyte characters included', async () => {
    const json = '{ "title" : "caf\u00e9 \\u00e9",\n "n": 1 }';
    const header = await signBody(secret, json);
    expect(verifySignature(secret, Buffer.from(json, 'utf8'), header)).toBe(true);
  });

  it('rejects a signature made with another secret', async () => {
    const header = await signBody('another secret', body);
    expect(verifySignature(secret, Buffer.from(body), header)).toBe(false);
  });

  it('rejects a tampered body', () => {
    expect(verifySignature(secret, Buffer.from('Hello, World?'), documentedSignature)).toBe(false);
  });

  it('rejects a body that differs only by re-serialisation', async () => {
    const sent = '{"a":1,"b":2}';
    const header = await signBody(secret, sent);
    const reserialised = JSON.stringify(JSON.parse(sent), null, 2);
    expect(verifySignature(secret, Buffer.from(reserialised), header)).toBe(false);
  });

  it('rejects a missing or empty header', () => {
    expect(verifySignature(secret, Buffer.from(body), undefined)).toBe(false);
    expect(verifySignature(secret, Buffer.from(body), '')).toBe(false);
  });

  it('rejects the right digest under another prefix (sha1=, none, upper-case)', () => {
    const hex = documentedSignature.slice('sha256='.length);
    expect(verifySignature(secret, Buffer.from(body), `sha1=${hex}`)).toBe(false);
    expect(verifySignature(secret, Buffer.from(body), hex)).toBe(false);
    expect(verifySignature(secret, Buffer.from(body), `SHA256=${hex}`)).toBe(false);
  });

  it('rejects digests of the wrong length without throwing', () => {
    expect(verifySignature(secret, Buffer.from(body), documentedSignature.slice(0, -2))).toBe(
      false,
    );
    expect(verifySignature(secret, Buffer.from(body), `${documentedSignature}00`)).toBe(false);
    expect(verifySignature(secret, Buffer.from(body), 'sha256=')).toBe(false);
  });

  it('rejects a header with non-hex characters that would otherwise decode to a prefix', () => {
    // Buffer.from('ab zz', 'hex') stops at the first bad pair; a lenient check could compare less.
    const hex = documentedSignature.slice('sha256='.length);
    expect(verifySignature(secret, Buffer.from(body), `sha256=${hex.slice(0, 62)}zz`)).toBe(false);
  });

  it('rejects everything when no secret is configured', async () => {
    const header = await signBody('x', body);
    expect(verifySignature('', Buffer.from(body), header)).toBe(false);
  });
});
