/** One attempt of GitHub to deliver a webhook, as `GET /app/hook/deliveries` lists it. */
export interface HookDelivery {
  /** This attempt's id (what a redelivery is asked for with). */
  readonly id: number;
  /** X-GitHub-Delivery: the same for a delivery and all its redeliveries. */
  readonly guid: string;
  /** ms epoch. */
  readonly deliveredAt: number;
  readonly redelivery: boolean;
  /** HTTP status the webhook URL answered; 0 when there was no answer. */
  readonly statusCode: number;
  /** GitHub's words for the outcome, e.g. `OK`, `Invalid HTTP Response: 503`. */
  readonly status: string;
  readonly event: string;
  readonly action?: string;
  readonly installationId?: number;
}

export interface HookDeliveryListing {
  /** Newest first, none older than asked for. */
  readonly deliveries: HookDelivery[];
  /** Stopped at the page limit before reaching the look-back. */
  readonly truncated: boolean;
}

/** The fields of GitHub's listing the bot uses. */
interface HookDeliveryItem {
  readonly id: number;
  readonly guid: string;
  readonly delivered_at: string;
  readonly redelivery: boolean;
  readonly status_code: number;
  readonly status: string;
  readonly event: string;
  readonly action?: string | null;
  readonly installation_id?: number | null;
}

/**
 * Reads GitHub's pages of deliveries (newest first) until one reaches back to `since`, the pages
 * end, or `maxPages` were read.
 */
export async function collectHookDeliveries(
  pages: AsyncIterable<{ readonly data: readonly HookDeliveryItem[] }>,
  since: Date,
  maxPages: number,
): Promise<HookDeliveryListing> {
  const deliveries: HookDelivery[] = [];
  let read = 0;
  for await (const { data } of pages) {
    read += 1;
    let reachedSince = false;
    for (const item of data) {
      const deliveredAt = Date.parse(item.delivered_at);
      if (!(deliveredAt >= since.getTime())) {
        reachedSince = true;
        continue;
      }
      deliveries.push({
        id: item.id,
        guid: item.guid,
        deliveredAt,
        redelivery: item.redelivery,
        statusCode: item.status_code,
        status: item.status,
        event: item.event,
        ...(item.action ? { action: item.action } : {}),
        ...(typeof item.installation_id === 'number'
          ? { installationId: item.installation_id }
          : {}),
      });
    }
    if (reachedSince || data.length === 0) {
      return { deliveries, truncated: false };
    }
    if (read >= maxPages) {
      return { deliveries, truncated: true };
    }
  }
  return { deliveries, truncated: false };
}
