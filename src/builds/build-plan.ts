import { isAbsolute, join, relative, resolve } from 'node:path';
import type { BuildEnvConfig, ConfigGeneration } from '../config/app-config.js';
import {
  isPullRequestEvent,
  isPullRequestLabeled,
  type PullRequestRef,
  type RepositoryRef,
} from '../github/github-events.js';
import { splitWords } from '../slurm/split-words.js';
import type { SubmitRequest } from '../slurm/slurm.port.js';

/**
 * Pure decisions of a build: which deliveries trigger one, where its directories go, and what is
 * handed to the scheduler. Everything taken from a payload is validated here, before it can
 * become part of a path or a command line.
 */
export const BUILD_LABEL = 'bot:build';

/** A delivery the dispatcher hands to a handler (the inbox entry's relevant fields). */
export interface LabeledDelivery {
  readonly id: string;
  /** ISO 8601 time the webhook arrived. */
  readonly receivedAt: string;
  readonly payload: unknown;
}

/** What a build needs to know of the delivery and its pull request, every field checked. */
export interface PullRequestContext {
  readonly deliveryId: string;
  readonly receivedAt: Date;
  /** Who asked for the build (added the label, wrote the command). */
  readonly sender: string;
  /** `owner/name` the PR lives in: comments go there, and its tree is built. */
  readonly repo: string;
  readonly prNumber: number;
  /** The base branch name, as GitHub sent it (hostile until git has checked it). */
  readonly baseRef: string;
  /** The PR head when the build was asked for (the build uses the head fetched from GitHub). */
  readonly headSha: string;
  /** `https://host` serving the repository, e.g. https://github.com (GHES: its own host). */
  readonly gitOrigin: string;
  /** Private repositories are fetched with the installation token. */
  readonly privateRepo: boolean;
}

/** What a build needs from a `pull_request.labeled` delivery. */
export interface LabeledEvent extends PullRequestContext {
  readonly label: string;
}

export class InvalidDeliveryError extends Error {
  override readonly name = 'InvalidDeliveryError';
}

const DELIVERY_ID = /^[A-Za-z0-9-]{1,100}$/;
const REPO_PART = /^[A-Za-z0-9_.-]{1,100}$/;
const SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

function isRepoFullName(name: string): boolean {
  const parts = name.split('/');
  return (
    parts.length === 2 &&
    parts.every((part) => REPO_PART.test(part) && part !== '.' && part !== '..')
  );
}

/**
 * Narrows a delivery to a LabeledEvent.
 * @throws InvalidDeliveryError naming the delivery and the field at fault.
 */
export function parseLabeledDelivery(delivery: LabeledDelivery): LabeledEvent {
  if (!isPullRequestLabeled(delivery.payload)) {
    throw new InvalidDeliveryError(
      `delivery ${JSON.stringify(delivery.id)}: not a well-formed pull_request.labeled payload (action, number, label, pull_request, repository or sender missing or mistyped)`,
    );
  }
  return { ...parsePullRequestDelivery(delivery), label: delivery.payload.label.name };
}

/**
 * The PR context of a `pull_request` delivery of any action (`simulate --build` takes one).
 * @throws InvalidDeliveryError naming the delivery and the field at fault.
 */
export function parsePullRequestDelivery(delivery: LabeledDelivery): PullRequestContext {
  const payload = delivery.payload;
  if (!isPullRequestEvent(payload)) {
    throw new InvalidDeliveryError(
      `delivery ${JSON.stringify(delivery.id)}: not a well-formed pull_request payload (action, number, pull_request, repository or sender missing or mistyped)`,
    );
  }
  return pullRequestContext({
    deliveryId: delivery.id,
    receivedAt: delivery.receivedAt,
    sender: payload.sender.login,
    repository: payload.repository,
    pullRequest: payload.pull_request,
  });
}

/**
 * Checks what a build takes from a delivery and its PR (from a payload, or from the API for a
 * comment command) and returns it as a PullRequestContext.
 * @throws InvalidDeliveryError naming the delivery and the field at fault.
 */
export function pullRequestContext(input: {
  readonly deliveryId: string;
  /** ISO 8601 time the webhook arrived. */
  readonly receivedAt: string;
  readonly sender: string;
  readonly repository: RepositoryRef & { readonly private?: unknown };
  readonly pullRequest: Pick<PullRequestRef, 'number' | 'base' | 'head'>;
}): PullRequestContext {
  const fail = (what: string): never => {
    throw new InvalidDeliveryError(`delivery ${JSON.stringify(input.deliveryId)}: ${what}`);
  };
  if (typeof input.deliveryId !== 'string' || !DELIVERY_ID.test(input.deliveryId)) {
    fail('delivery id must be 1-100 letters, digits or dashes');
  }
  const receivedAt = new Date(input.receivedAt);
  if (typeof input.receivedAt !== 'string' || Number.isNaN(receivedAt.getTime())) {
    fail(`receivedAt ${JSON.stringify(input.receivedAt)} is not an ISO 8601 date`);
  }
  const pr = input.pullRequest;
  const repo = input.repository.full_name;
  if (!isRepoFullName(repo)) {
    fail(`repository.full_name ${JSON.stringify(repo)} is not owner/name`);
  }
  if (!Number.isSafeInteger(pr.number) || pr.number <= 0) {
    fail(`pull request number ${pr.number} is not a positive integer`);
  }
  const baseRepo = pr.base.repo;
  if (baseRepo === null || baseRepo.full_name !== repo) {
    fail('pull_request.base.repo must be the repository the event came from');
  }
  if (!SHA.test(pr.head.sha)) {
    fail(`pull_request.head.sha ${JSON.stringify(pr.head.sha)} is not a commit id`);
  }
  if (pr.base.ref === '') {
    fail('pull_request.base.ref is empty');
  }
  return {
    deliveryId: input.deliveryId,
    receivedAt,
    sender: input.sender,
    repo,
    prNumber: pr.number,
    baseRef: pr.base.ref,
    headSha: pr.head.sha,
    gitOrigin: gitOriginOf(input.repository.clone_url, repo),
    privateRepo: input.repository.private === true,
  };
}

/**
 * Re-checks a context a caller built itself (pullRequestContext checks the same): its values
 * become paths, URLs and git arguments.
 * @throws InvalidDeliveryError naming the field at fault.
 */
export function assertPullRequestContext(ctx: PullRequestContext): void {
  const fail = (what: string): never => {
    throw new InvalidDeliveryError(`delivery ${JSON.stringify(ctx.deliveryId)}: ${what}`);
  };
  if (typeof ctx.deliveryId !== 'string' || !DELIVERY_ID.test(ctx.deliveryId)) {
    fail('delivery id must be 1-100 letters, digits or dashes');
  }
  if (!(ctx.receivedAt instanceof Date) || Number.isNaN(ctx.receivedAt.getTime())) {
    fail('receivedAt is not a date');
  }
  if (!isRepoFullName(ctx.repo)) {
    fail(`repository ${JSON.stringify(ctx.repo)} is not owner/name`);
  }
  if (!Number.isSafeInteger(ctx.prNumber) || ctx.prNumber <= 0) {
    fail(`pull request number ${ctx.prNumber} is not a positive integer`);
  }
  if (typeof ctx.baseRef !== 'string' || ctx.baseRef === '') {
    fail('base branch is empty');
  }
  if (!/^https:\/\/[A-Za-z0-9.-]+(?::\d+)?$/.test(ctx.gitOrigin)) {
    fail(`git origin ${JSON.stringify(ctx.gitOrigin)} is not https://host`);
  }
}

/**
 * The host to fetch from: the payload's clone_url when it is plain https for this very repository
 * (GitHub Enterprise Server), else github.com. The URL is rebuilt from parts we checked, so git's
 * `url.<base>.insteadOf` settings apply to it as to any GitHub URL.
 */
function gitOriginOf(cloneUrl: string, repo: string): string {
  try {
    const url = new URL(cloneUrl);
    if (
      url.protocol === 'https:' &&
      url.username === '' &&
      url.password === '' &&
      url.pathname === `/${repo}.git`
    ) {
      return url.origin;
    }
  } catch {
    // not a URL: fall through
  }
  return 'https://github.com';
}

/**
 * The URL the PR's repository is fetched from: https on the PR's host, or with
 * `clone_git_repo_via = ssh` git's scp-like `git@host:owner/name.git` (private repositories
 * reached with the bot user's SSH key, as v0.9 does).
 */
export function repoUrl(
  event: Pick<PullRequestContext, 'gitOrigin' | 'repo'>,
  via: 'https' | 'ssh' = 'https',
): string {
  if (via === 'ssh') {
    return `git@${new URL(event.gitOrigin).host}:${event.repo}.git`;
  }
  return `${event.gitOrigin}/${event.repo}.git`;
}

/**
 * GitHub logins are case-insensitive. An empty list lets anyone build under a seed config (as
 * the seed did) and nobody under a v0.9 config (as v0.9 does).
 */
export function mayBuild(
  login: string,
  allowed: readonly string[],
  generation: ConfigGeneration = 'seed',
): boolean {
  if (allowed.length === 0) {
    return generation === 'seed';
  }
  const wanted = login.toLowerCase();
  return allowed.some((name) => name.toLowerCase() === wanted);
}

/** YYYY.MM of the delivery's arrival (UTC), so that a resume next month lands in the same place. */
export function monthDirName(receivedAt: Date): string {
  return `${receivedAt.getUTCFullYear()}.${String(receivedAt.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** `jobs_base_dir/YYYY.MM/pr_<N>/event_<delivery id>`, checked to stay under jobs_base_dir. */
export function eventDirOf(
  jobsBaseDir: string,
  event: Pick<PullRequestContext, 'receivedAt' | 'prNumber' | 'deliveryId'>,
): string {
  if (!Number.isSafeInteger(event.prNumber) || event.prNumber <= 0) {
    throw new InvalidDeliveryError(`PR number ${event.prNumber} is not a positive integer`);
  }
  if (!DELIVERY_ID.test(event.deliveryId)) {
    throw new InvalidDeliveryError(
      `delivery id ${JSON.stringify(event.deliveryId)} cannot name a directory`,
    );
  }
  const dir = join(
    jobsBaseDir,
    monthDirName(event.receivedAt),
    `pr_${event.prNumber}`,
    `event_${event.deliveryId}`,
  );
  assertInside(jobsBaseDir, dir);
  return dir;
}

export function assertInside(base: string, path: string): void {
  const rel = relative(resolve(base), resolve(path));
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
    throw new Error(`refusing to use ${path}: it is not inside ${base}`);
  }
}

export const RUN_DIR_NAME = /^run_(\d{3,})$/;

export function runDirName(n: number): string {
  return `run_${String(n).padStart(3, '0')}`;
}

const TARGET = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)+$/;

/** linux/x86_64/amd/zen2 → linux_x86_64_amd_zen2 (the job dir's name). */
export function targetDirName(target: string): string {
  if (!TARGET.test(target) || target.split('/').some((part) => part === '.' || part === '..')) {
    throw new Error(
      `[architecturetargets] arch_target_map: target ${JSON.stringify(target)} cannot name a directory`,
    );
  }
  return target.replace(/\//g, '_');
}

export interface TargetInfo {
  /** e.g. linux */
  readonly osType: string;
  /** The target without its OS part, e.g. x86_64/amd/zen2. */
  readonly softwareSubdir: string;
  /** The target's last part is `generic` (a build for any CPU of the architecture). */
  readonly generic: boolean;
}

export function describeTarget(target: string): TargetInfo {
  const parts = target.split('/');
  return {
    osType: parts[0],
    softwareSubdir: parts.slice(1).join('/'),
    generic: parts[parts.length - 1] === 'generic',
  };
}

/**
 * The scheduler request for one target: operator-written parameters split as a shell splits words
 * (nothing expanded, nothing executed), then the job script's own options.
 */
export function buildSubmitRequest(
  buildenv: BuildEnvConfig,
  target: string,
  targetParams: string,
  jobDir: string,
): SubmitRequest {
  const { generic } = describeTarget(target);
  return {
    workDir: jobDir,
    schedulerArgs: [
      ...wordsOf(buildenv.slurmParams, '[buildenv] slurm_params'),
      ...wordsOf(
        targetParams,
        `[architecturetargets] arch_target_map entry ${JSON.stringify(target)}`,
      ),
    ],
    jobName: buildenv.jobName,
    script: buildenv.buildJobScript,
    scriptArgs: [
      '--tmpdir',
      buildenv.localTmp,
      ...(buildenv.httpProxy ? ['--http-proxy', buildenv.httpProxy] : []),
      ...(buildenv.httpsProxy ? ['--https-proxy', buildenv.httpsProxy] : []),
      ...(buildenv.loadModules ? ['--load-modules', buildenv.loadModules] : []),
      ...(generic ? ['--generic'] : []),
    ],
  };
}

function wordsOf(text: string, key: string): string[] {
  try {
    return splitWords(text);
  } catch (error) {
    throw new Error(`${key} in app.cfg: ${(error as Error).message}`, { cause: error });
  }
}
