import { HELD_REASONS, isValidJobId } from './slurm-output.js';
import type { QueuedJob } from './slurm.port.js';

/**
 * `squeue --Format` (long format) for v0.9-format configs: the columns upstream's job manager
 * reads (JobID, Cluster, Partition, State, Reason: its `scontrol_command` placeholders) plus the
 * work dir and name this bot needs, and EligibleTime for the `received` row of `delayed_begin`.
 *
 * Every field is given width 0, which squeue prints in full without padding or truncation
 * (`_print_str` in src/squeue/print.c, the same in Slurm 22.05 and 25.11; without a width squeue
 * cuts each field at 20 characters, and upstream's `:100` cuts long work dirs). Fields are
 * separated by the ASCII unit separator U+001F, the field's suffix: text that Slurm prints (a
 * reason like `ReqNodeNotAvail, Reserved for maintenance`, a job name, a work dir with blanks or
 * `|`) never contains it, and `-O` only reserves `,` in suffixes.
 */
const SQUEUE_LONG_FIELDS = [
  'JobID',
  'Cluster',
  'Partition',
  'State',
  'Reason',
  'EligibleTime',
  'Name',
  'WorkDir',
] as const;

export const SQUEUE_FIELD_SEPARATOR = '\u001f';

/** The `--Format` value: `JobID:0<US>,Cluster:0<US>,…,WorkDir:0`. */
export const SQUEUE_LONG_FORMAT = SQUEUE_LONG_FIELDS.map(
  (field, i) => `${field}:0${i < SQUEUE_LONG_FIELDS.length - 1 ? SQUEUE_FIELD_SEPARATOR : ''}`,
).join(',');

/** What Slurm prints for a time it does not have. */
const NO_TIME: ReadonlySet<string> = new Set(['N/A', 'Unknown', 'None', '']);

/**
 * Parses `squeue --noheader --Format=<SQUEUE_LONG_FORMAT>` output. The work dir is the last field
 * and takes whatever follows the seventh separator, so even a path holding U+001F stays whole.
 * @throws Error naming the first line that does not have the eight fields with a job id and a
 * state: output we do not understand must not look like an empty queue.
 */
export function parseSqueueLongFormat(stdout: string): QueuedJob[] {
  const jobs: QueuedJob[] = [];
  const expected = SQUEUE_LONG_FIELDS.length;
  stdout.split('\n').forEach((raw, index) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') {
      return;
    }
    const parts = line.split(SQUEUE_FIELD_SEPARATOR);
    const fields = [
      ...parts.slice(0, expected - 1),
      parts.slice(expected - 1).join(SQUEUE_FIELD_SEPARATOR),
    ];
    const [id, cluster, partition, state, reason, eligibleTime, name, workDir] = fields;
    if (parts.length < expected || !isValidJobId(id.trim()) || !/^[A-Z_]+$/.test(state.trim())) {
      throw new Error(
        `line ${index + 1} does not have the ${expected} fields ${SQUEUE_LONG_FIELDS.join(', ')} ` +
          `separated by U+001F: ${JSON.stringify(line)}`,
      );
    }
    const eligible = eligibleTime.trim();
    jobs.push({
      id: id.trim(),
      name,
      state: state.trim(),
      reason: reason.trim(),
      held: state.trim() === 'PENDING' && HELD_REASONS.has(reason.trim()),
      cluster: cluster.trim(),
      partition: partition.trim(),
      ...(NO_TIME.has(eligible) ? {} : { eligibleTime: eligible }),
      ...(workDir === '' ? {} : { workDir }),
    });
  });
  return jobs;
}
