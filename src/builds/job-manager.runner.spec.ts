import { describe, expect, it } from '@jest/globals';
import { quietNestLogger } from '../../test/support/test-kit.js';
import { runJobManager } from './job-manager.runner.js';
import type { TickOptions, TickReport } from './job-manager.service.js';

/** Records when ticks start and end; each tick takes `tickMs`. */
class RecordingJobManager {
  readonly ticks: { start: number; end?: number; opts?: TickOptions }[] = [];
  constructor(
    private readonly tickMs = 0,
    private readonly onTick?: (n: number) => void,
  ) {}
  async tick(opts?: TickOptions): Promise<TickReport> {
    const entry: { start: number; end?: number; opts?: TickOptions } = { start: Date.now(), opts };
    this.ticks.push(entry);
    this.onTick?.(this.ticks.length);
    await new Promise((resolve) => setTimeout(resolve, this.tickMs));
    entry.end = Date.now();
    return {
      skipped: false,
      tracked: 0,
      released: [],
      received: [],
      running: [],
      finished: [],
      waiting: [],
      commentsUpdated: 0,
      failed: [],
    };
  }
}

describe('runJobManager', () => {
  quietNestLogger();

  it('does nothing for 0 iterations', async () => {
    const jobManager = new RecordingJobManager();
    const result = await runJobManager(jobManager, { iterations: 0, pollIntervalSeconds: 0 });
    expect(result).toEqual({ ticks: 0, interrupted: false });
    expect(jobManager.ticks).toHaveLength(0);
  });

  it('runs N ticks with the poll interval between them, and passes the job filter on', async () => {
    const jobManager = new RecordingJobManager();
    const started = Date.now();
    const result = await runJobManager(jobManager, {
      iterations: 3,
      jobIds: ['1001', '1003'],
      pollIntervalSeconds: 0.1,
    });
    expect(result).toEqual({ ticks: 3, interrupted: false });
    expect(jobManager.ticks).toHaveLength(3);
    expect(jobManager.ticks[0].start - started).toBeLessThan(50); // no pause before the first
    for (let i = 1; i < 3; i++) {
      expect(jobManager.ticks[i].start - jobManager.ticks[i - 1].end!).toBeGreaterThanOrEqual(95);
    }
    expect(jobManager.ticks.every((t) => t.opts?.jobIds?.join(',') === '1001,1003')).toBe(true);
    // No pause after the last tick.
    expect(Date.now() - jobManager.ticks[2].end!).toBeLessThan(50);
  });

  it('stops on SIGTERM after the tick in flight, and removes its signal handlers', async () => {
    const before = process.listenerCount('SIGTERM');
    const jobManager = new RecordingJobManager(60, (n) => {
      if (n === 2) {
        process.emit('SIGTERM', 'SIGTERM');
      }
    });
    const result = await runJobManager(jobManager, { iterations: -1, pollIntervalSeconds: 0.01 });
    expect(result).toEqual({ ticks: 2, interrupted: true });
    expect(jobManager.ticks).toHaveLength(2);
    expect(jobManager.ticks[1].end).toBeDefined(); // the second tick ran to its end
    expect(process.listenerCount('SIGTERM')).toBe(before);
  });

  it('ends a long pause at once when stopped', async () => {
    const stop = new AbortController();
    const jobManager = new RecordingJobManager(0, () => setTimeout(() => stop.abort(), 20));
    const started = Date.now();
    const result = await runJobManager(jobManager, {
      iterations: 5,
      pollIntervalSeconds: 3600,
      signal: stop.signal,
    });
    expect(result).toEqual({ ticks: 1, interrupted: true });
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
