import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * A process as recorded in a state file, precise enough to tell it from a later process that got
 * the same pid (after a reboot, or after pids wrapped around).
 */
export interface ProcessIdentity {
  readonly pid: number;
  readonly host: string;
  readonly bootId?: string;
  /** Start time in clock ticks since boot (/proc/<pid>/stat field 22), when known. */
  readonly procStart?: string;
}

/** The identity of process `pid` on this host (this process by default). */
export function processIdentity(pid = process.pid): ProcessIdentity {
  return { pid, host: hostname(), bootId: readBootId(), procStart: readProcStart(pid) };
}

function readBootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    return undefined; // not Linux: pid checks alone
  }
}

/** Field 22 of /proc/<pid>/stat: start time in clock ticks since boot. */
export function readProcStart(pid: number): string | undefined {
  return readProcStat(pid)?.[19];
}

/** Fields 3 and on of /proc/<pid>/stat; the command name (field 2) may hold spaces and ')'. */
function readProcStat(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Whether the process is still the one recorded (not ended, not a reused pid). Same host only. */
export function isAlive(proc: ProcessIdentity, self: ProcessIdentity): boolean {
  if (proc.bootId && self.bootId && proc.bootId !== self.bootId) {
    return false;
  }
  try {
    process.kill(proc.pid, 0);
  } catch {
    // ESRCH: gone. EPERM: the pid now belongs to another user, so it is not the one recorded.
    return false;
  }
  const stat = readProcStat(proc.pid);
  // A zombie has ended; without an init that reaps orphans (containers) it stays a zombie.
  if (stat?.[0] === 'Z') {
    return false;
  }
  if (proc.procStart !== undefined && stat !== undefined && stat[19] !== proc.procStart) {
    return false;
  }
  return true;
}
