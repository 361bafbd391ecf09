/**
 * Helpers for tests that drive the private single-node Slurm of scripts/dev/slurm-local.sh: find
 * it through SLURM_CONF (failing with instructions when it is not there — never skipping), stop
 * and start its controller, and look at the queue with the real client commands.
 *
 *   const cluster = await requireSlurmCluster();   // throws with "how to start it" if absent
 *   await sbatchHeld({ jobName, cwd, wrap: 'sleep 1' });
 *   await queue({ name: jobName });                // [{ id, name, state, reason, features, workDir }]
 *   await cluster.stopCtld(); ... await cluster.startCtld();
 *   await scancelByName(jobName);
 *   cluster.logTail('slurmctld.log', 40);          // for failure reports
 *
 * Every command runs with execFile and an argument array; nothing goes through a shell.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The client commands the bot is configured with in these tests: Debian's, by full path. */
export const SLURM_COMMANDS = Object.freeze({
  sbatch: '/usr/bin/sbatch',
  squeue: '/usr/bin/squeue',
  scontrol: '/usr/bin/scontrol',
  scancel: '/usr/bin/scancel',
});

const SLURM_LOCAL_SCRIPT = fileURLToPath(
  new URL('../../scripts/dev/slurm-local.sh', import.meta.url),
);

/** A client call while slurmctld is down takes about MessageTimeout (3 s there); leave room. */
const COMMAND_TIMEOUT_MS = 30_000;

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command without a shell; never rejects on a non-zero exit (the caller decides). */
export function run(
  command: string,
  args: readonly string[],
  opts: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      [...args],
      {
        cwd: opts.cwd,
        env: opts.env ?? process.env,
        timeout: opts.timeoutMs ?? COMMAND_TIMEOUT_MS,
        maxBuffer: 16 * 1024 * 1024,
        encoding: 'utf8',
      },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') {
          // Not started (ENOENT) or killed by the timeout: not an answer from the command.
          reject(
            new Error(
              `${command} ${args.join(' ')}: ${error.message}${error.killed ? ' (timed out)' : ''}\n${stderr}`,
            ),
          );
          return;
        }
        resolve({ code: typeof error?.code === 'number' ? error.code : 0, stdout, stderr });
      },
    );
  });
}

async function runOk(command: string, args: readonly string[], cwd?: string): Promise<string> {
  const result = await run(command, args, { cwd });
  if (result.code !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`,
    );
  }
  return result.stdout;
}

export interface SlurmCluster {
  /** SLURM_CONF: <dir>/etc/slurm.conf. */
  readonly conf: string;
  /** The directory slurm-local.sh keeps everything in (SLURM_LOCAL_DIR). */
  readonly dir: string;
  readonly logDir: string;
  /** `slurm-local.sh stop-ctld`: the controller goes away, slurmd and running jobs stay. */
  stopCtld(): Promise<void>;
  /** `slurm-local.sh start-ctld`: returns once the node accepts jobs again. */
  startCtld(): Promise<void>;
  /** The last `lines` lines of a log file in logDir ('' if it does not exist). */
  logTail(file?: string, lines?: number): string;
  /** Lines of JobCompLoc (one per ended job) naming this job name. */
  completedJobLines(jobName: string): string[];
}

/**
 * The running local cluster named by SLURM_CONF. Throws — so that the suite fails, not skips —
 * with the commands that start it when SLURM_CONF is unset, names no file, or slurmctld does not
 * answer.
 */
export async function requireSlurmCluster(): Promise<SlurmCluster> {
  const conf = process.env.SLURM_CONF;
  const howTo =
    'These tests need the local Slurm of scripts/dev/slurm-local.sh. As root: ' +
    '`scripts/dev/slurm-local.sh install` (Debian packages, once), then ' +
    '`eval "$(scripts/dev/slurm-local.sh start)"` (prints export SLURM_CONF=<dir>/etc/slurm.conf), ' +
    'then run `npm run build && npm run test:slurm` with SLURM_CONF set — or just `npm test`, ' +
    'which does all of it (scripts/test-all.sh).';
  if (!conf) {
    throw new Error(`SLURM_CONF is not set. ${howTo}`);
  }
  if (!existsSync(conf)) {
    throw new Error(`SLURM_CONF=${conf} does not exist. ${howTo}`);
  }
  for (const command of Object.values(SLURM_COMMANDS)) {
    if (!existsSync(command)) {
      throw new Error(`${command} is missing. ${howTo}`);
    }
  }
  const dir = dirname(dirname(conf));
  const ping = await run(SLURM_COMMANDS.scontrol, ['ping']);
  if (ping.code !== 0 || !/\bUP\b/.test(ping.stdout)) {
    throw new Error(
      `slurmctld of ${conf} is not answering (scontrol ping: ${(ping.stdout + ping.stderr).trim()}). ` +
        `Start it: scripts/dev/slurm-local.sh start ${dir}`,
    );
  }
  const logDir = join(dir, 'log');
  const script = async (command: 'stop-ctld' | 'start-ctld'): Promise<void> => {
    const result = await run('bash', [SLURM_LOCAL_SCRIPT, command, dir], { timeoutMs: 90_000 });
    if (result.code !== 0) {
      throw new Error(`slurm-local.sh ${command} ${dir} exited ${result.code}:\n${result.stderr}`);
    }
  };
  return {
    conf,
    dir,
    logDir,
    stopCtld: () => script('stop-ctld'),
    startCtld: () => script('start-ctld'),
    logTail(file = 'slurmctld.log', lines = 40) {
      const path = join(logDir, file);
      if (!existsSync(path)) {
        return '';
      }
      return readFileSync(path, 'utf8')
        .split('\n')
        .slice(-lines - 1)
        .join('\n');
    },
    completedJobLines(jobName) {
      const path = join(logDir, 'jobcomp.txt');
      if (!existsSync(path)) {
        return [];
      }
      return readFileSync(path, 'utf8')
        .split('\n')
        .filter((line) => line.includes(` Name=${jobName} `));
    },
  };
}

export interface QueueEntry {
  readonly id: string;
  readonly name: string;
  /** PENDING, RUNNING, COMPLETING, ... */
  readonly state: string;
  /** JobHeldUser, Resources, None, ... */
  readonly reason: string;
  /** The job's --constraint (squeue %f), e.g. shape=c5a.2xlarge. */
  readonly features: string;
  readonly workDir: string;
}

// A separator no job name, state or path of these tests contains.
const SEP = '\u001f';

/** This user's queued jobs, optionally only those named `name`, as squeue lists them. */
export async function queue(filter: { name?: string } = {}): Promise<QueueEntry[]> {
  const args = ['--noheader', '--me', `--format=%i${SEP}%j${SEP}%T${SEP}%r${SEP}%f${SEP}%Z`];
  if (filter.name) {
    args.push(`--name=${filter.name}`);
  }
  const out = await runOk(SLURM_COMMANDS.squeue, args);
  return out
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [id, name, state, reason, features, workDir] = line.split(SEP).map((f) => f.trim());
      return { id, name, state, reason, features, workDir };
    })
    .filter((job) => filter.name === undefined || job.name === filter.name);
}

/** Submits a held job directly (not through the bot), as another tool of the same user would. */
export async function sbatchHeld(opts: {
  jobName: string;
  cwd: string;
  wrap: string;
}): Promise<string> {
  const out = await runOk(
    SLURM_COMMANDS.sbatch,
    ['--hold', '--parsable', '--job-name', opts.jobName, '--wrap', opts.wrap],
    opts.cwd,
  );
  const id = out.trim().split(';')[0];
  if (!/^\d+$/.test(id)) {
    throw new Error(`sbatch printed no job id: ${out}`);
  }
  return id;
}

export async function scancel(id: string): Promise<void> {
  await runOk(SLURM_COMMANDS.scancel, [id]);
}

/** Cancels every job of this user named `jobName` (a test's cleanup); never throws. */
export async function scancelByName(jobName: string): Promise<string> {
  try {
    const result = await run(SLURM_COMMANDS.scancel, ['--me', `--name=${jobName}`]);
    return result.code === 0 ? '' : result.stderr.trim();
  } catch (error) {
    return (error as Error).message;
  }
}

export interface WaitOptions {
  readonly timeoutMs?: number;
  readonly intervalMs?: number;
  /**
   * Something that must never happen while waiting: run before each probe, and whatever it throws
   * ends the wait at once (e.g. `expect(finishedRows()).toEqual([])` during an outage).
   */
  readonly check?: () => void | Promise<void>;
}

/**
 * Polls `probe` until it returns something other than undefined/false and returns that. Fails
 * after timeoutMs with `what` and the last value seen, so that a failure says what never happened.
 */
export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  opts: WaitOptions = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    await opts.check?.();
    try {
      const value = await probe();
      if (value !== undefined && value !== false) {
        return value;
      }
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const why = lastError ? ` (last error: ${(lastError as Error).message})` : '';
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${why}`);
    }
    await sleep(opts.intervalMs ?? 250);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
