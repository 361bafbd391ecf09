import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  InvalidDeliveryError,
  pullRequestContext,
  type PullRequestContext,
} from '../builds/build-plan.js';
import { joinAccelerators } from '../builds/build-request.js';
import { BuildsService, type BuildOutcome, type JobOutcome } from '../builds/builds.service.js';
import { codeSpan } from '../builds/job-comment.js';
import { JobCommentsService } from '../builds/job-comments.service.js';
import { JobStore } from '../builds/job-store.js';
import { describeNodeTypes } from '../builds/node-type-plan.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { DeployService } from '../deploy/deploy.service.js';
import type { DeliveryProgress } from '../common/delivery-progress.js';
import { GitHubClient, type PullRequestInfo } from '../github/github.client.js';
import type { SlurmPort } from '../slurm/slurm.port.js';
import { SLURM } from '../slurm/slurm.tokens.js';
import { cancelJobs } from './cancel-jobs.js';
import type { ParsedCommand } from './command-grammar.js';
import type { CommentEvent } from './comment-event.js';
import { matchesAll } from './filters.js';
import { renderHelp, renderShowConfig } from './instance-texts.js';
import { collectJobStatus, filterJobs, lastBuilds, renderStatusTable } from './pr-status.js';

/** What a command runs with: its delivery, its own slice of the delivery's progress, its place. */
export interface CommandContext {
  readonly event: CommentEvent;
  /** Keys of this command only (the deploy keeps its state here). */
  readonly progress: DeliveryProgress;
  /** Position of this command among the comment's build commands (its build request index). */
  readonly buildIndex: number;
  /** The PR as GitHub has it, read once per delivery and kept in its progress. */
  pullRequest(): Promise<PullRequestContext>;
  readonly tag: string;
}

/**
 * Runs one parsed command and returns its outcome as reply text (first line after the command,
 * further lines beneath it). Throws only when the outcome is not known (GitHub or the scheduler
 * unreachable): running the delivery again completes it.
 */
@Injectable()
export class CommandHandlers {
  private readonly logger = new Logger(CommandHandlers.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly github: GitHubClient,
    private readonly builds: BuildsService,
    private readonly deploy: DeployService,
    private readonly store: JobStore,
    private readonly jobComments: JobCommentsService,
    @Inject(SLURM) private readonly slurm: SlurmPort,
  ) {}

  async run(command: ParsedCommand, ctx: CommandContext): Promise<string> {
    switch (command.kind) {
      case 'help':
        return `\n${renderHelp(this.config)}`;
      case 'show_config':
        return `\n${renderShowConfig(this.config, command.filters)}`;
      case 'build':
        return this.build(command, ctx);
      case 'status':
        return this.status(command, ctx);
      case 'cancel': {
        const lines = await cancelJobs(
          { config: this.config, store: this.store, slurm: this.slurm, comments: this.jobComments },
          {
            repo: ctx.event.repo,
            prNumber: ctx.event.prNumber,
            sender: ctx.event.sender,
            tag: ctx.tag,
          },
          command.jobIds,
        );
        return ['', ...lines.map((line) => `- ${line}`)].join('\n');
      }
      case 'deploy':
        return this.deployCommand(ctx);
      case 'unknown':
        return command.name === ''
          ? `no command after \`bot:\`; ${codeSpan('bot: help')} lists the commands`
          : `${codeSpan(command.name)} is not a command; ${codeSpan('bot: help')} lists the commands`;
      case 'invalid':
        return `not understood: ${command.problem}`;
    }
  }

  private async build(
    command: Extract<ParsedCommand, { kind: 'build' }>,
    ctx: CommandContext,
  ): Promise<string> {
    let pr: PullRequestContext;
    try {
      pr = await ctx.pullRequest();
    } catch (error) {
      if (!(error instanceof InvalidDeliveryError)) {
        throw error;
      }
      this.logger.warn(`${ctx.tag}: build: ${error.message}`);
      return 'no job started: GitHub describes this pull request in a way the bot cannot build (see the bot’s log)';
    }
    const outcome = await this.builds.handleBuildRequest(
      { ...pr, requestIndex: ctx.buildIndex },
      {
        for: command.for,
        on: command.on,
        exportVars: command.exportVars,
        requester: ctx.event.sender,
        accept: (job) =>
          matchesAll(command.filters, {
            architecture: job.architecture,
            accelerator: job.accelerator,
            repository: job.repository,
            instance: job.instance,
          }),
        acceleratorFilter: command.filters.some((f) => f.component === 'accelerator'),
        filterText: command.filters.map((f) => f.token).join(' ') || undefined,
      },
    );
    return renderBuildOutcome(outcome, ctx.event.prUrl);
  }

  private async status(
    command: Extract<ParsedCommand, { kind: 'status' }>,
    ctx: CommandContext,
  ): Promise<string> {
    const { event } = ctx;
    const comments = await this.github.listComments(event.repo, event.prNumber);
    const all = await collectJobStatus({
      store: this.store,
      jobsBaseDir: this.config.buildenv.jobsBaseDir,
      repo: event.repo,
      prNumber: event.prNumber,
      appName: this.config.github.appName,
      prUrl: event.prUrl,
      comments,
      templates: this.config.templates.submittedJob,
    });
    const selected = filterJobs(all, command.filters);
    const jobs = command.lastBuild ? lastBuilds(selected) : selected;
    const app = codeSpan(this.config.github.appName);
    if (jobs.length === 0) {
      return all.length === 0
        ? `no job of instance ${app} on this pull request`
        : `none of the ${all.length} job(s) of instance ${app} on this pull request is selected`;
    }
    const what = command.lastBuild ? 'newest job per architecture and repository' : 'job(s)';
    return `${jobs.length} ${what} of instance ${app} on this pull request:\n\n${renderStatusTable(jobs)}\n`;
  }

  private async deployCommand(ctx: CommandContext): Promise<string> {
    const { event } = ctx;
    if (!this.config.deploy) {
      return 'this instance does not deploy (no `[deploycfg]`)';
    }
    if (!this.deploy.mayDeploy(event.sender)) {
      return `account ${codeSpan(event.sender)} has no permission to deploy on this instance`;
    }
    await this.deploy.deployPullRequest({
      deliveryId: event.deliveryId,
      repo: event.repo,
      prNumber: event.prNumber,
      sender: event.sender,
      progress: ctx.progress,
    });
    return 'deployed: each upload is recorded in its job comment';
  }
}

/**
 * The PR context a build needs, from the comment's delivery and the PR read through the API
 * (an issue_comment payload names neither the base branch nor the head).
 */
export async function fetchPullRequest(
  github: GitHubClient,
  event: CommentEvent,
  progress: DeliveryProgress,
): Promise<PullRequestContext> {
  // Read once: a resumed delivery builds the PR as it was when the command was first handled.
  let pr = await progress.get<PullRequestInfo>('pull_request');
  if (!pr) {
    pr = await github.getPullRequest(event.repo, event.prNumber);
    await progress.set('pull_request', pr);
  }
  return pullRequestContext({
    deliveryId: event.deliveryId,
    receivedAt: event.receivedAt,
    sender: event.sender,
    repository: event.payload.repository,
    pullRequest: pr,
  });
}

function renderBuildOutcome(outcome: BuildOutcome, prUrl: string): string {
  const submitted = outcome.jobs.filter((job) => job.jobId);
  const lines: string[] = [];
  if (outcome.problem) {
    lines.push(`no job started: ${outcome.problem}`);
    if (outcome.closest.length > 0) {
      lines.push(`- closest node types: ${describeNodeTypes(outcome.closest)}`);
    }
  } else {
    lines.push(
      submitted.length === 1 ? 'submitted one job:' : `submitted ${submitted.length} jobs:`,
    );
  }
  for (const job of outcome.jobs) {
    lines.push(`- ${describeJob(job, prUrl)}`);
  }
  return lines.join('\n');
}

function describeJob(job: JobOutcome, prUrl: string): string {
  const arch = (a: string, accel: readonly string[]) =>
    codeSpan(accel.length > 0 ? `${a},accel=${joinAccelerators(accel)}` : a);
  const what =
    `on ${codeSpan(job.instance)}, node type ${codeSpan(job.nodeType)}, for ${arch(job.forArch, job.forAccel)}, ` +
    `on ${arch(job.onArch, job.onAccel)}, repository ${codeSpan(job.repoId)}`;
  if (!job.jobId) {
    return `no job ${what}: ${job.reason ?? 'not submitted'}`;
  }
  const id = job.commentId
    ? `[${codeSpan(job.jobId)}](${prUrl}#issuecomment-${job.commentId})`
    : codeSpan(job.jobId);
  return `job ${id} ${what}`;
}
