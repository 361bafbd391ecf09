import { closeSync, fdatasync, mkdirSync, openSync, readFileSync, write } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { writeFileAtomic } from '../atomic-file.js';

/** How a delivery left the pending queue. */
export type Resolution = 'done' | 'failed';

export interface ResolvedEntry {
  readonly resolution: Resolution;
  /** When it was resolved (ms since the epoch). */
  readonly at: number;
  /** Journal segment that held the delivery (0: none), kept until that segment is gone. */
  readonly segment: number;
}

const fdatasyncAsync = promisify(fdatasync);
const writeAsync = promisify(write);

const LINE = /^([DFR]) ([A-Za-z0-9-]{1,100})(?: (\d+) (\d+))?$/;

/**
 * The ids of deliveries that left the inbox's pending queue, so that a redelivery of one is
 * recognised as a duplicate and replay does not bring it back. One line per change, appended:
 *
 *     D <delivery id> <ms> <segment>   done
 *     F <delivery id> <ms> <segment>   failed (its record is in failed/<id>.json)
 *     R <delivery id>                  pending again (an operator retried a failed delivery)
 *
 * The latest line about an id wins. Lines are written in the order they were added, in batches
 * through libuv's pool (a write() can stall for tens of milliseconds while the kernel throttles a
 * process dirtying many pages, such as a checkout, and the event loop must not wait for that);
 * add() resolves once its line is in the file. They are not fsync'ed: a line lost in a power cut
 * leaves its delivery pending at the next start (it runs again, as after a crash inside its
 * handler) or, once its journal segment is gone too, forgotten (a redelivery would run again);
 * nothing acknowledged is lost either way. sync() makes every line added so far durable, for
 * callers about to delete what a rerun would need (reopen() before a drop-box file is deleted).
 * The file is rewritten (atomically) with the live entries once it has grown well past them.
 */
export class ResolvedLog {
  private readonly entries = new Map<string, ResolvedEntry>();
  private fd?: number;
  private linesInFile = 0;
  /** Lines added and not yet handed to a write. */
  private queued: string[] = [];
  private compactionRequested = false;
  /** Callers waiting for the queue as it is now to be written (and compacted, if asked). */
  private waiters: Array<{ resolve: () => void; reject: (error: unknown) => void }> = [];
  private writing = false;

  constructor(readonly path: string) {}

  /** Reads the file (once, at start-up); returns how many of its lines were unreadable. */
  load(): number {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return 0;
      }
      throw error;
    }
    let unreadable = 0;
    for (const line of text.split('\n')) {
      if (line === '') {
        continue;
      }
      this.linesInFile += 1;
      const match = LINE.exec(line);
      if (!match) {
        unreadable += 1; // most likely the last line, cut short by a crash
        continue;
      }
      const [, kind, id, at, segment] = match;
      if (kind === 'R') {
        this.entries.delete(id);
      } else if (at !== undefined && segment !== undefined) {
        this.entries.set(id, {
          resolution: kind === 'F' ? 'failed' : 'done',
          at: Number(at),
          segment: Number(segment),
        });
      } else {
        unreadable += 1;
      }
    }
    return unreadable;
  }

  get(id: string): ResolvedEntry | undefined {
    return this.entries.get(id);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Counts of each resolution. */
  counts(): Record<Resolution, number> {
    const counts = { done: 0, failed: 0 };
    for (const entry of this.entries.values()) {
      counts[entry.resolution] += 1;
    }
    return counts;
  }

  /** Remembers `id` as resolved at once; resolves when its line is in the file. */
  add(id: string, entry: ResolvedEntry): Promise<void> {
    this.entries.set(id, entry);
    return this.enqueue(
      `${entry.resolution === 'failed' ? 'F' : 'D'} ${id} ${entry.at} ${entry.segment}\n`,
    );
  }

  /** Forgets that `id` was resolved; durable when the promise resolves. */
  async reopen(id: string): Promise<void> {
    this.entries.delete(id);
    await this.enqueue(`R ${id}\n`);
    await this.sync();
  }

  /** Makes every line added so far durable. */
  async sync(): Promise<void> {
    await this.enqueue();
    if (this.fd !== undefined) {
      await fdatasyncAsync(this.fd);
    }
  }

  /**
   * Forgets entries resolved before `cutoff` whose journal segment is gone (while the segment is
   * there, its record would otherwise be replayed as pending). Returns how many were forgotten.
   */
  prune(cutoff: number, segmentIsLive: (segment: number) => boolean): number {
    let pruned = 0;
    for (const [id, entry] of this.entries) {
      if (entry.at < cutoff && !(entry.segment > 0 && segmentIsLive(entry.segment))) {
        this.entries.delete(id);
        pruned += 1;
      }
    }
    return pruned;
  }

  /** Whether the file holds at least `factor` times more lines than live entries (and many). */
  isBloated(minimumLines: number, factor = 2): boolean {
    return this.linesInFile >= minimumLines && this.linesInFile >= factor * this.entries.size;
  }

  /** Rewrites the file with the live entries only, after the lines added before this call. */
  compact(): Promise<void> {
    this.compactionRequested = true;
    return this.enqueue();
  }

  close(): void {
    if (this.fd !== undefined) {
      closeSync(this.fd);
      this.fd = undefined;
    }
  }

  private enqueue(line?: string): Promise<void> {
    if (line !== undefined) {
      this.queued.push(line);
    }
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      if (!this.writing) {
        this.writing = true;
        void this.writeQueued();
      }
    });
  }

  /** One batch at a time, in order, until nobody waits; never rejects (waiters are told). */
  private async writeQueued(): Promise<void> {
    while (this.waiters.length > 0) {
      const waiters = this.waiters;
      const lines = this.queued;
      const compaction = this.compactionRequested;
      this.waiters = [];
      this.queued = [];
      this.compactionRequested = false;
      try {
        if (lines.length > 0) {
          await this.writeLines(lines);
        }
        if (compaction) {
          await this.rewrite();
        }
        for (const waiter of waiters) {
          waiter.resolve();
        }
      } catch (error) {
        for (const waiter of waiters) {
          waiter.reject(error);
        }
      }
    }
    // In the same step as the last check: an enqueue() from here on starts a new writer.
    this.writing = false;
  }

  private async writeLines(lines: string[]): Promise<void> {
    const data = Buffer.from(lines.join(''));
    const fd = this.openFd();
    for (let at = 0; at < data.length;) {
      at += (await writeAsync(fd, data, at, data.length - at)).bytesWritten;
    }
    this.linesInFile += lines.length;
  }

  /** Lines added while this runs wait in the queue and go to the new file. */
  private async rewrite(): Promise<void> {
    let text = '';
    for (const [id, entry] of this.entries) {
      text += `${entry.resolution === 'failed' ? 'F' : 'D'} ${id} ${entry.at} ${entry.segment}\n`;
    }
    const lines = this.entries.size;
    await writeFileAtomic(this.path, text);
    // The old descriptor writes to the file just replaced: switch to the new one.
    this.close();
    this.linesInFile = lines;
  }

  private openFd(): number {
    if (this.fd === undefined) {
      mkdirSync(dirname(this.path), { recursive: true });
      this.fd = openSync(this.path, 'a', 0o600);
    }
    return this.fd;
  }
}
