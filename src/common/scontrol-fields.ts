/**
 * The `%(name)s` fields `[job_manager] scontrol_command` may use (upstream v0.9's multi-cluster
 * `scontrol --clusters=%(cluster)s`): columns of the job's squeue row. One list for both sides:
 * config loading rejects any other field before the bot starts, and the Slurm adapter fills
 * exactly these, so a name accepted by the one is always known to the other.
 */
export const SCONTROL_FIELDS = ['jobid', 'cluster', 'partition', 'state', 'reason'] as const;

export type ScontrolField = (typeof SCONTROL_FIELDS)[number];
