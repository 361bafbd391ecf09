import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import type { KeyedLock } from '../../common/keyed-lock.js';
import { errorMessage } from '../../common/error-message.js';
import { routeOf } from '../delivery-route.js';
import { metaOf, type SequenceClock } from './delivery-record.js';
import type { DeliveryStates } from './delivery-states.js';
import { isErrno, listNames } from './list-names.js';

/**
 * The inbox's `pending/` directory, where an operator puts a delivery back: a file `<id>.json` as
 * written to failed/ (id, event, action, receivedAt, payload). takeIn() stores each such delivery
 * in the journal like a new one (routed from its payload), then deletes the file; an unreadable
 * file is moved to failed/ as `<id>.unreadable.json`. Older versions kept their queue here, so an
 * upgrade picks it up too.
 */
export class DropBox {
  private readonly logger = new Logger('Inbox');

  constructor(
    readonly dir: string,
    private readonly states: DeliveryStates,
    private readonly clock: SequenceClock,
    /** The inbox's per-delivery lock: a state change of one id at a time. */
    private readonly locks: KeyedLock,
  ) {}

  /** Takes in every `<id>.json` there; each file is deleted once its delivery is durable. */
  async takeIn(): Promise<void> {
    for (const name of await listNames(this.dir)) {
      if (name.endsWith('.json')) {
        await this.takeInFile(name);
      }
    }
  }

  private async takeInFile(name: string): Promise<void> {
    const path = join(this.dir, name);
    let fields: Record<string, unknown>;
    try {
      fields = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    } catch (error) {
      if (!isErrno(error, 'ENOENT')) {
        this.setAsideUnreadable(path, name, error);
      }
      return;
    }
    const meta = metaOf({ sequence: this.clock.next(), ...fields });
    if (!meta || `${meta.id}.json` !== name) {
      this.setAsideUnreadable(
        path,
        name,
        new Error('no valid "id", "event" and "receivedAt" matching the file name'),
      );
      return;
    }
    await this.locks.run(meta.id, async () => {
      if (this.states.isKnown(meta.id)) {
        this.logger.warn(
          `${path}: delivery ${meta.id} is already pending, done or failed (failed/${name}); ` +
            'removed. To retry a failed delivery, move its failed/ file here',
        );
        await rm(path, { force: true });
        return;
      }
      await this.states.reopen(meta.id);
      const record = this.states.append(
        meta,
        routeOf(fields.payload),
        Buffer.from(JSON.stringify(fields.payload ?? {})),
      );
      try {
        await this.states.durable();
      } catch (error) {
        this.states.abandon(record);
        throw error;
      }
      this.states.addPending(meta.id, record);
      this.states.failed.forget(meta.id);
      await rm(path, { force: true });
      this.logger.log(`delivery ${meta.id} (${meta.event}) taken in from ${path}`);
    });
  }

  private setAsideUnreadable(path: string, name: string, error: unknown): void {
    const to = join(this.states.failed.dir, name.replace(/\.json$/, '.unreadable.json'));
    this.logger.error(
      `inbox file ${path} is unreadable (${errorMessage(error)}); moved to ${to}: ` +
        `fix it and move it back to ${path}, or delete it`,
    );
    this.states.failed.moveAside(path, name.replace(/\.json$/, '.unreadable.json'));
  }
}
