import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const ROOT = join(import.meta.dirname, '..', '..');
const DEMO = join(ROOT, 'dist', 'demo', 'run-demo.js');

/** README's first command runs this: it must end with both example jobs successful. */
describe('npm run demo', () => {
  it('shows the full comment history of both jobs ending in SUCCESS', async () => {
    if (!existsSync(DEMO)) {
      throw new Error(`${DEMO} is missing: run npm run build first (npm test does)`);
    }
    const env = { ...process.env };
    delete env.USER; // the bot runs as a service without USER; the job must cope
    const { stdout } = await promisify(execFile)(process.execPath, [DEMO], {
      env,
      timeout: 120_000,
    });

    const finalBodies = new Map<string, string>();
    for (const block of stdout.split(/\n── /).slice(1)) {
      const id = /^(?:new )?comment (\d+)/.exec(block)?.[1];
      if (id) {
        finalBodies.set(id, block);
      }
    }
    expect([...finalBodies.keys()].sort()).toEqual(['1', '2']);
    for (const body of finalBodies.values()) {
      const states = [...body.matchAll(/^\|[^|]+\|(\w+)\|/gm)].map((m) => m[1]);
      // A build shorter than a poll can finish unseen while running: that row is then skipped.
      expect(states.filter((s) => s !== 'running')).toEqual(['submitted', 'released', 'finished']);
      expect(body).toMatch(
        /\|finished\|.*SUCCESS.*eessi-2023\.06-software-linux-x86_64-[\w-]+\.tar\.gz/,
      );
    }
    expect(stdout).toMatch(/job 1 linux\/x86_64\/generic: SUCCESS/);
    expect(stdout).toMatch(/job 2 linux\/x86_64\/amd\/zen2: SUCCESS/);
  }, 150_000);
});
