// @ts-check
/**
 * The local executor's job supervisor: runs one job script and waits for it, detached from the
 * bot (its own session and process group), so that the job keeps running and its exit status is
 * still recorded when the bot is restarted or killed: a restart must not turn a finished build
 * into an unknown one. It ignores the SIGTERM that cancel sends to the whole group, so that it can
 * record how the script ended; at the end it kills what the script left behind, as Slurm ends
 * every process of a job.
 *
 * A plain CommonJS program rather than a module of the bot: it must start fast, import nothing of
 * the bot, and keep running when the bot's code is replaced by an upgrade. tsc type-checks it
 * (@ts-check) and emits it into dist/ beside the executor (allowJs in tsconfig.build.json).
 * Started by local-job-supervisor.ts; argv: <exit file> <script> <args...>. The job's stdout and
 * stderr are the supervisor's own, both pointing at slurm-<ID>.out.
 */
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');

const [exitPath, script, ...args] = process.argv.slice(2);
if (exitPath === undefined || script === undefined) {
  process.stderr.write('usage: supervise-job.cjs <exit file> <job script> [args...]\n');
  process.exit(2);
}
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  process.on(signal, () => {});
}

let done = false;

/**
 * Records the script's end in the exit file (temp file, fsync, rename: a crash leaves the old
 * state or the new, never half a file), then ends the job's whole process group.
 * @param {{ code: number | null, signal: string | null, error?: string }} status
 */
function finish(status) {
  if (done) {
    return;
  }
  done = true;
  const tmp = `${exitPath}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w');
  fs.writeSync(fd, JSON.stringify(status));
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  fs.renameSync(tmp, exitPath);
  try {
    process.kill(-process.pid, 'SIGKILL');
  } catch {
    // The group is already empty.
  }
  process.exit(0);
}

const child = spawn(script, args, { stdio: ['ignore', 'inherit', 'inherit'] });
child.on('error', (/** @type {NodeJS.ErrnoException} */ error) => {
  const hint = error.code === 'EACCES' ? '; make it executable (chmod +x)' : '';
  process.stderr.write(`local-executor: error: cannot run ${script}: ${error.message}${hint}\n`);
  finish({ code: 127, signal: null, error: String(error.code || error.message) });
});
child.on('exit', (code, signal) => finish({ code, signal }));
