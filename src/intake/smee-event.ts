/** What to POST to the bot for one smee event. */
export interface RelayRequest {
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  /** For log lines only. */
  readonly deliveryId: string;
  readonly eventName: string;
}

/**
 * GitHub's own headers (event name, delivery id, hook and installation target ids) plus the
 * signature. Everything else smee adds (its timestamp, proxies' x-forwarded-*, connection and
 * encoding headers) describes the hop to smee, not the delivery, and is not forwarded.
 */
const FORWARDED_HEADER = /^(x-github-[a-z0-9-]+|x-hub-signature-256)$/;

/**
 * Serialises a parsed GitHub payload back to the bytes GitHub sent.
 *
 * smee.io parses each delivery and sends the parsed object, so the original bytes are gone and
 * the relay can only re-serialise. GitHub's JSON is compact, keeps non-ASCII text as UTF-8 and
 * does not escape `/`, which is what JSON.stringify produces too, so the HMAC GitHub computed still
 * verifies. The one known difference: GitHub writes `\u` escapes (control characters) with
 * upper-case hex digits, JSON.stringify with lower-case; fixed here, as @octokit/webhooks did in
 * its toNormalizedJsonString. Key order survives because JSON.parse keeps it for non-numeric keys.
 */
export function toGitHubJson(value: unknown): string {
  // Consuming whole escapes left to right keeps `\\u0041` (an escaped backslash followed by the
  // text u0041) from being mistaken for an escape.
  return JSON.stringify(value).replace(/\\(u[0-9a-f]{4}|.)/g, (escape) =>
    escape[1] === 'u' ? `\\u${escape.slice(2).toUpperCase()}` : escape,
  );
}

/**
 * The request to forward for one smee event, or why it cannot be forwarded.
 * smee sends `{ ...originalHeaders (lower-cased), body: <parsed payload>, query, timestamp }`.
 */
export function toRelayRequest(data: string): RelayRequest | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return 'event data is not JSON';
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return 'event data is not a JSON object';
  }
  const fields = parsed as Record<string, unknown>;
  if (!('body' in fields) || fields.body === undefined || fields.body === null) {
    return 'event has no body';
  }
  const contentType = typeof fields['content-type'] === 'string' ? fields['content-type'] : '';
  const mediaType = contentType.split(';')[0].trim().toLowerCase();
  if (mediaType !== '' && mediaType !== 'application/json') {
    return (
      `the delivery was sent as ${mediaType}, which smee cannot pass on unchanged: set the ` +
      "webhook's content type to application/json (GitHub Apps always send JSON)"
    );
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(fields)) {
    const key = name.toLowerCase();
    if (FORWARDED_HEADER.test(key) && typeof value === 'string') {
      headers[key] = value;
    }
  }
  // A string body is text smee kept verbatim; anything else is the parsed payload.
  const text = typeof fields.body === 'string' ? fields.body : toGitHubJson(fields.body);
  const body = Buffer.from(text, 'utf8');
  headers['content-type'] = 'application/json';
  headers['content-length'] = String(body.length);
  return {
    headers,
    body,
    deliveryId: headers['x-github-delivery'] ?? '(no delivery id)',
    eventName: headers['x-github-event'] ?? '(no event name)',
  };
}
