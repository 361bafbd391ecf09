import type { SlurmCommands } from './slurm-cli.adapter.js';

/**
 * What the slurm module needs from app.cfg. The builds module fills it from AppConfig, so that
 * this module does not depend on the config module (docs/architecture.md, "Modules and who may
 * import whom").
 */
export interface SlurmOptions {
  /** `[buildenv] scheduler`: Slurm's command-line clients, or the local executor. */
  readonly scheduler: 'slurm' | 'local';
  /** `[event_handler] state_dir`: the local executor keeps its jobs in `<stateDir>/local-executor`. */
  readonly stateDir: string;
  /** The Slurm clients and their timeout (unused by the local executor). */
  readonly commands: SlurmCommands;
}
