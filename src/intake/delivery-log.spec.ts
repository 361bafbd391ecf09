import { describe, expect, it } from '@jest/globals';
import { isWorthLogging, outcomeLine, unhandledLine } from './delivery-log.js';
import type { PendingDelivery } from './inbox/delivery-record.js';

const base: PendingDelivery = {
  id: 'd-1',
  event: 'pull_request',
  action: 'labeled',
  receivedAt: '2024-05-01T10:00:00.000Z',
  sequence: 1,
};

describe('delivery log lines', () => {
  it('name the delivery, its routing and its outcome', () => {
    expect(outcomeLine({ ...base, repo: 'o/r', pr: 4 }, 'done', 12)).toBe(
      'delivery d-1 pull_request.labeled repo=o/r pr=4 outcome=done 12ms',
    );
    expect(outcomeLine({ ...base, event: 'push', action: undefined }, 'ignored', 0)).toBe(
      'delivery d-1 push repo=- pr=- outcome=ignored 0ms',
    );
  });

  it('tell an operator setting the App up that pings and installations arrive', () => {
    const ping = { ...base, event: 'ping', action: undefined };
    expect(isWorthLogging(ping)).toBe(true);
    expect(unhandledLine(ping, { hook_id: 42 })).toEqual({
      level: 'log',
      text: 'ping from GitHub (hook 42): webhook reaches the bot',
    });
    const installed = { ...base, event: 'installation', action: 'created' };
    expect(unhandledLine(installed, { installation: { account: { login: 'EESSI' } } })).toEqual({
      level: 'log',
      text: 'installation.created for account EESSI: no action needed',
    });
    // Hostile or missing fields are not echoed.
    expect(unhandledLine(installed, { installation: { account: { login: {} } } }).text).toBe(
      'installation.created for account ?: no action needed',
    );
  });

  it('keep other unhandled deliveries at debug level, without reading their payload', () => {
    expect(isWorthLogging(base)).toBe(false);
    expect(unhandledLine(base, undefined)).toEqual({
      level: 'debug',
      text: 'delivery d-1: no handler for pull_request.labeled',
    });
  });
});
