import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from '@jest/globals';
import { cleanupAfterEach, quietNestLogger } from '../../test/support/test-kit.js';
import { EventDispatcher, MAX_CONCURRENT_LANES } from './event-dispatcher.js';
import { routeOf } from './delivery-route.js';
import type { InboxEntry } from './inbox/delivery-record.js';
import { Inbox } from './inbox/inbox.js';
import { BotMetrics } from '../common/metrics/bot-metrics.js';

let stateDir: string;
let inbox: Inbox;
let dispatcher: EventDispatcher;
let nextId = 0;

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Accepts a labeled-PR delivery for `owner/repo#pr` and returns its id. */
async function acceptPr(
  pr: number,
  repo = 'owner/repo',
  event = 'pull_request',
  extra: Record<string, unknown> = {},
  action = 'labeled',
): Promise<string> {
  nextId += 1;
  const id = `delivery-${nextId}`;
  const payload = {
    action,
    number: pr,
    pull_request: { number: pr },
    repository: { full_name: repo },
    ...extra,
  };
  await inbox.accept({
    id,
    event,
    action,
    payloadJson: JSON.stringify(payload),
    route: routeOf(payload),
    receivedAt: new Date(),
  });
  return id;
}

// Their messages are the operator's; these specs check what is on disk.
quietNestLogger();

const cleanup = cleanupAfterEach();
beforeEach(async () => {
  stateDir = await cleanup.tempDir('dispatcher-spec-');
  inbox = new Inbox({ stateDir });
  dispatcher = new EventDispatcher(inbox, new BotMetrics());
  cleanup.defer(async () => {
    dispatcher.stop();
    await dispatcher.drain();
  });
});

describe('EventDispatcher', () => {
  it('runs deliveries of one PR one at a time, in arrival order, even when the first is slow', async () => {
    const log: string[] = [];
    dispatcher.on('pull_request', 'labeled', async (d) => {
      log.push(`start ${d.id}`);
      if (d.id === first) {
        await new Promise((r) => setTimeout(r, 150));
      }
      log.push(`end ${d.id}`);
    });
    const first = await acceptPr(1);
    dispatcher.notify();
    const second = await acceptPr(1);
    dispatcher.notify();
    const third = await acceptPr(1);
    dispatcher.notify();
    await dispatcher.drain();

    expect(log).toEqual([
      `start ${first}`,
      `end ${first}`,
      `start ${second}`,
      `end ${second}`,
      `start ${third}`,
      `end ${third}`,
    ]);
    expect(await inbox.counts()).toEqual({ pending: 0, failed: 0, done: 3 });
  });

  it('runs two PRs at the same time', async () => {
    const bothStarted = deferred();
    const started = new Set<number>();
    dispatcher.on('pull_request', 'labeled', async (d) => {
      started.add(d.payload.number as number);
      if (started.size === 2) {
        bothStarted.resolve();
      }
      // Sequential processing would wait here forever; the race turns that into a failure.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        bothStarted.promise,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('PRs ran one after the other')), 2000);
        }),
      ]).finally(() => clearTimeout(timer));
    });
    await acceptPr(1);
    await acceptPr(2);
    dispatcher.notify();
    await dispatcher.drain();

    expect(await inbox.counts()).toEqual({ pending: 0, failed: 0, done: 2 });
  });

  it(`runs at most ${MAX_CONCURRENT_LANES} PRs at once and then the rest`, async () => {
    const gate = deferred();
    let running = 0;
    let peak = 0;
    dispatcher.on('pull_request', '*', async () => {
      running += 1;
      peak = Math.max(peak, running);
      await gate.promise;
      running -= 1;
    });
    for (let pr = 1; pr <= MAX_CONCURRENT_LANES + 2; pr += 1) {
      await acceptPr(pr);
    }
    dispatcher.notify();
    const drained = dispatcher.drain();
    for (let waited = 0; running < MAX_CONCURRENT_LANES && waited < 2000; waited += 10) {
      await new Promise((r) => setTimeout(r, 10));
    }
    // Give a fifth lane the chance to start if the bound were not enforced.
    await new Promise((r) => setTimeout(r, 50));
    expect(running).toBe(MAX_CONCURRENT_LANES);
    gate.resolve();
    await drained;

    expect(peak).toBe(MAX_CONCURRENT_LANES);
    expect((await inbox.counts()).done).toBe(MAX_CONCURRENT_LANES + 2);
  });

  it('marks a delivery failed with its error when the handler throws, and goes on with the lane', async () => {
    const handled: string[] = [];
    dispatcher.on('pull_request', 'labeled', async (d) => {
      handled.push(d.id);
      if (d.id === bad) {
        throw new Error('clone of owner/repo failed: exit 128');
      }
    });
    const bad = await acceptPr(5);
    const good = await acceptPr(5);
    dispatcher.notify();
    await dispatcher.drain();
    // Drain again: a failed delivery must not be retried in a loop.
    dispatcher.notify();
    await dispatcher.drain();

    expect(handled).toEqual([bad, good]);
    expect(await inbox.counts()).toEqual({ pending: 0, failed: 1, done: 1 });
    const failed = JSON.parse(await readFile(join(stateDir, `inbox/failed/${bad}.json`), 'utf8'));
    expect(failed.error).toBe('clone of owner/repo failed: exit 128');
  });

  it('resumes deliveries left pending by a previous process at start-up, each exactly once', async () => {
    const first = await acceptPr(3);
    const second = await acceptPr(4, 'owner/other');
    const handled: string[] = [];
    const restarted = new EventDispatcher(new Inbox({ stateDir }), new BotMetrics());
    restarted.on('pull_request', 'labeled', async (d) => {
      handled.push(d.id);
    });
    await restarted.onApplicationBootstrap();
    await restarted.drain();
    expect(handled.sort()).toEqual([first, second].sort());

    const again = new EventDispatcher(new Inbox({ stateDir }), new BotMetrics());
    again.on('pull_request', 'labeled', async (d) => {
      handled.push(d.id);
    });
    await again.onApplicationBootstrap();
    await again.drain();
    expect(handled).toHaveLength(2);
  });

  it('handles each delivery once however many times it is notified', async () => {
    const calls = new Map<string, number>();
    dispatcher.on('pull_request', 'labeled', async (d) => {
      calls.set(d.id, (calls.get(d.id) ?? 0) + 1);
      await new Promise((r) => setTimeout(r, 5));
    });
    for (let i = 0; i < 10; i += 1) {
      await acceptPr(i % 3);
      dispatcher.notify();
      dispatcher.notify();
    }
    await dispatcher.drain();

    expect(calls.size).toBe(10);
    expect([...calls.values()].every((n) => n === 1)).toBe(true);
  });

  it('prefers a handler for the action, also runs one for any action, and ignores others', async () => {
    const seen: string[] = [];
    dispatcher.on('pull_request', 'labeled', async () => void seen.push('labeled'));
    dispatcher.on('pull_request', '*', async () => void seen.push('any'));
    dispatcher.on('pull_request', 'closed', async () => void seen.push('closed'));
    await acceptPr(9);
    await inbox.accept({
      id: 'ping-1',
      event: 'ping',
      payloadJson: '{"zen":"Keep it simple."}',
      route: {},
      receivedAt: new Date(),
    });
    await acceptPr(10, 'owner/repo', 'check_run');
    dispatcher.notify();
    await dispatcher.drain();

    expect(seen).toEqual(['labeled', 'any']);
    // Events without a handler (ping, check_run) are done, not left to pile up.
    expect(await inbox.counts()).toEqual({ pending: 0, failed: 0, done: 3 });
  });

  it('after stop() starts nothing new and leaves deliveries pending on disk', async () => {
    const handled: InboxEntry[] = [];
    dispatcher.on('pull_request', 'labeled', async (d) => void handled.push(d));
    dispatcher.stop();
    await acceptPr(1);
    dispatcher.notify();
    await dispatcher.drain();

    expect(handled).toEqual([]);
    expect((await inbox.counts()).pending).toBe(1);
  });

  it('once started, runs accepted deliveries without notify() and without listing the inbox', async () => {
    const handled: string[] = [];
    dispatcher.on('pull_request', 'labeled', async (d) => void handled.push(d.id));
    await dispatcher.drain(); // started, as onApplicationBootstrap does
    const ids = [await acceptPr(1)];
    // A file only a listing would notice (and move aside): it stays put while deliveries flow.
    await writeFile(join(stateDir, 'inbox/pending/not-json.json'), 'garbage');
    ids.push(await acceptPr(2), await acceptPr(1));
    for (let waited = 0; handled.length < 3 && waited < 2000; waited += 10) {
      await new Promise((r) => setTimeout(r, 10));
    }

    expect(handled.sort()).toEqual([...ids].sort());
    expect(await readdir(join(stateDir, 'inbox/pending'))).toEqual(['not-json.json']);
    await dispatcher.drain(); // a listing: now it is set aside
    expect(await readdir(join(stateDir, 'inbox/pending'))).toEqual([]);
  });

  it('reads a queued delivery from disk when its handler starts, not when it was accepted', async () => {
    const gate = deferred();
    const seen: unknown[] = [];
    dispatcher.on('pull_request', 'labeled', async (d) => {
      seen.push(d.payload.note);
      await gate.promise;
    });
    await dispatcher.drain();
    await acceptPr(3, 'owner/repo', 'pull_request', { note: 'first' });
    const second = await acceptPr(3, 'owner/repo', 'pull_request', { note: 'SECOND' });
    // While the first holds the lane, damage the second's bytes in the journal: were its payload
    // held in memory since it was accepted, its handler would still run.
    const [segment] = await readdir(join(stateDir, 'inbox/journal'));
    const path = join(stateDir, 'inbox/journal', segment);
    const bytes = await readFile(path);
    bytes[bytes.indexOf('SECOND')] = 'Z'.charCodeAt(0);
    await writeFile(path, bytes);
    gate.resolve();
    await dispatcher.drain();

    expect(seen).toEqual(['first']);
    expect(await readdir(join(stateDir, 'inbox/failed'))).toEqual([`${second}.unreadable.json`]);
  });

  it('marks deliveries nobody handles done without waiting behind their PR', async () => {
    const gate = deferred();
    dispatcher.on('pull_request', 'labeled', () => gate.promise);
    await dispatcher.drain();
    await acceptPr(4);
    const opened = await acceptPr(4, 'owner/repo', 'pull_request', {}, 'opened');
    for (let waited = 0; (await inbox.counts()).done < 1 && waited < 2000; waited += 10) {
      await new Promise((r) => setTimeout(r, 10));
    }

    expect(await inbox.counts()).toEqual({ pending: 1, failed: 0, done: 1 });
    expect(
      await inbox.accept({
        id: opened,
        event: 'pull_request',
        payloadJson: '{}',
        route: {},
        receivedAt: new Date(),
      }),
    ).toBe('duplicate');
    gate.resolve();
    await dispatcher.drain();
    expect(await inbox.counts()).toEqual({ pending: 0, failed: 0, done: 2 });
  });

  it('keeps arrival order in a PR when a later delivery is stored before an earlier one', async () => {
    const order: string[] = [];
    dispatcher.on('pull_request', 'labeled', async (d) => void order.push(d.id));
    await dispatcher.drain();
    const pairs: string[][] = [];
    for (let pr = 1; pr <= 10; pr += 1) {
      // Started in this order; the big one usually finishes storing last.
      const big = acceptPr(pr, 'owner/race', 'pull_request', { body: 'x'.repeat(4_000_000) });
      const small = acceptPr(pr, 'owner/race');
      pairs.push([await big, await small]);
    }
    await dispatcher.drain();

    for (const pair of pairs) {
      expect(order.filter((id) => pair.includes(id))).toEqual(pair);
    }
  });
});
