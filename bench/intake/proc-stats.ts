import { readFileSync } from 'node:fs';

/** USER_HZ: what /proc reports times in; 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * CPU time the process has used so far, all its threads together (event loop, libuv's pool, V8's
 * GC and compiler threads), in microseconds: utime + stime of /proc/<pid>/stat.
 */
export function processCpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 (utime) and 15 (stime) of proc(5); the slice starts at field 3.
  const ticks = Number(fields[14 - 3]) + Number(fields[15 - 3]);
  return (ticks * 1_000_000) / CLOCK_TICKS_PER_SECOND;
}

/** A `VmXxx:` line of /proc/<pid>/status, in MiB (VmHWM: peak resident set; VmRSS: now). */
export function processMemoryMiB(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
  if (!match) {
    throw new Error(`/proc/${pid}/status has no ${field} line`);
  }
  return Number(match[1]) / 1024;
}

/**
 * Waits until the process has used no CPU for `quietMs` (it finished what it does after
 * answering: the bot marks deliveries done in the background), at most `timeoutMs`.
 */
export async function waitUntilIdle(pid: number, quietMs = 300, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let windowStart = processCpuMicros(pid);
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, quietMs));
    const now = processCpuMicros(pid);
    // One clock tick of slack: a timer or a GC pass of an idle process.
    if (now - windowStart <= 1_000_000 / CLOCK_TICKS_PER_SECOND) {
      return;
    }
    windowStart = now;
  }
}
