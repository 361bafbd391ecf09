import { NestFactory } from '@nestjs/core';
import { setTimeout as sleep } from 'node:timers/promises';
import { resolve } from 'node:path';
import { AppModule } from '../app.module.js';
import { parsePullRequestDelivery } from '../builds/build-plan.js';
import {
  BuildRequestError,
  parseBuildArguments,
  type BuildRequest,
} from '../builds/build-request.js';
import { BuildsService, type BuildOutcome } from '../builds/builds.service.js';
import { JobManagerService } from '../builds/job-manager.service.js';
import { JobStore, type TrackedJob } from '../builds/job-store.js';
import { describeNodeTypes } from '../builds/node-type-plan.js';
import { BotLogger } from '../common/bot-logger.js';
import type { AppConfig } from '../config/app-config.js';
import { readEventFile } from './read-event-file.js';
import { TerminalGitHub } from './terminal-github.js';

export interface SimulateOptions {
  readonly event: string;
  readonly repo?: string;
  /** v0.9: the build request (`for:… [on:…] [exp:…]`) for the PR of the payload. */
  readonly build?: string;
}

/**
 * `simulate`: one saved webhook through the real pipeline (permission, job dirs, the PR's tree,
 * submission with the configured scheduler, the job manager until every job finished), with
 * GitHub replaced by the terminal. Seed configs run a `pull_request` "labeled" payload; v0.9
 * configs run `--build` for the PR of a `pull_request` payload, asked for by its sender.
 * Exit status 0 when every job succeeded.
 */
export async function simulate(
  options: SimulateOptions,
  config: AppConfig,
  out: (text: string) => void = (text) => process.stdout.write(text),
): Promise<number> {
  const delivery = readEventFile(options.event);
  const action = typeof delivery.payload.action === 'string' ? delivery.payload.action : '';
  const problem = usageProblem(options, config, delivery.event, action);
  if (problem) {
    out(`${problem}\n`);
    return 1;
  }
  let request: BuildRequest | undefined;
  if (options.build !== undefined) {
    const sender = (delivery.payload.sender as { login?: unknown } | undefined)?.login;
    try {
      request = parseBuildArguments(options.build, typeof sender === 'string' ? sender : '');
    } catch (error) {
      if (!(error instanceof BuildRequestError)) {
        throw error;
      }
      out(`--build: ${error.message}\n`);
      return 1;
    }
  }
  if (options.repo) {
    redirectBaseRepository(delivery.payload, options.repo);
  }

  const github = new TerminalGitHub(out);
  const logger = new BotLogger('simulate', config.eventHandler.logPath, ['warn', 'error', 'fatal']);
  const app = await NestFactory.createApplicationContext(
    AppModule.register({ config, eventHandler: false, jobManagerAutostart: false, github }),
    { logger },
  );
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    out(
      `simulating delivery ${delivery.id} (${delivery.event} ${action}) with scheduler '${config.buildenv.scheduler}'\n`,
    );
    const received = {
      id: delivery.id,
      receivedAt: new Date().toISOString(),
      payload: delivery.payload,
    };
    if (request) {
      const outcome = await app
        .get(BuildsService)
        .handleBuildRequest({ ...parsePullRequestDelivery(received), requestIndex: 0 }, request);
      out(describeOutcome(outcome));
    } else {
      await app.get(BuildsService).handleLabeled(received);
    }
    const store = app.get(JobStore);
    const jobs = await jobsOfDelivery(store, delivery.id);
    if (jobs.length === 0) {
      out('\nno job was submitted (see the comments above)\n');
      return 1;
    }
    out(
      `\nsubmitted ${jobs.length} job(s): ${jobs.map((j) => j.jobId).join(', ')}; running the job manager until they finish\n`,
    );

    const jobManager = app.get(JobManagerService);
    const jobIds = jobs.map((j) => j.jobId);
    while (!stop.signal.aborted) {
      await jobManager.tick({ jobIds });
      const tracked = new Set((await store.listSubmitted()).map((j) => j.jobId));
      if (!jobIds.some((id) => tracked.has(id))) {
        break;
      }
      await sleep(config.jobManager.pollIntervalSeconds * 1000, undefined, {
        signal: stop.signal,
      }).catch(() => undefined);
    }
    if (stop.signal.aborted) {
      out('\ninterrupted: jobs keep their state on disk; `job-manager` carries on with them\n');
      return 130;
    }
    return summarize(store, jobs, out);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await app.close();
    await logger.close();
  }
}

async function jobsOfDelivery(store: JobStore, deliveryId: string): Promise<TrackedJob[]> {
  const jobs: TrackedJob[] = [];
  for (const job of await store.listSubmitted()) {
    const meta = await store.readMetadata(job.jobId, job.jobDir).catch(() => undefined);
    if (meta?.deliveryId === deliveryId) {
      jobs.push(job);
    }
  }
  return jobs;
}

async function summarize(
  store: JobStore,
  jobs: TrackedJob[],
  out: (text: string) => void,
): Promise<number> {
  let failures = 0;
  out('\nsummary:\n');
  for (const job of jobs) {
    const meta = await store.readMetadata(job.jobId, job.jobDir);
    const finished = (await store.rows(job.jobId, job.jobDir)).find((r) => r.kind === 'finished');
    const ok = finished?.comment.includes('SUCCESS') ?? false;
    if (!ok) {
      failures += 1;
    }
    const what = meta?.build ? `${meta.build.repoId} for ${meta.target}` : (meta?.target ?? '');
    out(`  job ${job.jobId} ${what}: ${ok ? 'SUCCESS' : 'not successful'} (${job.jobDir})\n`);
  }
  return failures === 0 ? 0 : 1;
}

function usageProblem(
  options: SimulateOptions,
  config: AppConfig,
  event: string,
  action: string,
): string | undefined {
  if (options.build !== undefined) {
    if (config.generation !== 'v09') {
      return `--build needs a v0.9-format app.cfg (node_type_map); ${config.configPath} is seed-format: simulate a "labeled" payload instead`;
    }
    if (event !== 'pull_request') {
      return `--build runs for the PR of a pull_request payload; ${options.event} is ${event} "${action}"`;
    }
    return undefined;
  }
  if (config.generation === 'v09') {
    return `${config.configPath} is v0.9-format: builds are asked for with \`bot: build\`; pass --build 'for:arch=<cpu subdir> [on:arch=…]'`;
  }
  if (event !== 'pull_request' || action !== 'labeled') {
    return `simulate runs pull_request "labeled" events; ${options.event} is ${event} "${action}"`;
  }
  return undefined;
}

/** What the `bot: build` command would reply, in plain text. */
function describeOutcome(outcome: BuildOutcome): string {
  const lines = [`\nbuild ${outcome.request} on instance ${outcome.instance}:`];
  if (outcome.problem) {
    lines.push(`  no job: ${outcome.problem}`);
  }
  if (outcome.closest.length > 0) {
    lines.push(`  closest node types: ${describeNodeTypes(outcome.closest)}`);
  }
  for (const job of outcome.jobs) {
    const accel = job.forAccel.length > 0 ? `,accel=${job.forAccel.join('+')}` : '';
    lines.push(
      `  ${job.repoId} for:arch=${job.forArch}${accel} on ${job.nodeType}: ${job.jobId ? `job ${job.jobId}` : job.reason}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/**
 * `--repo`: fetch the base repository from a path or URL of the operator's choosing, through
 * git's own `url.<base>.insteadOf` (passed by environment, so the bot's git code is unchanged).
 */
function redirectBaseRepository(payload: Record<string, unknown>, repo: string): void {
  const repository = payload.repository as { full_name?: unknown; clone_url?: unknown } | undefined;
  const fullName = typeof repository?.full_name === 'string' ? repository.full_name : undefined;
  if (!fullName) {
    throw new Error('the payload has no repository.full_name');
  }
  const base = /^[a-z][a-z0-9+.-]*:\/\//i.test(repo) ? repo : resolve(repo);
  const prefixes = new Set([`https://github.com/${fullName}.git`]);
  if (typeof repository?.clone_url === 'string') {
    prefixes.add(repository.clone_url);
  }
  let index = Number.parseInt(process.env.GIT_CONFIG_COUNT ?? '0', 10) || 0;
  for (const prefix of prefixes) {
    process.env[`GIT_CONFIG_KEY_${index}`] = `url.${base}.insteadOf`;
    process.env[`GIT_CONFIG_VALUE_${index}`] = prefix;
    index += 1;
  }
  process.env.GIT_CONFIG_COUNT = String(index);
}
