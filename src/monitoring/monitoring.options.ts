import type { StatusAuthConfig } from '../config/app-config.js';

/** What /status, /status.json and /metrics need from app.cfg (filled by app-options.ts). */
export interface MonitoringOptions {
  /** `[github] app_name`: the instance's name on the page. */
  readonly appName: string;
  readonly version: string;
  /** `[github] api_url`, to link PRs and comments on the matching web host. */
  readonly apiUrl: string;
  /** `[job_manager] job_ids_dir`: where the job records are listed. */
  readonly jobIdsDir: string;
  /** `[event_handler] status_bind` (see StatusAccess). */
  readonly statusBind: readonly string[];
  readonly statusAuth?: StatusAuthConfig;
}

export const MONITORING_OPTIONS = Symbol('MONITORING_OPTIONS');
