import type { ConfigParserResult } from './read-configparser.js';
import { DOWNLOAD_PR_COMMENT_KEYS } from './template-placeholders.js';

/** Keys this bot reads, per section (both generations of app.cfg). */
export const USED_KEYS: Readonly<Record<string, readonly string[]>> = {
  github: ['app_id', 'app_name', 'installation_id', 'private_key', 'api_url', 'check_runs'],
  bot_control: ['command_permission', 'command_response_fmt', 'chatlevel'],
  buildenv: [
    'build_job_script',
    'cvmfs_customizations',
    'http_proxy',
    'https_proxy',
    'jobs_base_dir',
    'load_modules',
    'local_tmp',
    'slurm_params',
    'submit_command',
    'build_permission',
    'no_build_permission_comment',
    'job_name',
    'scheduler',
    'shared_fs_path',
    'build_logs_dir',
    'container_cachedir',
    'site_config_script',
    'job_handover_protocol',
    'job_delay_begin_factor',
    'allow_update_submit_opts',
    'allowed_exportvars',
    'clone_git_repo_via',
    'cancel_on_push',
  ],
  architecturetargets: ['arch_target_map', 'node_type_map'],
  repo_targets: ['repos_cfg_dir'],
  job_manager: [
    'job_ids_dir',
    'poll_command',
    'poll_interval',
    'scontrol_command',
    'scancel_command',
    'command_timeout',
    'log_path',
  ],
  event_handler: [
    'state_dir',
    'log_path',
    'smee_url',
    'redeliver_interval',
    'status_bind',
    'status_auth',
  ],
  submitted_job_comments: [
    'new_job_instance_repo',
    'build_on_arch',
    'build_for_arch',
    'jobdir',
    'with_accelerator',
    'awaits_release_hold_release_msg',
    'awaits_release_delayed_begin_msg',
  ],
  new_job_comments: ['awaits_launch'],
  running_job_comments: ['running_job'],
  finished_job_comments: ['job_result_unknown_fmt', 'job_test_unknown_fmt'],
  download_pr_comments: [...DOWNLOAD_PR_COMMENT_KEYS],
  clean_up: ['trash_bin_dir', 'moved_job_dirs_comment', 'cancel_on_close'],
  // Read by deploy-config.reader.ts.
  deploycfg: [
    'deploy_label',
    'artefact_upload_script',
    'endpoint_url',
    'bucket_name',
    'upload_policy',
    'deploy_permission',
    'no_deploy_permission_comment',
    'metadata_prefix',
    'artefact_prefix',
    'signing',
  ],
};

/**
 * Keys of the upstream Python bot (tools/config.py and app.cfg.example of
 * EESSI/eessi-bot-software-layer) that this bot does not use. They are accepted silently so that an
 * operator can point this bot at the app.cfg they already run, and switch back. (Keys that v0.9
 * retired, like repo_target_map, get a warning of their own with node_type_map.)
 */
const UPSTREAM_IGNORED_KEYS: Readonly<Record<string, readonly string[]>> = {
  github: ['api_timeout'],
  buildenv: ['allowed_jobargs', 'allowed_submitargs', 'cancel_command'],
  repo_targets: ['repo_target_map'],
  submitted_job_comments: ['awaits_release', 'initial_comment'],
};

/** Upstream sections this bot does not read at all; any key in them is accepted silently. */
const UPSTREAM_IGNORED_SECTIONS: readonly string[] = ['git', 'gitlab'];

/** Edit distance (insert, delete, substitute), for did-you-mean hints on misspelt keys. */
export function levenshtein(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1);
      row.push(Math.min(previous[j] + 1, row[j - 1] + 1, substitution));
    }
    previous = row;
  }
  return previous[b.length];
}

/** The closest candidate within `maxDistance` edits, if any (ties: the first listed). */
export function closest(
  word: string,
  candidates: readonly string[],
  maxDistance = 2,
): string | undefined {
  let best: string | undefined;
  let bestDistance = maxDistance + 1;
  for (const candidate of candidates) {
    const distance = levenshtein(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/**
 * Warnings for sections and keys neither this bot nor the upstream bot knows: most often a typo
 * that silently leaves a setting at its default.
 */
export function unknownKeyWarnings(parsed: ConfigParserResult, fileName: string): string[] {
  const warnings: string[] = [];
  const knownSections = [...Object.keys(USED_KEYS), ...UPSTREAM_IGNORED_SECTIONS];
  for (const section of parsed.sections.values()) {
    if (UPSTREAM_IGNORED_SECTIONS.includes(section.name)) {
      continue;
    }
    // hasOwn: a section named e.g. [constructor] must not reach Object.prototype.
    const used = Object.hasOwn(USED_KEYS, section.name) ? USED_KEYS[section.name] : undefined;
    if (used === undefined) {
      const hint = closest(section.name, knownSections);
      warnings.push(
        `${fileName}:${section.line}: unknown section [${section.name}] ` +
          (hint ? `(did you mean [${hint}]?)` : '(ignored)'),
      );
      continue;
    }
    const ignored = UPSTREAM_IGNORED_KEYS[section.name] ?? [];
    for (const [key, entry] of section.entries) {
      if (used.includes(key) || ignored.includes(key)) {
        continue;
      }
      if (!/^[A-Za-z0-9_]/.test(key) || /\s/.test(key)) {
        // Upstream's example has such lines: a comment whose '#' went missing.
        warnings.push(
          `${fileName}:${entry.line}: [${section.name}] line read as key '${key}' looks like a comment without its leading '#' (ignored; add the '#')`,
        );
        continue;
      }
      const hint = closest(key, used);
      warnings.push(
        `${fileName}:${entry.line}: [${section.name}] unknown key '${key}' ` +
          (hint ? `(did you mean '${hint}'?)` : '(ignored)'),
      );
    }
  }
  return warnings;
}
