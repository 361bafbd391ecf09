import { Inject, Injectable, Logger } from '@nestjs/common';
import { join } from 'node:path';
import { KeyedLock } from '../common/keyed-lock.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { CommandRunner } from '../slurm/command-runner.js';
import {
  assertPullRequestContext,
  BUILD_LABEL,
  buildSubmitRequest,
  eventDirOf,
  InvalidDeliveryError,
  mayBuild,
  parseLabeledDelivery,
  targetDirName,
  type LabeledDelivery,
  type LabeledEvent,
  type PullRequestContext,
} from './build-plan.js';
import { describeTarget, type BuildRequest } from './build-request.js';
import { BuildRunner, where, type JobSpec } from './build-runner.js';
import {
  COMMAND_RETRY,
  renderDownloadFailureComment,
  renderNoPermissionComment,
  renderSubmitFailureComment,
  renderTreeFailureComment,
} from './event-comments.js';
import { EventNotices } from './event-notices.js';
import { EventProgress, type PlannedBuild } from './event-progress.js';
import { applyCvmfsCustomizations, customizationFileName, writeJobConfig } from './job-config.js';
import { planBuild, type NodeTypeSummary } from './node-type-plan.js';
import { jobBuildInfo, v09JobSpecs } from './v09-jobs.js';
import type { JobBuildInfo } from './job-store.js';

const CACHE_DIR = '.git-cache';
const SEED_ROW = 'job waits for release by job manager';
/** GitHub logins (and app bots' `name[bot]`): anything else cannot be a requester on record. */
const LOGIN = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?$/;

/** A v0.9 build request of one delivery: the n-th `bot: build` command of a comment. */
export interface BuildRequestContext extends PullRequestContext {
  /** Position of the request among the delivery's build requests (0 for the first). */
  readonly requestIndex: number;
}

/** One job of a request: submitted (job id), or why not. */
export interface JobOutcome extends JobBuildInfo {
  readonly instance: string;
  readonly jobId?: string;
  readonly commentId?: number;
  /** Why no job id: skipped by the plan, refused by the scheduler, or not known yet. */
  readonly reason?: string;
}

/** What became of a build request, for the command's reply. */
export interface BuildOutcome {
  readonly instance: string;
  /** The request as written (`for:… on:…`). */
  readonly request: string;
  /** Why nothing was built: no permission, a refused request, nothing matched, PR not mergeable. */
  readonly problem?: string;
  /** When nothing matched: the node types nearest to what was asked. */
  readonly closest: readonly NodeTypeSummary[];
  readonly jobs: readonly JobOutcome[];
}

/**
 * Builds of a pull request. Seed configs: the `bot:build` label → one held Slurm job per
 * `[architecturetargets]` target. v0.9 configs: a build request (from a `bot: build` command or
 * `simulate --build`) → one job per matching node type × repo target. Both run through
 * BuildRunner, crash-safe and idempotent per delivery. See docs/builds.md.
 */
@Injectable()
export class BuildsService {
  private readonly logger = new Logger(BuildsService.name);
  /** Same delivery (or request) handled twice at once in this process: the second waits. */
  private readonly lock = new KeyedLock();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly runner: BuildRunner,
    private readonly notices: EventNotices,
    private readonly commands: CommandRunner,
  ) {}

  /**
   * Handler of `pull_request` / `labeled`. Resolves when the event's work is durable; rejects
   * when the delivery is malformed or a step failed that handling the delivery again completes.
   */
  async handleLabeled(delivery: LabeledDelivery): Promise<void> {
    const event = parseLabeledDelivery(delivery);
    if (event.label !== BUILD_LABEL) {
      this.logger.log(
        `${where(event)}: label ${JSON.stringify(event.label)} is not ${BUILD_LABEL}: nothing to do`,
      );
      return;
    }
    if (this.config.generation === 'v09') {
      // v0.9 builds are asked for with the `bot: build` command (which answers the label).
      this.logger.log(`${where(event)}: ${BUILD_LABEL} starts no build under a v0.9 config`);
      return;
    }
    await this.lock.run(event.deliveryId, () => this.buildForLabel(event));
  }

  private async buildForLabel(event: LabeledEvent): Promise<void> {
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
    // A build begun under an earlier permission list is finished; a new one is refused before
    // anything is written.
    if (
      progress.data.refused ||
      (!progress.existed && !mayBuild(event.sender, buildenv.buildPermission))
    ) {
      await this.refuseLabel(event, progress);
      return;
    }
    this.logger.log(
      `${where(event)}: ${BUILD_LABEL} by ${JSON.stringify(event.sender)}: building in ${eventDir}`,
    );
    const appName = this.config.github.appName;
    await this.runner.run({
      ctx: event,
      progress,
      eventDir,
      cacheDir: join(eventDir, CACHE_DIR),
      botFiles: Object.keys(buildenv.cvmfsCustomizations).map(customizationFileName),
      jobs: (runDir) =>
        Object.entries(architectureTargets.archTargetMap).map(([target, params]): JobSpec => {
          const dir = join(runDir, targetDirName(target));
          return {
            key: target,
            label: `target ${target}`,
            dir,
            metadata: {
              repo: event.repo,
              prNumber: event.prNumber,
              target,
              appName,
              jobName: buildenv.jobName,
              deliveryId: event.deliveryId,
            },
            prepare: async (tree) => {
              await writeJobConfig(dir, {
                buildenv,
                target,
                repo: event.repo,
                prNumber: event.prNumber,
                baseRef: event.baseRef,
                baseSha: tree.baseSha,
                headSha: tree.headSha,
                mergeSha: tree.mergeSha,
              });
              await applyCvmfsCustomizations(dir, buildenv.cvmfsCustomizations);
            },
            submitRequest: async (script) => ({
              ...buildSubmitRequest(buildenv, target, params, dir),
              script,
            }),
            submittedRow: () => SEED_ROW,
          };
        }),
      notices: {
        treeFailure: (reason, detail, marker) =>
          renderTreeFailureComment(appName, reason, detail, marker),
        submitFailure: (failures, marker) => renderSubmitFailureComment(appName, failures, marker),
      },
    });
  }

  /** One "no permission" comment; nothing on disk (an older record's refusal is completed). */
  private async refuseLabel(event: LabeledEvent, progress: EventProgress): Promise<void> {
    const { buildenv } = this.config;
    this.logger.log(
      `${where(event)}: ${JSON.stringify(event.sender)} may not build ([buildenv] build_permission): no job`,
    );
    const render = (marker: string) =>
      renderNoPermissionComment(
        buildenv.noBuildPermissionComment,
        event.sender,
        buildenv.buildPermission,
        marker,
      );
    if (progress.existed) {
      await this.notices.post(event, progress, 'refused', render);
      await progress.update((d) => (d.done = true));
    } else {
      await this.notices.postStateless(event, 'refused', render);
    }
  }

  /**
   * A v0.9 build request: plan, then build the planned jobs. Handling the same delivery and
   * request again (after a crash, or a redelivery) finishes what is missing and returns the same
   * outcome, never submitting a job twice. A request that builds nothing (no permission, refused,
   * nothing matched) leaves nothing on disk and posts nothing: the command's reply says why.
   * @throws InvalidDeliveryError for a malformed context; other errors when a step failed that
   *         handling the request again completes.
   */
  async handleBuildRequest(ctx: BuildRequestContext, request: BuildRequest): Promise<BuildOutcome> {
    if (!Number.isSafeInteger(ctx.requestIndex) || ctx.requestIndex < 0) {
      throw new InvalidDeliveryError(`request index ${ctx.requestIndex} is not a whole number`);
    }
    assertPullRequestContext(ctx);
    const eventDir = eventDirOf(this.config.buildenv.jobsBaseDir, ctx);
    return this.lock.run(`${ctx.deliveryId}#${ctx.requestIndex}`, () =>
      this.buildForRequest(ctx, request, eventDir),
    );
  }

  private async buildForRequest(
    ctx: BuildRequestContext,
    request: BuildRequest,
    eventDir: string,
  ): Promise<BuildOutcome> {
    const { config } = this;
    const description = describeRequest(request);
    const none = (problem: string, closest: readonly NodeTypeSummary[] = []): BuildOutcome => {
      this.logger.log(`${where(ctx)}: build ${description}: no job: ${problem}`);
      return { instance: config.github.appName, request: description, problem, closest, jobs: [] };
    };
    const progress = await EventProgress.open(
      eventDir,
      { deliveryId: ctx.deliveryId, repo: ctx.repo, prNumber: ctx.prNumber },
      `progress-${ctx.requestIndex}.json`,
    );
    if (!progress.data.build) {
      if (config.generation !== 'v09') {
        return none('this instance runs a seed-format app.cfg: it builds on the bot:build label');
      }
      if (!LOGIN.test(request.requester)) {
        return none(`${JSON.stringify(request.requester)} is not a GitHub login`);
      }
      if (!mayBuild(request.requester, config.buildenv.buildPermission, config.generation)) {
        return none(
          `${request.requester} has no permission to build ([buildenv] build_permission)`,
        );
      }
      const plan = planBuild(request, {
        nodeTypes: config.nodeTypes,
        appName: config.github.appName,
        allowedExportVars: config.buildenv.allowedExportVars,
      });
      if (plan.jobs.length === 0) {
        return none(plan.problem ?? 'no job matches', plan.closest);
      }
      const planned: PlannedBuild = {
        description,
        requester: request.requester,
        exportVars: request.exportVars,
        jobs: plan.jobs,
        skipped: plan.skipped,
      };
      // The first write: from here on the request's jobs are fixed.
      await progress.update((d) => (d.build = planned));
      this.logger.log(
        `${where(ctx)}: build ${description} by ${request.requester}: ${plan.jobs.length} job(s) in ${eventDir}`,
      );
    }
    const build = progress.data.build!;
    if (!progress.data.done) {
      const appName = config.github.appName;
      await this.runner.run({
        ctx,
        progress,
        eventDir,
        cacheDir: join(eventDir, `${CACHE_DIR}-${ctx.requestIndex}`),
        botFiles: [],
        jobs: (runDir) =>
          v09JobSpecs({ config, ctx, build, runDir, runner: this.commands, logger: this.logger }),
        notices: {
          treeFailure: (reason, detail, marker) =>
            renderDownloadFailureComment(
              config.templates.downloadPr,
              appName,
              reason,
              detail,
              marker,
            ),
          submitFailure: (failures, marker) =>
            renderSubmitFailureComment(appName, failures, marker, COMMAND_RETRY),
        },
      });
    }
    return this.outcomeOf(progress);
  }

  private outcomeOf(progress: EventProgress): BuildOutcome {
    const build = progress.data.build!;
    const instance = this.config.github.appName;
    const failure = progress.data.treeFailure;
    const jobs: JobOutcome[] = build.jobs.map((job) => {
      const state = progress.target(job.key);
      const reason = failure
        ? 'the pull request could not be prepared'
        : state.submitFailed
          ? `not submitted: ${state.submitFailed.detail.split('\n')[0]}`
          : state.jobId
            ? undefined
            : 'not submitted yet';
      return {
        instance,
        ...jobBuildInfo(job),
        ...(state.jobId && { jobId: state.jobId }),
        ...(state.commentId && { commentId: state.commentId }),
        ...(reason && { reason }),
      };
    });
    const skipped: JobOutcome[] = build.skipped.map(({ reason, ...job }) => ({
      instance,
      ...job,
      reason: `skipped: ${reason}`,
    }));
    return {
      instance,
      request: build.description,
      ...(failure && {
        problem: `the pull request could not be merged into its base branch (${failure.reason})`,
      }),
      closest: [],
      jobs: [...jobs, ...skipped],
    };
  }
}

function describeRequest(request: BuildRequest): string {
  return [
    `for:${describeTarget(request.for)}`,
    ...(request.on ? [`on:${describeTarget(request.on)}`] : []),
    ...request.exportVars.map((v) => `exp:${v.name}=${v.value}`),
    ...(request.filterText ? [request.filterText] : []),
  ].join(' ');
}
