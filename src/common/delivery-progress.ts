import { existsSync, readdirSync, unlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../common/atomic-file.js';
import { KeyedLock } from '../common/keyed-lock.js';
import { errorMessage } from './error-message.js';

/**
 * Small durable key/value memory for one delivery, so a handler that crashed half-way (say, after
 * submitting two of three jobs) can skip what it already did when the delivery is resumed.
 * Values must be JSON-serialisable. Kept while the delivery is pending or failed; removed when it
 * is marked done.
 */
export interface DeliveryProgress {
  get<T = unknown>(key: string): Promise<T | undefined>;
  /** Durable when the promise resolves (atomic rewrite of the whole record). */
  set(key: string, value: unknown): Promise<void>;
}

/**
 * The progress records of deliveries: `<dir>/<delivery id>.json`, one JSON object each. One store
 * per directory in a process (the Inbox's): it remembers which records exist, listed once and
 * kept up to date by its own writes, so that remove() costs nothing for the many deliveries that
 * never had one (a failed unlink per delivery was a tenth of the intake's CPU).
 */
export class DeliveryProgressStore {
  /** set() calls of one delivery, one after the other: each rewrites the whole record. */
  private readonly writes = new KeyedLock();
  /** Ids with a record on disk; listed at first use. */
  private present?: Set<string>;

  constructor(private readonly dir: string) {}

  /** `id` must already be a checked delivery id (it names a file). */
  of(id: string): DeliveryProgress {
    const path = this.path(id);
    const read = async (): Promise<Record<string, unknown>> => {
      try {
        return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
          return {};
        }
        throw new Error(`progress file ${path} is unreadable: ${errorMessage(error)}`, {
          cause: error,
        });
      }
    };
    return {
      get: async <T>(key: string) => (await read())[key] as T | undefined,
      set: (key, value) =>
        this.writes.run(id, async () => {
          const record = await read();
          record[key] = value;
          // Before the write: should the process die right after it, nothing is left unknown.
          this.existing().add(id);
          await writeFileAtomic(path, JSON.stringify(record));
        }),
    };
  }

  has(id: string): boolean {
    return existsSync(this.path(id));
  }

  remove(id: string): void {
    const existing = this.existing();
    if (!existing.has(id)) {
      return;
    }
    try {
      unlinkSync(this.path(id));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw error;
      }
    }
    existing.delete(id);
  }

  private existing(): Set<string> {
    if (!this.present) {
      let names: string[] = [];
      try {
        names = readdirSync(this.dir);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
          throw error;
        }
      }
      // Temporary files of an interrupted write are not records (writeFileAtomic renames).
      this.present = new Set(
        names.filter((name) => name.endsWith('.json')).map((name) => name.slice(0, -5)),
      );
    }
    return this.present;
  }

  private path(id: string): string {
    return join(this.dir, `${id}.json`);
  }
}
