/**
 * Where the bot's CPU goes per delivery: starts `node --cpu-prof dist/main.js serve` (as the intake
 * bench does, plus the profiler), sends the bench's load, stops it, and prints the main thread's
 * time per delivery by function (self time) and by where the code lives (our src, Nest, Express,
 * Node's internals, the garbage collector), in µs per delivery.
 *
 *   node dist-bench/bench/intake/profile-bot.js [deliveries] [extra node flags...]
 *
 * The profile covers the main thread only (not libuv's pool, not V8's helper threads); the
 * process's CPU from /proc, all threads, is printed beside it. V8's profiler samples wall-clock
 * time: on a host where other processes compete for the cores, the time the bot waits for a core
 * is charged to whatever it was running, mostly system calls (writev, write, fdatasync). Compare
 * proportions, or sample on-CPU time with Linux perf instead (`node --perf-basic-prof` for the
 * bot, `perf record -e cpu-clock -g -p <pid>` during the load: all threads, kernel included).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LoadClient } from '../load-client.js';
import { processCpuMicros, processMemoryMiB, waitUntilIdle } from './proc-stats.js';
import {
  benchBotEnv,
  runTool,
  signedDeliveryLoad,
  startBotProcess,
  writeBotConfig,
} from './bot-config.js';
import { freePort } from './server-process.js';

const PROJECT_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SECRET = 'bench-secret';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { functionName: string; url: string; lineNumber: number };
  readonly children?: number[];
}
interface Profile {
  readonly nodes: ProfileNode[];
  readonly samples: number[];
  readonly timeDeltas: number[];
}

function area(url: string, name: string): string {
  if (!url) {
    return name.startsWith('(') ? name : '(native)';
  }
  if (url.startsWith('node:')) {
    return `node:${url.slice(5).split('/')[0]}`;
  }
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) {
    return pkg[1];
  }
  const own = /\/dist\/(.*)$/.exec(url);
  return own ? `src/${own[1].replace(/\.js$/, '')}` : url;
}

/** Self time per function and per area, µs per delivery, from a .cpuprofile. */
export function summarize(profile: Profile, deliveries: number, top = 40): string {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i += 1) {
    self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + profile.timeDeltas[i]);
  }
  const byFunction = new Map<string, number>();
  const byArea = new Map<string, number>();
  let total = 0;
  for (const [id, micros] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    if (functionName === '(idle)' || functionName === '(program)') {
      continue;
    }
    total += micros;
    const where = area(url, functionName);
    const key = `${functionName || '(anonymous)'} ${where}${url ? `:${lineNumber + 1}` : ''}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + micros);
    byArea.set(where, (byArea.get(where) ?? 0) + micros);
  }
  const lines = (map: Map<string, number>, n: number) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([key, micros]) => `${(micros / deliveries).toFixed(1).padStart(8)} µs  ${key}`);
  return [
    `main thread, busy: ${(total / deliveries).toFixed(1)} µs per delivery`,
    '',
    'by area (self time):',
    ...lines(byArea, 25),
    '',
    'by function (self time):',
    ...lines(byFunction, top),
  ].join('\n');
}

async function main(): Promise<void> {
  const deliveries = Number(process.argv[2] ?? 10_000);
  const nodeFlags = process.argv.slice(3);
  const root = await mkdtemp(join(tmpdir(), 'eessi-bot-profile-'));
  const profileDir = join(root, 'profile');
  await mkdir(profileDir);
  const { config } = writeBotConfig(root);
  const load = { ...signedDeliveryLoad(SECRET), concurrency: 20 };
  const port = await freePort();
  const client = new LoadClient();
  const bot = await startBotProcess(
    PROJECT_ROOT,
    port,
    config,
    [...nodeFlags, '--cpu-prof', `--cpu-prof-dir=${profileDir}`],
    benchBotEnv(SECRET),
  );
  try {
    await client.run({ ...load, port, count: Math.min(3_000, deliveries) });
    await waitUntilIdle(bot.pid);
    const cpu0 = processCpuMicros(bot.pid);
    const result = await client.run({ ...load, port, count: deliveries });
    await waitUntilIdle(bot.pid);
    const cpu = (processCpuMicros(bot.pid) - cpu0) / deliveries;
    console.log(
      `${Math.round(result.perSecond)} deliveries/s, p50 ${result.p50Ms.toFixed(2)} ms, ` +
        `p99 ${result.p99Ms.toFixed(2)} ms, statuses ${JSON.stringify(result.statuses)}; ` +
        `process CPU ${cpu.toFixed(0)} µs per delivery (all threads, from /proc); ` +
        `peak RSS ${processMemoryMiB(bot.pid, 'VmHWM').toFixed(1)} MiB`,
    );
  } finally {
    await client.close();
    await bot.stop();
  }
  const file = readdirSync(profileDir).find((name) => name.endsWith('.cpuprofile'));
  if (!file) {
    throw new Error(`no profile written in ${profileDir}:\n${bot.output()}`);
  }
  // Warm-up included: its share is small next to the measured run, and counting it keeps this simple.
  const profile = JSON.parse(readFileSync(join(profileDir, file), 'utf8')) as Profile;
  console.log(summarize(profile, deliveries + Math.min(3_000, deliveries)));
  await rm(root, { recursive: true, force: true });
}

runTool(main);
