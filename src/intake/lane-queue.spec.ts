import { describe, expect, it } from '@jest/globals';
import { LaneQueue, laneOf, type LaneTicket } from './lane-queue.js';

const ticket = (id: string, lane: string, sequence: number): LaneTicket => ({ id, lane, sequence });
const ids = (tickets: readonly LaneTicket[]): string[] => tickets.map((t) => t.id);

describe('laneOf', () => {
  it('puts the deliveries of one PR in one lane, and anything else in a lane of its own', () => {
    expect(laneOf({ id: 'd1', repo: 'o/r', pr: 1 })).toBe(laneOf({ id: 'd2', repo: 'o/r', pr: 1 }));
    expect(laneOf({ id: 'd1', repo: 'o/r', pr: 1 })).not.toBe(
      laneOf({ id: 'd2', repo: 'o/r', pr: 2 }),
    );
    expect(laneOf({ id: 'd1', repo: 'o/r', pr: 1 })).not.toBe(
      laneOf({ id: 'd2', repo: 'o/s', pr: 1 }),
    );
    expect(laneOf({ id: 'ping-1' })).not.toBe(laneOf({ id: 'ping-2' }));
    expect(laneOf({ id: 'push-1', repo: 'o/r' })).not.toBe(laneOf({ id: 'push-2', repo: 'o/r' }));
  });
});

describe('LaneQueue', () => {
  it('runs one ticket per lane at a time, in sequence order even when added out of order', () => {
    const queue = new LaneQueue<LaneTicket>(4);
    queue.add(ticket('b', 'pr1', 2));
    queue.add(ticket('c', 'pr1', 3));
    queue.add(ticket('a', 'pr1', 1));

    expect(ids(queue.start())).toEqual(['a']);
    expect(queue.start()).toEqual([]); // the lane is busy
    queue.finish('pr1');
    expect(ids(queue.start())).toEqual(['b']);
    queue.finish('pr1');
    expect(ids(queue.start())).toEqual(['c']);
    queue.finish('pr1');
    expect(queue.isEmpty).toBe(true);
    expect(queue.runningCount).toBe(0);
  });

  it('runs different lanes side by side, at most maxRunning, the longest waiting first', () => {
    const queue = new LaneQueue<LaneTicket>(2);
    queue.add(ticket('x1', 'x', 1));
    queue.add(ticket('y1', 'y', 2));
    queue.add(ticket('z1', 'z', 3));
    queue.add(ticket('x2', 'x', 4));

    expect(ids(queue.start())).toEqual(['x1', 'y1']);
    expect(queue.runningCount).toBe(2);
    queue.finish('x');
    // z waited since before x became ready again.
    expect(ids(queue.start())).toEqual(['z1']);
    queue.finish('y');
    expect(ids(queue.start())).toEqual(['x2']);
  });

  it('holds back a lane whose first ticket is newer than the horizon', () => {
    const queue = new LaneQueue<LaneTicket>(4);
    queue.add(ticket('new', 'pr1', 20));
    queue.add(ticket('old', 'pr2', 5));

    // An accept with sequence 10 is still storing: it could belong before 'new'.
    expect(ids(queue.start(10))).toEqual(['old']);
    queue.add(ticket('late-but-older', 'pr1', 10));
    expect(ids(queue.start())).toEqual(['late-but-older']);
  });

  it('drops the waiting tickets on clear(), and lets the running ones finish', () => {
    const queue = new LaneQueue<LaneTicket>(1);
    queue.add(ticket('a', 'pr1', 1));
    queue.add(ticket('b', 'pr1', 2));
    queue.add(ticket('c', 'pr2', 3));
    queue.start();

    expect(ids(queue.clear()).sort()).toEqual(['b', 'c']);
    expect(queue.isEmpty).toBe(true);
    expect(queue.runningCount).toBe(1);
    queue.finish('pr1');
    expect(queue.start()).toEqual([]);
  });
});
