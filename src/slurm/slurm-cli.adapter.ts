import { userInfo } from 'node:os';
import { basename } from 'node:path';
import { Logger } from '@nestjs/common';
import {
  CommandRunner,
  CommandStartError,
  CommandTimeoutError,
  type RunResult,
} from './command-runner.js';
import { expandScontrolArgs } from './scontrol-args.js';
import { SlurmCommandError, SlurmUnavailableError } from './slurm.errors.js';
import {
  isValidJobId,
  parseSbatchOutput,
  parseScontrolShowJob,
  parseSqueueOutput,
  SQUEUE_FORMAT,
} from './slurm-output.js';
import { parseSqueueLongFormat, SQUEUE_LONG_FORMAT } from './squeue-long-format.js';
import type { JobEndInfo, QueuedJob, SlurmPort, SubmitRequest } from './slurm.port.js';

export interface SlurmCommands {
  /** sbatch ([buildenv] submit_command). */
  readonly submit: string;
  /** squeue ([job_manager] poll_command). */
  readonly poll: string;
  /** scontrol ([job_manager] scontrol_command). */
  readonly scontrol: string;
  /** scancel ([job_manager] scancel_command). */
  readonly scancel: string;
  /** Limit for each command; past it the command is killed and the scheduler counts as unavailable. */
  readonly timeoutMs: number;
  /** Whose jobs listJobs asks for; defaults to the user this process runs as. */
  readonly user?: string;
  /**
   * Words after the executable in scontrol_command, put before each scontrol call's own
   * arguments; `%(jobid)s`, `%(cluster)s`, … are filled from the job's squeue row.
   */
  readonly scontrolArgs?: readonly string[];
  /**
   * How listJobs asks squeue: `short` is the seed's `--format=%i|%T|%r|%j|%Z`; `long` is
   * `--Format` with cluster, partition and eligible time (v0.9 configs, squeue-long-format.ts).
   */
  readonly squeueFormat?: 'short' | 'long';
}

/** Config keys, so that a missing or hanging command names the line an operator must fix. */
const CONFIG_KEY: Readonly<Record<'submit' | 'poll' | 'scontrol' | 'scancel', string>> = {
  submit: '[buildenv] submit_command',
  poll: '[job_manager] poll_command',
  scontrol: '[job_manager] scontrol_command',
  scancel: '[job_manager] scancel_command',
};

/**
 * Messages meaning "the controller was not reached", as Slurm 22.05's clients print them
 * (test/fixtures/slurm/). `Unexpected message received` is what `scontrol release` says when
 * slurmctld is down; `Protocol authentication error` is munge being down.
 */
const UNAVAILABLE_PATTERNS: readonly RegExp[] = [
  /Unable to contact slurm controller/i,
  /Socket timed out/i,
  /Zero Bytes were transmitted or received/i,
  /Unexpected message received/i,
  /Protocol authentication error/i,
  /Munge encode failed/i,
  /Unable to process configuration file/i,
];

const INVALID_JOB_ID = /Invalid job id specified/;

/** Runs the configured sbatch/squeue/scontrol/scancel (no shell) and parses what they print. */
export class SlurmCliAdapter implements SlurmPort {
  private readonly logger = new Logger(SlurmCliAdapter.name);
  private readonly user: string;

  constructor(
    private readonly runner: CommandRunner,
    private readonly commands: SlurmCommands,
  ) {
    this.user = commands.user ?? userInfo().username;
  }

  async submit(req: SubmitRequest): Promise<{ jobId: string }> {
    assertJobName(req.jobName);
    let schedulerArgs = [...req.schedulerArgs];
    if (req.hold === false) {
      // delayed_begin: the job starts at its --begin time without the bot; a hold would keep it.
      schedulerArgs = schedulerArgs.filter((arg) => arg !== '--hold' && arg !== '-H');
    } else if (!schedulerArgs.includes('--hold') && !schedulerArgs.includes('-H')) {
      // The bot releases jobs itself once their metadata is on disk; an unheld job could finish
      // before the bot knows it exists.
      schedulerArgs.push('--hold');
    }
    const args = [...schedulerArgs, `--job-name=${req.jobName}`, req.script, ...req.scriptArgs];
    // cwd, not --chdir: Slurm then writes slurm-<ID>.out into the job directory.
    const result = await this.run('submit', args, req.workDir);
    this.failOnError('submit', args, result, { stderrErrorsFail: false });
    const jobId = parseSbatchOutput(result.stdout);
    if (jobId === undefined) {
      throw new SlurmCommandError({
        command: this.commands.submit,
        args,
        exitCode: result.exitCode,
        stderr: result.stderr,
        stdout: result.stdout,
        message: `${basename(this.commands.submit)} printed no job id (expected "Submitted batch job N"): ${oneLine(result.stdout || result.stderr)}`,
      });
    }
    this.logger.debug(`submitted job ${jobId} (${req.jobName}) in ${req.workDir}`);
    return { jobId };
  }

  async listJobs(jobName: string): Promise<QueuedJob[]> {
    assertJobName(jobName);
    const long = this.commands.squeueFormat === 'long';
    const args = long
      ? ['--noheader', `--user=${this.user}`, `--name=${jobName}`, `--Format=${SQUEUE_LONG_FORMAT}`]
      : [
          '--noheader',
          // One line per array task, so every id is `N` or `N_M`.
          '--array',
          `--user=${this.user}`,
          `--name=${jobName}`,
          `--format=${SQUEUE_FORMAT}`,
        ];
    // EligibleTime in ISO form, whatever time format the operator's environment asks for.
    const env = long ? { ...process.env, SLURM_TIME_FORMAT: 'standard' } : undefined;
    const result = await this.run('poll', args, undefined, env);
    // squeue exits 0 after some errors (`--user=nosuchuser`); any error means "not asked".
    this.failOnError('poll', args, result, { stderrErrorsFail: true });
    let jobs: QueuedJob[];
    try {
      jobs = long
        ? parseSqueueLongFormat(result.stdout)
        : parseSqueueOutput(result.stdout, jobName);
    } catch (error) {
      throw new SlurmCommandError({
        command: this.commands.poll,
        args,
        exitCode: result.exitCode,
        stderr: result.stderr,
        stdout: result.stdout,
        message: `${basename(this.commands.poll)} printed output that cannot be read: ${(error as Error).message}`,
        cause: error,
      });
    }
    // --name filters on the server; checking again keeps foreign jobs out even if it did not.
    return jobs.filter((job) => job.name === jobName);
  }

  /** `queued`: the job's squeue row, which fills scontrol_command's `%(…)s` fields. */
  async release(jobId: string, queued?: QueuedJob): Promise<void> {
    assertJobId(jobId);
    const args = [...this.scontrolArgs(jobId, queued), 'release', jobId];
    const result = await this.run('scontrol', args);
    this.failOnError('scontrol', args, result, { stderrErrorsFail: false });
  }

  async cancel(jobId: string): Promise<void> {
    assertJobId(jobId);
    const args = [jobId];
    const result = await this.run('scancel', args);
    this.failOnError('scancel', args, result, { stderrErrorsFail: false });
  }

  /** `queued`: the job's last squeue row, if the caller saw one (see release()). */
  async endState(jobId: string, queued?: QueuedJob): Promise<JobEndInfo | undefined> {
    assertJobId(jobId);
    const args = [...this.scontrolArgs(jobId, queued), 'show', 'job', jobId];
    const result = await this.run('scontrol', args);
    // Purged after MinJobAge (or never existed): the scheduler no longer knows it.
    if (result.exitCode !== 0 && INVALID_JOB_ID.test(result.stderr)) {
      return undefined;
    }
    this.failOnError('scontrol', args, result, { stderrErrorsFail: false });
    const info = parseScontrolShowJob(result.stdout);
    if (info === undefined || info.jobId !== jobId) {
      throw new SlurmCommandError({
        command: this.commands.scontrol,
        args,
        exitCode: result.exitCode,
        stderr: result.stderr,
        stdout: result.stdout,
        message: `${basename(this.commands.scontrol)} show job ${jobId} printed no JobState for that job: ${oneLine(result.stdout)}`,
      });
    }
    return info.exitCode === undefined
      ? { state: info.state }
      : { state: info.state, exitCode: info.exitCode };
  }

  private scontrolArgs(jobId: string, queued: QueuedJob | undefined): string[] {
    const words = this.commands.scontrolArgs ?? [];
    return words.length === 0 ? [] : expandScontrolArgs(words, jobId, queued);
  }

  private async run(
    which: keyof typeof CONFIG_KEY,
    args: readonly string[],
    cwd?: string,
    env?: NodeJS.ProcessEnv,
  ): Promise<RunResult> {
    const command = this.commands[which];
    try {
      return await this.runner.run(command, args, {
        cwd,
        timeoutMs: this.commands.timeoutMs,
        ...(env ? { env } : {}),
      });
    } catch (error) {
      if (error instanceof CommandTimeoutError) {
        throw new SlurmUnavailableError({
          command,
          args,
          stderr: '',
          message: `${basename(command)} did not answer within ${this.commands.timeoutMs / 1000} s and was killed; is slurmctld reachable? (the limit is [job_manager] command_timeout)`,
          cause: error,
        });
      }
      if (error instanceof CommandStartError) {
        throw new SlurmUnavailableError({
          command,
          args,
          stderr: '',
          message: `${error.message}; check ${CONFIG_KEY[which]} in app.cfg`,
          cause: error,
        });
      }
      throw error;
    }
  }

  private failOnError(
    which: keyof typeof CONFIG_KEY,
    args: readonly string[],
    result: RunResult,
    opts: { stderrErrorsFail: boolean },
  ): void {
    const failed =
      result.exitCode !== 0 || (opts.stderrErrorsFail && /\berror\b/i.test(result.stderr));
    if (!failed) {
      return;
    }
    const init = {
      command: this.commands[which],
      args,
      exitCode: result.exitCode,
      stderr: result.stderr,
      stdout: result.stdout,
    };
    if (UNAVAILABLE_PATTERNS.some((pattern) => pattern.test(result.stderr))) {
      throw new SlurmUnavailableError(init);
    }
    throw new SlurmCommandError(init);
  }
}

function assertJobId(jobId: string): void {
  if (!isValidJobId(jobId)) {
    throw new Error(
      `refusing to pass ${JSON.stringify(jobId)} to Slurm: a job id is digits, or digits_digits for an array task`,
    );
  }
}

function assertJobName(jobName: string): void {
  // squeue --name takes a comma-separated list, so a comma would make listJobs ask for other names.
  if (jobName === '' || /[,\n\r]/.test(jobName)) {
    throw new Error(
      `invalid Slurm job name ${JSON.stringify(jobName)}: it must be non-empty without commas or line breaks ([buildenv] job_name)`,
    );
  }
}

function oneLine(text: string): string {
  return text.trim().replace(/\s*\n\s*/g, ' | ') || '(no output)';
}
