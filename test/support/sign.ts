import { sign } from '@octokit/webhooks-methods';

/**
 * The `X-Hub-Signature-256` value GitHub would send for `body`.
 * Uses Octokit's implementation rather than ours, so tests do not check our code against itself.
 */
export function signBody(secret: string, body: string): Promise<string> {
  return sign(secret, body);
}
