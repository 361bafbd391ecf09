import { appendFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '@nestjs/common';
import { errorMessage } from '../common/error-message.js';
import type {
  EndRecord,
  ExitStatus,
  JobRecord,
  LocalJobStore,
  StartClaim,
} from './local-job-store.js';
import { signalNumber } from './local-job-supervisor.js';

/** Slurm's default output file, where operators and the PR's readers look first. */
export function outputPath(job: JobRecord): string {
  return join(job.workDir, `slurm-${job.id}.out`);
}

/**
 * Records how a job ended, once: the first process to get here decides, all later ones read
 * that. `lostNote` explains an end without an exit status.
 */
export async function recordJobEnd(
  store: LocalJobStore,
  logger: Logger,
  id: string,
  lostNote?: string,
): Promise<EndRecord> {
  const existing = await store.readOptional<EndRecord>(id, 'end');
  if (existing) {
    return existing;
  }
  const claim = await store.readOptional<StartClaim>(id, 'started');
  const exit = await store.readOptional<ExitStatus>(id, 'exit');
  const cancelled = await store.has(id, 'cancel');
  const end = decideEnd({ claim, exit, cancelled, lostNote }, new Date().toISOString());
  const decided = await store.create(id, 'end', end);
  store.forget(id);
  if (!decided) {
    return (await store.readOptional<EndRecord>(id, 'end')) ?? end;
  }
  const exitText = end.exitCode ? ` exit code ${end.exitCode}` : '';
  if (end.note) {
    logger.warn(`job ${id}: ${end.state}: ${end.note}`);
    // The supervisor itself explains a script that could not be run.
    if (claim && !claim.cancelled && !exit) {
      await noteInOutput(store, logger, id, end.note);
    }
  } else {
    logger.log(`job ${id}: ${end.state}${exitText}`);
  }
  return end;
}

async function noteInOutput(
  store: LocalJobStore,
  logger: Logger,
  id: string,
  note: string,
): Promise<void> {
  try {
    const job = await store.record(id);
    await appendFile(outputPath(job), `local-executor: error: ${note}\n`);
  } catch (error) {
    logger.warn(`job ${id}: cannot add a note to its output: ${errorMessage(error)}`);
  }
}

/** What is on disk about a job whose supervisor is gone (or never started). */
interface EndEvidence {
  readonly claim: StartClaim | undefined;
  readonly exit: ExitStatus | undefined;
  readonly cancelled: boolean;
  /** Explains an end without an exit status. */
  readonly lostNote?: string;
}

/** How a job ended, in Slurm's terms (state and `code:signal` exit code). */
function decideEnd(evidence: EndEvidence, endedAt: string): EndRecord {
  const { claim, exit, cancelled, lostNote } = evidence;
  if (claim?.cancelled) {
    return { state: 'CANCELLED', exitCode: '0:0', endedAt };
  }
  if (exit?.error !== undefined) {
    return {
      state: cancelled ? 'CANCELLED' : 'FAILED',
      exitCode: '127:0',
      endedAt,
      note: `the job script could not be run (${exit.error})`,
    };
  }
  if (exit) {
    const exitCode = exit.code !== null ? `${exit.code}:0` : `0:${signalNumber(exit.signal)}`;
    const state = cancelled ? 'CANCELLED' : exit.code === 0 ? 'COMPLETED' : 'FAILED';
    return { state, exitCode, endedAt };
  }
  if (cancelled) {
    // Killed after the grace period, supervisor and all.
    return { state: 'CANCELLED', exitCode: `0:${osConstants.signals.SIGKILL}`, endedAt };
  }
  return {
    state: 'FAILED',
    endedAt,
    note:
      lostNote ??
      'the local executor restarted while the job ran and found it gone without an exit status (its processes were killed, or the machine rebooted)',
  };
}
