import { isIP } from 'node:net';
import { join } from 'node:path';
import { parsePasswordHash } from '../common/password-hash.js';
import type { EventHandlerConfig, StatusAuthConfig } from './app-config.js';
import type { ConfigSectionReader } from './config-section.reader.js';

/** Reads [event_handler]: the webhook server's state, log, relay, catch-up and status pages. */

const STATE_DIR_NAME = '.eessi-bot-state';
const DEFAULT_REDELIVER_INTERVAL_SECONDS = 600;
const DEFAULT_STATUS_BIND: readonly string[] = ['127.0.0.1'];

export function readEventHandler(
  section: ConfigSectionReader,
  jobsBaseDir: string,
): EventHandlerConfig {
  const stateDir = section.optionalPath('state_dir') ?? join(jobsBaseDir, STATE_DIR_NAME);
  const logPath = section.optionalPath('log_path');
  const smeeEntry = section.get('smee_url');
  const smeeUrl =
    smeeEntry && smeeEntry.value !== '' ? section.httpUrl('smee_url', smeeEntry) : undefined;
  const redeliverIntervalSeconds = readRedeliverInterval(section);
  const statusBind = readStatusBind(section);
  const statusAuth = readStatusAuth(section);
  return {
    stateDir,
    ...(logPath !== undefined ? { logPath } : {}),
    ...(smeeUrl !== undefined ? { smeeUrl } : {}),
    redeliverIntervalSeconds,
    statusBind,
    ...(statusAuth !== undefined ? { statusAuth } : {}),
  };
}

function readRedeliverInterval(section: ConfigSectionReader): number {
  const entry = section.get('redeliver_interval');
  if (!entry || entry.value === '') {
    return DEFAULT_REDELIVER_INTERVAL_SECONDS;
  }
  const value = /^[0-9]+$/.test(entry.value) ? Number(entry.value) : NaN;
  if (!Number.isSafeInteger(value)) {
    section.problem(
      'redeliver_interval',
      entry,
      `${JSON.stringify(entry.value)} is not a number of seconds (0 turns missed-webhook catch-up off)`,
    );
    return DEFAULT_REDELIVER_INTERVAL_SECONDS;
  }
  return value;
}

/** Addresses or CIDR ranges, separated by spaces or commas. */
function readStatusBind(section: ConfigSectionReader): readonly string[] {
  const entry = section.get('status_bind');
  if (!entry || entry.value.trim() === '') {
    return DEFAULT_STATUS_BIND;
  }
  const items = entry.value.split(/[\s,]+/).filter((item) => item !== '');
  for (const item of items) {
    if (!isAddressOrRange(item)) {
      section.problem(
        'status_bind',
        entry,
        `${JSON.stringify(item)} is not an IP address or CIDR range (e.g. 127.0.0.1, 10.0.0.0/8, 0.0.0.0 for every client)`,
      );
    }
  }
  return items;
}

function isAddressOrRange(text: string): boolean {
  const [address, prefix, ...rest] = text.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) {
    return false;
  }
  if (prefix === undefined) {
    return true;
  }
  const bits = /^[0-9]{1,3}$/.test(prefix) ? Number(prefix) : NaN;
  return bits >= 0 && bits <= (family === 4 ? 32 : 128);
}

function readStatusAuth(section: ConfigSectionReader): StatusAuthConfig | undefined {
  const entry = section.get('status_auth');
  if (!entry || entry.value === '') {
    return undefined;
  }
  const colon = entry.value.indexOf(':');
  const user = colon > 0 ? entry.value.slice(0, colon) : '';
  const passwordHash = colon > 0 ? entry.value.slice(colon + 1) : '';
  // Never quote the value: it holds a password hash.
  const problem =
    user === '' || /\s/.test(user)
      ? 'expected USER:scrypt:<salt>:<hash> as printed by `eessi-bot hash-password USER`'
      : parsePasswordHash(passwordHash);
  if (typeof problem === 'string') {
    section.problem('status_auth', entry, problem);
    return undefined;
  }
  return { user, passwordHash };
}
