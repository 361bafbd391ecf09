/**
 * The built bot (`node dist/main.js serve`) killed with SIGKILL in the middle of a flood of
 * webhook deliveries, then started again: every delivery it stored (all those it answered 202, and
 * those whose 202 was on the wire) is processed (marked done) exactly once, none is lost, and
 * redelivering any of them is answered "duplicate". The ones still pending at the kill are read
 * back from the journal by the second process.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { describeExit, startServer, stopAllBots, type BotServer } from '../support/bot-process.js';
import { Journal } from '../../src/common/journal/journal.js';
import { botEnv, writeBotConfig } from '../support/bot-config.js';
import { generateAppKeys } from '../support/make-config.js';
import { examplePayload } from '../support/payloads.js';
import {
  cleanupAfterAll,
  postDelivery,
  signedDelivery,
  type SignedDelivery,
} from '../support/test-kit.js';

const SECRET = 'crash-test-secret';
const DELIVERIES = 400;
const CONCURRENCY = 20;
/** Killed once this many deliveries were acknowledged, with the rest still arriving. */
const KILL_AFTER = 150;

const cleanup = cleanupAfterAll();
const root = cleanup.tempDirSync('inbox-crash-e2e-');
cleanup.defer(stopAllBots);

function writeConfig(): string {
  return writeBotConfig({
    root,
    privateKey: generateAppKeys().privateKey,
    appName: 'crash-test-bot',
  });
}

const env = botEnv(SECRET);

/** Ids of the deliveries in the inbox journal (read as the bot reads it, nothing deleted). */
async function journalIds(): Promise<Set<string>> {
  const journal = new Journal(join(root, 'state', 'inbox', 'journal'));
  const ids = new Set<string>();
  await journal.replay(
    (meta, ref) => {
      journal.hold(ref);
      ids.add(String(meta.id));
    },
    () => undefined,
  );
  journal.close();
  return ids;
}

/** `D <id> …` lines of resolved.log, counted per delivery id. */
function doneCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  const path = join(root, 'state', 'inbox', 'resolved.log');
  if (!existsSync(path)) {
    return counts;
  }
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    // As the bot reads it (ResolvedLog): a line cut short by the kill is not a D line.
    const match = /^D ([A-Za-z0-9-]{1,100}) \d+ \d+$/.exec(line);
    if (match) {
      counts.set(match[1], (counts.get(match[1]) ?? 0) + 1);
    }
  }
  return counts;
}

describe('the inbox when the bot is killed during a flood of deliveries', () => {
  it('loses no acknowledged delivery and processes none twice', async () => {
    const config = writeConfig();
    const payload = examplePayload('pull_request', 'opened');
    const ids: string[] = Array.from({ length: DELIVERIES }, () => randomUUID());
    // Signed before the flood, so that the clients only send.
    const deliveries = new Map<string, SignedDelivery>();
    for (const id of ids) {
      deliveries.set(id, await signedDelivery(payload, { secret: SECRET, id }));
    }
    const post = (url: string, id: string): Promise<number> =>
      postDelivery(`${url}/`, deliveries.get(id)!);

    const first: BotServer = await startServer({
      config,
      env,
      jobManager: false,
      label: 'serve#1',
    });
    const acknowledged: string[] = [];
    let next = 0;
    let killed: Promise<unknown> | undefined;
    const client = async (): Promise<void> => {
      while (next < ids.length) {
        const id = ids[next++];
        try {
          if ((await post(first.url, id)) === 202) {
            acknowledged.push(id);
          }
        } catch {
          // The connection died with the server: not acknowledged.
        }
        if (acknowledged.length >= KILL_AFTER && !killed) {
          killed = first.kill('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, client));
    expect(describeExit((await killed) as never)).toBe('signal SIGKILL');
    // Killed mid-flood: some deliveries were not answered at all.
    expect(acknowledged.length).toBeGreaterThanOrEqual(KILL_AFTER);
    expect(acknowledged.length).toBeLessThan(DELIVERIES);

    // What the killed process left: every delivery in the journal, and those already done.
    const stored = await journalIds();
    const doneAtKill = doneCounts();
    expect(acknowledged.filter((id) => !stored.has(id))).toEqual([]); // durable before the 202
    const pendingAtKill = [...stored].filter((id) => !doneAtKill.has(id));

    const second = await startServer({ config, env, jobManager: false, label: 'serve#2' });
    if (pendingAtKill.length > 0) {
      await second.waitForLine(
        new RegExp(`\\b${pendingAtKill.length} deliveries pending in the inbox journal`),
      );
    }
    for (let waited = 0; waited < 30_000; waited += 200) {
      const health = (await (await fetch(`${second.url}/health`)).json()) as {
        inbox?: { pending: number };
      };
      if (health.inbox?.pending === 0) {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }

    const done = doneCounts();
    // Stored ones include those whose 202 was still on the wire at the kill: GitHub may have got it.
    const lost = [...stored].filter((id) => !done.has(id));
    const twice = [...done].filter(([, n]) => n > 1).map(([id]) => id);
    expect(lost).toEqual([]);
    expect(twice).toEqual([]);
    // Only deliveries that were sent are there (those in flight at the kill may be, once).
    expect([...done.keys()].every((id) => ids.includes(id))).toBe(true);
    // GitHub redelivering any acknowledged one now: a duplicate, not a second run.
    for (const id of acknowledged.slice(0, 50)) {
      expect(await post(second.url, id)).toBe(200);
    }
    expect(second.output()).not.toMatch(/ERROR/);
  }, 120_000);
});
