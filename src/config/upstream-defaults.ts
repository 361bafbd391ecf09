import type { BotControlConfig, CleanUpConfig, CommentTemplates } from './app-config.js';

/**
 * Texts of upstream v0.9's app.cfg.example, used where an operator's file leaves a section or key
 * out, so that comments read the same as under the bot they ran before.
 */
export const DEFAULT_TEMPLATES: CommentTemplates = {
  submittedJob: {
    newJobInstanceRepo: 'New job on instance `{app_name}` for repository `{repo_id}`',
    buildOnArch: 'Building on: `{on_arch}`{on_accelerator}',
    buildForArch: 'Building for: `{for_arch}`{for_accelerator}',
    jobdir: 'Job dir: `{symlink}`',
    withAccelerator: '&nbsp;and accelerator `{accelerator}`',
    awaitsReleaseHoldReleaseMsg: 'job id `{job_id}` awaits release by job manager',
    awaitsReleaseDelayedBeginMsg:
      'job id `{job_id}` will be eligible to start in about {delay_seconds} seconds',
  },
  awaitsLaunch: 'job awaits launch by Slurm scheduler{extra_info}',
  runningJob: 'job `{job_id}` is running',
  jobResultUnknownFmt:
    '<details><summary>:shrug: UNKNOWN _(click triangle for detailed information)_</summary><ul><li>Job results file `{filename}` does not exist in job directory, or parsing it failed.</li><li>No artefacts were found/reported.</li></ul></details>',
  jobTestUnknownFmt:
    '<details><summary>:shrug: UNKNOWN _(click triangle for detailed information)_</summary><ul><li>Job test file `{filename}` does not exist in job directory, or parsing it failed.</li></ul></details>',
  downloadPr: {
    git_clone_failure: 'Unable to clone the target repository.',
    git_clone_tip:
      '_Tip: This could be a connection failure. Try again and if the issue remains check if the address is correct_.',
    git_checkout_failure: 'Unable to checkout to the correct branch.',
    git_checkout_tip:
      '_Tip: Ensure that the branch name is correct and the target branch is available._',
    curl_failure: 'Unable to download the `.diff` file.',
    curl_tip:
      '_Tip: This could be a connection failure. Try again and if the issue remains check if the address is correct_',
    git_apply_failure:
      'Unable to download or merge changes between the source branch and the destination branch.',
    git_apply_tip:
      '_Tip: This can usually be resolved by syncing your branch and resolving any merge conflicts._',
    pr_diff_failure: 'Unable to obtain PR diff.',
    pr_diff_tip: '_Tip: This could be a problem with SSH access to the repository._',
  },
};

export const DEFAULT_COMMAND_RESPONSE_FMT = [
  '<details><summary>Updates by the bot instance <code>{app_name}</code>',
  '<em>(click for details)</em></summary>',
  '',
  '{comment_response}',
  '{comment_result}',
  '</details>',
].join('\n');

export const DEFAULT_BOT_CONTROL: BotControlConfig = {
  commandPermission: [],
  commandResponseFmt: DEFAULT_COMMAND_RESPONSE_FMT,
  chatlevel: 'basic',
};

export const DEFAULT_CLEAN_UP: CleanUpConfig = {
  movedJobDirsComment: 'PR merged! Moved `{job_dirs}` to `{trash_bin_dir}`',
  cancelOnClose: true,
};
