import { describe, expect, it } from '@jest/globals';
import { collectHookDeliveries } from './hook-deliveries.js';

function item(id: number, at: string, extra: Record<string, unknown> = {}) {
  return {
    id,
    guid: `guid-${id}`,
    delivered_at: at,
    redelivery: false,
    status_code: 0,
    status: "Couldn't connect to server",
    event: 'pull_request',
    action: 'labeled',
    installation_id: 7,
    ...extra,
  };
}

async function* pagesOf(...pages: Array<ReturnType<typeof item>[]>) {
  for (const data of pages) {
    yield { data };
  }
}

describe('collectHookDeliveries', () => {
  it('reads pages until one reaches back to `since`, keeping only what is newer', async () => {
    const since = new Date('2026-12-01T10:00:00Z');
    const listing = await collectHookDeliveries(
      pagesOf(
        [item(5, '2026-12-01T12:00:00Z'), item(4, '2026-12-01T11:00:00Z', { action: null })],
        [item(3, '2026-12-01T10:00:00Z'), item(2, '2026-12-01T09:59:59Z')],
        [item(1, '2026-12-01T09:00:00Z')],
      ),
      since,
      10,
    );
    expect(listing.truncated).toBe(false);
    expect(listing.deliveries.map((d) => d.id)).toEqual([5, 4, 3]);
    expect(listing.deliveries[1]).toEqual({
      id: 4,
      guid: 'guid-4',
      deliveredAt: Date.parse('2026-12-01T11:00:00Z'),
      redelivery: false,
      statusCode: 0,
      status: "Couldn't connect to server",
      event: 'pull_request',
      installationId: 7,
    });
  });

  it('stops at maxPages and says the listing was cut', async () => {
    const listing = await collectHookDeliveries(
      pagesOf([item(3, '2026-12-01T12:00:00Z')], [item(2, '2026-12-01T11:00:00Z')]),
      new Date('2026-11-01T00:00:00Z'),
      1,
    );
    expect(listing).toMatchObject({ truncated: true, deliveries: [{ id: 3 }] });
  });
});
