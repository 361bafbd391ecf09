import { Inject, Injectable, Logger } from '@nestjs/common';
import { realpath, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from '../common/error-message.js';
import { KeyedLock } from '../common/keyed-lock.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { GitHubClient } from '../github/github.client.js';
import { SlurmCommandError } from '../slurm/slurm.errors.js';
import type { QueuedJob, SlurmPort } from '../slurm/slurm.port.js';
import { SLURM } from '../slurm/slurm.tokens.js';
import {
  assertInside,
  BUILD_LABEL,
  buildSubmitRequest,
  eventDirOf,
  mayBuild,
  parseLabeledDelivery,
  repoUrl,
  targetDirName,
  type LabeledDelivery,
  type LabeledEvent,
} from './build-plan.js';
import {
  eventMarker,
  renderNoPermissionComment,
  renderSubmitFailureComment,
  renderTreeFailureComment,
  type EventNoticeKind,
} from './event-comments.js';
import { EventProgress, type MergedTree, type TargetProgress } from './event-progress.js';
import { extraHeaderEnv } from './git.js';
import { formatRowDate } from './job-comment.js';
import { JobCommentsService } from './job-comments.service.js';
import { applyCvmfsCustomizations, customizationFileName, writeJobConfig } from './job-config.js';
import { checkoutTarget, claimRunDir, prepareMergedTree, TreeError } from './job-directories.js';
import { JobStore, type JobMetadata } from './job-store.js';

/** Target checkouts run side by side: each is one `git checkout`, mostly disk-bound. */
const PREPARE_CONCURRENCY = 4;
const CACHE_DIR = '.git-cache';

/**
 * The `bot:build` label on a pull request → one held Slurm job per `[architecturetargets]`
 * target, each in its own job directory holding the PR merged into its base branch, each with a
 * PR comment. Every step is recorded in the event's progress file (event-progress.ts) so that
 * handling the same delivery again, after a crash anywhere, finishes the work instead of
 * repeating it. See docs/builds.md.
 */
@Injectable()
export class BuildsService {
  private readonly logger = new Logger(BuildsService.name);
  /** Same delivery handled twice at once in this process: the second waits for the first. */
  private readonly deliveries = new KeyedLock();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(SLURM) private readonly slurm: SlurmPort,
    private readonly github: GitHubClient,
    private readonly store: JobStore,
    private readonly comments: JobCommentsService,
  ) {}

  /**
   * Handler of `pull_request` / `labeled`. Resolves when the event's work is durable (jobs
   * submitted and recorded; a comment GitHub refused is left to the job manager, which adopts
   * jobs without comment id). Rejects when the delivery is malformed or a step failed in a way
   * that handling the delivery again can complete.
   */
  async handleLabeled(delivery: LabeledDelivery): Promise<void> {
    const event = parseLabeledDelivery(delivery);
    if (event.label !== BUILD_LABEL) {
      this.logger.log(
        `${where(event)}: label ${JSON.stringify(event.label)} is not ${BUILD_LABEL}: nothing to do`,
      );
      return;
    }
    await this.deliveries.run(event.deliveryId, () => this.build(event));
  }

  private async build(event: LabeledEvent): Promise<void> {
    const { buildenv, architectureTargets } = this.config;
    const eventDir = eventDirOf(buildenv.jobsBaseDir, event);
    const progress = await EventProgress.open(eventDir, {
      deliveryId: event.deliveryId,
      repo: event.repo,
      prNumber: event.prNumber,
    });
    if (progress.data.done) {
      this.logger.log(`${where(event)}: already handled (${progress.path}): nothing to do`);
      return;
    }

    if (progress.data.refused || !mayBuild(event.sender, buildenv.buildPermission)) {
      await this.refuse(event, progress);
      return;
    }
    this.logger.log(
      `${where(event)}: ${BUILD_LABEL} by ${JSON.stringify(event.sender)}: building in ${eventDir}`,
    );

    if (!progress.data.runDir) {
      const runDir = await claimRunDir(eventDir);
      await progress.update((d) => (d.runDir = runDir));
      this.logger.log(`${where(event)}: claimed ${join(eventDir, runDir)}`);
    }
    const runDir = join(eventDir, progress.data.runDir!);
    const cacheDir = join(eventDir, CACHE_DIR);

    const tree = await this.mergedTree(event, progress, cacheDir);
    if (!tree) return;

    const targets = Object.keys(architectureTargets.archTargetMap);
    const jobDirs = new Map(targets.map((target) => [target, join(runDir, targetDirName(target))]));
    for (const dir of jobDirs.values()) assertInside(buildenv.jobsBaseDir, dir);

    await mapLimited(
      targets.filter((target) => !progress.target(target).prepared),
      PREPARE_CONCURRENCY,
      (target) => this.prepareTarget(event, progress, target, jobDirs.get(target)!, cacheDir, tree),
    );
    for (const target of targets) {
      await this.submitTarget(event, progress, target, jobDirs.get(target)!);
    }
    await this.reportSubmitFailures(event, progress, targets);

    const complete = targets.every(
      (t) => progress.target(t).commentId || progress.target(t).submitFailed,
    );
    if (complete) {
      await progress.update((d) => (d.done = true));
      // The job dirs are full clones (hard-linked objects), so the cache is no longer needed.
      await rm(cacheDir, { recursive: true, force: true });
      this.logger.log(`${where(event)}: done`);
    } else {
      this.logger.warn(
        `${where(event)}: jobs submitted, but some PR comments are missing; the job manager creates them, or handle the delivery again`,
      );
    }
  }

  private async refuse(event: LabeledEvent, progress: EventProgress): Promise<void> {
    const { buildenv } = this.config;
    this.logger.log(
      `${where(event)}: ${JSON.stringify(event.sender)} may not build ([buildenv] build_permission): no job`,
    );
    if (!progress.data.refused) await progress.update((d) => (d.refused = true));
    await this.postNotice(event, progress, 'refused', (marker) =>
      renderNoPermissionComment(
        buildenv.noBuildPermissionComment,
        event.sender,
        buildenv.buildPermission,
        marker,
      ),
    );
    await progress.update((d) => (d.done = true));
  }

  /** The PR merged into its base branch, fetched once per event; undefined when it failed (commented). */
  private async mergedTree(
    event: LabeledEvent,
    progress: EventProgress,
    cacheDir: string,
  ): Promise<MergedTree | undefined> {
    if (!progress.data.tree && !progress.data.treeFailure) {
      // Only private repositories get the token: a public fetch must never carry it anywhere.
      const fetchEnv = event.privateRepo
        ? extraHeaderEnv(event.gitOrigin, await this.github.installationToken())
        : undefined;
      try {
        const tree = await prepareMergedTree(
          cacheDir,
          { url: repoUrl(event), baseRef: event.baseRef, prNumber: event.prNumber, fetchEnv },
          {
            botFiles: Object.keys(this.config.buildenv.cvmfsCustomizations).map(
              customizationFileName,
            ),
          },
        );
        await progress.update((d) => (d.tree = tree));
        const moved =
          tree.headSha === event.headSha
            ? ''
            : ` (the PR moved on from ${event.headSha} since the label was added)`;
        this.logger.log(
          `${where(event)}: merged head ${tree.headSha}${moved} into base ${tree.baseSha}: ${tree.mergeSha}`,
        );
      } catch (error) {
        if (!(error instanceof TreeError)) throw error;
        this.logger.warn(`${where(event)}: cannot prepare the PR's tree: ${error.message}: no job`);
        await progress.update(
          (d) => (d.treeFailure = { reason: error.reason, detail: error.detail }),
        );
      }
    }
    const failure = progress.data.treeFailure;
    if (failure) {
      await this.postNotice(event, progress, 'tree-failed', (marker) =>
        renderTreeFailureComment(
          this.config.github.appName,
          failure.reason,
          failure.detail,
          marker,
        ),
      );
      await progress.update((d) => (d.done = true));
      await rm(cacheDir, { recursive: true, force: true });
      return undefined;
    }
    return progress.data.tree;
  }

  private async prepareTarget(
    event: LabeledEvent,
    progress: EventProgress,
    target: string,
    jobDir: string,
    cacheDir: string,
    tree: MergedTree,
  ): Promise<void> {
    const { buildenv } = this.config;
    await checkoutTarget(cacheDir, jobDir, tree, repoUrl(event));
    await writeJobConfig(jobDir, {
      buildenv,
      target,
      repo: event.repo,
      prNumber: event.prNumber,
      baseRef: event.baseRef,
      baseSha: tree.baseSha,
      headSha: tree.headSha,
      mergeSha: tree.mergeSha,
    });
    await applyCvmfsCustomizations(jobDir, buildenv.cvmfsCustomizations);
    await progress.update(() => (progress.target(target).prepared = true));
    this.logger.log(`${where(event)} target ${target}: prepared ${jobDir}`);
  }

  private async submitTarget(
    event: LabeledEvent,
    progress: EventProgress,
    target: string,
    jobDir: string,
  ): Promise<void> {
    const state = progress.target(target);
    const tag = `${where(event)} target ${target}`;
    if (state.submitFailed) return;

    if (!state.jobId && state.submittingSince) {
      // Stopped between starting sbatch and recording its answer: the job may exist.
      const found = await this.findQueuedJob(jobDir);
      if (found === 'unknown') {
        this.logger.error(
          `${tag}: interrupted while submitting in ${jobDir}; the queue cannot say whether the job exists ` +
            `(look for a held job named ${this.config.buildenv.jobName} with that work dir: squeue -o '%i %Z'); not submitting again`,
        );
        await progress.update(() => {
          state.submitFailed = {
            uncertain: true,
            detail: `interrupted while submitting; job dir ${jobDir}`,
          };
        });
        return;
      }
      if (found) {
        this.logger.log(
          `${tag}: job ${found.id} found in the queue after an interruption: adopted`,
        );
        await progress.update(() => (state.jobId = found.id));
      }
    }

    if (!state.jobId) {
      const request = buildSubmitRequest(
        this.config.buildenv,
        target,
        this.config.architectureTargets.archTargetMap[target],
        jobDir,
      );
      await progress.update(() => (state.submittingSince = new Date().toISOString()));
      let jobId: string;
      try {
        ({ jobId } = await this.slurm.submit(request));
      } catch (error) {
        // A non-zero exit is the scheduler's "no": nothing was queued. Anything else (a timeout,
        // unreadable output) leaves the outcome open, and the marker makes a resume ask the queue.
        if (
          !(error instanceof SlurmCommandError) ||
          error.exitCode === undefined ||
          error.exitCode === 0
        ) {
          throw error;
        }
        this.logger.warn(`${tag}: submission refused: ${error.message}`);
        await progress.update(() => {
          state.submitFailed = { detail: error.stderr.trim() || error.message };
          delete state.submittingSince;
        });
        return;
      }
      await progress.update(() => (state.jobId = jobId));
      this.logger.log(`${tag}: submitted job ${jobId} (held) in ${jobDir}`);
    }
    const jobId = state.jobId!;

    const meta: JobMetadata = {
      repo: event.repo,
      prNumber: event.prNumber,
      target,
      appName: this.config.github.appName,
      jobName: this.config.buildenv.jobName,
      deliveryId: event.deliveryId,
    };
    if (!state.recorded) {
      // The first row, then the comment (it shows the rows), then the links that make the job
      // known to the job manager. The comment's creation writes the metadata with its id: one
      // write per job. Without metadata the job manager leaves a held job alone, so nobody else
      // comments on it meanwhile.
      await this.store.addRow(jobId, jobDir, {
        kind: 'submitted',
        date: formatRowDate(new Date()),
        status: 'submitted',
        comment: 'job waits for release by job manager',
      });
      const commentId =
        state.commentId ?? (await this.comment(tag, progress, state, jobId, jobDir, meta));
      if (commentId) await this.store.linkSubmitted(jobId, jobDir);
      // No comment (GitHub failed): the job is recorded without its id; a resume or the job
      // manager creates the comment later, once.
      else await this.store.recordSubmitted(jobId, jobDir, meta);
      await progress.update(() => (state.recorded = true));
      this.logger.log(`${tag}: job ${jobId} recorded`);
    } else if (!state.commentId) {
      // Recorded by an earlier attempt whose comment failed: the comment adds its id to the
      // metadata recorded then.
      const recorded = (await this.store.readMetadata(jobId, jobDir)) ?? meta;
      await this.comment(tag, progress, state, jobId, jobDir, recorded);
    }
  }

  /**
   * Creates the job's comment (its creation records the id in the job's metadata), or adopts it
   * by its marker when an earlier attempt may have posted it. Failures are logged, not thrown:
   * the job is recorded either way and its comment follows later, once.
   */
  private async comment(
    tag: string,
    progress: EventProgress,
    state: TargetProgress,
    jobId: string,
    jobDir: string,
    meta: JobMetadata,
  ): Promise<number | undefined> {
    const mode = state.commentAttempted ? 'resume' : 'first';
    if (!state.commentAttempted) await progress.update(() => (state.commentAttempted = true));
    try {
      const commentId = await this.comments.ensureComment({ jobId, jobDir }, meta, mode);
      if (commentId) {
        await progress.update(() => (state.commentId = commentId));
        this.logger.log(`${tag}: job ${jobId} commented (${commentId})`);
      } else {
        this.logger.log(`${tag}: job ${jobId}: its comment is being created by another process`);
      }
      return commentId;
    } catch (error) {
      this.logger.warn(`${tag}: job ${jobId}: PR comment not created: ${errorMessage(error)}`);
      return undefined;
    }
  }

  /**
   * Our job for `jobDir` in the queue: found, not there, or 'unknown' when the scheduler does not
   * report work dirs and the queue is not empty. Held jobs stay in the queue until the job manager
   * releases them, and it only releases jobs with metadata, which this one does not have yet.
   */
  private async findQueuedJob(jobDir: string): Promise<QueuedJob | undefined | 'unknown'> {
    const jobs = await this.slurm.listJobs(this.config.buildenv.jobName);
    if (jobs.length === 0) return undefined;
    // A scheduler port that does not report work dirs cannot tell this job from the others.
    if (!jobs.some((job) => typeof job.workDir === 'string')) return 'unknown';
    const wanted = new Set([jobDir, await realpath(jobDir).catch(() => jobDir)]);
    return jobs.find((job) => wanted.has(job.workDir ?? ''));
  }

  private async reportSubmitFailures(
    event: LabeledEvent,
    progress: EventProgress,
    targets: readonly string[],
  ): Promise<void> {
    const failures = targets
      .filter((target) => progress.target(target).submitFailed)
      .map((target) => ({ target, ...progress.target(target).submitFailed! }));
    if (failures.length === 0) return;
    await this.postNotice(event, progress, 'submit-failed', (marker) =>
      renderSubmitFailureComment(this.config.github.appName, failures, marker),
    );
  }

  /**
   * Posts an event-level comment exactly once: the attempt is recorded before the comment is
   * created, and a resumed attempt looks for the comment's marker before posting.
   */
  private async postNotice(
    event: LabeledEvent,
    progress: EventProgress,
    kind: EventNoticeKind,
    render: (marker: string) => string,
  ): Promise<void> {
    const notice = progress.notice(kind);
    if (notice.commentId) return;
    const marker = eventMarker(event.deliveryId, kind, this.config.github.appName);
    if (notice.posting) {
      const existing = (await this.github.listComments(event.repo, event.prNumber)).find((c) =>
        c.body.includes(marker),
      );
      if (existing) {
        await progress.update(() => (notice.commentId = existing.id));
        this.logger.log(
          `${where(event)}: ${kind} comment ${existing.id} found after an interruption`,
        );
        return;
      }
    } else {
      await progress.update(() => (notice.posting = true));
    }
    const { id } = await this.github.createComment(event.repo, event.prNumber, render(marker));
    await progress.update(() => (notice.commentId = id));
    this.logger.log(`${where(event)}: posted ${kind} comment ${id}`);
  }
}

function where(event: LabeledEvent): string {
  return `delivery ${event.deliveryId} ${event.repo}#${event.prNumber}`;
}

async function mapLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]);
  };
  const results = await Promise.allSettled(
    Array.from({ length: Math.min(limit, items.length) }, worker),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
