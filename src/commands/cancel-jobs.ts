import { Logger } from '@nestjs/common';
import { mayBuild } from '../builds/build-plan.js';
import { codeSpan, formatRowDate } from '../builds/job-comment.js';
import type { JobCommentsService } from '../builds/job-comments.service.js';
import type { JobStore } from '../builds/job-store.js';
import type { AppConfig } from '../config/app-config.js';
import { findPrJobs, prDirsOf } from '../deploy/pr-jobs.js';
import { errorMessage } from '../common/error-message.js';
import type { SlurmPort } from '../slurm/slurm.port.js';

/**
 * `bot: cancel jobid:N[,N…]`: scancel this instance's own unfinished jobs of this pull request.
 * A job is found only through this PR's pr_<N>/<ID> links and must carry this instance's
 * metadata for this repository, so another instance's job, another PR's job or any job the bot
 * did not submit is never touched, whatever id is written. Allowed for the job's requester
 * (recorded in its metadata) and for accounts in `[buildenv] build_permission`.
 */
export interface CancelContext {
  readonly repo: string;
  readonly prNumber: number;
  readonly sender: string;
  readonly tag: string;
}

export interface CancelDeps {
  readonly config: AppConfig;
  readonly store: JobStore;
  readonly slurm: SlurmPort;
  readonly comments: JobCommentsService;
}

const logger = new Logger('CancelJobs');

/** One line per job id, saying what became of it. */
export async function cancelJobs(
  deps: CancelDeps,
  ctx: CancelContext,
  jobIds: readonly string[],
): Promise<string[]> {
  const { config, store } = deps;
  const appName = config.github.appName;
  const prJobs = new Map(
    (await findPrJobs(await prDirsOf(config.buildenv.jobsBaseDir, ctx.prNumber))).map((j) => [
      j.jobId,
      j,
    ]),
  );
  const tracked = new Set(await store.listSubmittedIds());
  const lines: string[] = [];
  for (const jobId of jobIds) {
    const job = prJobs.get(jobId);
    const meta = job && (await store.readMetadata(jobId, job.jobDir).catch(() => undefined));
    const id = codeSpan(jobId);
    if (!job || !meta || meta.repo !== ctx.repo || (meta.appName && meta.appName !== appName)) {
      logger.log(`${ctx.tag}: cancel ${jobId}: not a job of this instance on this PR: untouched`);
      lines.push(
        `job ${id}: not a job of instance ${codeSpan(appName)} on this pull request; not touched`,
      );
      continue;
    }
    if (!tracked.has(jobId)) {
      lines.push(`job ${id}: already finished; nothing to cancel`);
      continue;
    }
    const requester = meta.requester?.toLowerCase();
    const allowed =
      requester === ctx.sender.toLowerCase() ||
      mayBuild(ctx.sender, config.buildenv.buildPermission, config.generation);
    if (!allowed) {
      lines.push(
        `job ${id}: ${codeSpan(ctx.sender)} may not cancel it (its requester${meta.requester ? ` ${codeSpan(meta.requester)}` : ''} and accounts allowed to build may)`,
      );
      continue;
    }
    try {
      await deps.slurm.cancel(jobId);
    } catch (error) {
      logger.warn(`${ctx.tag}: cancel ${jobId} failed: ${errorMessage(error)}`);
      lines.push(`job ${id}: could not be cancelled (the scheduler refused); try again later`);
      continue;
    }
    logger.log(`${ctx.tag}: job ${jobId} cancelled by ${JSON.stringify(ctx.sender)}`);
    await store.addRow(jobId, job.jobDir, {
      kind: 'cancelled',
      date: formatRowDate(new Date()),
      status: 'cancelled',
      comment: `job cancelled by ${codeSpan(ctx.sender)} with the cancel command`,
    });
    try {
      const current = await store.readMetadata(jobId, job.jobDir);
      if (current) {
        await deps.comments.sync({ jobId, jobDir: job.jobDir }, current);
      }
    } catch (error) {
      // The row is on disk: the job manager publishes it on its next poll.
      logger.warn(`${ctx.tag}: job ${jobId}'s comment not updated: ${errorMessage(error)}`);
    }
    lines.push(`job ${id}: cancelled`);
  }
  return lines;
}
