import {
  CHAT_LEVELS,
  type BotControlConfig,
  type CleanUpConfig,
  type CommentTemplates,
  type ConfigGeneration,
} from './app-config.js';
import type { ConfigReadContext, ConfigSectionReader } from './config-section.reader.js';
import { DOWNLOAD_PR_COMMENT_KEYS, TEMPLATE_PLACEHOLDERS } from './template-placeholders.js';
import {
  DEFAULT_BOT_CONTROL,
  DEFAULT_CLEAN_UP,
  DEFAULT_COMMAND_RESPONSE_FMT,
  DEFAULT_TEMPLATES,
} from './upstream-defaults.js';

/**
 * Reads the texts the bot posts ([bot_control], the *_job_comments sections,
 * [download_pr_comments], [clean_up]). A key left out or empty takes upstream v0.9's text, so
 * comments read as they did under the upstream bot.
 */

export function readBotControl(
  section: ConfigSectionReader,
  generation: ConfigGeneration,
): BotControlConfig {
  const commandPermission = section.logins(
    'command_permission',
    generation === 'v09' ? 'send commands (bot: …) to this instance' : undefined,
  );
  const bots = commandPermission.filter((login) => login.endsWith('[bot]'));
  if (bots.length > 0) {
    section.warn(
      'command_permission',
      section.get('command_permission'),
      `${bots.join(', ')}: comments by [bot] accounts are never read as commands (that would let bot instances loop)`,
    );
  }

  const allowed = TEMPLATE_PLACEHOLDERS.bot_control.command_response_fmt;
  const commandResponseFmt = section.template(
    'command_response_fmt',
    allowed,
    DEFAULT_COMMAND_RESPONSE_FMT,
  );
  const missing = ['comment_response', 'comment_result'].filter(
    (name) => !commandResponseFmt.includes(`{${name}}`),
  );
  if (missing.length > 0) {
    section.warn(
      'command_response_fmt',
      section.get('command_response_fmt'),
      `does not use ${missing.map((name) => `{${name}}`).join(' or ')}: replies will not show what the bot understood or did`,
    );
  }

  return {
    commandPermission,
    commandResponseFmt,
    chatlevel:
      section.choice(
        'chatlevel',
        CHAT_LEVELS,
        'how much the bot comments',
        DEFAULT_BOT_CONTROL.chatlevel,
      ) ?? DEFAULT_BOT_CONTROL.chatlevel,
  };
}

export function readTemplates(
  context: ConfigReadContext,
  generation: ConfigGeneration,
): CommentTemplates {
  const submitted = context.section('submitted_job_comments', []);
  const submittedKeys = TEMPLATE_PLACEHOLDERS.submitted_job_comments;
  const defaults = DEFAULT_TEMPLATES.submittedJob;
  if (generation === 'v09' && submitted.get('initial_comment')) {
    submitted.warn(
      'initial_comment',
      submitted.get('initial_comment'),
      'is no longer used with node_type_map (v0.9 format); its text is now new_job_instance_repo, build_on_arch, build_for_arch and jobdir',
    );
  }
  const newJob = context.section('new_job_comments', []);
  const runningJob = context.section('running_job_comments', []);
  const finishedJob = context.section('finished_job_comments', []);
  const finishedKeys = TEMPLATE_PLACEHOLDERS.finished_job_comments;
  const downloadPr = context.section('download_pr_comments', []);

  return {
    submittedJob: {
      newJobInstanceRepo: submitted.template(
        'new_job_instance_repo',
        submittedKeys.new_job_instance_repo,
        defaults.newJobInstanceRepo,
      ),
      buildOnArch: submitted.template(
        'build_on_arch',
        submittedKeys.build_on_arch,
        defaults.buildOnArch,
      ),
      buildForArch: submitted.template(
        'build_for_arch',
        submittedKeys.build_for_arch,
        defaults.buildForArch,
      ),
      jobdir: submitted.template('jobdir', submittedKeys.jobdir, defaults.jobdir),
      withAccelerator: submitted.template(
        'with_accelerator',
        submittedKeys.with_accelerator,
        defaults.withAccelerator,
      ),
      awaitsReleaseHoldReleaseMsg: submitted.template(
        'awaits_release_hold_release_msg',
        submittedKeys.awaits_release_hold_release_msg,
        defaults.awaitsReleaseHoldReleaseMsg,
      ),
      awaitsReleaseDelayedBeginMsg: submitted.template(
        'awaits_release_delayed_begin_msg',
        submittedKeys.awaits_release_delayed_begin_msg,
        defaults.awaitsReleaseDelayedBeginMsg,
      ),
    },
    awaitsLaunch: newJob.template(
      'awaits_launch',
      TEMPLATE_PLACEHOLDERS.new_job_comments.awaits_launch,
      DEFAULT_TEMPLATES.awaitsLaunch,
    ),
    runningJob: runningJob.template(
      'running_job',
      TEMPLATE_PLACEHOLDERS.running_job_comments.running_job,
      DEFAULT_TEMPLATES.runningJob,
    ),
    jobResultUnknownFmt: finishedJob.template(
      'job_result_unknown_fmt',
      finishedKeys.job_result_unknown_fmt,
      DEFAULT_TEMPLATES.jobResultUnknownFmt,
    ),
    jobTestUnknownFmt: finishedJob.template(
      'job_test_unknown_fmt',
      finishedKeys.job_test_unknown_fmt,
      DEFAULT_TEMPLATES.jobTestUnknownFmt,
    ),
    downloadPr: Object.fromEntries(
      DOWNLOAD_PR_COMMENT_KEYS.map((key) => [
        key,
        downloadPr.string(key, '') || DEFAULT_TEMPLATES.downloadPr[key],
      ]),
    ),
  };
}

export function readCleanUp(section: ConfigSectionReader): CleanUpConfig {
  const trashBinDir = section.optionalPath('trash_bin_dir');
  return {
    ...(trashBinDir !== undefined ? { trashBinDir } : {}),
    movedJobDirsComment: section.template(
      'moved_job_dirs_comment',
      TEMPLATE_PLACEHOLDERS.clean_up.moved_job_dirs_comment,
      DEFAULT_CLEAN_UP.movedJobDirsComment,
    ),
  };
}
