import type { AppConfig } from '../config/app-config.js';
import { codeSpan } from './job-comment.js';

/** The seed bot's texts, kept for seed-format configs. */
export const RELEASED_TEXT = 'job awaits launch by Slurm scheduler';
export const RUNNING_TEXT = 'job is running';

/**
 * The comment cells of the rows the job manager adds while a job is queued. Seed-format configs
 * keep the seed's fixed texts; v0.9-format configs fill `[new_job_comments] awaits_launch` and
 * `[running_job_comments] running_job` (upstream's defaults when app.cfg leaves them out).
 */
export interface JobRowTexts {
  /** hold_release: the bot released the job. */
  released(): string;
  /** delayed_begin: the bot saw the job, which Slurm starts on its own from `eligibleTime`. */
  received(eligibleTime?: string): string;
  running(jobId: string): string;
}

/** Times as squeue prints them (2026-06-02T14:03:20); anything else is left out of the row. */
const PRINTABLE_TIME = /^[0-9A-Za-z:.+\- ]{1,40}$/;

export function jobRowTexts(config: AppConfig): JobRowTexts {
  if (config.generation !== 'v09') {
    return {
      released: () => RELEASED_TEXT,
      received: () => RELEASED_TEXT,
      running: () => RUNNING_TEXT,
    };
  }
  const { awaitsLaunch, runningJob } = config.templates;
  return {
    released: () => fillTemplate(awaitsLaunch, { extra_info: '' }),
    // What upstream v0.9 meant to write for delayed_begin (its extra_info is a plain string with
    // an unbalanced brace, so the placeholder text itself reached the comment).
    received: (eligibleTime) =>
      fillTemplate(awaitsLaunch, {
        extra_info:
          eligibleTime !== undefined && PRINTABLE_TIME.test(eligibleTime)
            ? ` (eligible to start from ${eligibleTime})`
            : '',
      }),
    running: (jobId) => fillTemplate(runningJob, { job_id: jobId }),
  };
}

/**
 * Placeholders filled by name, never evaluated: `{name}` → value, `{{`/`}}` → braces; a
 * placeholder wrapped in backticks becomes a code span that survives backticks in the value.
 * (loadConfig has rejected templates with unknown placeholders before the bot starts.)
 */
export function fillTemplate(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(
    /`\{(\w+)\}`|\{\{|\}\}|\{(\w+)\}/g,
    (whole, quoted?: string, plain?: string) => {
      if (whole === '{{') {
        return '{';
      }
      if (whole === '}}') {
        return '}';
      }
      const name = quoted ?? plain ?? '';
      if (!Object.hasOwn(values, name)) {
        return whole;
      }
      return quoted !== undefined ? codeSpan(values[name]) : values[name];
    },
  );
}
