import { describe, expect, it } from '@jest/globals';
import { BucketCounts, Counts, EventOutcomeCounts, OTHER } from './counts.js';

describe('counters of BotMetrics', () => {
  it('Counts keeps at most maxValues label values and counts the rest as other', () => {
    const counts = new Counts<number>(2);
    counts.inc(202);
    counts.inc(202);
    counts.inc(401);
    counts.inc(500, 3);
    expect(counts.entries()).toEqual([
      [202, 2],
      [401, 1],
      [OTHER, 3],
    ]);
  });

  it('EventOutcomeCounts counts per event and outcome, events capped', () => {
    const counts = new EventOutcomeCounts(['done', 'failed'] as const, 2);
    counts.inc('pull_request', 'done');
    counts.inc('pull_request', 'done');
    counts.inc('issue_comment', 'failed');
    counts.inc('push', 'done');
    expect(counts.get('pull_request', 'done')).toBe(2);
    expect(counts.entries()).toEqual([
      { event: 'pull_request', outcome: 'done', value: 2 },
      { event: 'issue_comment', outcome: 'failed', value: 1 },
      { event: OTHER, outcome: 'done', value: 1 },
    ]);
  });

  it('BucketCounts gives cumulative counts per upper bound, sum and count', () => {
    const buckets = new BucketCounts([0.1, 1]);
    for (const seconds of [0.05, 0.1, 0.5, 3]) {
      buckets.observe(seconds);
    }
    expect(buckets.cumulative()).toEqual([2, 3]);
    expect([buckets.count, buckets.sum]).toEqual([4, 3.65]);
  });
});
