import type { JobIndex, JobView } from '../builds/job-index.js';
import type { BotMetrics } from '../common/metrics/bot-metrics.js';

/** Rows shown at most; the page and the JSON say how many matched. */
const MAX_JOBS_SHOWN = 500;

/** What /status shows and /status.json returns. Nothing secret: no token, key or config path. */
export interface StatusReport {
  readonly instance: {
    readonly name: string;
    readonly version: string;
    readonly startedAt: string;
    readonly uptimeSeconds: number;
    readonly generatedAt: string;
  };
  /** null when this process relays no smee channel. */
  readonly relay: {
    readonly state: string;
    readonly sinceSeconds: number;
    readonly lastProblem?: string;
    readonly forwarded: number;
  } | null;
  /** null when this process has no inbox. */
  readonly inbox: {
    readonly pending: number;
    readonly failed: number;
    readonly oldestPendingSeconds?: number;
  } | null;
  /** null when this process does not run the job manager's poll. */
  readonly jobManager: {
    readonly pollIntervalSeconds: number;
    readonly secondsWithoutTick?: number;
  } | null;
  /** null when catch-up is off here. */
  readonly catchUp: {
    readonly intervalSeconds: number;
    readonly lastPass?: {
      readonly at: string;
      readonly listed: number;
      readonly missed: number;
      readonly requested: number;
      readonly skipped?: string;
    };
  } | null;
  readonly jobs: {
    readonly windowDays: number;
    readonly pr?: number;
    /** Jobs matching the filter (more than are listed when over MAX_JOBS_SHOWN). */
    readonly matching: number;
    readonly items: readonly JobRow[];
  };
}

export interface JobRow {
  readonly jobId: string;
  readonly repo: string;
  readonly pr: number;
  readonly target: string;
  readonly state: string;
  readonly result?: string;
  readonly submittedAt?: string;
  readonly ageSeconds?: number;
  readonly prUrl?: string;
  readonly commentUrl?: string;
  readonly jobDir: string;
}

export interface StatusSources {
  readonly appName: string;
  readonly version: string;
  /** `[github] api_url`, to link PRs and comments on the matching web host. */
  readonly apiUrl: string;
  readonly metrics: BotMetrics;
  readonly jobs: JobIndex;
}

export async function statusReport(
  sources: StatusSources,
  pr: number | undefined,
  now = Date.now(),
): Promise<StatusReport> {
  const { metrics } = sources;
  const seconds = (ms: number) => Math.max(0, Math.floor(ms / 1000));
  const inbox = await metrics.readInbox()?.catch(() => undefined);
  const relay = metrics.relay;
  const jm = metrics.jobManager;
  const catchUp = metrics.catchUp;
  const all = await sources.jobs.jobs();
  const matching = pr === undefined ? all : all.filter((job) => job.prNumber === pr);
  const web = githubWebUrl(sources.apiUrl);
  const lastPass = catchUp.lastPass;
  const withoutTick = jm.secondsWithoutTick(now);
  return {
    instance: {
      name: sources.appName,
      version: sources.version,
      startedAt: new Date(metrics.startedAt).toISOString(),
      uptimeSeconds: seconds(now - metrics.startedAt),
      generatedAt: new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    },
    relay: relay
      ? {
          state: relay.state,
          sinceSeconds: seconds(now - relay.since),
          ...(relay.lastProblem === undefined ? {} : { lastProblem: relay.lastProblem }),
          forwarded: relay.forwarded,
        }
      : null,
    inbox: inbox
      ? {
          pending: inbox.pending,
          failed: inbox.failed,
          ...(inbox.oldestPendingSince === undefined
            ? {}
            : { oldestPendingSeconds: seconds(now - inbox.oldestPendingSince) }),
        }
      : null,
    jobManager:
      jm.pollIntervalSeconds === undefined
        ? null
        : {
            pollIntervalSeconds: jm.pollIntervalSeconds,
            ...(withoutTick === undefined ? {} : { secondsWithoutTick: Math.floor(withoutTick) }),
          },
    catchUp:
      catchUp.intervalSeconds === undefined
        ? null
        : {
            intervalSeconds: catchUp.intervalSeconds,
            ...(lastPass
              ? {
                  lastPass: {
                    at: new Date(lastPass.at).toISOString(),
                    listed: lastPass.listed,
                    missed: lastPass.missed,
                    requested: lastPass.requested,
                    ...(lastPass.skipped === undefined ? {} : { skipped: lastPass.skipped }),
                  },
                }
              : {}),
          },
    jobs: {
      windowDays: sources.jobs.windowDays,
      ...(pr === undefined ? {} : { pr }),
      matching: matching.length,
      items: matching.slice(0, MAX_JOBS_SHOWN).map((job) => jobRow(job, web, now)),
    },
  };
}

function jobRow(job: JobView, web: string, now: number): JobRow {
  // Links only for names GitHub allows: the repository comes from a webhook payload.
  const linkable = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(job.repo);
  const prUrl = linkable ? `${web}/${job.repo}/pull/${job.prNumber}` : undefined;
  return {
    jobId: job.jobId,
    repo: job.repo,
    pr: job.prNumber,
    target: job.target,
    state: job.state,
    ...(job.result === undefined ? {} : { result: job.result }),
    ...(job.submittedAt === undefined
      ? {}
      : {
          submittedAt: new Date(job.submittedAt).toISOString(),
          ageSeconds: Math.max(0, Math.floor((now - job.submittedAt) / 1000)),
        }),
    ...(prUrl ? { prUrl } : {}),
    ...(prUrl && job.commentId ? { commentUrl: `${prUrl}#issuecomment-${job.commentId}` } : {}),
    jobDir: job.jobDir,
  };
}

/**
 * The web address matching an API URL: api.github.com → github.com; GitHub Enterprise's
 * https://host/api/v3 → https://host. Anything else (a test server) is used as it is.
 */
export function githubWebUrl(apiUrl: string): string {
  let url: URL;
  try {
    url = new URL(apiUrl);
  } catch {
    return 'https://github.com';
  }
  if (url.hostname === 'api.github.com') {
    return 'https://github.com';
  }
  const path = url.pathname.replace(/\/+$/, '').replace(/\/api\/v3$/, '');
  return `${url.origin}${path}`;
}
