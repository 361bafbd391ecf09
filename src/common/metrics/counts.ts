/*
 * Counters cheap enough for the webhook path: after the first count of a label value, inc() is a
 * map lookup and an addition, with no allocation (the label is a string or number the caller
 * already has). prom-client's own counters hash a labels object per call, and loading prom-client
 * costs ~12 MiB: it is loaded only when /metrics is first scraped (see src/monitoring).
 */

/** Label value counted when a counter already holds `maxValues` distinct ones. */
export const OTHER = 'other';

/** Counts by one label value (an HTTP status, a result). */
export class Counts<K extends string | number = string> {
  private readonly cells = new Map<K | typeof OTHER, { value: number }>();

  /** @param maxValues distinct label values kept; later ones are counted as `other`. */
  constructor(private readonly maxValues = 64) {}

  inc(key: K, by = 1): void {
    const cell = this.cells.get(key);
    if (cell) {
      cell.value += by;
    } else if (this.cells.size < this.maxValues || key === OTHER) {
      // `other` itself always gets a cell, on top of the maxValues ones.
      this.cells.set(key, { value: by });
    } else {
      this.inc(OTHER as K, by);
    }
  }

  get(key: K | typeof OTHER): number {
    return this.cells.get(key)?.value ?? 0;
  }

  /** Every label value counted so far with its count. */
  entries(): Array<[K | typeof OTHER, number]> {
    return [...this.cells].map(([key, cell]) => [key, cell.value]);
  }
}

/**
 * Counts by webhook event and a fixed set of outcomes: one small array per event, indexed by the
 * outcome's position in `outcomes`.
 */
export class EventOutcomeCounts<O extends string> {
  private readonly byEvent = new Map<string, Float64Array>();

  /**
   * @param maxEvents distinct event names kept (GitHub has about 70); later ones count as `other`.
   *   Only events of verified deliveries are counted, so the names come from GitHub.
   */
  constructor(
    readonly outcomes: readonly O[],
    private readonly maxEvents = 100,
  ) {}

  inc(event: string, outcome: O): void {
    let cells = this.byEvent.get(event);
    if (!cells) {
      if (this.byEvent.size >= this.maxEvents && event !== OTHER) {
        this.inc(OTHER, outcome);
        return;
      }
      cells = new Float64Array(this.outcomes.length);
      this.byEvent.set(event, cells);
    }
    cells[this.outcomes.indexOf(outcome)] += 1;
  }

  get(event: string, outcome: O): number {
    return this.byEvent.get(event)?.[this.outcomes.indexOf(outcome)] ?? 0;
  }

  /** Every (event, outcome) pair counted at least once. */
  entries(): Array<{ event: string; outcome: O; value: number }> {
    const found: Array<{ event: string; outcome: O; value: number }> = [];
    for (const [event, cells] of this.byEvent) {
      this.outcomes.forEach((outcome, i) => {
        if (cells[i] > 0) {
          found.push({ event, outcome, value: cells[i] });
        }
      });
    }
    return found;
  }
}

/** A histogram with fixed upper bounds (seconds), exported as a Prometheus histogram. */
export class BucketCounts {
  /** Count per bucket, not cumulative; the last cell is +Inf. */
  private readonly cells: Float64Array;
  sum = 0;
  count = 0;

  constructor(readonly upperBounds: readonly number[]) {
    this.cells = new Float64Array(upperBounds.length + 1);
  }

  observe(value: number): void {
    let i = 0;
    while (i < this.upperBounds.length && value > this.upperBounds[i]) {
      i++;
    }
    this.cells[i] += 1;
    this.sum += value;
    this.count += 1;
  }

  /** Cumulative counts for each upper bound (as Prometheus's `le` buckets), +Inf excluded. */
  cumulative(): number[] {
    let total = 0;
    return this.upperBounds.map((_, i) => (total += this.cells[i]));
  }
}
