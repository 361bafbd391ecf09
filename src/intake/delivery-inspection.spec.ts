import { crc32 } from 'node:zlib';
import { describe, expect, it } from '@jest/globals';
import { signBody } from '../../test/support/test-kit.js';
import { inspectDelivery } from './delivery-inspection.js';

const SECRET = 'inspection-secret';

async function signed(text: string, secret = SECRET): Promise<{ body: Buffer; signature: string }> {
  return { body: Buffer.from(text), signature: await signBody(secret, text) };
}

describe('inspectDelivery', () => {
  it('returns the routing, the action and the CRC of the bytes for a signed JSON payload', async () => {
    const text = JSON.stringify({
      action: 'labeled',
      pull_request: { number: 12 },
      repository: { full_name: 'EESSI/software-layer' },
    });
    const { body, signature } = await signed(text);

    expect(inspectDelivery(SECRET, { body, form: false, signature })).toEqual({
      kind: 'ok',
      action: 'labeled',
      route: { repo: 'EESSI/software-layer', pr: 12 },
      crc: crc32(body),
    });
  });

  it('takes the JSON from the payload field of a form body, and the CRC of that text', async () => {
    const json = JSON.stringify({ action: 'created', issue: { number: 3 } });
    const { body, signature } = await signed(`payload=${encodeURIComponent(json)}`);

    expect(inspectDelivery(SECRET, { body, form: true, signature })).toEqual({
      kind: 'ok',
      formPayload: json,
      action: 'created',
      route: { pr: 3 },
      crc: crc32(Buffer.from(json)),
    });
  });

  it('refuses a wrong signature before looking at the content', async () => {
    const { body, signature } = await signed('not even json', 'another secret');
    expect(inspectDelivery(SECRET, { body, form: false, signature })).toEqual({
      kind: 'bad-signature',
    });
  });

  it.each([
    ['{"action": "opened"', false, 'payload is not valid JSON'],
    ['[1, 2]', false, 'payload is not a JSON object'],
    ['null', false, 'payload is not a JSON object'],
    ['other=1', true, 'form body has no payload field'],
  ])('refuses the signed body %j (form: %s): %s', async (text, form, reason) => {
    const { body, signature } = await signed(text);
    expect(inspectDelivery(SECRET, { body, form, signature })).toEqual({ kind: 'invalid', reason });
  });
});
