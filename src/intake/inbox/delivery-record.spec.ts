import { describe, expect, it } from '@jest/globals';
import {
  checkDeliveryId,
  pendingDelivery,
  readRecordHeader,
  recordHeader,
  SequenceClock,
} from './delivery-record.js';

const META = {
  id: '72d3162e-cc78-11e3-81ab-4c9367dc0958',
  event: 'pull_request',
  action: 'labeled',
  receivedAt: '2024-05-01T10:00:00.000Z',
  sequence: 1714557600000000,
};

describe('journal record headers of deliveries', () => {
  it('carry the delivery and its routing, and read back as written', () => {
    const header = recordHeader(META, { repo: 'EESSI/software-layer', pr: 42 });

    expect(JSON.stringify(header)).toBe(
      '{"id":"72d3162e-cc78-11e3-81ab-4c9367dc0958","event":"pull_request","action":"labeled",' +
        '"receivedAt":"2024-05-01T10:00:00.000Z","sequence":1714557600000000,' +
        '"route":{"repo":"EESSI/software-layer","pr":42}}',
    );
    expect(readRecordHeader(JSON.parse(JSON.stringify(header)))).toEqual({
      meta: META,
      route: { repo: 'EESSI/software-layer', pr: 42 },
    });
  });

  it('of a delivery about no PR carry an empty route; those of older versions none', () => {
    expect(readRecordHeader(recordHeader(META, {}))).toEqual({ meta: META, route: {} });
    const { route: _route, ...old } = recordHeader(META, {});
    expect(readRecordHeader(old)).toEqual({ meta: META });
  });

  it.each([
    ['an id that could name another file', { ...META, id: '../x' }],
    ['no event', { ...META, event: undefined }],
    ['a sequence that is not a number', { ...META, sequence: '1' }],
  ])('are refused with %s', (_what, fields) => {
    expect(readRecordHeader(fields)).toBeUndefined();
  });

  it('ignore a route that is not one (it is then read from the payload)', () => {
    expect(readRecordHeader({ ...META, route: { pr: 'x' } })).toEqual({ meta: META });
    expect(readRecordHeader({ ...META, route: 'o/r#1' })).toEqual({ meta: META });
  });
});

describe('pendingDelivery', () => {
  it('is the delivery with its routing and without the record position', () => {
    const ref = { segment: 1, offset: 200, length: 10, crc: 5 };
    const { id: _id, ...rest } = META;
    expect(pendingDelivery(META.id, { ...rest, ref, route: { repo: 'o/r', pr: 1 } })).toEqual({
      ...META,
      repo: 'o/r',
      pr: 1,
    });
  });
});

describe('checkDeliveryId', () => {
  it('accepts GitHub delivery ids and refuses anything that could escape a directory', () => {
    expect(checkDeliveryId(META.id)).toBe(META.id);
    for (const bad of ['', '../etc', 'a/b', 'x'.repeat(101), 'a b']) {
      expect(() => checkDeliveryId(bad)).toThrow(/invalid delivery id/);
    }
  });
});

describe('SequenceClock', () => {
  it('follows the clock in microseconds and never repeats or goes back', () => {
    let now = 1_000;
    const clock = new SequenceClock(() => now);
    expect(clock.next()).toBe(1_000_000);
    expect(clock.next()).toBe(1_000_001);
    now = 999; // the wall clock stepped back
    expect(clock.next()).toBe(1_000_002);
    clock.seen(5_000_000);
    expect(clock.next()).toBe(5_000_001);
  });
});
