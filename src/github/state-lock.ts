import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

/** Another bot process owns the state directory: starting a second one would process twice. */
export class StateDirInUseError extends Error {}

interface LockOwner {
  readonly pid: number;
  readonly host: string;
  readonly since: string;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOwner(path: string): LockOwner | undefined {
  try {
    const owner = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockOwner>;
    if (typeof owner.pid === 'number' && typeof owner.host === 'string') {
      return { pid: owner.pid, host: owner.host, since: String(owner.since ?? 'an unknown time') };
    }
  } catch {
    // Unreadable: written by a process that died in the middle of it.
  }
  return undefined;
}

/**
 * Claims `dir` for this process with a `lock` file naming its pid and host, and returns the
 * function that gives it back. The inbox keeps which deliveries are pending in memory, so two
 * processes on one state directory would each run them. A lock left by a process that is gone
 * (same host, pid not running) is taken over; one from another host cannot be checked, so the
 * operator is told to remove it.
 */
export function acquireStateLock(dir: string): () => void {
  const path = join(dir, 'lock');
  const me: LockOwner = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
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
    if (owner && (owner.host !== me.host || isAlive(owner.pid))) {
      throw new StateDirInUseError(
        `state directory ${dir} is in use by eessi-bot pid ${owner.pid} on ${owner.host} ` +
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
