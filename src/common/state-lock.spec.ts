import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from '@jest/globals';
import { cleanupAfterEach } from '../../test/support/test-kit.js';
import { readProcStart } from './process-identity.js';
import { StateDirInUseError, acquireStateLock } from './state-lock.js';

const cleanup = cleanupAfterEach();
let dir: string;

beforeEach(async () => {
  dir = await cleanup.tempDir('state-lock-spec-');
});

function lockedBy(pid: number, host = hostname(), more: Record<string, string> = {}): void {
  writeFileSync(
    join(dir, 'lock'),
    JSON.stringify({ pid, host, since: '2026-11-01T00:00:00Z', ...more }),
  );
}

/** A pid that existed and is gone now. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid!;
}

describe('acquireStateLock', () => {
  it('writes this process into the lock and removes it when released', () => {
    const release = acquireStateLock(dir);
    expect(JSON.parse(readFileSync(join(dir, 'lock'), 'utf8'))).toMatchObject({
      pid: process.pid,
      host: hostname(),
      // What tells this process from a later one with the same pid.
      bootId: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(),
      procStart: readProcStart(process.pid),
    });
    release();
    expect(existsSync(join(dir, 'lock'))).toBe(false);
  });

  it('refuses while another live process on this host holds it, naming that process', async () => {
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
    try {
      lockedBy(other.pid!);
      expect(() => acquireStateLock(dir)).toThrow(StateDirInUseError);
      expect(() => acquireStateLock(dir)).toThrow(
        new RegExp(`in use by eessi-bot pid ${other.pid} on ${hostname()}.*state_dir`),
      );
      // Refusing does not take the other's lock away.
      expect(readFileSync(join(dir, 'lock'), 'utf8')).toContain(`"pid":${other.pid}`);
    } finally {
      other.kill();
    }
  });

  it('takes over a lock left by a process that is gone', async () => {
    lockedBy(await deadPid());
    const release = acquireStateLock(dir);
    expect(readFileSync(join(dir, 'lock'), 'utf8')).toContain(`"pid":${process.pid}`);
    release();
  });

  it('takes over a lock whose pid now belongs to another process (reboot, reused pid)', async () => {
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
    try {
      const pid = other.pid!;
      // Before a reboot: another boot id.
      lockedBy(pid, hostname(), { bootId: '00000000-0000-0000-0000-000000000000' });
      acquireStateLock(dir)();
      // Same boot, but the recorded process started at another time: the pid was reused.
      lockedBy(pid, hostname(), { procStart: '1' });
      const release = acquireStateLock(dir);
      expect(readFileSync(join(dir, 'lock'), 'utf8')).toContain(`"pid":${process.pid}`);
      release();
      // The identity written is precise enough for the next process to tell.
      lockedBy(pid, hostname(), { procStart: readProcStart(pid)! });
      expect(() => acquireStateLock(dir)).toThrow(StateDirInUseError);
    } finally {
      other.kill();
    }
  });

  it('refuses a lock from another host, and says to delete it if that process is gone', () => {
    lockedBy(12345, 'login2.example.org');
    expect(() => acquireStateLock(dir)).toThrow(/on login2\.example\.org.*delete .*lock/);
  });

  it('does not remove a lock another process took since', () => {
    const release = acquireStateLock(dir);
    lockedBy(process.pid + 1_000_000);
    release();
    expect(existsSync(join(dir, 'lock'))).toBe(true);
  });
});
