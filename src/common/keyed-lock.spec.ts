import { describe, expect, it } from '@jest/globals';
import { KeyedLock } from './keyed-lock.js';

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

describe('KeyedLock', () => {
  it('runs calls for one key one after the other, in call order, even when one fails', async () => {
    const lock = new KeyedLock();
    const events: string[] = [];
    const work = (name: string, fail = false) =>
      lock.run('k', async () => {
        events.push(`${name} start`);
        await tick();
        events.push(`${name} end`);
        if (fail) {
          throw new Error(name);
        }
        return name;
      });

    const results = await Promise.allSettled([work('a'), work('b', true), work('c')]);

    expect(events).toEqual(['a start', 'a end', 'b start', 'b end', 'c start', 'c end']);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });

  it('runs different keys at the same time', async () => {
    const lock = new KeyedLock();
    const events: string[] = [];
    const work = (key: string) =>
      lock.run(key, async () => {
        events.push(`${key} start`);
        await tick();
        events.push(`${key} end`);
      });

    await Promise.all([work('x'), work('y')]);

    expect(events.slice(0, 2).sort()).toEqual(['x start', 'y start']);
  });
});
