import type { JournalOptions } from '../common/journal/journal.js';

/**
 * What the intake needs from app.cfg and the environment. The app module fills it from AppConfig,
 * so that the intake does not depend on the config module (see docs/architecture.md).
 */
export interface IntakeOptions {
  /** `[event_handler] state_dir`: the inbox lives in `<stateDir>/inbox`. */
  readonly stateDir: string;
  /** GITHUB_APP_SECRET_TOKEN; while unset, every delivery is refused (500) and the log says why. */
  readonly webhookSecret?: string;
  /** `[event_handler] redeliver_interval`: seconds between catch-up passes; 0 or unset: off. */
  readonly redeliverIntervalSeconds?: number;
  /** `[github] installation_id`: catch-up leaves other installations' deliveries alone. */
  readonly installationId?: number;
  /** Journal tuning for tests; production uses the defaults. */
  readonly journal?: JournalOptions;
}

/** Nest injection token for IntakeOptions. */
export const INTAKE_OPTIONS = Symbol('INTAKE_OPTIONS');
