import type { PendingDelivery } from './inbox/delivery-record.js';

/** How a delivery's turn in the dispatcher ended, as logged. */
export type Outcome = 'done' | 'ignored' | 'failed' | 'unrecorded' | 'vanished';

type Described = Pick<PendingDelivery, 'event' | 'action'>;

/** `pull_request.labeled`, or the event alone when it has no action. */
export function describeDelivery(delivery: Described): string {
  return delivery.action ? `${delivery.event}.${delivery.action}` : delivery.event;
}

/** One line per delivery handled, with what an operator greps for. */
export function outcomeLine(delivery: PendingDelivery, outcome: Outcome, ms: number): string {
  return (
    `delivery ${delivery.id} ${describeDelivery(delivery)} repo=${delivery.repo ?? '-'} ` +
    `pr=${delivery.pr ?? '-'} outcome=${outcome} ${ms}ms`
  );
}

/**
 * What to log for a delivery nobody handles: pings and installation events are worth a line
 * (operators look for them when setting the App up); anything else only at debug level.
 */
export function unhandledLine(
  delivery: PendingDelivery,
  payload: Record<string, unknown> | undefined,
): { readonly level: 'log' | 'debug'; readonly text: string } {
  if (delivery.event === 'ping') {
    const hook = payload?.hook_id;
    return {
      level: 'log',
      text: `ping from GitHub (hook ${typeof hook === 'number' ? hook : '?'}): webhook reaches the bot`,
    };
  }
  if (delivery.event.startsWith('installation')) {
    const account = (payload?.installation as { account?: { login?: unknown } } | undefined)
      ?.account;
    return {
      level: 'log',
      text:
        `${describeDelivery(delivery)} for account ` +
        `${typeof account?.login === 'string' ? account.login : '?'}: no action needed`,
    };
  }
  return {
    level: 'debug',
    text: `delivery ${delivery.id}: no handler for ${describeDelivery(delivery)}`,
  };
}

/** Whether the payload of an unhandled delivery is worth reading for unhandledLine(). */
export function isWorthLogging(delivery: Described): boolean {
  return delivery.event === 'ping' || delivery.event.startsWith('installation');
}
