/**
 * A webhook delivery signed and shaped as GitHub sends it to an App. Free of Jest, so that the
 * benchmarks can use it too; specs import it through test-kit.ts.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { sign } from '@octokit/webhooks-methods';

/**
 * The `X-Hub-Signature-256` value GitHub would send for `body`.
 * Uses Octokit's implementation rather than ours, so tests do not check our code against itself.
 */
export function signBody(secret: string, body: string): Promise<string> {
  return sign(secret, body);
}

export interface SignedDelivery {
  readonly id: string;
  readonly event: string;
  /** The payload exactly as sent: the bytes both signatures are over. */
  readonly body: string;
  /** The request headers GitHub sends with a delivery (lower-case names). */
  readonly headers: Readonly<Record<string, string>>;
}

export interface DeliveryOptions {
  /** The App's webhook secret; the delivery is signed with it. */
  readonly secret: string;
  /** `X-GitHub-Event`; default `pull_request`. */
  readonly event?: string;
  /** `X-GitHub-Delivery`; default a fresh UUID, as GitHub's are. */
  readonly id?: string;
}

/**
 * A webhook delivery as GitHub sends it to an App: `payload` as compact JSON (or, given a string,
 * those exact bytes), with GitHub's headers, both signatures included (`X-Hub-Signature` is the
 * legacy SHA-1 one, which the bot ignores). Send `body` and `headers` unchanged, or change one of
 * them to make the delivery wrong on purpose.
 */
export async function signedDelivery(
  payload: unknown,
  options: DeliveryOptions,
): Promise<SignedDelivery> {
  const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
  const id = options.id ?? randomUUID();
  const event = options.event ?? 'pull_request';
  return {
    id,
    event,
    body,
    headers: {
      'content-type': 'application/json',
      'user-agent': 'GitHub-Hookshot/f6a1c8e',
      'x-github-delivery': id,
      'x-github-event': event,
      'x-github-hook-id': '123456789',
      'x-github-hook-installation-target-id': '2',
      'x-github-hook-installation-target-type': 'integration',
      'x-hub-signature': `sha1=${createHmac('sha1', options.secret).update(body).digest('hex')}`,
      'x-hub-signature-256': await signBody(options.secret, body),
    },
  };
}

/** POSTs `delivery` to `url` as GitHub would; resolves with the status once the answer is read. */
export async function postDelivery(url: string, delivery: SignedDelivery): Promise<number> {
  const res = await fetch(url, { method: 'POST', headers: delivery.headers, body: delivery.body });
  await res.arrayBuffer();
  return res.status;
}
