import type { QueuedJob } from './slurm.port.js';

/** The `%(name)s` fields `[job_manager] scontrol_command` may use, as upstream v0.9 fills them. */
const SCONTROL_FIELDS = ['jobid', 'cluster', 'partition', 'state', 'reason'] as const;
type ScontrolField = (typeof SCONTROL_FIELDS)[number];

const PERCENT_FIELD = /%\(([^)]*)\)s/g;

/**
 * The arguments written after the executable in `scontrol_command` (e.g. `--clusters=%(cluster)s`
 * at multi-cluster sites), each filled from the job's squeue row. The words were split by the
 * config loader; each is filled on its own and stays one argument whatever a value holds (blanks,
 * quotes, `;`, `$(…)`): nothing here is ever seen by a shell.
 * @throws Error naming the field when a word needs a value squeue has not shown for this job
 *   (e.g. `%(cluster)s` of a job that left the queue before this manager saw it).
 */
export function expandScontrolArgs(
  words: readonly string[],
  jobId: string,
  queued?: QueuedJob,
): string[] {
  const values: Readonly<Record<ScontrolField, string | undefined>> = {
    jobid: jobId,
    cluster: queued?.cluster,
    partition: queued?.partition,
    state: queued?.state,
    reason: queued?.reason,
  };
  return words.map((word) =>
    word.replace(PERCENT_FIELD, (whole, name: string) => {
      const value = (SCONTROL_FIELDS as readonly string[]).includes(name)
        ? values[name as ScontrolField]
        : undefined;
      if (value === undefined) {
        throw new Error(
          `[job_manager] scontrol_command needs ${whole} for job ${jobId}, which squeue has not ` +
            `shown for it (it may have left the queue before this job manager saw it)`,
        );
      }
      return value;
    }),
  );
}
