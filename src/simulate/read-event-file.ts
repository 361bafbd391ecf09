import { readFileSync } from 'node:fs';

export interface SimulatedDelivery {
  readonly event: string;
  readonly id: string;
  readonly payload: Record<string, unknown>;
}

/**
 * A webhook saved by an operator: the bare payload (the App's "Advanced" page shows it) or a
 * smee.io event, which carries the payload under `body` next to lowercased GitHub headers.
 */
export function readEventFile(path: string, now: Date = new Date()): SimulatedDelivery {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(
      `--event ${path}: cannot read a JSON webhook payload: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  if (!isObject(parsed)) {
    throw new Error(`--event ${path}: the payload must be a JSON object`);
  }
  const smee = isObject(parsed.body) && typeof parsed['x-github-event'] === 'string';
  const payload = smee ? (parsed.body as Record<string, unknown>) : parsed;
  const event = smee ? String(parsed['x-github-event']) : inferEvent(payload);
  if (!event) {
    throw new Error(
      `--event ${path}: cannot tell which event this is; save the smee.io event (with its headers) or a pull_request payload`,
    );
  }
  const header = parsed['x-github-delivery'];
  const delivery = smee && typeof header === 'string' ? header : '';
  const id = /^[A-Za-z0-9-]{1,100}$/.test(delivery) ? delivery : `simulate-${now.getTime()}`;
  return { event, id, payload };
}

function inferEvent(payload: Record<string, unknown>): string | undefined {
  if (isObject(payload.pull_request)) {
    return 'pull_request';
  }
  if (isObject(payload.issue) && isObject(payload.comment)) {
    return 'issue_comment';
  }
  return undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
