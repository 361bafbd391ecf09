import { existsSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { cleanupAfterAll } from '../../test/support/test-kit.js';
import {
  CommandRunner,
  CommandStartError,
  CommandTimeoutError,
  runCommand,
  startProcess,
  type RunOptions,
  type RunResult,
} from './command-runner.js';

// Real processes: node itself is the one executable sure to exist everywhere the tests run.
const node = process.execPath;
const inProcess = new CommandRunner();
const opts = { timeoutMs: 10_000 };

type Run = (command: string, args: readonly string[], opts: RunOptions) => Promise<RunResult>;

// The same promises whether the command is forked here or by the command helper (runCommand).
describe.each<[string, Run]>([
  ['CommandRunner.run', (command, args, o) => inProcess.run(command, args, o)],
  ['runCommand, through the command helper', runCommand],
])('%s', (_name, run) => {
  const runner = { run };
  const cleanup = cleanupAfterAll();
  let dir: string;
  beforeAll(() => {
    dir = realpathSync(cleanup.tempDirSync('command-runner-'));
  });

  it('returns stdout, stderr and exit code 0', async () => {
    const result = await runner.run(
      node,
      ['-e', "process.stdout.write('out\\n'); process.stderr.write('err\\n')"],
      opts,
    );
    expect(result).toEqual({ stdout: 'out\n', stderr: 'err\n', exitCode: 0 });
  });

  it('returns a non-zero exit with its output instead of throwing', async () => {
    const result = await runner.run(
      node,
      ['-e', "console.error('sbatch: error: nope'); process.exit(3)"],
      opts,
    );
    expect(result).toEqual({ stdout: '', stderr: 'sbatch: error: nope\n', exitCode: 3 });
  });

  it('passes hostile arguments verbatim, with no shell to interpret them', async () => {
    const marker = join(dir, 'pwned');
    const hostile = [`$(touch ${marker})`, `; touch ${marker}`, '`id`', '*', '$HOME', 'a\'b"c', ''];
    const result = await runner.run(
      node,
      ['-e', 'console.log(JSON.stringify(process.argv.slice(1)))', ...hostile],
      opts,
    );
    expect(JSON.parse(result.stdout)).toEqual(hostile);
    expect(existsSync(marker)).toBe(false);
  });

  it('runs in the given directory with the given environment', async () => {
    const result = await runner.run(
      node,
      ['-e', 'console.log(process.cwd()); console.log(process.env.SLURM_CONF ?? "unset")'],
      { cwd: dir, env: { SLURM_CONF: '/x/slurm.conf' }, timeoutMs: 10_000 },
    );
    expect(result.stdout).toBe(`${dir}\n/x/slurm.conf\n`);
  });

  it('never passes the webhook secret on: sbatch would export it into build jobs of PR code', async () => {
    process.env.GITHUB_APP_SECRET_TOKEN = 'do-not-leak';
    try {
      const script = 'console.log(process.env.GITHUB_APP_SECRET_TOKEN ?? "unset")';
      const inherited = await runner.run(node, ['-e', script], opts);
      const given = await runner.run(node, ['-e', script], {
        ...opts,
        env: { GITHUB_APP_SECRET_TOKEN: 'do-not-leak' },
      });
      expect([inherited.stdout, given.stdout]).toEqual(['unset\n', 'unset\n']);
    } finally {
      delete process.env.GITHUB_APP_SECRET_TOKEN;
    }
  });

  it("passes this process's environment when none is given", async () => {
    process.env.COMMAND_RUNNER_SPEC = 'inherited';
    try {
      const result = await runner.run(
        node,
        ['-e', 'console.log(process.env.COMMAND_RUNNER_SPEC)'],
        opts,
      );
      expect(result.stdout).toBe('inherited\n');
    } finally {
      delete process.env.COMMAND_RUNNER_SPEC;
    }
  });

  it('gives the command an already closed stdin, so a reader cannot hang', async () => {
    const result = await runner.run(
      node,
      [
        '-e',
        "let n = 0; process.stdin.on('data', (d) => (n += d.length)).on('end', () => console.log(n))",
      ],
      { timeoutMs: 5_000 },
    );
    expect(result.stdout).toBe('0\n');
  });

  it('collects output far beyond the 1 MiB default buffer (squeue of thousands of jobs)', async () => {
    const line = '1234|RUNNING|None|bot-job\n';
    const result = await runner.run(
      node,
      ['-e', `process.stdout.write(${JSON.stringify(line)}.repeat(200000))`],
      opts,
    );
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe(line.repeat(200000));
  });

  it('kills a command that outlives its timeout and throws CommandTimeoutError', async () => {
    const pidFile = join(dir, 'sleeper.pid');
    const started = Date.now();
    const error = await runner
      .run(
        node,
        [
          '-e',
          `require('fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); setTimeout(() => {}, 60000)`,
        ],
        { timeoutMs: 1_000 },
      )
      .catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(error).toBeInstanceOf(CommandTimeoutError);
    expect((error as CommandTimeoutError).message).toBe(
      `${node} did not finish within 1 s and was killed`,
    );
    const pid = Number(readFileSync(pidFile, 'utf8'));
    expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
  });

  it('reports a command ended by a signal as 128 + the signal number', async () => {
    const result = await runner.run(node, ['-e', "process.kill(process.pid, 'SIGTERM')"], opts);
    expect(result.exitCode).toBe(143);
    expect(result.signal).toBe('SIGTERM');
  });

  it('throws an error naming a missing executable', async () => {
    const error = await runner
      .run('/nonexistent/bin/sbatch', ['--hold'], opts)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandStartError);
    expect((error as CommandStartError).code).toBe('ENOENT');
    expect((error as Error).message).toMatch(
      /^\/nonexistent\/bin\/sbatch could not be started \(ENOENT\): the command was not found/,
    );
  });

  it('names the working directory when it is the missing part', async () => {
    const missing = join(dir, 'no-such-job-dir');
    const error = await runner
      .run(node, ['-e', '0'], { cwd: missing, timeoutMs: 5_000 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandStartError);
    expect((error as Error).message).toContain(`its working directory ${missing} does not exist`);
  });

  it('throws an error naming a file that is not executable', async () => {
    const script = join(dir, 'not-executable.sh');
    writeFileSync(script, '#!/bin/sh\necho hi\n', { mode: 0o644 });
    const error = await runner.run(script, [], opts).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandStartError);
    expect((error as Error).message).toBe(
      `${script} could not be started (EACCES): permission denied; check that the file is executable`,
    );
  });
});

describe('runCommand', () => {
  const parentOf = async (): Promise<number> =>
    Number((await runCommand(node, ['-e', 'console.log(process.ppid)'], opts)).stdout);

  it('forks commands from its helper process, not from this one', async () => {
    const helperPid = await parentOf();
    expect(helperPid).not.toBe(process.pid);
    // One long-lived helper, not a process per command.
    expect(await parentOf()).toBe(helperPid);
  });

  it('runs them at a lower priority than this process, so they yield the CPU to it', async () => {
    const { stdout } = await runCommand(
      node,
      ['-e', "console.log(require('os').getPriority())"],
      opts,
    );
    expect(Number(stdout)).toBeGreaterThan(getPriority());
  });

  it('fails the commands of a helper that died, and starts a new one for the next', async () => {
    const helperPid = await parentOf();
    const running = runCommand(node, ['-e', 'setTimeout(() => {}, 30000)'], opts);
    await new Promise((resolve) => setTimeout(resolve, 200));
    process.kill(helperPid, 'SIGKILL');
    await expect(running).rejects.toThrow(
      /the command helper \(.*command-helper\.cjs\) exited \(SIGKILL\)/,
    );
    const next = await parentOf();
    expect(next).not.toBe(helperPid);
    expect(next).not.toBe(process.pid);
  });
});

describe('startProcess', () => {
  /** Runs node with `script`, collecting what it prints. */
  function collect(script: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
    const child = startProcess(node, ['-e', script, '--', ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
      ...(env ? { env } : {}),
    });
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    return new Promise((done, fail) => {
      child.once('error', fail);
      child.once('close', () => done(out));
    });
  }

  it('passes arguments verbatim and never the webhook secret', async () => {
    const hostile = '$(touch pwned); `id` | rm -rf / ; "\' *';
    const out = await collect(
      'console.log(JSON.stringify([process.argv.slice(1), process.env.GITHUB_APP_SECRET_TOKEN ?? "unset", process.env.KEPT]))',
      [hostile],
      { GITHUB_APP_SECRET_TOKEN: 'do-not-leak', KEPT: 'yes' },
    );
    expect(JSON.parse(out)).toEqual([[hostile], 'unset', 'yes']);
  });

  it('starts a detached process as the leader of its own process group', async () => {
    const child = startProcess(node, ['-e', 'setTimeout(() => {}, 10_000)'], {
      stdio: 'ignore',
      detached: true,
    });
    const closed = new Promise((done) => child.once('close', done));
    // Signalling the group (negative pid) reaches it only if it leads a group of its own.
    process.kill(-child.pid!, 'SIGKILL');
    await closed;
    expect(child.signalCode).toBe('SIGKILL');
  });
});
