import type { Logger } from '@nestjs/common';
import { basename, dirname, join } from 'node:path';
import type { AppConfig } from '../config/app-config.js';
import type { CommandRunner } from '../slurm/command-runner.js';
import { splitWords } from '../slurm/split-words.js';
import { monthDirName, type PullRequestContext } from './build-plan.js';
import { joinAccelerators } from './build-request.js';
import type { JobSpec } from './build-runner.js';
import { runDetSubmitOpts } from './det-submit-opts.js';
import type { PlannedBuild } from './event-progress.js';
import { awaitsReleaseMessage } from './job-comment.js';
import { writeV09JobFiles } from './job-config.js';
import type { JobBuildInfo, JobMetadata } from './job-store.js';
import type { PlannedJob } from './node-type-plan.js';
import { buildV09SubmitRequest, delaySeconds, filterSubmitOptions } from './submit-options.js';

/** How logs, failure comments and command replies name a v0.9 job. */
function describePlannedJob(job: PlannedJob): string {
  const accel = (a: readonly string[]) => (a.length > 0 ? `,accel=${joinAccelerators(a)}` : '');
  return `${job.repoId} for:arch=${job.forArch}${accel(job.forAccel)} on ${job.nodeType} (${job.onArch}${job.onAccel.length > 0 ? `, ${joinAccelerators(job.onAccel)}` : ''})`;
}

export function jobBuildInfo(job: PlannedJob): JobBuildInfo {
  return {
    nodeType: job.nodeType,
    forArch: job.forArch,
    forAccel: job.forAccel,
    onArch: job.onArch,
    onAccel: job.onAccel,
    repoId: job.repoId,
  };
}

export interface V09JobsInput {
  readonly config: AppConfig;
  readonly ctx: PullRequestContext;
  readonly build: PlannedBuild;
  /** `…/pr_<N>/event_<id>/run_NNN` */
  readonly runDir: string;
  readonly runner: CommandRunner;
  readonly logger: Logger;
}

/** The jobs of a planned v0.9 build request: where each goes, its files, its submission. */
export function v09JobSpecs(input: V09JobsInput): JobSpec[] {
  const { config, ctx, build, runDir } = input;
  const prDir = dirname(dirname(runDir));
  return build.jobs.map((job) => {
    const dir = join(runDir, job.subdir);
    const info = jobBuildInfo(job);
    const metadata: JobMetadata = {
      repo: ctx.repo,
      prNumber: ctx.prNumber,
      target: `${job.os}/${job.forArch}`,
      appName: config.github.appName,
      jobName: config.buildenv.jobName,
      deliveryId: ctx.deliveryId,
      requester: build.requester,
      build: info,
    };
    return {
      key: job.key,
      label: describePlannedJob(job),
      dir,
      metadata,
      prepare: () =>
        writeV09JobFiles(
          {
            buildenv: config.buildenv,
            jobDir: dir,
            reposCfgDir: config.repoTargets.reposCfgDir,
            repoId: job.repoId,
            repo: config.repoTargets.repos[job.repoId],
            nodeType: job.nodeType,
            softwareSubdir: job.forArch,
            osType: job.os,
            accelerator: joinAccelerators(job.forAccel),
          },
          build.exportVars,
        ),
      submitRequest: async (script) =>
        buildV09SubmitRequest({
          buildenv: config.buildenv,
          pollIntervalSeconds: config.jobManager.pollIntervalSeconds,
          nodeType: job.nodeType,
          nodeSlurmParams: job.slurmParams,
          extraOptions: await detSubmitOptions(input, job, dir),
          jobDir: dir,
          script,
        }),
      submittedRow: (jobId) =>
        awaitsReleaseMessage(config.templates.submittedJob, config.buildenv.jobHandoverProtocol, {
          appName: config.github.appName,
          jobId,
          build: info,
          symlink: join(prDir, jobId),
          delaySeconds: delaySeconds(config.buildenv, config.jobManager.pollIntervalSeconds),
        }),
    };
  });
}

/**
 * `allow_update_submit_opts = true`: the allow-listed options of the PR's det_submit_opts, each
 * refused word logged. Its failure is the PR's and only costs the update: the job is submitted
 * with the configured options.
 */
async function detSubmitOptions(
  input: V09JobsInput,
  job: PlannedJob,
  jobDir: string,
): Promise<string[]> {
  if (!input.config.buildenv.allowUpdateSubmitOpts) {
    return [];
  }
  const tag = `delivery ${input.ctx.deliveryId} ${describePlannedJob(job)}: det_submit_opts`;
  const outcome = await runDetSubmitOpts(input.runner, {
    working_dir: jobDir,
    arch_target: job.onArch,
    repo_id: job.repoId,
    slurm_opts: job.slurmParams,
    year_month: monthDirName(input.ctx.receivedAt),
    pr_id: basename(dirname(dirname(input.runDir))),
    accelerator: job.onAccel.length > 0 ? joinAccelerators(job.onAccel) : null,
  });
  if (outcome.kind === 'absent') {
    return [];
  }
  if (outcome.kind === 'failed') {
    input.logger.warn(`${tag} ${outcome.reason}; submitting with the configured options`);
    return [];
  }
  let filtered;
  try {
    filtered = filterSubmitOptions(outcome.options, splitWords(job.slurmParams));
  } catch (error) {
    input.logger.warn(`${tag} answer cannot be split: ${(error as Error).message}; ignored`);
    return [];
  }
  for (const word of filtered.rejected) {
    input.logger.warn(`${tag} option ${JSON.stringify(word)} refused (not on the allow-list)`);
  }
  if (filtered.accepted.length > 0) {
    input.logger.log(`${tag} adds ${filtered.accepted.join(' ')}`);
  }
  return [...filtered.accepted];
}
