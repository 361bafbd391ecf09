import { join } from 'node:path';

/**
 * Where the inbox keeps its state, under `<stateDir>/inbox/` (the on-disk formats are described
 * in src/common/journal/README.md):
 * - `journal/<n>.log`: every accepted delivery, appended (see Journal): a header line with id,
 *   event, action, receivedAt, sequence and route, then the payload as GitHub sent it. A segment
 *   is deleted once none of its deliveries is pending.
 * - `resolved.log`: the ids of deliveries done or failed (see ResolvedLog), remembered for
 *   DONE_RETENTION_DAYS so that a redelivery is a duplicate.
 * - `failed/<id>.json`: a delivery whose handler gave up, with `error` and `failedAt`. To retry
 *   it, move it to `pending/<id>.json`; to drop it, delete it.
 * - `failed/<id>.unreadable.json`, `failed/journal-<n>-<offset>.unreadable`: stored bytes that
 *   could not be read back (a damaged file), set aside for an operator to look at. They do not
 *   make a redelivery a duplicate: GitHub's copy is then the one to keep.
 * - `pending/`: a drop box. A file `<id>.json` holding a delivery (as in failed/) is taken into
 *   the journal at start-up and by EventDispatcher.drain(), then deleted. Older versions kept
 *   their queue there, so an upgrade picks it up too.
 * - `done/`, `tmp/`: older versions' tombstones and temp files, taken in at start-up, then removed.
 * - `lock`: the one bot process using this state directory (see acquireStateLock).
 */
export interface InboxLayout {
  readonly dir: string;
  readonly journalDir: string;
  readonly resolvedLog: string;
  readonly failedDir: string;
  readonly dropBoxDir: string;
  readonly legacyDoneDir: string;
  readonly legacyTmpDir: string;
}

export function inboxLayout(stateDir: string): InboxLayout {
  const dir = join(stateDir, 'inbox');
  return {
    dir,
    journalDir: join(dir, 'journal'),
    resolvedLog: join(dir, 'resolved.log'),
    failedDir: join(dir, 'failed'),
    dropBoxDir: join(dir, 'pending'),
    legacyDoneDir: join(dir, 'done'),
    legacyTmpDir: join(dir, 'tmp'),
  };
}
