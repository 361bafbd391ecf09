import { afterEach, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAlive, processIdentity } from '../common/process-identity.js';
import { SUPERVISOR_PATH } from './local-job-supervisor.js';

const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function scriptFile(body: string, mode = 0o755): Promise<{ dir: string; script: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'supervise-job-'));
  dirs.push(dir);
  const script = join(dir, 'job.sh');
  await writeFile(script, `#!/bin/sh\n${body}\n`);
  await chmod(script, mode);
  return { dir, script };
}

/** Runs the supervisor as the executor does: its own process group. */
function supervise(
  dir: string,
  script: string,
  args: string[] = [],
  whileRunning?: (pgid: number) => void,
): Promise<{ exit: unknown; stderr: string }> {
  const exitPath = join(dir, 'job.exit');
  const child = spawn(process.execPath, [SUPERVISOR_PATH, exitPath, script, ...args], {
    cwd: dir,
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  if (whileRunning) {
    // Once the script runs (it touches `started`), so the supervisor's handlers are in place.
    const poll = setInterval(() => {
      if (!existsSync(join(dir, 'started'))) {
        return;
      }
      clearInterval(poll);
      whileRunning(child.pid!);
    }, 20);
    child.once('close', () => clearInterval(poll));
  }
  return new Promise((done, fail) => {
    child.once('error', fail);
    child.once('close', () => {
      readFile(exitPath, 'utf8').then(
        (text) => done({ exit: JSON.parse(text), stderr }),
        (error: unknown) => fail(error instanceof Error ? error : new Error(String(error))),
      );
    });
  });
}

/** Gone, or a zombie nobody reaps (containers without an init). */
function alive(pid: number): boolean {
  return isAlive({ pid, host: hostname() }, processIdentity());
}

describe('supervise-job.cjs (the local executor job supervisor)', () => {
  it("records the script's exit code, with the script's arguments passed as they are", async () => {
    const { dir, script } = await scriptFile('[ "$1" = "--weird arg;" ] || exit 9\nexit 3');
    const { exit } = await supervise(dir, script, ['--weird arg;']);
    expect(exit).toEqual({ code: 3, signal: null });
  });

  it('outlives a SIGTERM to its group and records that the script died of it', async () => {
    const { dir, script } = await scriptFile('touch started\nsleep 30');
    const { exit } = await supervise(dir, script, [], (pgid) => process.kill(-pgid, 'SIGTERM'));
    expect(exit).toEqual({ code: null, signal: 'SIGTERM' });
  });

  it('kills what the script left running in the background once the script ends', async () => {
    const { dir, script } = await scriptFile('sleep 30 &\necho $! > bg.pid\nexit 0');
    const { exit } = await supervise(dir, script);
    expect(exit).toEqual({ code: 0, signal: null });
    const leftover = Number(await readFile(join(dir, 'bg.pid'), 'utf8'));
    for (let i = 0; i < 50 && alive(leftover); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(alive(leftover)).toBe(false);
  });

  it('records exit code 127 and says how to fix a script that is not executable', async () => {
    const { dir, script } = await scriptFile('exit 0', 0o644);
    const { exit, stderr } = await supervise(dir, script);
    expect(exit).toEqual({ code: 127, signal: null, error: 'EACCES' });
    expect(stderr).toContain(`local-executor: error: cannot run ${script}`);
    expect(stderr).toContain('make it executable (chmod +x)');
  });
});
