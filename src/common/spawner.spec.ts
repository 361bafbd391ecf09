import { afterAll, describe, expect, it } from '@jest/globals';
import { Spawner } from './spawner.js';

const spawner = new Spawner();
afterAll(() => spawner.stop());

const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
const run = (file: string, args: string[], timeoutMs = 10_000) =>
  spawner.run({ file, args, env, timeoutMs, maxBuffer: 1024 * 1024 });

describe('Spawner', () => {
  it('runs a command in the helper and returns its output', async () => {
    const outcome = await run('sh', [
      '-c',
      'printf "%s" "$1"; printf err >&2',
      'sh',
      'a; $(touch x)',
    ]);
    expect(outcome).toEqual({ stdout: 'a; $(touch x)', stderr: 'err' });
  });

  it('reports the exit status, a command that cannot be started, and a timeout', async () => {
    const failed = await run('sh', ['-c', 'echo nope >&2; exit 3']);
    expect(failed.error?.code).toBe(3);
    expect(failed.stderr).toBe('nope\n');

    const missing = await run('/nonexistent/git', []);
    expect(missing.error?.code).toBe('ENOENT');

    const slow = await run('sleep', ['5'], 200);
    expect(slow.error?.killed).toBe(true);
  });

  it('gives the command only the environment of the request, in the given directory', async () => {
    process.env.GITHUB_APP_SECRET_TOKEN ??= 'spawner-spec-secret';
    const outcome = await spawner.run({
      file: 'sh',
      args: ['-c', 'echo "$EXTRA:${GITHUB_APP_SECRET_TOKEN:-unset}:$(pwd)"'],
      cwd: '/',
      env: { ...env, EXTRA: 'x' },
      timeoutMs: 10_000,
      maxBuffer: 1024,
    });
    expect(outcome.stdout).toBe('x:unset:/\n');
  });

  it('fails the commands of a helper that died, and starts a new one for the next', async () => {
    const running = run('sleep', ['5']);
    await new Promise((resolve) => setTimeout(resolve, 200));
    spawner.stop();
    const outcome = await running;
    expect(outcome.error?.message).toMatch(/helper exited/);
    expect((await run('echo', ['again'])).stdout).toBe('again\n');
  });
});
