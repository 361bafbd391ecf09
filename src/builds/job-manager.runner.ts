import { Logger } from '@nestjs/common';
import type { TickOptions, TickReport } from './job-manager.service.js';

export interface JobManagerRunOptions {
  /** Like the seed's `-i/--max-manager-iterations`: < 0 forever, 0 nothing, N > 0 N ticks. */
  readonly iterations: number;
  /** Like the seed's `-j/--jobs`: act on these job ids only. */
  readonly jobIds?: readonly string[];
  /** Pause between two ticks (not before the first, not after the last). */
  readonly pollIntervalSeconds: number;
  /** Stops the loop between ticks, like SIGTERM/SIGINT (which are always listened to). */
  readonly signal?: AbortSignal;
}

export interface JobManagerRunResult {
  readonly ticks: number;
  /** Stopped by a signal before running every iteration asked for. */
  readonly interrupted: boolean;
}

const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

/**
 * The `job-manager` command's loop, as the seed's job_manager.sh ran it. A signal never cuts a
 * tick in half (it may be between a release and its row); it ends the pause or stops the loop
 * before the next tick.
 */
export async function runJobManager(
  jobManager: { tick(opts?: TickOptions): Promise<TickReport> },
  opts: JobManagerRunOptions,
): Promise<JobManagerRunResult> {
  const logger = new Logger('JobManager');
  if (opts.iterations === 0) {
    logger.log('max manager iterations is 0: nothing to do');
    return { ticks: 0, interrupted: false };
  }
  const filter = opts.jobIds && opts.jobIds.length > 0 ? opts.jobIds : undefined;
  logger.log(
    `job manager started: ${opts.iterations < 0 ? 'polling until stopped' : `${opts.iterations} poll(s)`}` +
      `, every ${opts.pollIntervalSeconds} s${filter ? `, job ids ${filter.join(',')} only` : ''}`,
  );

  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    logger.log(`${signal} received: stopping after the current poll`);
    stop.abort();
  };
  const onAbort = () => stop.abort();
  for (const signal of STOP_SIGNALS) {
    process.on(signal, onSignal);
  }
  opts.signal?.addEventListener('abort', onAbort);
  if (opts.signal?.aborted) {
    stop.abort();
  }

  let ticks = 0;
  try {
    while (!stop.signal.aborted && (opts.iterations < 0 || ticks < opts.iterations)) {
      if (ticks > 0) {
        await pause(opts.pollIntervalSeconds * 1000, stop.signal);
      }
      if (stop.signal.aborted) {
        break;
      }
      logger.log(`job manager main loop: iteration ${ticks}`);
      await jobManager.tick(filter ? { jobIds: filter } : {});
      ticks += 1;
    }
  } finally {
    for (const signal of STOP_SIGNALS) {
      process.off(signal, onSignal);
    }
    opts.signal?.removeEventListener('abort', onAbort);
  }
  const interrupted = opts.iterations < 0 || ticks < opts.iterations;
  logger.log(`job manager stopped after ${ticks} poll(s)`);
  return { ticks, interrupted };
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      return resolve();
    }
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}
