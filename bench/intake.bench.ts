/**
 * Intake benchmark (issues #2 and #16): the built bot against three other servers, each in its own
 * process, started one after the other, driven by the same client process with the same load:
 * signed ~25 KB `pull_request` deliveries shaped like GitHub's, 20 at a time over keep-alive
 * connections.
 *
 * - bare: node:http answering 200 (the ceiling of this machine, client included);
 * - durable floor (bench/intake/servers/durable-floor-server.ts): only the mandatory work, i.e.
 *   signature over the raw bytes, JSON parse, group-committed append and fdatasync before 202;
 * - Probot: a no-op app, persisting nothing (the framework GitHub Apps are usually written with);
 * - the bot: `node dist/main.js serve --no-job-manager` with a temporary app.cfg and state dir,
 *   and again with the node options of docs/deploy/eessi-bot.service (how operators run it).
 *
 * For each: deliveries/s and its ratio to bare, p50/p99 latency, the server's CPU per delivery
 * (utime + stime of all its threads from /proc, including what it does after answering, up to
 * idle), its peak resident memory (VmHWM), and two bursts of 200 deliveries at concurrency 20:
 * the first 200 a freshly started process receives (cold) and 200 after an idle second at the end
 * (warm). Every delivery is of an event the bot ignores (`pull_request.opened`), so the bot's
 * figures are intake plus marking done, no handler. Two rounds; the table gives medians.
 *
 * The state directories go under os.tmpdir(): set TMPDIR to measure another filesystem. Sizes can
 * be cut for a quick look: INTAKE_BENCH_DELIVERIES, INTAKE_BENCH_ROUNDS.
 *
 * Run by bench/run.ts (which builds dist/ first); alone: `node dist-bench/bench/intake.bench.js`.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { processCpuMicros, processMemoryMiB, waitUntilIdle } from './intake/proc-stats.js';
import { freePort, ServerProcess } from './intake/server-process.js';
import {
  signedDeliveryLoad,
  startBotProcess,
  unitNodeOptions,
  writeBotConfig,
} from './intake/bot-config.js';
import { LoadClient, type LoadRequest, type LoadResult } from './load-client.js';

const CONCURRENCY = 20;
const DELIVERIES = Number(process.env.INTAKE_BENCH_DELIVERIES ?? 10_000);
const WARMUP = Math.min(3_000, DELIVERIES);
const BURST = 200;
const ROUNDS = Number(process.env.INTAKE_BENCH_ROUNDS ?? 2);
const SECRET = 'bench-secret';
/** Probot's ratio to bare in issue #16's table, for when Probot is not installed. */
const ISSUE_PROBOT_RATIO = 0.32;

const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

interface Contender {
  readonly name: string;
  /** The status every delivery must get. */
  readonly status: number;
  start(port: number, root: string): Promise<ServerProcess>;
}

interface Measured {
  readonly run: LoadResult;
  readonly cpuMicrosPerDelivery: number;
  readonly peakRssMiB: number;
  readonly coldBurst: LoadResult;
  readonly warmBurst: LoadResult;
}

const baseEnv = (): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  NO_COLOR: '1',
  NODE_ENV: 'production',
});

function contenders(keyPath: string): Contender[] {
  const list: Contender[] = [
    {
      name: 'bare node:http (200)',
      status: 200,
      start: (port) =>
        ServerProcess.start('bare', port, [here('./intake/servers/bare-server.js')], {
          ...baseEnv(),
          PORT: String(port),
        }),
    },
    {
      name: 'durable floor (verify+parse+fdatasync, 202)',
      status: 202,
      start: (port, root) =>
        ServerProcess.start(
          'durable floor',
          port,
          [here('./intake/servers/durable-floor-server.js')],
          {
            ...baseEnv(),
            PORT: String(port),
            WEBHOOK_SECRET: SECRET,
            STATE_DIR: root,
          },
        ),
    },
  ];
  if (probotInstalled()) {
    list.push({
      name: 'Probot no-op (persists nothing, 200)',
      status: 200,
      start: (port) =>
        ServerProcess.start('Probot', port, [here('./intake/servers/probot-server.js')], {
          ...baseEnv(),
          PORT: String(port),
          WEBHOOK_SECRET: SECRET,
          PRIVATE_KEY_PATH: keyPath,
        }),
    });
  }
  const bot = (name: string, nodeOptions: string[]): Contender => ({
    name,
    status: 202,
    start: async (port, root) =>
      startBotProcess(PROJECT_ROOT, port, writeBotConfig(root).config, nodeOptions, {
        ...baseEnv(),
        GITHUB_APP_SECRET_TOKEN: SECRET,
      }),
  });
  list.push(bot('eessi-bot (node dist/main.js serve, 202)', []));
  const unitOptions = unitNodeOptions(PROJECT_ROOT);
  if (unitOptions.length > 0) {
    list.push(
      bot(`eessi-bot as the systemd unit runs it (node ${unitOptions.join(' ')})`, unitOptions),
    );
  }
  return list;
}

function probotInstalled(): boolean {
  return existsSync(join(PROJECT_ROOT, 'node_modules', 'probot', 'package.json'));
}

async function measure(
  contender: Contender,
  client: LoadClient,
  load: Omit<LoadRequest, 'port' | 'count'>,
  root: string,
): Promise<Measured> {
  const port = await freePort();
  const server = await contender.start(port, root);
  try {
    const run = async (count: number): Promise<LoadResult> => {
      const result = await client.run({ ...load, port, count, concurrency: CONCURRENCY });
      if ((result.statuses[contender.status] ?? 0) !== count) {
        throw new Error(
          `${contender.name} answered ${JSON.stringify(result.statuses)}, expected ${count} × ` +
            `${contender.status}:\n${server.output()}`,
        );
      }
      return result;
    };
    const coldBurst = await run(BURST);
    await run(WARMUP);
    await waitUntilIdle(server.pid);
    const cpuBefore = processCpuMicros(server.pid);
    const measured = await run(DELIVERIES);
    await waitUntilIdle(server.pid);
    const cpuMicrosPerDelivery = (processCpuMicros(server.pid) - cpuBefore) / DELIVERIES;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const warmBurst = await run(BURST);
    await waitUntilIdle(server.pid);
    const peakRssMiB = processMemoryMiB(server.pid, 'VmHWM');
    return { run: measured, cpuMicrosPerDelivery, peakRssMiB, coldBurst, warmBurst };
  } finally {
    await server.stop();
  }
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};
const round = (n: number, digits = 2): number => Math.round(n * 10 ** digits) / 10 ** digits;

export async function benchIntake(): Promise<Record<string, number | string>[]> {
  const root = await mkdtemp(join(tmpdir(), 'eessi-bot-bench-intake-'));
  const load = signedDeliveryLoad(SECRET);
  const body = load.body;
  // Probot's key; each run of the bot gets its own app.cfg and key in its own directory.
  const { keyPath } = writeBotConfig(root);
  const list = contenders(keyPath);
  const results = new Map<string, Measured[]>(list.map((c) => [c.name, []]));
  const client = new LoadClient();
  try {
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const [i, contender] of list.entries()) {
        const dir = join(root, `round-${round}-${i}`);
        await mkdir(dir);
        results.get(contender.name)!.push(await measure(contender, client, load, dir));
        await rm(dir, { recursive: true, force: true });
      }
    }
  } finally {
    await client.close();
    await rm(root, { recursive: true, force: true });
  }

  const perSecond = (name: string) => median(results.get(name)!.map((m) => m.run.perSecond));
  const bare = perSecond(list[0].name);
  const probot = list.find((c) => c.name.startsWith('Probot'));
  const probotRatio = probot ? perSecond(probot.name) / bare : ISSUE_PROBOT_RATIO;
  const rows = list.map((contender) => {
    const ms = results.get(contender.name)!;
    const of = (pick: (m: Measured) => number) => median(ms.map(pick));
    const ratio = perSecond(contender.name) / bare;
    return {
      server: contender.name,
      'deliveries/s': Math.round(perSecond(contender.name)),
      'vs bare': round(ratio),
      'vs Probot': round(ratio / probotRatio),
      'p50 ms': round(of((m) => m.run.p50Ms)),
      'p99 ms': round(of((m) => m.run.p99Ms)),
      'CPU µs/delivery': Math.round(of((m) => m.cpuMicrosPerDelivery)),
      'peak RSS MiB': round(
        of((m) => m.peakRssMiB),
        1,
      ),
      'burst p99 ms cold / warm': `${round(of((m) => m.coldBurst.p99Ms))} / ${round(of((m) => m.warmBurst.p99Ms))}`,
    };
  });
  return [
    ...rows,
    {
      server: `${DELIVERIES} deliveries of ${body.length} bytes at concurrency ${CONCURRENCY}, median of ${ROUNDS} rounds; state under ${tmpdir()}`,
    },
    {
      server:
        'targets for the bot: >= 0.45 vs bare, >= 1.4 vs Probot' +
        `${probot ? '' : ` (issue's Probot figure ${ISSUE_PROBOT_RATIO}× bare: Probot not installed)`}` +
        ', p99 <= 10 ms, peak RSS <= 80 MiB, burst p99 <= 20 ms',
    },
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  benchIntake().then(
    (rows) => console.table(rows),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
