import { Logger } from '@nestjs/common';
import type { JournalDamage } from '../../common/journal/journal.js';
import { readRecordHeader, type SequenceClock } from './delivery-record.js';
import type { DeliveryStates } from './delivery-states.js';
import type { FailedDeliveries } from './failed-deliveries.js';

const logger = new Logger('Inbox');

/**
 * Rebuilds the pending queue from the journal at start-up, settling what a crash interrupted:
 * - a record whose id resolved.log names is not pending (its segment goes once nothing holds it);
 * - a record whose id has a failed/ file was failed just before the crash, before resolved.log
 *   said so: the line is added now;
 * - a record cut short at the end of a segment was never acknowledged: dropped, with a warning
 *   (GitHub shows the delivery as failed, so it can be redelivered, and is then accepted);
 * - any other damage (a CRC mismatch, lost framing) is set aside in failed/ for an operator.
 * Routing comes from each record's header; records of older versions without it are routed when
 * first listed (see Inbox.listPending). Returns how many records are pending.
 */
export async function replayJournal(states: DeliveryStates, clock: SequenceClock): Promise<number> {
  let replayed = 0;
  const writes: Promise<void>[] = [];
  await states.journal.replay(
    (fields, ref) => {
      const header = readRecordHeader(fields);
      if (!header) {
        logger.error(
          `journal record at offset ${ref.offset} of segment ${ref.segment} ` +
            'has no valid delivery fields; skipped',
        );
        return;
      }
      const { meta, route } = header;
      clock.seen(meta.sequence);
      const { id, ...rest } = meta;
      if (states.resolved.get(id)) {
        return;
      }
      if (states.failed.listed(id)) {
        // The failed/ file was written and the crash came before resolved.log said so.
        writes.push(
          states.resolved.add(id, { resolution: 'failed', at: Date.now(), segment: ref.segment }),
        );
        return;
      }
      states.addReplayed(id, { ...rest, ...(route ? { route } : {}), ref });
      replayed += 1;
    },
    (damage) => writes.push(setAsideDamage(damage, states.failed)),
  );
  await Promise.all(writes);
  return replayed;
}

async function setAsideDamage(damage: JournalDamage, failed: FailedDeliveries): Promise<void> {
  const id = damage.meta?.id;
  const what = typeof id === 'string' ? `delivery ${id}` : 'a delivery';
  if (damage.torn) {
    logger.warn(
      `${damage.path}: ${what} cut short at offset ${damage.offset} by a crash; it was never ` +
        'acknowledged, so GitHub shows it as failed: redeliver it if it mattered',
    );
    return;
  }
  const segment = damage.path.replace(/^.*\//, '').replace(/\.log$/, '');
  const name = `journal-${segment}-${damage.offset}.unreadable`;
  logger.error(
    `${damage.path}: ${damage.reason} at offset ${damage.offset} (${what}); the bytes are ` +
      `set aside in ${failed.dir}/${name}: look at them, redeliver what they held from the App's ` +
      'advanced settings, then delete the file',
  );
  await failed.setAside(name, damage.bytes);
}
