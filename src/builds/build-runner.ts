import { Inject, Injectable, Logger } from '@nestjs/common';
import { realpath, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { GitHubClient } from '../github/github.client.js';
import { SlurmCommandError } from '../slurm/slurm.errors.js';
import type { QueuedJob, SlurmPort, SubmitRequest } from '../slurm/slurm.port.js';
import { SLURM } from '../slurm/slurm.tokens.js';
import { assertInside, repoUrl, type PullRequestContext } from './build-plan.js';
import type { SubmitFailure, TreeFailureReason } from './event-comments.js';
import { EventNotices } from './event-notices.js';
import type { EventProgress, MergedTree } from './event-progress.js';
import { extraHeaderEnv } from './git.js';
import { formatRowDate } from './job-comment.js';
import { JobCommentsService } from './job-comments.service.js';
import {
  checkoutTarget,
  claimRunDir,
  cloneJobScriptRepo,
  jobScriptRepoDirName,
  prepareMergedTree,
  TreeError,
} from './job-directories.js';
import { JobStore, type JobMetadata } from './job-store.js';

/** Job checkouts run side by side: each is one `git checkout`, mostly disk-bound. */
const PREPARE_CONCURRENCY = 4;

/** One job of a build, as the seed's label or a v0.9 request plans it. */
export interface JobSpec {
  /** Key of the job in the progress record. */
  readonly key: string;
  /** How logs and the submit-failure comment name it. */
  readonly label: string;
  readonly dir: string;
  /** Writes the bot's files into the job dir, once the merged tree is checked out there. */
  prepare(tree: MergedTree): Promise<void>;
  /** The scheduler request; `script` is the job script to run (cloned into the job dir or not). */
  submitRequest(script: string): Promise<SubmitRequest>;
  readonly metadata: JobMetadata;
  /** Comment of the job's first (`submitted`) row. */
  submittedRow(jobId: string): string;
}

/** The PR comments that differ between the seed's label and v0.9's commands. */
export interface BuildNotices {
  treeFailure(reason: TreeFailureReason, detail: string, marker: string): string;
  submitFailure(failures: readonly SubmitFailure[], marker: string): string;
}

export interface BuildRun {
  readonly ctx: PullRequestContext;
  readonly progress: EventProgress;
  readonly eventDir: string;
  /** The event's bare git cache (one fetch per build). */
  readonly cacheDir: string;
  /** Top-level names of the merged tree the bot writes to as files (cvmfs customizations). */
  readonly botFiles: readonly string[];
  /** The jobs, once `run_NNN` is claimed. */
  jobs(runDir: string): readonly JobSpec[];
  readonly notices: BuildNotices;
}

/**
 * The steps every build takes, recorded in its progress file (event-progress.ts) so that running
 * it again after a crash anywhere finishes the work instead of repeating it: claim `run_NNN`,
 * fetch and merge the PR once, check it out per job, submit, record, comment. See docs/builds.md.
 */
@Injectable()
export class BuildRunner {
  private readonly logger = new Logger(BuildRunner.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(SLURM) private readonly slurm: SlurmPort,
    private readonly github: GitHubClient,
    private readonly store: JobStore,
    private readonly comments: JobCommentsService,
    private readonly notices: EventNotices,
  ) {}

  /**
   * Resolves when the build's work is durable (jobs submitted and recorded; a comment GitHub
   * refused is left to the job manager, which adopts jobs without comment id). Rejects when a
   * step failed in a way that running the build again can complete.
   */
  async run(build: BuildRun): Promise<void> {
    const { ctx, progress, eventDir, cacheDir } = build;
    if (!progress.data.runDir) {
      const runDir = await claimRunDir(eventDir);
      await progress.update((d) => (d.runDir = runDir));
      this.logger.log(`${where(ctx)}: claimed ${join(eventDir, runDir)}`);
    }
    const runDir = join(eventDir, progress.data.runDir!);

    const tree = await this.mergedTree(build);
    if (!tree) {
      return;
    }

    const jobs = build.jobs(runDir);
    for (const job of jobs) {
      assertInside(this.config.buildenv.jobsBaseDir, job.dir);
    }

    await mapLimited(
      jobs.filter((job) => !progress.target(job.key).prepared),
      PREPARE_CONCURRENCY,
      (job) => this.prepareJob(build, job, tree),
    );
    for (const job of jobs) {
      await this.submitJob(build, job);
    }
    await this.reportSubmitFailures(build, jobs);

    const complete = jobs.every(
      (job) => progress.target(job.key).commentId || progress.target(job.key).submitFailed,
    );
    if (complete) {
      await progress.update((d) => (d.done = true));
      // The job dirs are full clones (hard-linked objects), so the cache is no longer needed.
      await rm(cacheDir, { recursive: true, force: true });
      this.logger.log(`${where(ctx)}: done`);
    } else {
      this.logger.warn(
        `${where(ctx)}: jobs submitted, but some PR comments are missing; the job manager creates them, or handle the delivery again`,
      );
    }
  }

  /** The PR merged into its base branch, fetched once per build; undefined when it failed (commented). */
  private async mergedTree(build: BuildRun): Promise<MergedTree | undefined> {
    const { ctx, progress, cacheDir } = build;
    const { buildenv } = this.config;
    if (!progress.data.tree && !progress.data.treeFailure) {
      // Only private repositories fetched over https get the token: a public fetch must never
      // carry it anywhere, and ssh uses the bot user's key.
      const fetchEnv =
        ctx.privateRepo && buildenv.cloneGitRepoVia === 'https'
          ? extraHeaderEnv(ctx.gitOrigin, await this.github.installationToken())
          : undefined;
      try {
        const tree = await prepareMergedTree(
          cacheDir,
          {
            url: repoUrl(ctx, buildenv.cloneGitRepoVia),
            baseRef: ctx.baseRef,
            prNumber: ctx.prNumber,
            fetchEnv,
          },
          {
            botFiles: build.botFiles,
            botDirs: buildenv.buildJobScriptRepo
              ? [jobScriptRepoDirName(buildenv.buildJobScriptRepo)]
              : [],
          },
        );
        await progress.update((d) => (d.tree = tree));
        const moved =
          tree.headSha === ctx.headSha
            ? ''
            : ` (the PR moved on from ${ctx.headSha} since the build was asked for)`;
        this.logger.log(
          `${where(ctx)}: merged head ${tree.headSha}${moved} into base ${tree.baseSha}: ${tree.mergeSha}`,
        );
      } catch (error) {
        if (!(error instanceof TreeError)) {
          throw error;
        }
        this.logger.warn(`${where(ctx)}: cannot prepare the PR's tree: ${error.message}: no job`);
        await progress.update(
          (d) => (d.treeFailure = { reason: error.reason, detail: error.detail }),
        );
      }
    }
    const failure = progress.data.treeFailure;
    if (failure) {
      await this.notices.post(ctx, progress, 'tree-failed', (marker) =>
        build.notices.treeFailure(failure.reason, failure.detail, marker),
      );
      await progress.update((d) => (d.done = true));
      await rm(cacheDir, { recursive: true, force: true });
      return undefined;
    }
    return progress.data.tree;
  }

  private async prepareJob(build: BuildRun, job: JobSpec, tree: MergedTree): Promise<void> {
    const { ctx, progress, cacheDir } = build;
    await checkoutTarget(
      cacheDir,
      job.dir,
      tree,
      repoUrl(ctx, this.config.buildenv.cloneGitRepoVia),
    );
    await job.prepare(tree);
    await progress.update(() => (progress.target(job.key).prepared = true));
    this.logger.log(`${where(ctx)} ${job.label}: prepared ${job.dir}`);
  }

  /** The job script: `build_job_script`, or for `path@repo` that path in a clone in the job dir. */
  private async jobScript(job: JobSpec): Promise<string> {
    const { buildJobScript, buildJobScriptRepo } = this.config.buildenv;
    if (!buildJobScriptRepo) {
      return buildJobScript;
    }
    return cloneJobScriptRepo(job.dir, buildJobScriptRepo, buildJobScript);
  }

  private async submitJob(build: BuildRun, job: JobSpec): Promise<void> {
    const { ctx, progress } = build;
    const state = progress.target(job.key);
    const tag = `${where(ctx)} ${job.label}`;
    if (state.submitFailed) {
      return;
    }

    if (!state.jobId && state.submittingSince) {
      // Stopped between starting sbatch and recording its answer: the job may exist.
      const found = await this.findQueuedJob(job.dir);
      if (found === 'unknown') {
        this.logger.error(
          `${tag}: interrupted while submitting in ${job.dir}; the queue cannot say whether the job exists ` +
            `(look for a job named ${this.config.buildenv.jobName} with that work dir: squeue -o '%i %Z'); not submitting again`,
        );
        await progress.update(() => {
          state.submitFailed = {
            uncertain: true,
            detail: `interrupted while submitting; job dir ${job.dir}`,
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
      const request = await job.submitRequest(await this.jobScript(job));
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
      this.logger.log(
        `${tag}: submitted job ${jobId} (${request.hold === false ? 'delayed begin' : 'held'}) in ${job.dir}`,
      );
    }
    const jobId = state.jobId!;

    if (!state.recorded) {
      await this.store.recordSubmitted(jobId, job.dir, job.metadata);
      await this.store.addRow(jobId, job.dir, {
        kind: 'submitted',
        date: formatRowDate(new Date()),
        status: 'submitted',
        comment: job.submittedRow(jobId),
      });
      await progress.update(() => (state.recorded = true));
      this.logger.log(`${tag}: job ${jobId} recorded`);
    }

    if (!state.commentId) {
      const mode = state.commentAttempted ? 'resume' : 'first';
      if (!state.commentAttempted) {
        await progress.update(() => (state.commentAttempted = true));
      }
      try {
        const current = (await this.store.readMetadata(jobId, job.dir)) ?? job.metadata;
        const commentId = await this.comments.ensureComment(
          { jobId, jobDir: job.dir },
          current,
          mode,
        );
        if (commentId) {
          await progress.update(() => (state.commentId = commentId));
          this.logger.log(`${tag}: job ${jobId} commented (${commentId})`);
        } else {
          this.logger.log(`${tag}: job ${jobId}: its comment is being created by another process`);
        }
      } catch (error) {
        // The job is recorded; its comment is created later (job manager or a resume), once.
        this.logger.warn(
          `${tag}: job ${jobId}: PR comment not created: ${(error as Error).message}`,
        );
      }
    }
  }

  /**
   * Our job for `jobDir` in the queue: found, not there, or 'unknown' when the scheduler does not
   * report work dirs and the queue is not empty. Held jobs stay in the queue until the job manager
   * releases them, and it only releases jobs with metadata, which this one does not have yet.
   */
  private async findQueuedJob(jobDir: string): Promise<QueuedJob | undefined | 'unknown'> {
    const jobs = await this.slurm.listJobs(this.config.buildenv.jobName);
    if (jobs.length === 0) {
      return undefined;
    }
    // A scheduler port that does not report work dirs cannot tell this job from the others.
    if (!jobs.some((job) => typeof job.workDir === 'string')) {
      return 'unknown';
    }
    const wanted = new Set([jobDir, await realpath(jobDir).catch(() => jobDir)]);
    return jobs.find((job) => wanted.has(job.workDir ?? ''));
  }

  private async reportSubmitFailures(build: BuildRun, jobs: readonly JobSpec[]): Promise<void> {
    const failures: SubmitFailure[] = jobs
      .filter((job) => build.progress.target(job.key).submitFailed)
      .map((job) => ({
        target: job.metadata.target,
        label: job.metadata.build ? job.label : undefined,
        ...build.progress.target(job.key).submitFailed!,
      }));
    if (failures.length === 0) {
      return;
    }
    await this.notices.post(build.ctx, build.progress, 'submit-failed', (marker) =>
      build.notices.submitFailure(failures, marker),
    );
  }
}

export function where(ctx: PullRequestContext): string {
  return `delivery ${ctx.deliveryId} ${ctx.repo}#${ctx.prNumber}`;
}

async function mapLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      await fn(items[next++]);
    }
  };
  const results = await Promise.allSettled(
    Array.from({ length: Math.min(limit, items.length) }, worker),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    throw failed.reason;
  }
}
