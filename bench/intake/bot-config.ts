import { createHmac } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { botEnv, writeBotConfig as writeAppConfig } from '../../test/support/bot-config.js';
import { generateAppKeys } from '../../test/support/make-config.js';
import { examplePayload } from '../../test/support/payloads.js';
import type { LoadRequest } from '../load-client.js';
import { ServerProcess } from './server-process.js';

/**
 * The bot's app.cfg and App key under `root` (test/support/bot-config.ts), logging to a file
 * as operators' bots do.
 */
export function writeBotConfig(root: string): {
  readonly config: string;
  readonly keyPath: string;
} {
  const config = writeAppConfig({
    root,
    privateKey: generateAppKeys().privateKey,
    appName: 'bench-bot',
    logPath: join(root, 'log', 'event-handler.log'),
  });
  return { config, keyPath: join(root, 'app.pem') };
}

/**
 * The node options the systemd unit (docs/deploy/eessi-bot.service) starts the bot with: the
 * words between `node` and `dist/main.js` in its ExecStart.
 */
export function unitNodeOptions(projectRoot: string): string[] {
  const unit = readFileSync(join(projectRoot, 'docs', 'deploy', 'eessi-bot.service'), 'utf8');
  const execStart = /^ExecStart=(.*)$/m.exec(unit)?.[1];
  if (!execStart) {
    throw new Error('docs/deploy/eessi-bot.service has no ExecStart line');
  }
  const words = execStart.trim().split(/\s+/);
  const script = words.findIndex((word) => word.endsWith('/dist/main.js'));
  return words.slice(1, script);
}

/**
 * The bench's delivery: a real `pull_request.assigned` payload padded to ~25 KB, signed. An action
 * the bot has no handler for (`opened` has one since show_config_on_opened), so the bot's figures
 * are the intake's: verify, parse, store, answer, mark done.
 */
export function signedDeliveryLoad(secret: string): Omit<LoadRequest, 'port' | 'count'> {
  const payload = examplePayload('pull_request', 'assigned');
  // PR descriptions are the bulk of real deliveries; pad to GitHub's typical ~25 KB.
  payload.pull_request.body = 'x'.repeat(Math.max(0, 25_000 - JSON.stringify(payload).length));
  const body = Buffer.from(JSON.stringify(payload));
  return {
    body,
    event: 'pull_request',
    signature256: `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`,
    signature1: `sha1=${createHmac('sha1', secret).update(body).digest('hex')}`,
  };
}

/** `node [nodeOptions] dist/main.js serve --no-job-manager`, ready once GET /health is 200. */
export function startBotProcess(
  projectRoot: string,
  port: number,
  config: string,
  nodeOptions: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<ServerProcess> {
  const mainJs = join(projectRoot, 'dist', 'main.js');
  if (!existsSync(mainJs)) {
    throw new Error(`${mainJs} is missing: run npm run build`);
  }
  return ServerProcess.start(
    'eessi-bot',
    port,
    [
      ...nodeOptions,
      mainJs,
      'serve',
      '--config',
      config,
      '--port',
      String(port),
      '--no-job-manager',
    ],
    env,
    async () => (await fetch(`http://127.0.0.1:${port}/health`)).status === 200,
  );
}

/** The environment the bench's tools start the bot with: PATH, HOME, the secret, production. */
export function benchBotEnv(secret: string): NodeJS.ProcessEnv {
  return botEnv(secret, { NODE_ENV: 'production' });
}

/** Runs a bench tool's `main`, exiting 0 when it is done, 1 (with the error) when it fails. */
export function runTool(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
