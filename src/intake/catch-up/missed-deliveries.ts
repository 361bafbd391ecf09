import type { HookDelivery } from '../../github/hook-deliveries.js';

export interface MissedDeliveryRules {
  /**
   * Webhooks reach the bot through a relay (smee.io): GitHub's status is then the relay's answer
   * and says nothing about the bot, so a delivery counts as missed whatever its status.
   */
  readonly relayed: boolean;
  /** Deliveries of other installations of the App are not this bot's. */
  readonly installationId?: number;
  readonly now: number;
  /** Deliveries younger than this may still be on their way (through the relay). */
  readonly graceMs: number;
}

/** A delivery GitHub failed to make, with the attempt to ask a redelivery of. */
export interface MissedDelivery {
  readonly guid: string;
  readonly event: string;
  readonly action?: string;
  /** The newest attempt: the one redelivered. */
  readonly attemptId: number;
  /** When GitHub first tried (ms epoch). */
  readonly firstAttemptAt: number;
  readonly attempts: number;
}

/**
 * Which of the App's listed deliveries were missed, oldest first: those of which no attempt got a
 * 2xx answer (any attempt, since GitHub logs each redelivery as a new attempt of the same guid),
 * of this installation, past the grace period. Whether the inbox has them is asked afterwards.
 */
export function missedDeliveries(
  deliveries: readonly HookDelivery[],
  rules: MissedDeliveryRules,
): MissedDelivery[] {
  const byGuid = new Map<string, HookDelivery[]>();
  for (const delivery of deliveries) {
    const attempts = byGuid.get(delivery.guid);
    if (attempts) {
      attempts.push(delivery);
    } else {
      byGuid.set(delivery.guid, [delivery]);
    }
  }
  const missed: MissedDelivery[] = [];
  for (const [guid, attempts] of byGuid) {
    const newest = attempts.reduce((a, b) => (b.deliveredAt > a.deliveredAt ? b : a));
    const ours =
      rules.installationId === undefined ||
      attempts.every(
        (a) => a.installationId === undefined || a.installationId === rules.installationId,
      );
    const succeeded =
      !rules.relayed && attempts.some((a) => a.statusCode >= 200 && a.statusCode < 300);
    if (!ours || succeeded || newest.deliveredAt > rules.now - rules.graceMs) {
      continue;
    }
    missed.push({
      guid,
      event: newest.event,
      ...(newest.action === undefined ? {} : { action: newest.action }),
      attemptId: newest.id,
      firstAttemptAt: Math.min(...attempts.map((a) => a.deliveredAt)),
      attempts: attempts.length,
    });
  }
  // GitHub's times are whole seconds; its attempt ids grow with time and break the ties.
  const firstId = new Map(
    [...byGuid].map(([guid, attempts]) => [guid, Math.min(...attempts.map((a) => a.id))]),
  );
  return missed.sort(
    (a, b) => a.firstAttemptAt - b.firstAttemptAt || firstId.get(a.guid)! - firstId.get(b.guid)!,
  );
}
