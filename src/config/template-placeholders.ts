/**
 * The placeholders each comment template of app.cfg may use, by section and key: the values the
 * code that posts the comment passes to fillTemplate() (src/common/fill-template.ts). A template
 * naming any other placeholder is a config error at start-up. These are the names upstream v0.9
 * formats each text with, so operators' templates keep working.
 */

/**
 * Upstream formats the first lines of a submitted-job comment (and its first table row) as one
 * text, so each of them may use any of these. `delay_seconds` is only meaningful with
 * `job_handover_protocol = delayed_begin`; `on_accelerator`/`for_accelerator` are empty or
 * `with_accelerator` filled in.
 */
const SUBMITTED_JOB = [
  'app_name',
  'repo_id',
  'on_arch',
  'for_arch',
  'on_accelerator',
  'for_accelerator',
  'symlink',
  'job_id',
  'delay_seconds',
] as const;

export const TEMPLATE_PLACEHOLDERS = {
  bot_control: {
    command_response_fmt: ['app_name', 'comment_response', 'comment_result'],
  },
  buildenv: {
    // build_permission_users: the allowed logins (this bot's addition; upstream has only the first).
    no_build_permission_comment: ['build_labeler', 'build_permission_users'],
  },
  submitted_job_comments: {
    new_job_instance_repo: SUBMITTED_JOB,
    build_on_arch: SUBMITTED_JOB,
    build_for_arch: SUBMITTED_JOB,
    jobdir: SUBMITTED_JOB,
    awaits_release_hold_release_msg: SUBMITTED_JOB,
    awaits_release_delayed_begin_msg: SUBMITTED_JOB,
    with_accelerator: ['accelerator'],
  },
  new_job_comments: {
    awaits_launch: ['extra_info'],
  },
  running_job_comments: {
    running_job: ['job_id'],
  },
  finished_job_comments: {
    job_result_unknown_fmt: ['filename'],
    job_test_unknown_fmt: ['filename'],
  },
  clean_up: {
    moved_job_dirs_comment: ['job_dirs', 'trash_bin_dir'],
  },
} as const satisfies Readonly<Record<string, Readonly<Record<string, readonly string[]>>>>;

/** `%(name)s` fields `[job_manager] scontrol_command` may use: columns of the job's squeue row. */
export const SCONTROL_PLACEHOLDERS = ['jobid', 'cluster', 'partition', 'state', 'reason'] as const;

/**
 * The keys of `[download_pr_comments]`. Upstream posts these texts as they are (never formatted),
 * so braces in them are literal and they have no placeholders.
 */
export const DOWNLOAD_PR_COMMENT_KEYS = [
  'git_clone_failure',
  'git_clone_tip',
  'git_checkout_failure',
  'git_checkout_tip',
  'curl_failure',
  'curl_tip',
  'git_apply_failure',
  'git_apply_tip',
  'pr_diff_failure',
  'pr_diff_tip',
] as const;
