/**
 * On-CPU profile of an intake server under the bench's load, with Linux perf: where the CPU of one
 * delivery goes, all threads (event loop, libuv's pool, GC and compiler threads), user space.
 * Unlike `--cpu-prof` (profile-bot.ts), which samples the main thread's wall-clock time and so
 * charges time spent waiting for a core on a busy host to whatever ran, this counts CPU only.
 *
 *   node dist-bench/bench/intake/perf-profile.js [bot|floor] [deliveries] [extra node flags...]
 *
 * Starts the bot (`serve --no-job-manager`) or the durable-floor server with `--perf-basic-prof`,
 * warms it up, then runs `perf record -e cpu-clock -p <pid>` during the measured run only, and
 * prints self time per symbol and per area (JavaScript by source file, V8, libc, kernel) in µs per
 * delivery. Needs `perf` on the PATH and kernel.perf_event_paranoid <= 2.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
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
import { freePort, ServerProcess } from './server-process.js';

const PROJECT_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SECRET = 'bench-secret';

const NATIVE_AREAS: [RegExp, string][] = [
  [/JsonParser|JsonStringifier/, 'V8: JSON parse/stringify'],
  [/Scaveng|Heap|MarkCompact|Marking|Sweep|Evacuat|Concurrent|GC|MinorMS/, 'V8: GC'],
  [/compiler::|Turbofan|Maglev|Compile|Baseline|Deoptimiz/, 'V8: compilers'],
  [/^Builtins_|^Builtin:/, 'V8: builtins (ICs, promises, calls)'],
  [/sha256|sha1|HMAC|EVP_|OPENSSL|CRYPTO_/i, 'crypto (HMAC)'],
  [/crc32/, 'zlib crc32'],
  [/llhttp/, 'HTTP parser'],
  [/^uv_|^uv__/, 'libuv'],
  [/^node::/, 'node C++'],
  [/^v8::|^Runtime_/, 'V8: runtime'],
];

function areaOf(symbol: string, dso: string): string {
  if (dso.startsWith('[JIT]') || dso.startsWith('perf-')) {
    const own = /\/dist\/(.*)\.js/.exec(symbol);
    if (own) {
      return `JS: src/${own[1]}`;
    }
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/:]+)/.exec(symbol);
    if (pkg) {
      return `JS: ${pkg[1]}`;
    }
    const internal = /node:([a-z_]+)/.exec(symbol);
    return internal ? `JS: node:${internal[1]}` : 'JS: other';
  }
  if (dso === 'node') {
    return NATIVE_AREAS.find(([pattern]) => pattern.test(symbol))?.[1] ?? 'node: other';
  }
  return dso;
}

/** Self samples per symbol from `perf report`, as µs per delivery, by symbol and by area. */
function summarize(report: string, sampleMicros: number, deliveries: number): string {
  const bySymbol = new Map<string, number>();
  const byArea = new Map<string, number>();
  const byThread = new Map<string, number>();
  let total = 0;
  for (const line of report.split('\n')) {
    // "<samples> <comm> <dso> <symbol>" with --field-separator=\t
    const [samples, thread, dso, symbol] = line.split('\t');
    const n = Number(samples);
    if (!Number.isFinite(n) || n <= 0 || !dso) {
      continue;
    }
    const name = (symbol ?? '').replace(/^\[[.k]\] /, '').trim();
    const micros = n * sampleMicros;
    total += micros;
    bySymbol.set(`${name} (${dso})`, (bySymbol.get(`${name} (${dso})`) ?? 0) + micros);
    const comm = (thread ?? '').trim();
    byThread.set(comm, (byThread.get(comm) ?? 0) + micros);
    const area = areaOf(name, dso.trim());
    byArea.set(area, (byArea.get(area) ?? 0) + micros);
  }
  const lines = (map: Map<string, number>, n: number) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([key, micros]) => `${(micros / deliveries).toFixed(1).padStart(8)} µs  ${key}`);
  return [
    `on CPU, all threads, user space: ${(total / deliveries).toFixed(1)} µs per delivery`,
    '',
    'by thread:',
    ...lines(byThread, 10),
    '',
    'by area:',
    ...lines(byArea, 20),
    '',
    'by symbol:',
    ...lines(bySymbol, Number(process.env.PERF_TOP ?? 40)),
  ].join('\n');
}

async function startFloor(port: number, root: string, flags: string[]): Promise<ServerProcess> {
  const floor = fileURLToPath(new URL('./servers/durable-floor-server.js', import.meta.url));
  return ServerProcess.start('durable floor', port, [...flags, floor], {
    PATH: process.env.PATH,
    PORT: String(port),
    WEBHOOK_SECRET: SECRET,
    STATE_DIR: root,
  });
}

async function main(): Promise<void> {
  const which = process.argv[2] === 'floor' ? 'floor' : 'bot';
  const deliveries = Number(process.argv[3] ?? 10_000);
  const flags = ['--perf-basic-prof', ...process.argv.slice(4)];
  const root = await mkdtemp(join(tmpdir(), 'eessi-bot-perf-'));
  const port = await freePort();
  const server =
    which === 'floor'
      ? await startFloor(port, root, flags)
      : await startBotProcess(
          PROJECT_ROOT,
          port,
          writeBotConfig(root).config,
          flags,
          benchBotEnv(SECRET),
        );
  const load = { ...signedDeliveryLoad(SECRET), concurrency: 20 };
  const client = new LoadClient();
  const data = join(root, 'perf.data');
  const frequency = 2_000;
  try {
    await client.run({ ...load, port, count: Math.min(3_000, deliveries) });
    await waitUntilIdle(server.pid);
    const perf = spawn(
      'perf',
      [
        'record',
        '-e',
        'cpu-clock:u',
        '-F',
        String(frequency),
        '-p',
        String(server.pid),
        '-o',
        data,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    const cpu0 = processCpuMicros(server.pid);
    const result = await client.run({ ...load, port, count: deliveries });
    await waitUntilIdle(server.pid);
    const cpu = (processCpuMicros(server.pid) - cpu0) / deliveries;
    perf.kill('SIGINT');
    await new Promise((resolve) => perf.once('exit', resolve));
    console.log(
      `${which}: ${Math.round(result.perSecond)} deliveries/s, p50 ${result.p50Ms.toFixed(2)} ms, ` +
        `p99 ${result.p99Ms.toFixed(2)} ms, statuses ${JSON.stringify(result.statuses)}; ` +
        `process CPU ${cpu.toFixed(0)} µs per delivery (/proc, user + system); ` +
        `peak RSS ${processMemoryMiB(server.pid, 'VmHWM').toFixed(1)} MiB`,
    );
  } finally {
    await client.close();
    await server.stop();
  }
  const report = spawnSync(
    'perf',
    [
      'report',
      '-i',
      data,
      '--stdio',
      '--no-children',
      '--sort',
      'comm,dso,sym',
      '-F',
      'sample,comm,dso,sym',
      '--field-separator=\t',
      '-q',
    ],
    { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 },
  );
  if (report.status !== 0) {
    throw new Error(`perf report failed: ${report.stderr}`);
  }
  console.log(summarize(report.stdout, 1_000_000 / frequency, deliveries));
  if (process.env.PERF_KEEP) {
    console.log(`perf data kept in ${data}`);
  } else {
    await rm(root, { recursive: true, force: true });
  }
}

runTool(main);
