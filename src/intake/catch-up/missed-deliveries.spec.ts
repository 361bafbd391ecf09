import { describe, expect, it } from '@jest/globals';
import type { HookDelivery } from '../../github/hook-deliveries.js';
import { missedDeliveries, type MissedDeliveryRules } from './missed-deliveries.js';

const NOW = Date.parse('2026-11-02T12:00:00Z');
const minutesAgo = (m: number) => NOW - m * 60_000;
let nextId = 1;

function attempt(guid: string, statusCode: number, at: number, extra: Partial<HookDelivery> = {}) {
  return {
    id: nextId++,
    guid,
    deliveredAt: at,
    redelivery: false,
    statusCode,
    status: statusCode === 0 ? "Couldn't connect to server" : `HTTP ${statusCode}`,
    event: 'pull_request',
    action: 'labeled',
    installationId: 7,
    ...extra,
  } satisfies HookDelivery;
}

const direct: MissedDeliveryRules = { relayed: false, installationId: 7, now: NOW, graceMs: 0 };

describe('missedDeliveries', () => {
  it('picks deliveries none of whose attempts succeeded, oldest first, with the newest attempt to redeliver', () => {
    const a1 = attempt('a', 0, minutesAgo(30));
    const a2 = attempt('a', 503, minutesAgo(20), { redelivery: true });
    const b = attempt('b', 502, minutesAgo(40));
    const c1 = attempt('c', 0, minutesAgo(50));
    const c2 = attempt('c', 202, minutesAgo(45), { redelivery: true });
    const d = attempt('d', 200, minutesAgo(10));

    expect(missedDeliveries([d, a2, a1, c2, c1, b], direct)).toEqual([
      {
        guid: 'b',
        event: 'pull_request',
        action: 'labeled',
        attemptId: b.id,
        firstAttemptAt: b.deliveredAt,
        attempts: 1,
      },
      {
        guid: 'a',
        event: 'pull_request',
        action: 'labeled',
        attemptId: a2.id,
        firstAttemptAt: a1.deliveredAt,
        attempts: 2,
      },
    ]);
  });

  it('leaves other installations alone but keeps deliveries without one (ping)', () => {
    const other = attempt('other', 0, minutesAgo(5), { installationId: 8 });
    const ping = attempt('ping', 0, minutesAgo(5), { event: 'ping', installationId: undefined });

    expect(missedDeliveries([other, ping], direct).map((m) => m.guid)).toEqual(['ping']);
  });

  it('behind a relay, counts successful deliveries too, but not those within the grace period', () => {
    const old = attempt('old', 200, minutesAgo(10));
    const fresh = attempt('fresh', 200, minutesAgo(1));
    const rules = { ...direct, relayed: true, graceMs: 2 * 60_000 };

    expect(missedDeliveries([fresh, old], rules).map((m) => m.guid)).toEqual(['old']);
    expect(missedDeliveries([fresh, old], direct)).toEqual([]);
  });
});
