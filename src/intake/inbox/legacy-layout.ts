import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ResolvedLog } from '../../common/journal/resolved-log.js';
import { DELIVERY_ID_PATTERN } from '../../common/ids.js';
import type { InboxLayout } from './inbox-layout.js';
import { listNames } from './list-names.js';

/**
 * Upgrades the state left by older versions, which kept one file per delivery: `tmp/` (their
 * half-written files: never acknowledged) is emptied, and their `done/<id>` tombstones become
 * resolved.log lines, dated by the tombstone's mtime so that the retention still counts from
 * when the delivery was done. Their `pending/` queue is the drop box, taken in by DropBox.
 */
export class LegacyLayout {
  constructor(
    private readonly layout: Pick<InboxLayout, 'legacyDoneDir' | 'legacyTmpDir'>,
    private readonly resolved: ResolvedLog,
  ) {}

  async removeTmp(): Promise<void> {
    await rm(this.layout.legacyTmpDir, { recursive: true, force: true });
  }

  /** Moves `done/<id>` tombstones into resolved.log; how many there were. */
  async takeInTombstones(): Promise<number> {
    const dir = this.layout.legacyDoneDir;
    const names = await listNames(dir);
    for (const id of names) {
      if (!DELIVERY_ID_PATTERN.test(id) || this.resolved.get(id)) {
        continue;
      }
      let at = Date.now();
      try {
        at = (await stat(join(dir, id))).mtimeMs;
      } catch {
        // Gone meanwhile: remember it as done now.
      }
      await this.resolved.add(id, { resolution: 'done', at: Math.floor(at), segment: 0 });
    }
    return names.length;
  }

  /** Once resolved.log holding the tombstones is rewritten (compacted, so durable). */
  async removeDone(): Promise<void> {
    await rm(this.layout.legacyDoneDir, { recursive: true, force: true });
  }
}
