import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { writeFileAtomic } from '../../common/atomic-file.js';
import { errorMessage } from '../../common/error-message.js';
import { listNames } from './list-names.js';

/** A failed delivery as kept in `failed/<id>.json`: what the inbox had of it, and why it failed. */
export interface FailedRecord {
  readonly id: string;
  readonly event?: string;
  readonly action?: string;
  readonly receivedAt?: string;
  readonly sequence?: number;
  /** Absent when the stored payload could not be read back. */
  readonly payload?: Record<string, unknown>;
  readonly error: string;
  readonly failedAt: string;
}

/**
 * The inbox's `failed/` directory: deliveries whose handler gave up (`<id>.json`, for an operator
 * to retry by moving the file to `pending/`, or to delete), and bytes that could not be read back
 * (`*.unreadable*`, set aside to be looked at). Which ids have a failed file is kept in memory
 * from start-up on, so that admission does not list the directory per delivery.
 */
export class FailedDeliveries {
  private readonly logger = new Logger('Inbox');
  /** Ids with a `<id>.json` here, as far as this process knows: an operator may delete one. */
  private readonly ids = new Set<string>();

  constructor(readonly dir: string) {}

  /** Learns which ids have a failed file (once, at start-up). */
  async load(): Promise<void> {
    for (const name of await listNames(this.dir)) {
      if (name.endsWith('.json') && !name.endsWith('.unreadable.json')) {
        this.ids.add(name.slice(0, -'.json'.length));
      }
    }
  }

  /** Whether `id` had a failed file at start-up or was recorded since (it may be gone now). */
  listed(id: string): boolean {
    return this.ids.has(id);
  }

  /** Whether `failed/<id>.json` is there now. */
  exists(id: string): boolean {
    return existsSync(this.pathOf(id));
  }

  pathOf(id: string): string {
    return join(this.dir, `${id}.json`);
  }

  /** Writes `failed/<id>.json` (atomically); throws if it cannot. */
  async record(failed: FailedRecord): Promise<void> {
    await writeFileAtomic(this.pathOf(failed.id), JSON.stringify(failed));
    this.ids.add(failed.id);
  }

  /** `id` went back into the journal from the drop box: its failed file is no longer its state. */
  forget(id: string): void {
    this.ids.delete(id);
  }

  /** Everything in the directory, failed deliveries and set-aside bytes alike. */
  async count(): Promise<number> {
    return (await listNames(this.dir)).length;
  }

  /** Writes bytes that could not be used to `failed/<name>`; logs, rather than throws, a failure. */
  async setAside(name: string, bytes: Uint8Array): Promise<void> {
    const to = join(this.dir, name);
    try {
      await writeFileAtomic(to, bytes);
    } catch (error) {
      this.logger.error(`could not write ${to}: ${errorMessage(error)}`);
    }
  }

  /** Moves the unreadable file `path` here as `<name>`; logs, rather than throws, a failure. */
  moveAside(path: string, name: string): void {
    const to = join(this.dir, name);
    try {
      mkdirSync(this.dir, { recursive: true });
      renameSync(path, to);
    } catch (error) {
      this.logger.error(`could not move ${path} to ${to}: ${errorMessage(error)}`);
    }
  }
}
