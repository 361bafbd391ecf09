// @ts-check
/**
 * Starts commands on behalf of the bot (command-runner.ts, runCommand) and sends back how they
 * ended. Forking is synchronous: Node's spawn() returns only once the child has exec'ed, which on
 * a busy host takes 5-35 ms of the caller's event loop per process, and a preparation of four
 * targets runs dozens of git commands. Done here, in a small process of its own, that time is
 * this process's, and the bot's event loop keeps answering webhooks.
 *
 * A plain CommonJS program like slurm/supervise-job.cjs: it imports nothing of the bot. One job
 * per IPC message, `{ id, command, args, cwd, env, timeoutMs, maxBuffer }` (env already without
 * the bot's secrets), answered with `{ id, stdout, stderr, code, signal, timedOut, message }`.
 * When the bot goes away (IPC disconnects), the commands still running are killed and this exits.
 */
'use strict';
const { execFile } = require('node:child_process');

/** @type {Set<import('node:child_process').ChildProcess>} */
const running = new Set();

process.on('message', (/** @type {any} */ job) => {
  let timedOut = false;
  const child = execFile(
    job.command,
    job.args,
    {
      cwd: job.cwd,
      env: job.env,
      encoding: 'utf8',
      maxBuffer: job.maxBuffer,
      shell: false,
      windowsHide: true,
    },
    (error, stdout, stderr) => {
      clearTimeout(timer);
      running.delete(child);
      const code = /** @type {any} */ (error)?.code;
      process.send?.({
        id: job.id,
        stdout,
        stderr,
        code: error ? (code ?? null) : 0,
        signal: error?.signal ?? null,
        timedOut,
        message: error?.message ?? '',
      });
    },
  );
  running.add(child);
  // Nothing may wait for input (git may prompt).
  child.stdin?.end();
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, job.timeoutMs);
});

process.on('disconnect', () => {
  for (const child of running) {
    child.kill('SIGKILL');
  }
  process.exit(0);
});
