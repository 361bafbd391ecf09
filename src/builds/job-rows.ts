import { Logger } from '@nestjs/common';
import { stat } from 'node:fs/promises';
import type { AppConfig } from '../config/app-config.js';
import type { JobEndInfo, QueuedJob, SlurmPort } from '../slurm/slurm.port.js';
import { formatRowDate } from './job-comment.js';
import { jobRowTexts, type JobRowTexts } from './job-row-texts.js';
import { JobStore, type JobMetadata, type RowKind, type TrackedJob } from './job-store.js';
import { ResultAnalyzer, type JobResult } from './result-analyzer.js';
import { ResultFilesAnalyzer } from './result-files.js';

/** A held job whose comment is still missing this long after it was recorded is released anyway. */
export const RELEASE_WITHOUT_COMMENT_AFTER_MS = 60_000;

/** Queue states in which the job script runs (COMPLETING: it just ended, epilog still running). */
export const RUNNING_STATES: ReadonlySet<string> = new Set(['RUNNING', 'COMPLETING']);

/** The parts of a tick's report the row decisions add to. */
export interface RowReport {
  readonly released: string[];
  readonly received: string[];
  readonly running: string[];
  readonly waiting: string[];
}

/**
 * Which status rows a tracked job gets, from what the queue says about it (the job manager's
 * decisions, apart from polling and publishing): releases held jobs (hold_release) or only notes
 * them (delayed_begin), marks them running, and judges them when they have left the queue (the
 * seed rules, or the v0.9 job's .result/.test files). Each row is written once, on disk.
 */
export class JobRows {
  // The operator reads these as the job manager's own lines.
  private readonly logger = new Logger('JobManagerService');
  private readonly analyzer = new ResultAnalyzer();
  /** v0.9-format configs: the job's .result/.test files decide (scripts/slurm/bot-build.slurm). */
  private readonly resultFiles?: ResultFilesAnalyzer;
  private readonly texts: JobRowTexts;
  /** delayed_begin: Slurm starts jobs on its own, the bot never releases one. */
  readonly releasesJobs: boolean;
  /**
   * Each tracked job's last squeue row: scontrol_command may need its cluster (multi-cluster
   * sites) once the job has left the queue. In memory only; after a restart a job that already
   * left is judged without scontrol if the command needs such a field.
   */
  private readonly lastSeen = new Map<string, QueuedJob>();

  constructor(
    config: AppConfig,
    private readonly slurm: SlurmPort,
    private readonly store: JobStore,
  ) {
    this.texts = jobRowTexts(config);
    this.releasesJobs = config.buildenv.jobHandoverProtocol !== 'delayed_begin';
    if (config.generation === 'v09') {
      this.resultFiles = new ResultFilesAnalyzer(config.templates);
    }
  }

  /** The job's row in this poll's queue listing. */
  saw(queued: QueuedJob): void {
    this.lastSeen.set(queued.id, queued);
  }

  /** The job is no longer tracked. */
  forget(jobId: string): void {
    this.lastSeen.delete(jobId);
  }

  async followQueued(
    job: TrackedJob,
    meta: JobMetadata,
    queued: QueuedJob,
    rows: ReadonlySet<RowKind>,
    where: string,
    report: RowReport,
  ): Promise<void> {
    if (!this.releasesJobs) {
      return this.followDelayedBegin(job, queued, rows, where, report);
    }
    if (queued.held && !meta.commentId && (await this.commentMayStillCome(job))) {
      // The event handler posts the comment right after recording the job: wait for it, so the
      // PR shows the job before it starts. Not for ever: GitHub being down must not stop builds.
      this.logger.log(`${where}: held until its PR comment exists`);
      report.waiting.push(job.jobId);
    } else if (queued.held) {
      await this.slurm.release(job.jobId, queued);
      this.logger.log(`${where}: released (was held, reason ${queued.reason})`);
      report.released.push(job.jobId);
      // The row only after the release worked, so the comment never claims what did not happen.
      if (!rows.has('released')) {
        await this.addRow(job, 'released', this.texts.released());
      }
    } else if (RUNNING_STATES.has(queued.state)) {
      await this.addRunningRow(job, rows, where, report);
    } else if (queued.state === 'PENDING' && !rows.has('released')) {
      // Pending and no longer held: released, but a crash may have come before the row.
      await this.addRow(job, 'released', this.texts.released());
    }
  }

  /**
   * job_handover_protocol = delayed_begin: the job was submitted with --begin and Slurm starts it
   * by itself; the bot only reports that it saw the job (`received`) and when it runs.
   */
  private async followDelayedBegin(
    job: TrackedJob,
    queued: QueuedJob,
    rows: ReadonlySet<RowKind>,
    where: string,
    report: RowReport,
  ): Promise<void> {
    if (!rows.has('received')) {
      if (await this.addRow(job, 'received', this.texts.received(queued.eligibleTime))) {
        const from = queued.eligibleTime ? `, eligible from ${queued.eligibleTime}` : '';
        this.logger.log(`${where}: received (${queued.state}, reason ${queued.reason}${from})`);
        report.received.push(job.jobId);
      }
    }
    if (queued.held) {
      this.logger.log(
        `${where}: held (${queued.reason}) by someone else; with job_handover_protocol = delayed_begin the bot never releases jobs`,
      );
    } else if (RUNNING_STATES.has(queued.state)) {
      await this.addRunningRow(job, rows, where, report);
    }
  }

  private async addRunningRow(
    job: TrackedJob,
    rows: ReadonlySet<RowKind>,
    where: string,
    report: RowReport,
  ): Promise<void> {
    if (
      !rows.has('running') &&
      (await this.addRow(job, 'running', this.texts.running(job.jobId)))
    ) {
      this.logger.log(`${where}: running`);
      report.running.push(job.jobId);
    }
  }

  private async commentMayStillCome(job: TrackedJob): Promise<boolean> {
    try {
      const recorded = (await stat(JobStore.metadataPath(job.jobDir, job.jobId))).mtimeMs;
      return Date.now() - recorded < RELEASE_WITHOUT_COMMENT_AFTER_MS;
    } catch {
      return false;
    }
  }

  async recordEnd(
    job: TrackedJob,
    queued: QueuedJob | undefined,
    rows: ReadonlySet<RowKind>,
    where: string,
  ): Promise<void> {
    // Analysed once: a retried tick (GitHub down) reposts the recorded row, it does not re-judge.
    if (!rows.has('finished')) {
      const endInfo = queued ? { state: queued.state } : await this.endState(job.jobId, where);
      const lastSeen = rows.has('running') ? 'RUNNING' : 'PENDING';
      const analyzer = this.resultFiles ?? this.analyzer;
      const result = await analyzer.analyze(job.jobId, job.jobDir, endInfo, lastSeen);
      await this.addRow(job, 'finished', result.summary);
      this.logger.log(`${where}: finished: ${describe(result)}`);
    }
    // v0.9: the test suite's row, after the finished row, as upstream posts them together.
    if (this.resultFiles && !rows.has('test')) {
      await this.addRow(job, 'test', await this.resultFiles.testComment(job.jobId, job.jobDir));
    }
  }

  private async endState(jobId: string, where: string): Promise<JobEndInfo | undefined> {
    try {
      return await this.slurm.endState(jobId, this.lastSeen.get(jobId));
    } catch (error) {
      // Accounting is optional on many clusters; the job output still tells most of the story.
      this.logger.warn(
        `${where}: cannot get Slurm's end state (${message(error)}); judging by the job dir`,
      );
      return undefined;
    }
  }

  private addRow(job: TrackedJob, kind: RowKind, comment: string): Promise<boolean> {
    return this.store.addRow(job.jobId, job.jobDir, {
      kind,
      date: formatRowDate(new Date()),
      // Upstream's status cell for the test row.
      status: kind === 'test' ? 'test result' : kind,
      comment,
    });
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function describe(result: JobResult): string {
  const state = result.slurmState ? ` (Slurm ${result.slurmState})` : '';
  const details = result.details.length > 0 ? `: ${result.details.join('; ')}` : '';
  return `${result.status}${state}${details}`;
}
