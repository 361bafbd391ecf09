import { dirname, join } from 'node:path';
import type { JobManagerConfig } from './app-config.js';
import type { ConfigSectionReader } from './config-section.reader.js';
import { requiredCommand, requiredPath } from './required-entries.js';
import { percentPlaceholderProblems } from '../common/fill-template.js';
import { SCONTROL_FIELDS } from '../common/scontrol-fields.js';

/** Reads [job_manager] (polling and the scheduler commands). */

export const JOB_MANAGER_REQUIRED = [
  'job_ids_dir',
  'poll_command',
  'poll_interval',
  'scontrol_command',
];
const DEFAULT_COMMAND_TIMEOUT_SECONDS = 60;

export function readJobManager(section: ConfigSectionReader): JobManagerConfig {
  const jobIdsDir = requiredPath(
    section,
    'job_ids_dir',
    'the directory where the job manager tracks submitted jobs',
  );
  const pollCommand = requiredCommand(
    section,
    'poll_command',
    'the queue listing command, e.g. /usr/bin/squeue',
  );
  const pollIntervalSeconds = section.positiveInt(
    'poll_interval',
    'seconds between two polls of the queue',
  );
  const scontrol = readScontrol(section);

  const scancelEntry = section.get('scancel_command');
  // Not checked when defaulted: only a few actions cancel jobs, and a missing scancel must not
  // stop a bot that never needs it.
  const scancelCommand =
    scancelEntry && scancelEntry.value !== ''
      ? section.command('scancel_command', scancelEntry)
      : join(dirname(scontrol.command ?? scontrol.written ?? 'scontrol'), 'scancel');

  const commandTimeoutSeconds = section.positiveInt(
    'command_timeout',
    'seconds before a scheduler command is killed',
    DEFAULT_COMMAND_TIMEOUT_SECONDS,
  );
  const logPath = section.optionalPath('log_path');

  return {
    jobIdsDir: jobIdsDir ?? '',
    pollCommand: pollCommand ?? '',
    pollIntervalSeconds: pollIntervalSeconds ?? 0,
    scontrolCommand: scontrol.command ?? '',
    ...(scontrol.args.length > 0 ? { scontrolArgs: scontrol.args } : {}),
    scancelCommand: scancelCommand ?? '',
    commandTimeoutSeconds: commandTimeoutSeconds ?? DEFAULT_COMMAND_TIMEOUT_SECONDS,
    ...(logPath !== undefined ? { logPath } : {}),
  };
}

/**
 * `scontrol_command` may carry arguments with `%(cluster)s`-style fields (upstream's multi-cluster
 * setups: `/usr/bin/scontrol --clusters=%%(cluster)s`); the first word is the executable.
 */
function readScontrol(section: ConfigSectionReader): {
  command?: string;
  written?: string;
  args: string[];
} {
  const entry = section.required(
    'scontrol_command',
    'the job control command, e.g. /usr/bin/scontrol',
  );
  if (!entry) {
    return { args: [] };
  }
  // Plain blanks only: the words are passed to execFile as they are, never to a shell.
  if (/["'\\]/.test(entry.value)) {
    section.problem(
      'scontrol_command',
      entry,
      'may not contain quotes or backslashes; write the command and its arguments separated by blanks',
    );
    return { args: [] };
  }
  const [written, ...args] = entry.value.split(/\s+/);
  for (const message of percentPlaceholderProblems(args.join(' '), SCONTROL_FIELDS)) {
    section.problem('scontrol_command', entry, message);
  }
  const command = section.command('scontrol_command', { ...entry, value: written });
  return { ...(command !== undefined ? { command } : {}), written, args };
}
