#!/usr/bin/env node
import 'reflect-metadata';
import { Logger, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { githubAppSettingsOf } from './app-options.js';
import { AppModule } from './app.module.js';
import { parseArgs, USAGE, UsageError, type Command } from './cli/parse-args.js';
import { BotLogger } from './common/bot-logger.js';
import { BotMetrics } from './common/metrics/bot-metrics.js';
import type { AppConfig } from './config/app-config.js';
import { ConfigError } from './config/config.errors.js';
import { describeConfig } from './config/describe-config.js';
import { loadConfig, requireWebhookSecret } from './config/load-config.js';
import { botVersion } from './common/package-version.js';
import { StateDirInUseError } from './common/state-lock.js';

const EXIT_USAGE = 2;

/** Errors an operator can fix from the message alone: no stack trace. */
class OperatorError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

function load(path: string): AppConfig {
  try {
    const { config, warnings } = loadConfig(path);
    for (const warning of warnings) {
      process.stderr.write(`warning: ${warning}\n`);
    }
    return config;
  } catch (error) {
    if (error instanceof ConfigError) {
      throw new OperatorError(error.message, EXIT_USAGE);
    }
    throw error;
  }
}

async function serve(command: Extract<Command, { kind: 'serve' }>): Promise<void> {
  const config = load(command.config);
  try {
    requireWebhookSecret(config);
  } catch (error) {
    if (error instanceof ConfigError) {
      throw new OperatorError(error.message, EXIT_USAGE);
    }
    throw error;
  }
  const logger = new BotLogger('eessi-bot', config.eventHandler.logPath);
  const app = await NestFactory.create(
    await AppModule.register({
      config,
      eventHandler: true,
      jobManagerAutostart: command.jobManager,
      jobManager: command.jobManager,
    }),
    // The webhook controller reads the raw bytes itself: the signature is over them.
    { bodyParser: false, logger },
  );
  const smeeUrl = command.smeeUrl ?? config.eventHandler.smeeUrl;
  // Before listen: catch-up's first pass looks at the relay's state.
  const relayVitals = smeeUrl ? app.get(BotMetrics).trackRelay() : undefined;
  try {
    await app.listen(command.port);
  } catch (error) {
    if (error instanceof StateDirInUseError) {
      throw new OperatorError(error.message, EXIT_USAGE);
    }
    throw error;
  }
  const port = (app.getHttpServer() as Server).address() as AddressInfo;
  const log = new Logger('Main');
  log.log(
    `eessi-bot ${botVersion()} (${config.github.appName}) listening on port ${port.port}` +
      `${command.jobManager ? ', job manager on' : ', job manager off (--no-job-manager)'}`,
  );
  // Loaded only when used, like the job manager and the online check below: code a process
  // imports stays in its memory.
  const relay = smeeUrl
    ? new (await import('./intake/smee-relay.js')).SmeeRelay({
        source: smeeUrl,
        target: `http://127.0.0.1:${port.port}/`,
        ...(relayVitals ? { vitals: relayVitals } : {}),
      })
    : undefined;
  relay?.start();

  // Our own signal handling rather than enableShutdownHooks(): the relay must stop forwarding
  // before the inbox closes, or a delivery relayed during shutdown gets 503 and is lost (smee
  // does not redeliver). Then Nest stops intake, lets running handlers finish, stops the poll.
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) {
      return;
    }
    stopping = true;
    log.log(`${signal} received: shutting down`);
    void (async () => {
      await relay?.stop();
      await app.close();
      await logger.close();
      process.exit(0);
    })();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

async function jobManager(command: Extract<Command, { kind: 'job-manager' }>): Promise<void> {
  const config = load(command.config);
  const logger = new BotLogger('job-manager', config.jobManager.logPath);
  const app: INestApplicationContext = await NestFactory.createApplicationContext(
    await AppModule.register({ config, eventHandler: false, jobManagerAutostart: false }),
    { logger },
  );
  try {
    const [{ runJobManager }, { JobManagerService }] = await Promise.all([
      import('./builds/job-manager.runner.js'),
      import('./builds/job-manager.service.js'),
    ]);
    await runJobManager(app.get(JobManagerService), {
      iterations: command.iterations,
      jobIds: command.jobIds,
      pollIntervalSeconds: config.jobManager.pollIntervalSeconds,
    });
  } finally {
    await app.close();
    await logger.close();
  }
}

async function checkConfig(command: Extract<Command, { kind: 'check-config' }>): Promise<void> {
  const config = load(command.config);
  process.stdout.write(`${describeConfig(config)}\n`);
  if (command.online) {
    try {
      const { checkOnline } = await import('./github/check-online.js');
      process.stdout.write(`${await checkOnline(githubAppSettingsOf(config))}\n`);
    } catch (error) {
      throw new OperatorError(`online check failed: ${(error as Error).message}`, 1);
    }
  }
  process.stdout.write(`configuration ${command.config} is valid\n`);
}

/** The password comes on standard input, never on the command line (ps, shell history). */
async function printPasswordHash(user: string): Promise<void> {
  if (process.stdin.isTTY) {
    process.stderr.write(`password for ${user} (input is shown): `);
  }
  let input = '';
  for await (const chunk of process.stdin) {
    input += String(chunk);
    if (input.includes('\n')) {
      break;
    }
  }
  const password = input.split(/\r?\n/)[0];
  if (password === '') {
    throw new OperatorError('no password on standard input', EXIT_USAGE);
  }
  const { hashPassword } = await import('./common/password-hash.js');
  process.stdout.write(`status_auth = ${user}:${await hashPassword(password)}\n`);
}

export async function main(argv: readonly string[]): Promise<number> {
  try {
    const command = parseArgs(argv);
    switch (command.kind) {
      case 'help':
        process.stdout.write(`${USAGE}\n`);
        return 0;
      case 'version':
        process.stdout.write(`eessi-bot ${botVersion()}\n`);
        return 0;
      case 'serve':
        await serve(command);
        return 0;
      case 'job-manager':
        await jobManager(command);
        return 0;
      case 'check-config':
        await checkConfig(command);
        return 0;
      case 'hash-password':
        await printPasswordHash(command.user);
        return 0;
      case 'simulate': {
        const { simulate } = await import('./simulate/simulate.js');
        return await simulate(command, load(command.config));
      }
    }
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`eessi-bot: ${error.message}\n`);
      return EXIT_USAGE;
    }
    if (error instanceof OperatorError) {
      process.stderr.write(`eessi-bot: ${error.message}\n`);
      return error.exitCode;
    }
    process.stderr.write(
      `eessi-bot: unexpected error: ${(error as Error).stack ?? String(error)}\n`,
    );
    return 1;
  }
}

const argv = process.argv.slice(2);
main(argv).then(
  (code) => {
    // serve lives on through its listening socket; the other commands are done: do not wait for
    // idle timers of libraries (HTTP keep-alive, rate limiters) to let the process end.
    const serving = code === 0 && parseArgsSafe(argv)?.kind === 'serve';
    if (serving) {
      return;
    }
    process.stdout.write('', () => process.exit(code));
  },
  (error: unknown) => {
    process.stderr.write(`eessi-bot: ${String(error)}\n`);
    process.exit(1);
  },
);

function parseArgsSafe(args: readonly string[]): Command | undefined {
  try {
    return parseArgs(args);
  } catch {
    return undefined;
  }
}
