import { Logger } from '@nestjs/common';
import { join } from 'node:path';
import type { CommentTemplates } from '../config/app-config.js';
import type { JobEndInfo } from '../slurm/slurm.port.js';
import { codeSpan } from './job-comment.js';
import { fillTemplate } from './job-row-texts.js';
import {
  EMOJI,
  gibibytes,
  type JobResult,
  MAX_DESCRIPTION_CHARS,
  normaliseState,
  readJobFileSection,
  sanitise,
  scanOutput,
  statusAndArtefacts,
  TERMINAL_FAILURES,
} from './result-analyzer.js';

/**
 * Judges a finished job of the v0.9 protocol (scripts/slurm/bot-build.slurm), as upstream's job
 * manager does: the `finished` row is `_bot_job<ID>.result` `[RESULT] comment_description`, the
 * `test result` row `_bot_job<ID>.test` `[TEST] comment_description`; a file that is missing,
 * unreadable or lacks its section gives `job_result_unknown_fmt` / `job_test_unknown_fmt`. One
 * addition: a job without result file that Slurm (or slurmstepd in its output) says was
 * cancelled, timed out or ran out of memory is reported as such, as for seed-format jobs.
 * Everything read from the job dir was produced by the PR's build and is treated as hostile.
 */
export class ResultFilesAnalyzer {
  private readonly logger = new Logger(ResultFilesAnalyzer.name);

  constructor(
    private readonly templates: Pick<CommentTemplates, 'jobResultUnknownFmt' | 'jobTestUnknownFmt'>,
  ) {}

  async analyze(
    jobId: string,
    jobDir: string,
    endInfo?: JobEndInfo,
    lastSeenState?: string,
  ): Promise<JobResult> {
    const fileName = `_bot_job${jobId}.result`;
    const read = await readJobFileSection(join(jobDir, fileName), 'RESULT');
    const unknown = sanitise(
      fillTemplate(this.templates.jobResultUnknownFmt, { filename: fileName }),
      MAX_DESCRIPTION_CHARS,
    );
    if ('entries' in read) {
      if (read.errors.length > 0) {
        this.logger.warn(`job ${jobId}: ${read.errors.join('; ')}`);
      }
      const value = (key: string) => read.entries.get(key)?.value;
      const { status, artefacts } = await statusAndArtefacts(read.entries, jobDir);
      for (const artefact of artefacts.filter((a) => a.sizeBytes === undefined)) {
        this.logger.warn(
          `job ${jobId}: artefact ${JSON.stringify(artefact.name)} named in ${fileName} is not a file in ${jobDir}`,
        );
      }
      const description = value('comment_description');
      return {
        status,
        summary: description === undefined ? unknown : sanitise(description, MAX_DESCRIPTION_CHARS),
        details: [
          `result file ${codeSpan(fileName)}: ${status}`,
          ...artefacts.map((a) => `artefact ${codeSpan(a.name)} (${gibibytes(a.sizeBytes)} GiB)`),
        ],
        artefacts,
        source: 'result-file',
        slurmState: normaliseState(endInfo?.state),
      };
    }
    if (!read.missing) {
      this.logger.warn(`job ${jobId}: ${read.problem}`);
    }

    const output = await scanOutput(join(jobDir, `slurm-${jobId}.out`), jobId);
    const slurmState = normaliseState(endInfo?.state) ?? output.markerState;
    const base = { artefacts: [], source: 'job-output' as const, slurmState };
    if (slurmState === 'CANCELLED') {
      const when = !output.exists && lastSeenState !== 'RUNNING' ? ' before it started' : '';
      const text = `job was cancelled${when}`;
      return {
        ...base,
        status: 'CANCELLED',
        summary: `${EMOJI.CANCELLED} CANCELLED ${text} (Slurm state CANCELLED)`,
        details: [text],
      };
    }
    // FAILED only says the job script exited non-zero: its result file tells more, or nothing.
    const interrupted =
      slurmState && slurmState !== 'FAILED' ? TERMINAL_FAILURES[slurmState] : undefined;
    if (interrupted) {
      const exit = endInfo?.exitCode ? `, exit code ${codeSpan(endInfo.exitCode)}` : '';
      const text = `${interrupted} (Slurm state ${slurmState}${exit})`;
      return {
        ...base,
        status: 'FAILURE',
        summary: `${EMOJI.FAILURE} FAILURE ${text}`,
        details: [text],
      };
    }
    return { ...base, status: 'UNKNOWN', summary: unknown, details: [read.problem] };
  }

  /** The `test result` row's comment cell. */
  async testComment(jobId: string, jobDir: string): Promise<string> {
    const fileName = `_bot_job${jobId}.test`;
    const read = await readJobFileSection(join(jobDir, fileName), 'TEST');
    if ('entries' in read) {
      const description = read.entries.get('comment_description')?.value;
      if (description !== undefined) {
        return sanitise(description, MAX_DESCRIPTION_CHARS);
      }
    } else if (!read.missing) {
      this.logger.warn(`job ${jobId}: ${read.problem}`);
    }
    return sanitise(
      fillTemplate(this.templates.jobTestUnknownFmt, { filename: fileName }),
      MAX_DESCRIPTION_CHARS,
    );
  }
}
