import { basename } from 'node:path';

export interface SlurmCommandErrorInit {
  readonly command: string;
  readonly args: readonly string[];
  /** Exit status; undefined when the command never ran or was killed (see `cause`). */
  readonly exitCode?: number;
  readonly stderr: string;
  readonly stdout?: string;
  /** Replaces the default `<cmd> exited <N>: <stderr>` message. */
  readonly message?: string;
  readonly cause?: unknown;
}

/**
 * A Slurm command failed or printed something we cannot read, e.g.
 * `sbatch exited 1: sbatch: error: Batch job submission failed: Invalid feature specification`.
 * The scheduler answered, and the answer was "no" (or garbage): retrying the same call is futile.
 */
export class SlurmCommandError extends Error {
  override readonly name: string = 'SlurmCommandError';
  readonly command: string;
  readonly args: readonly string[];
  readonly exitCode: number | undefined;
  readonly stderr: string;
  readonly stdout: string;

  constructor(init: SlurmCommandErrorInit) {
    super(init.message ?? defaultMessage(init), { cause: init.cause });
    this.command = init.command;
    this.args = init.args;
    this.exitCode = init.exitCode;
    this.stderr = init.stderr;
    this.stdout = init.stdout ?? '';
  }
}

/**
 * The scheduler could not be asked at all: controller unreachable, munge down, command missing or
 * timed out. Nothing can be concluded about any job; the caller should try again later (the job
 * manager skips the tick). A subclass so that `catch (e instanceof SlurmCommandError)` covers both.
 */
export class SlurmUnavailableError extends SlurmCommandError {
  override readonly name: string = 'SlurmUnavailableError';
}

function defaultMessage(init: SlurmCommandErrorInit): string {
  const what = basename(init.command);
  const output = (init.stderr.trim() || init.stdout?.trim() || '(no output)').replace(
    /\s*\n\s*/g,
    ' | ',
  );
  return init.exitCode === undefined
    ? `${what} failed: ${output}`
    : `${what} exited ${init.exitCode}: ${output}`;
}
