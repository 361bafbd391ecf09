import { closeSync, fdatasync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { writeFileAtomic } from '../common/atomic-file.js';

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

const LINE = /^([DFR]) ([A-Za-z0-9-]{1,100})(?: (\d+) (\d+))?$/;

/**
 * The ids of deliveries that left the inbox's pending queue, so that a redelivery of one is
 * recognised as a duplicate and replay does not bring it back. One line per change, appended:
 *
 *     D <delivery id> <ms> <segment>   done
 *     F <delivery id> <ms> <segment>   failed (its record is in failed/<id>.json)
 *     R <delivery id>                  pending again (an operator retried a failed delivery)
 *
 * The latest line about an id wins. Appends are not fsync'ed: a line lost in a power cut leaves
 * its delivery pending at the next start (it runs again, as after a crash inside its handler, which
 * handlers tolerate) or, once its journal segment is gone too, forgotten (a redelivery would run
 * again); nothing acknowledged is lost either way. Only `R` lines are made durable, as the drop-box
 * file they replace is deleted right after. The file is rewritten (atomically) with the live
 * entries once it has grown well past them.
 */
export class ResolvedLog {
  private readonly entries = new Map<string, ResolvedEntry>();
  private fd?: number;
  private linesInFile = 0;
  /** Lines appended while a compaction runs: they go into the new file once it is in place. */
  private appendedDuringCompaction?: string[];
  private compaction?: Promise<void>;

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

  /** Remembers `id` as resolved; in the page cache when this returns (see the class comment). */
  add(id: string, entry: ResolvedEntry): void {
    this.append(
      `${entry.resolution === 'failed' ? 'F' : 'D'} ${id} ${entry.at} ${entry.segment}\n`,
    );
    this.entries.set(id, entry);
  }

  /** Forgets that `id` was resolved; durable when the promise resolves. */
  async reopen(id: string): Promise<void> {
    this.append(`R ${id}\n`);
    this.entries.delete(id);
    await this.compaction;
    await fdatasyncAsync(this.openFd());
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

  /** Rewrites the file with the live entries only; appends made meanwhile are kept. */
  compact(): Promise<void> {
    this.compaction ??= this.rewrite().finally(() => {
      this.compaction = undefined;
    });
    return this.compaction;
  }

  close(): void {
    if (this.fd !== undefined) {
      closeSync(this.fd);
      this.fd = undefined;
    }
  }

  private async rewrite(): Promise<void> {
    this.appendedDuringCompaction = [];
    let text = '';
    for (const [id, entry] of this.entries) {
      text += `${entry.resolution === 'failed' ? 'F' : 'D'} ${id} ${entry.at} ${entry.segment}\n`;
    }
    const lines = this.entries.size;
    try {
      await writeFileAtomic(this.path, text);
    } catch (error) {
      this.appendedDuringCompaction = undefined;
      throw error;
    }
    const later = this.appendedDuringCompaction;
    this.appendedDuringCompaction = undefined;
    // The old descriptor writes to the file just replaced: switch to the new one.
    this.close();
    this.linesInFile = lines;
    for (const line of later) {
      this.append(line);
    }
  }

  private append(line: string): void {
    const data = Buffer.from(line);
    const fd = this.openFd();
    for (let at = 0; at < data.length;) {
      at += writeSync(fd, data, at, data.length - at);
    }
    this.linesInFile += 1;
    this.appendedDuringCompaction?.push(line);
  }

  private openFd(): number {
    if (this.fd === undefined) {
      mkdirSync(dirname(this.path), { recursive: true });
      this.fd = openSync(this.path, 'a', 0o600);
    }
    return this.fd;
  }
}
