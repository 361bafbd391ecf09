import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { DeliveryProgressStore } from './delivery-progress.js';

describe('DeliveryProgressStore', () => {
  let dir: string;

  beforeEach(() => {
    dir = join(mkdtempSync(join(tmpdir(), 'delivery-progress-')), 'progress');
  });

  afterEach(() => {
    rmSync(join(dir, '..'), { recursive: true, force: true });
  });

  it('keeps what a handler recorded until the delivery is removed', async () => {
    const store = new DeliveryProgressStore(dir);
    store.remove('d-0'); // nothing recorded yet, no directory yet: nothing to do
    await store.of('d-1').set('jobs', [1, 2]);
    await store.of('d-1').set('comment', 7);

    const again = new DeliveryProgressStore(dir);
    expect(await again.of('d-1').get('jobs')).toEqual([1, 2]);
    expect(await again.of('d-1').get('comment')).toBe(7);
    expect(store.has('d-1')).toBe(true);

    store.remove('d-1');
    expect(store.has('d-1')).toBe(false);
    expect(await store.of('d-1').get('jobs')).toBeUndefined();
  });

  it('removes records a previous process left, and leaves other files alone', () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'd-2.json'), '{"step":1}');
    writeFileSync(join(dir, '.d-3.json.tmp-1-abcd'), '{');

    const store = new DeliveryProgressStore(dir);
    store.remove('d-3');
    store.remove('d-2');

    expect(readdirSync(dir)).toEqual(['.d-3.json.tmp-1-abcd']);
  });
});
