import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseLabeledDelivery, type LabeledDelivery } from '../builds/build-plan.js';
import { formatRowDate } from '../builds/job-comment.js';
import { JobCommentsService } from '../builds/job-comments.service.js';
import { JobStore } from '../builds/job-store.js';
import { APP_CONFIG, type AppConfig, type DeployConfig } from '../config/app-config.js';
import { CommentPoster } from '../github/comment-poster.js';
import { GitHubClient } from '../github/github.client.js';
import { CommandRunner } from '../common/command-runner.js';
import { BotMetrics } from '../common/metrics/bot-metrics.js';
import { ArtefactError, uploadBuiltIn } from './builtin-upload.js';
import {
  deployMarker,
  notUploadedText,
  renderPolicyNone,
  renderRefusal,
  renderReport,
  uploadedText,
  type NotDeployedJob,
} from './deploy-comments.js';
import { planArtefacts, type Candidate } from './deploy-plan.js';
import {
  findPrJobs,
  judgeJob,
  prDirsOf,
  readJobMetadata,
  readJobRepository,
  type PrJob,
} from './pr-jobs.js';
import type { PendingMultipart } from './s3-object.js';
import type { S3Uploader } from './s3-uploader.js';
import { runUploadScript } from './upload-script.js';
import { uploadTargetFor } from './upload-target.js';
import { reasonOf, uploadResultOf, type Outcome } from './upload-outcome.js';
import { recordUpload, uploadedPayloads } from './uploaded-log.js';

/** Durable memory of one delivery (the inbox keeps it until the delivery is done). */
export interface DeployProgress {
  get<T = unknown>(key: string): Promise<T | undefined>;
  set(key: string, value: unknown): Promise<void>;
}

/** A request to deploy a PR: the deploy label, or (next) the `bot: deploy` command. */
export interface DeployRequest {
  readonly deliveryId: string;
  readonly repo: string;
  readonly prNumber: number;
  /** Who asked: must be in `[deploycfg] deploy_permission`. */
  readonly sender: string;
  readonly progress: DeployProgress;
}

export interface DeployOptions {
  /** Multipart part size of the built-in uploader (tests use S3's 5 MiB minimum). */
  readonly partSizeBytes?: number;
  readonly maxAttempts?: number;
}
export const DEPLOY_OPTIONS = Symbol('DEPLOY_OPTIONS');

/** One artefact of the plan; the plan is stored before anything is uploaded. */
interface PlanItem {
  readonly jobId: string;
  readonly prDir: string;
  readonly link: string;
  readonly jobDir: string;
  readonly name: string;
  readonly skip?: string;
}

interface StoredPlan {
  /** Orders this deploy's rows after those of earlier deploys (row names start with it). */
  readonly startedAt: number;
  readonly items: readonly PlanItem[];
  readonly notDeployed: readonly NotDeployedJob[];
}

/**
 * Per artefact: `started` before its upload begins, `outcome` once it ended, `recorded` once
 * uploaded.txt and its row are written. A resume does only what is missing: a finished upload is
 * never repeated, and a row is written only from a recorded outcome.
 */
interface ItemState {
  readonly started?: boolean;
  readonly outcome?: Outcome;
  readonly recorded?: boolean;
  readonly multipart?: PendingMultipart;
}

const PLAN = 'deploy.plan';
const REPORT = 'deploy.report';
const DONE = 'deploy.done';

/**
 * `bot:deploy`: uploads the artefacts of the PR's successful jobs (this instance's, per
 * `upload_policy`) with `artefact_upload_script` or the built-in S3 uploader, records each upload
 * in `uploaded.txt` and in the job's comment. See docs/deploy.md.
 */
@Injectable()
export class DeployService {
  private readonly logger = new Logger(DeployService.name);
  private readonly poster: CommentPoster;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly github: GitHubClient,
    private readonly store: JobStore,
    private readonly comments: JobCommentsService,
    private readonly runner: CommandRunner,
    @Optional() @Inject(DEPLOY_OPTIONS) private readonly options: DeployOptions = {},
    @Optional() poster?: CommentPoster,
    @Optional() private readonly metrics: BotMetrics = new BotMetrics(),
  ) {
    this.poster = poster ?? new CommentPoster(github, config.botControl.chatlevel);
  }

  /** Whether `login` may deploy: `[deploycfg] deploy_permission`, for the label and the command. */
  mayDeploy(login: string): boolean {
    return this.config.deploy?.deployPermission.includes(login) ?? false;
  }

  /** Whether a `pull_request` `labeled` payload adds this instance's deploy label. */
  isDeployLabel(payload: unknown): boolean {
    const label = (payload as { label?: { name?: unknown } } | null)?.label?.name;
    return this.config.deploy !== undefined && label === this.config.deploy.label;
  }

  /** Handler of the deploy label. */
  async handleLabeled(delivery: LabeledDelivery, progress: DeployProgress): Promise<void> {
    const event = parseLabeledDelivery(delivery);
    await this.deployPullRequest({
      deliveryId: event.deliveryId,
      repo: event.repo,
      prNumber: event.prNumber,
      sender: event.sender,
      progress,
    });
  }

  /**
   * Deploys the PR if `sender` may; otherwise posts the refusal and leaves nothing on disk.
   * Resolves once every artefact's outcome is recorded and the comments are updated; rejects
   * when that could not be completed (handling the same request again finishes it).
   */
  async deployPullRequest(request: DeployRequest): Promise<void> {
    const deploy = this.config.deploy;
    const tag = where(request);
    if (!deploy) {
      this.logger.log(`${tag}: no [deploycfg] in app.cfg: this instance does not deploy`);
      return;
    }
    if (!this.mayDeploy(request.sender)) {
      await this.refuse(request, deploy);
      return;
    }
    const { progress } = request;
    if (await progress.get<boolean>(DONE)) {
      return;
    }
    if (deploy.uploadPolicy === 'none') {
      this.logger.log(`${tag}: upload_policy is none: nothing uploaded`);
      await this.reportOnce(request, (marker) =>
        renderPolicyNone(this.config.github.appName, deploy.label, marker),
      );
      await progress.set(DONE, true);
      return;
    }

    let plan = await progress.get<StoredPlan>(PLAN);
    if (!plan) {
      plan = await this.plan(request, deploy);
      await progress.set(PLAN, plan);
    }
    const toUpload = plan.items.filter((item) => !item.skip).length;
    this.logger.log(
      `${tag}: deploy by ${JSON.stringify(request.sender)}: ${toUpload} artefact(s) to upload, ${plan.items.length - toUpload} skipped, ${plan.notDeployed.length} job(s) not deployed`,
    );
    if (plan.notDeployed.length > 0 || toUpload === 0) {
      const { notDeployed } = plan;
      await this.reportOnce(request, (marker) =>
        renderReport(this.config.github.appName, deploy.label, toUpload, notDeployed, marker),
      );
    }

    // Loaded here, not at start-up: the AWS SDK would take tens of MiB of every bot process.
    const { S3Uploader } = await import('./s3-uploader.js');
    const uploader = new S3Uploader({
      endpointUrl: deploy.endpointUrl,
      partSizeBytes: this.options.partSizeBytes,
      maxAttempts: this.options.maxAttempts,
    });
    try {
      for (let index = 0; index < plan.items.length; index++) {
        await this.deployItem(request, deploy, plan, index, uploader);
      }
    } finally {
      uploader.destroy();
    }
    await this.syncComments(request, plan);
    await progress.set(DONE, true);
    this.logger.log(`${tag}: deploy done`);
  }

  private async refuse(request: DeployRequest, deploy: DeployConfig): Promise<void> {
    this.logger.log(
      `${where(request)}: ${JSON.stringify(request.sender)} may not deploy ([deploycfg] deploy_permission): refused`,
    );
    if (!this.poster.allows('basic')) {
      return;
    }
    const marker = deployMarker(request.deliveryId, 'refused', this.config.github.appName);
    // Nothing is written on a refusal, so a resumed one looks for its reply instead.
    const comments = await this.github.listComments(request.repo, request.prNumber);
    if (comments.some((c) => c.byBot === true && c.body.includes(marker))) {
      return;
    }
    await this.poster.post(
      request.repo,
      request.prNumber,
      renderRefusal(deploy.noDeployPermissionComment, request.sender, marker),
      'basic',
      'deploy refusal',
    );
  }

  /** The one reply of a deploy, posted once even across a crash (marker searched on resume). */
  private async reportOnce(request: DeployRequest, render: (marker: string) => string) {
    const { progress } = request;
    const state =
      (await progress.get<{ posting?: boolean; commentId?: number; suppressed?: boolean }>(
        REPORT,
      )) ?? {};
    if (state.commentId || state.suppressed) {
      return;
    }
    if (!this.poster.allows('minimal')) {
      await progress.set(REPORT, { suppressed: true });
      return;
    }
    const marker = deployMarker(request.deliveryId, 'report', this.config.github.appName);
    if (state.posting) {
      const found = (await this.github.listComments(request.repo, request.prNumber)).find(
        (c) => c.byBot === true && c.body.includes(marker),
      );
      if (found) {
        await progress.set(REPORT, { commentId: found.id });
        return;
      }
    } else {
      await progress.set(REPORT, { posting: true });
    }
    const posted = await this.poster.post(
      request.repo,
      request.prNumber,
      render(marker),
      'minimal',
      'deploy report',
    );
    await progress.set(REPORT, posted ? { commentId: posted.id } : { suppressed: true });
  }

  private async plan(request: DeployRequest, deploy: DeployConfig): Promise<StoredPlan> {
    const prDirs = await prDirsOf(this.config.buildenv.jobsBaseDir, request.prNumber);
    const tracked = new Set(await this.store.listSubmittedIds());
    const expected = { repo: request.repo, appName: this.config.github.appName };
    const jobs = new Map<string, PrJob>();
    const candidates: Candidate[] = [];
    const notDeployed: NotDeployedJob[] = [];
    for (const job of await findPrJobs(prDirs)) {
      const meta = await readJobMetadata(this.store, job);
      const verdict = await judgeJob(job, meta, expected, tracked.has(job.jobId));
      if (verdict.kind === 'not-ours') {
        continue;
      }
      if (verdict.kind === 'not-deployed') {
        notDeployed.push({ jobId: job.jobId, reason: verdict.reason });
        continue;
      }
      jobs.set(job.jobId, job);
      for (const name of verdict.artefacts) {
        candidates.push({ jobId: job.jobId, name });
      }
    }
    const uploaded =
      deploy.uploadPolicy === 'once' ? await uploadedPayloads(prDirs) : new Map<string, string>();
    const items = planArtefacts(candidates, deploy.uploadPolicy, uploaded).map((planned) => {
      const job = jobs.get(planned.jobId)!;
      return {
        jobId: job.jobId,
        prDir: job.prDir,
        link: job.link,
        jobDir: job.jobDir,
        name: planned.name,
        ...(planned.skip ? { skip: planned.skip } : {}),
      };
    });
    return { startedAt: Date.now(), items, notDeployed };
  }

  private async deployItem(
    request: DeployRequest,
    deploy: DeployConfig,
    plan: StoredPlan,
    index: number,
    uploader: S3Uploader,
  ): Promise<void> {
    const { progress } = request;
    const key = `deploy.item.${index}`;
    const item = plan.items[index];
    let state = (await progress.get<ItemState>(key)) ?? {};
    if (state.recorded) {
      return;
    }

    if (!state.outcome) {
      let outcome: Outcome;
      if (item.skip) {
        outcome = { uploaded: false, reason: item.skip, skipped: true };
      } else if (state.started && deploy.artefactUploadScript) {
        // The script may or may not have uploaded: running it again could upload twice.
        outcome = {
          uploaded: false,
          reason:
            'the bot was stopped while the upload script ran, so whether it uploaded is unknown; check the bucket before deploying again',
          interrupted: true,
        };
      } else {
        if (state.multipart) {
          const { bucket, key: objectKey, uploadId } = state.multipart;
          await uploader.abortMultipart(bucket, objectKey, uploadId).catch(() => undefined);
        }
        state = { started: true };
        await progress.set(key, state);
        const started = state;
        outcome = await this.upload(request, deploy, item, uploader, (multipart) =>
          progress.set(key, multipart ? { ...started, multipart } : started),
        );
      }
      state = { started: true, outcome };
      await progress.set(key, state);
      // Counted once, when decided: a resume that finds the outcome stored does not count it again.
      this.metrics.uploads.inc(uploadResultOf(outcome));
    }

    const outcome = state.outcome!;
    if (outcome.uploaded) {
      await recordUpload(item.prDir, item.jobId, item.name);
    }
    const rowName = `${plan.startedAt}-${String(index).padStart(4, '0')}`;
    await this.store.addDeployRow(item.jobId, item.jobDir, rowName, {
      kind: 'deploy',
      date: formatRowDate(new Date()),
      status: outcome.uploaded ? 'uploaded' : 'not uploaded',
      comment: outcome.uploaded
        ? uploadedText(item.name, outcome.where, outcome.sizeBytes, outcome.present)
        : notUploadedText(item.name, outcome.reason, outcome.skipped === true),
    });
    await progress.set(key, { ...state, recorded: true });
  }

  /** Uploads one artefact; any failure becomes the `not uploaded` reason. */
  private async upload(
    request: DeployRequest,
    deploy: DeployConfig,
    item: PlanItem,
    uploader: S3Uploader,
    onMultipart: (pending: PendingMultipart | undefined) => Promise<void>,
  ): Promise<Outcome> {
    const tag = `${where(request)} job ${item.jobId} ${JSON.stringify(item.name)}`;
    try {
      const repository = await readJobRepository(item.jobDir);
      const target = uploadTargetFor(deploy, repository.repoId);
      const meta = await readJobMetadata(this.store, item);
      const prCommentId = meta?.commentId ?? -1;
      if (deploy.artefactUploadScript) {
        const info = await lstat(join(item.jobDir, item.name)).catch(() => undefined);
        if (!info?.isFile()) {
          throw new ArtefactError('no such regular file in the job directory');
        }
        const result = await runUploadScript(this.runner, deploy, {
          target,
          artefactPath: join(item.link, item.name),
          jobDir: item.jobDir,
          repoId: repository.repoId,
          repository,
          prCommentId,
          prNumber: request.prNumber,
          repo: request.repo,
          appName: this.config.github.appName,
        });
        if (result.exitCode !== 0) {
          this.logger.warn(
            `${tag}: upload script exited with code ${result.exitCode}: ${result.stderr.trim()}`,
          );
          return {
            uploaded: false,
            reason: `the upload script exited with code ${result.exitCode} (its output is in the bot's log)`,
          };
        }
        this.logger.log(`${tag}: uploaded by ${deploy.artefactUploadScript}`);
        const where = target.bucket === '' ? 'S3' : target.bucket;
        return { uploaded: true, where, sizeBytes: info.size, present: false };
      }
      const result = await uploadBuiltIn(
        uploader,
        this.runner,
        deploy,
        {
          jobId: item.jobId,
          jobDir: item.jobDir,
          name: item.name,
          target,
          vars: { githubRepository: request.repo, pullRequestNumber: request.prNumber },
          repoId: repository.repoId,
          repository,
          prCommentId,
          appName: this.config.github.appName,
        },
        onMultipart,
      );
      this.logger.log(
        `${tag}: ${result.present ? 'already in' : 'uploaded to'} ${result.bucket}/${result.key}`,
      );
      return {
        uploaded: true,
        where: `${result.bucket}/${result.key}`,
        sizeBytes: result.sizeBytes,
        present: result.present,
      };
    } catch (error) {
      const reason = reasonOf(error);
      this.logger.warn(`${tag}: not uploaded: ${reason}`);
      return { uploaded: false, reason };
    }
  }

  /** Every touched job's comment shows its new rows; failures are retried by a resume. */
  private async syncComments(request: DeployRequest, plan: StoredPlan): Promise<void> {
    const failures: string[] = [];
    const seen = new Set<string>();
    for (const item of plan.items) {
      if (seen.has(item.jobId)) {
        continue;
      }
      seen.add(item.jobId);
      const job = { jobId: item.jobId, jobDir: item.jobDir };
      try {
        const meta = await this.store.readMetadata(job.jobId, job.jobDir);
        if (meta) {
          await this.comments.sync(job, meta);
        }
      } catch (error) {
        failures.push(`job ${item.jobId}: ${(error as Error).message}`);
      }
    }
    if (failures.length > 0) {
      throw new Error(
        `${where(request)}: uploads recorded, but job comments not updated: ${failures.join('; ')}`,
      );
    }
  }
}

function where(request: DeployRequest): string {
  return `delivery ${request.deliveryId} ${request.repo}#${request.prNumber}`;
}
