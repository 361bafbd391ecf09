import { accessSync, constants as fsConstants } from 'node:fs';
import { appendFile, open, type FileHandle } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Logger } from '@nestjs/common';
import { startProcess } from '../common/command-runner.js';
import { errorMessage } from '../common/error-message.js';
import type { JobRecord } from './local-job-store.js';

type SupervisorProcess = ReturnType<typeof startProcess>;

/**
 * The supervisor program (supervise-job.cjs), beside this module in src/ and in dist/:
 * tsconfig.build.json compiles it along (allowJs), package.json ships dist/.
 */
export const SUPERVISOR_PATH = fileURLToPath(new URL('./supervise-job.cjs', import.meta.url));

/**
 * Fails at start-up, naming the file, when the package was installed without its supervisor:
 * otherwise every job would fail later with nothing but Node's "Cannot find module" in its output.
 */
export function assertSupervisorPresent(): void {
  try {
    accessSync(SUPERVISOR_PATH, fsConstants.R_OK);
  } catch {
    throw new Error(
      `local executor: its job supervisor ${SUPERVISOR_PATH} is missing or unreadable; reinstall the bot (npm run build puts it in dist/)`,
    );
  }
}

/**
 * The supervisors this process started and the cancellations it is carrying out. Only the parent
 * of a supervisor hears of its exit at once; other processes poll its pid (LocalExecutor).
 */
export class JobSupervisors {
  private readonly children = new Map<
    string,
    { child: SupervisorProcess; exited: Promise<void> }
  >();
  private readonly terminating = new Set<string>();
  private readonly killTimers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly logger: Logger,
    private readonly host: string,
    /** Between SIGTERM and SIGKILL (Slurm's KillWait). */
    private readonly killGraceMs: number,
  ) {}

  /**
   * Starts the job's supervisor with `outPath` (slurm-<ID>.out) as the job's stdout and stderr.
   * `onExit` runs when the supervisor ends, unless detachAll() came first.
   * @returns the supervisor's pid, or why the job could not be started
   */
  async launch(
    job: JobRecord,
    paths: { readonly out: string; readonly exit: string },
    onExit: () => void,
  ): Promise<{ pid: number } | { failure: string }> {
    let out: FileHandle;
    try {
      out = await open(paths.out, 'a');
    } catch (error) {
      return { failure: `cannot open ${paths.out}: ${errorMessage(error)}; the job did not run` };
    }
    let child: SupervisorProcess;
    try {
      child = spawnSupervisor(job, paths.exit, out.fd);
    } catch (error) {
      return { failure: `cannot start the job: ${errorMessage(error)}` };
    } finally {
      // The child holds its own copy of the descriptor from here on.
      await out.close();
    }
    const pid = child.pid;
    if (pid === undefined) {
      const error = await new Promise<unknown>((done) => child.once('error', done));
      return { failure: `cannot start the job's supervisor: ${errorMessage(error)}` };
    }
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    this.children.set(job.id, { child, exited });
    child.once('exit', () => {
      this.children.delete(job.id);
      onExit();
    });
    child.unref();
    return { pid };
  }

  /** Whether this process started the job's supervisor and it has not exited yet. */
  isOwn(id: string): boolean {
    return this.children.has(id);
  }

  /** Settles when the job's supervisor, started by this process, exits. */
  exited(id: string): Promise<void> | undefined {
    return this.children.get(id)?.exited;
  }

  /**
   * Cancels a running job as Slurm does: its line in the output, SIGTERM to the job's process
   * group, SIGKILL after the grace period. Once per job, however often it is asked for.
   */
  async terminate(id: string, pgid: number, outPath: () => Promise<string>): Promise<void> {
    if (this.terminating.has(id)) {
      return;
    }
    this.terminating.add(id);
    const at = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    // Slurm's wording, which ResultAnalyzer reads to report the job as cancelled.
    const line = `slurmstepd: error: *** JOB ${id} ON ${this.host} CANCELLED AT ${at} ***\n`;
    try {
      await appendFile(await outPath(), line);
    } catch (error) {
      this.logger.warn(
        `job ${id}: cannot note the cancellation in its output: ${errorMessage(error)}`,
      );
    }
    this.logger.log(`job ${id}: cancelled; sending SIGTERM to process group ${pgid}`);
    signalGroup(pgid, 'SIGTERM');
    const timer = setTimeout(() => {
      this.killTimers.delete(timer);
      if (groupAlive(pgid)) {
        this.logger.warn(
          `job ${id}: still running ${this.killGraceMs / 1000} s after SIGTERM; sending SIGKILL`,
        );
        signalGroup(pgid, 'SIGKILL');
      }
    }, this.killGraceMs);
    // A cancel must not keep the bot from exiting; a job left behind is noticed by the next one.
    timer.unref();
    this.killTimers.add(timer);
  }

  /** The job has ended: nothing left to cancel. */
  forget(id: string): void {
    this.terminating.delete(id);
  }

  /** Before killing every job outright: no SIGKILL may follow later on a reused pid. */
  stopKillTimers(): void {
    for (const timer of this.killTimers) {
      clearTimeout(timer);
    }
    this.killTimers.clear();
  }

  /** Stops listening: the supervisors run on, and the next executor records how their jobs end. */
  detachAll(): void {
    for (const { child } of this.children.values()) {
      child.removeAllListeners('exit');
    }
    this.children.clear();
  }
}

/**
 * Starts a job's supervisor, detached: its own process group, so cancel can signal everything the
 * job started, and it outlives the bot. `outFd` (slurm-<ID>.out) is the job's stdout and stderr,
 * as with Slurm. Always an argument array, never a shell: script arguments carry PR data.
 * Throws like spawn() does; a child without a pid reports its error through the 'error' event.
 */
function spawnSupervisor(job: JobRecord, exitPath: string, outFd: number): SupervisorProcess {
  return startProcess(
    process.execPath,
    ['--no-warnings', SUPERVISOR_PATH, exitPath, job.script, ...job.scriptArgs],
    {
      cwd: job.workDir,
      env: jobEnvironment(job),
      detached: true,
      stdio: ['ignore', outFd, outFd],
    },
  );
}

/**
 * The bot's environment, as sbatch passes it on; startProcess removes the bot's own secrets (the
 * job runs code from the pull request).
 */
function jobEnvironment(job: JobRecord): NodeJS.ProcessEnv {
  return {
    ...process.env,
    SLURM_JOB_ID: job.id,
    SLURM_JOB_NAME: job.name,
    SLURM_SUBMIT_DIR: job.workDir,
  };
}

/** Whether any process of the group led by the supervisor `pgid` is left. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // Already gone.
  }
}

/** The number Slurm shows after the colon of an exit code (`0:9` for SIGKILL). */
export function signalNumber(signal: string | null): number {
  return (signal && osConstants.signals[signal as NodeJS.Signals]) || 0;
}
