import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { isAlive, processIdentity, type ProcessIdentity } from './process-identity.js';

/** Another bot process owns the state directory: starting a second one would process twice. */
export class StateDirInUseError extends Error {}

interface LockOwner extends ProcessIdentity {
  readonly since: string;
}

function readOwner(path: string): LockOwner | undefined {
  try {
    const owner = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockOwner>;
    if (typeof owner.pid === 'number' && typeof owner.host === 'string') {
      return {
        pid: owner.pid,
        host: owner.host,
        ...(typeof owner.bootId === 'string' ? { bootId: owner.bootId } : {}),
        ...(typeof owner.procStart === 'string' ? { procStart: owner.procStart } : {}),
        since: String(owner.since ?? 'an unknown time'),
      };
    }
  } catch {
    // Unreadable: written by a process that died in the middle of it.
  }
  return undefined;
}

/**
 * Claims `dir` for this process with a `lock` file naming it (pid, host, boot and start time),
 * and returns the function that gives it back. The inbox keeps which deliveries are pending in
 * memory, so two processes on one state directory would each run them. A lock left by a process
 * that is gone is taken over, also when its pid now belongs to another process (after a reboot or
 * a wrap-around: the boot id or start time differs); one from another host cannot be checked, so
 * the operator is told to remove it.
 */
export function acquireStateLock(dir: string): () => void {
  const path = join(dir, 'lock');
  const self = processIdentity();
  const me: LockOwner = { ...self, since: new Date().toISOString() };
  mkdirSync(dir, { recursive: true });
  for (let attempt = 0; ; attempt += 1) {
    try {
      const fd = openSync(path, 'wx', 0o644);
      try {
        writeSync(fd, `${JSON.stringify(me)}\n`);
      } finally {
        closeSync(fd);
      }
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) {
        throw error;
      }
    }
    const owner = readOwner(path);
    if (owner?.host === me.host && owner.pid === me.pid) {
      break; // this process already holds it (another instance in the same process)
    }
    if (owner && (owner.host !== me.host || isAlive(owner, self))) {
      throw new StateDirInUseError(
        `${path}: the state directory is in use by eessi-bot pid ${owner.pid} on ${owner.host} ` +
          `(since ${owner.since}): stop that process first, or give this one another ` +
          `[event_handler] state_dir in app.cfg` +
          (owner.host === me.host ? '' : `; if that process is gone, delete ${path}`),
      );
    }
    unlinkSync(path); // left by a process that is gone
  }
  return () => {
    const owner = readOwner(path);
    if (owner?.pid === me.pid && owner.host === me.host) {
      try {
        unlinkSync(path);
      } catch {
        // Already gone: nothing to give back.
      }
    }
  };
}
