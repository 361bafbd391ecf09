/**
 * Where the bot's resident memory comes from, measured as the intake bench measures it (VmRSS and
 * VmHWM of /proc/<pid>/status), each in its own process: node with nothing loaded, node holding
 * only `@nestjs/core` (and with Nest's Express platform), the bot idle after start, and the bot's
 * peak under the bench's load (3,200 deliveries to warm up, then 10,000), for each set of node
 * options given. The resident set is split into the pages of the `node` binary (file-backed,
 * shared between node processes), anonymous memory (V8's heap, malloc) and the rest.
 *
 *   node dist-bench/bench/intake/memory-floor.js ["--max-semi-space-size=4" ...]
 *
 * Each argument is one set of node options for the bot (space-separated words); none: the bot
 * without options and as docs/deploy/eessi-bot.service starts it.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LoadClient } from '../load-client.js';
import {
  signedDeliveryLoad,
  startBotProcess,
  unitNodeOptions,
  writeBotConfig,
  runTool,
  benchBotEnv,
} from './bot-config.js';
import { processMemoryMiB, waitUntilIdle } from './proc-stats.js';
import { freePort } from './server-process.js';

const PROJECT_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SECRET = 'bench-secret';

interface Breakdown {
  readonly rss: number;
  readonly hwm: number;
  readonly nodeBinary: number;
  readonly anonymous: number;
}

/** RSS by mapping kind from /proc/<pid>/smaps, MiB. */
function breakdown(pid: number): Breakdown {
  let nodeBinary = 0;
  let anonymous = 0;
  let mapping = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      mapping = head[1];
    } else if (line.startsWith('Rss:')) {
      const kib = Number(line.split(/\s+/)[1]);
      if (mapping === process.execPath || mapping.endsWith('/node')) {
        nodeBinary += kib;
      } else if (mapping === '' || mapping === '[heap]' || mapping.startsWith('[anon')) {
        anonymous += kib;
      }
    }
  }
  return {
    rss: processMemoryMiB(pid, 'VmRSS'),
    hwm: processMemoryMiB(pid, 'VmHWM'),
    nodeBinary: nodeBinary / 1024,
    anonymous: anonymous / 1024,
  };
}

/** A node process importing `modules`, measured once it is idle. */
async function importing(modules: readonly string[]): Promise<Breakdown> {
  const script =
    `for (const m of ${JSON.stringify(modules)}) await import(m);` +
    'process.send("ready"); setInterval(() => {}, 1000);';
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: PROJECT_ROOT,
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  try {
    await new Promise((resolve, reject) => {
      child.once('message', resolve);
      child.once('exit', (code) =>
        reject(new Error(`import of ${modules.join(', ')} exited ${code}`)),
      );
    });
    await waitUntilIdle(child.pid!);
    return breakdown(child.pid!);
  } finally {
    child.kill();
  }
}

async function bot(nodeOptions: readonly string[]): Promise<{ idle: Breakdown; peak: Breakdown }> {
  const root = await mkdtemp(join(tmpdir(), 'eessi-bot-memory-'));
  const port = await freePort();
  const server = await startBotProcess(
    PROJECT_ROOT,
    port,
    writeBotConfig(root).config,
    nodeOptions,
    benchBotEnv(SECRET),
  );
  const client = new LoadClient();
  try {
    await waitUntilIdle(server.pid);
    const idle = breakdown(server.pid);
    const load = { ...signedDeliveryLoad(SECRET), port, concurrency: 20 };
    await client.run({ ...load, count: 3_200 });
    await client.run({ ...load, count: 10_000 });
    await waitUntilIdle(server.pid);
    return { idle, peak: breakdown(server.pid) };
  } finally {
    await client.close();
    await server.stop();
    await rm(root, { recursive: true, force: true });
  }
}

const row = (what: string, m: Breakdown, peak = false) => ({
  process: what,
  'RSS MiB': Math.round((peak ? m.hwm : m.rss) * 10) / 10,
  'node binary MiB': Math.round(m.nodeBinary * 10) / 10,
  'anonymous MiB': Math.round(m.anonymous * 10) / 10,
});

async function main(): Promise<void> {
  const optionSets =
    process.argv.length > 2
      ? process.argv.slice(2).map((words) => words.split(' ').filter(Boolean))
      : [[], unitNodeOptions(PROJECT_ROOT)];
  const rows = [
    row('node, nothing imported', await importing([])),
    row('node + @nestjs/core', await importing(['@nestjs/core'])),
    row(
      'node + @nestjs/core + @nestjs/platform-express',
      await importing(['@nestjs/core', '@nestjs/platform-express']),
    ),
  ];
  for (const options of optionSets) {
    const name = `serve --no-job-manager${options.length > 0 ? ` (node ${options.join(' ')})` : ''}`;
    const { idle, peak } = await bot(options);
    rows.push(row(`${name}, idle after start`, idle));
    rows.push(row(`${name}, peak under load (VmHWM; split at the end)`, peak, true));
  }
  console.table(rows);
}

runTool(main);
