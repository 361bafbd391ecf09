import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from '@jest/globals';
import { Admission, type NewDelivery } from './admission.js';
import { SequenceClock, type PendingDelivery } from './delivery-record.js';
import { DeliveryStates } from './delivery-states.js';
import { inboxLayout } from './inbox-layout.js';
import { cleanupAfterEach } from '../../../test/support/test-kit.js';

let stateDir: string;

const cleanup = cleanupAfterEach();
beforeEach(async () => {
  stateDir = await cleanup.tempDir('admission-spec-');
});

function admissionAt(
  dir = stateDir,
  ready: () => Promise<void> | undefined = () => undefined,
  clock = new SequenceClock(),
): { admission: Admission; states: DeliveryStates } {
  const states = DeliveryStates.at(inboxLayout(dir));
  return { admission: new Admission(states, clock, ready), states };
}

function delivery(id: string, pr = 7): NewDelivery {
  return {
    id,
    event: 'pull_request',
    action: 'labeled',
    payloadJson: `{"number":${pr}}`,
    route: { repo: 'o/r', pr },
    receivedAt: new Date('2024-05-01T10:00:00.000Z'),
  };
}

describe('Admission', () => {
  it('accepts exactly one of many concurrent identical deliveries', async () => {
    const { admission, states } = admissionAt();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        admission.accept(delivery(i % 3 ? 'same-id' : `other-${i}`)),
      ),
    );

    const sameId = results.filter((_, i) => i % 3 !== 0);
    expect(sameId.filter((r) => r === 'accepted')).toHaveLength(1);
    expect(results.filter((r) => r === 'accepted')).toHaveLength(1 + 7);
    expect(states.pendingIds().filter((id) => id === 'same-id')).toHaveLength(1);
  });

  it('tells the observer each stored delivery with its routing, and every settled call', async () => {
    const { admission } = admissionAt();
    const accepted: PendingDelivery[] = [];
    let settled = 0;
    admission.observe({
      accepted: (d) => void accepted.push(d),
      settled: () => void (settled += 1),
    });
    await admission.accept(delivery('a-1', 12));
    await admission.accept(delivery('a-1', 12));
    await expect(admission.accept(delivery('../a'))).rejects.toThrow(/invalid delivery id/);

    expect(accepted).toEqual([
      {
        id: 'a-1',
        event: 'pull_request',
        action: 'labeled',
        receivedAt: '2024-05-01T10:00:00.000Z',
        sequence: expect.any(Number),
        repo: 'o/r',
        pr: 12,
      },
    ]);
    // The invalid id is refused before it counts as an accept in flight.
    expect(settled).toBe(2);
  });

  it('numbers deliveries in the order accept() is called, and reports the oldest still storing', async () => {
    const { admission, states } = admissionAt();
    const first = admission.accept(delivery('first'));
    const second = admission.accept(delivery('second'));
    const oldest = admission.oldestInFlight();
    await Promise.all([first, second]);

    const [a, b] = ['first', 'second'].map((id) => states.pendingRecord(id)!.sequence);
    expect(a).toBeLessThan(b);
    expect(oldest).toBe(a);
    expect(admission.oldestInFlight()).toBeUndefined();
  });

  it('waits until the inbox is read from disk, then numbers after what was replayed', async () => {
    const clock = new SequenceClock(() => 1);
    let open!: () => void;
    const recovered = new Promise<void>((resolve) => (open = resolve));
    const { admission, states } = admissionAt(stateDir, () => recovered, clock);
    const accepting = admission.accept(delivery('late'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(states.pendingIds()).toEqual([]);

    clock.seen(5_000); // as replay does with the sequences it reads
    open();
    expect(await accepting).toBe('accepted');
    expect(states.pendingRecord('late')!.sequence).toBe(5_001);
  });

  it('stores nothing when the journal cannot be written, and accepts the delivery once it can', async () => {
    const blocker = join(stateDir, 'a-file');
    await writeFile(blocker, '');
    const { admission, states } = admissionAt(join(blocker, 'state'));

    await expect(admission.accept(delivery('d-1'))).rejects.toThrow(/ENOTDIR/);
    expect(states.isKnown('d-1')).toBe(false);
    await rm(blocker);
    expect(await admission.accept(delivery('d-1'))).toBe('accepted');
  });
});
