/*
 * The ids the bot takes from outside and uses in paths, file names and log lines, each declared
 * once. Checked wherever they enter: a value that passes is safe as one path component.
 */

/**
 * Characters and length of a delivery id: GitHub's X-GitHub-Delivery (a UUID) and the bot's own
 * (`simulate-<ms>`). It names a directory (`event_<id>`) and a field of the inbox's files.
 */
export const DELIVERY_ID_CHARS = '[A-Za-z0-9-]{1,100}';
export const DELIVERY_ID_PATTERN = new RegExp(`^${DELIVERY_ID_CHARS}$`);

/**
 * A Slurm job id: plain, or `<array id>_<task id>` for one task of an array job. It names files
 * (`job_ids_dir/submitted/<ID>`, `_bot_job<ID>.metadata`).
 */
export const JOB_ID_PATTERN = /^\d+(?:_\d+)?$/;

/** A GitHub id or number (comment id, PR number, installation id) as JSON carries it. */
export function isGitHubId(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

/**
 * A GitHub id or number as a text file holds it (`pr_comment_id = 123`): digits only, so that an
 * empty value, ` 1e3` or a bare key never reads as #0, #1000 or #1. Undefined otherwise.
 */
export function parseGitHubId(text: unknown): number | undefined {
  if (typeof text !== 'string' || !/^\d+$/.test(text)) {
    return undefined;
  }
  const value = Number(text);
  return isGitHubId(value) ? value : undefined;
}
