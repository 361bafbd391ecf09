import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { parseArgs } from '../../src/cli/parse-args.js';
import { SHUTDOWN_GRACE_MS } from '../../src/intake/event-dispatcher.js';
import { cleanupAfterAll } from '../support/test-kit.js';

const DEPLOY = join(process.cwd(), 'docs', 'deploy');
const SETUP = join(process.cwd(), 'docs', 'setup.md');

type Unit = Map<string, Map<string, string[]>>;

/** systemd's unit-file syntax, as far as these files use it: sections, `Key=value`, comments. */
function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | undefined;
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) {
      return;
    }
    const header = /^\[([A-Za-z]+)\]$/.exec(line);
    if (header) {
      section = new Map();
      unit.set(header[1], section);
      return;
    }
    const eq = line.indexOf('=');
    if (!section || eq <= 0) {
      throw new Error(`line ${index + 1} is not Key=value: ${raw}`);
    }
    const key = line.slice(0, eq).trim();
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1).trim()]);
  });
  return unit;
}

/** The last value of a key (systemd's rule for single-valued settings). */
function value(unit: Unit, section: string, key: string): string | undefined {
  return unit.get(section)?.get(key)?.at(-1);
}

function seconds(span: string): number {
  const match = /^(\d+)\s*(s|sec|min|m)?$/.exec(span);
  if (!match) {
    throw new Error(`unexpected time span '${span}'`);
  }
  return Number(match[1]) * (match[2] === 'min' || match[2] === 'm' ? 60 : 1);
}

/** The arguments after `dist/main.js` in ExecStart, after checking how it runs the bot. */
function mainArguments(execStart: string): string[] {
  const words = execStart.split(/\s+/);
  expect(words[0]).toMatch(/^\/\S*\/node$/);
  expect(words[1]).toMatch(/^\/\S*\/dist\/main\.js$/);
  return words.slice(2);
}

const HARDENING_KEPT = { NoNewPrivileges: 'yes', PrivateTmp: 'yes', ProtectSystem: 'full' };

describe('docs/deploy/eessi-bot.service', () => {
  let unit: Unit;
  beforeAll(async () => {
    unit = parseUnit(await readFile(join(DEPLOY, 'eessi-bot.service'), 'utf8'));
  });

  it('runs `serve` with arguments the bot accepts', () => {
    const command = parseArgs(mainArguments(value(unit, 'Service', 'ExecStart')!));
    expect(command).toMatchObject({
      kind: 'serve',
      port: 3030,
      config: '/etc/eessi-bot/app.cfg',
      jobManager: true,
    });
    // Relative paths in app.cfg are taken from its directory; the working directory is the checkout.
    expect(value(unit, 'Service', 'WorkingDirectory')).toBe('/opt/eessi-bot');
    expect(value(unit, 'Service', 'ExecStart')).toContain('/opt/eessi-bot/dist/main.js');
  });

  it('reads the webhook secret from a required environment file and runs unprivileged', () => {
    // No leading '-': without the secret, `serve` cannot verify a single delivery.
    expect(value(unit, 'Service', 'EnvironmentFile')).toBe('/etc/eessi-bot/eessi-bot.env');
    expect(value(unit, 'Service', 'User')).toMatch(/^[a-z_][a-z0-9_-]*$/);
    expect(value(unit, 'Service', 'User')).not.toBe('root');
    expect(unit.get('Service')!.has('Environment')).toBe(false);
  });

  it('restarts on failure, except on a configuration error, and leaves time for a clean stop', () => {
    expect(value(unit, 'Service', 'Restart')).toBe('on-failure');
    expect(seconds(value(unit, 'Service', 'RestartSec')!)).toBeGreaterThan(0);
    // main.ts exits 2 on usage and configuration errors.
    expect(value(unit, 'Service', 'RestartPreventExitStatus')).toBe('2');
    expect(value(unit, 'Service', 'KillSignal')).toBe('SIGTERM');
    expect(seconds(value(unit, 'Service', 'TimeoutStopSec')!) * 1000).toBeGreaterThan(
      SHUTDOWN_GRACE_MS,
    );
    expect(value(unit, 'Install', 'WantedBy')).toBe('multi-user.target');
  });

  it('is hardened without blocking job directories or sbatch', () => {
    for (const [key, expected] of Object.entries(HARDENING_KEPT)) {
      expect([key, value(unit, 'Service', key)]).toEqual([key, expected]);
    }
    // Anything stricter needs the site's job, state and log paths in ReadWritePaths=.
    const readWrite = unit.get('Service')!.get('ReadWritePaths') ?? [];
    if (
      value(unit, 'Service', 'ProtectSystem') === 'strict' ||
      value(unit, 'Service', 'ProtectHome') !== 'no'
    ) {
      expect(readWrite.length).toBeGreaterThan(0);
    }
    // munge's socket and slurmctld: Unix and IP sockets must stay allowed.
    expect(value(unit, 'Service', 'RestrictAddressFamilies')?.split(' ')).toEqual(
      expect.arrayContaining(['AF_UNIX', 'AF_INET', 'AF_INET6']),
    );
    // Node's JIT needs writable executable memory.
    expect(unit.get('Service')!.has('MemoryDenyWriteExecute')).toBe(false);
  });
});

describe('docs/deploy/job-manager.service', () => {
  let unit: Unit;
  beforeAll(async () => {
    unit = parseUnit(await readFile(join(DEPLOY, 'job-manager.service'), 'utf8'));
  });

  it('runs the job manager forever with the same configuration file', () => {
    const command = parseArgs(mainArguments(value(unit, 'Service', 'ExecStart')!));
    expect(command).toEqual({
      kind: 'job-manager',
      config: '/etc/eessi-bot/app.cfg',
      iterations: -1,
      jobIds: undefined,
    });
    expect(value(unit, 'Service', 'Restart')).toBe('on-failure');
    expect(value(unit, 'Service', 'KillSignal')).toBe('SIGTERM');
    // It needs no webhook secret, so its environment file is optional.
    expect(value(unit, 'Service', 'EnvironmentFile')).toMatch(/^-\//);
    for (const [key, expected] of Object.entries(HARDENING_KEPT)) {
      expect([key, value(unit, 'Service', key)]).toEqual([key, expected]);
    }
  });

  it('leaves a poll with a slow scheduler command time to finish on stop', () => {
    // Default [job_manager] command_timeout is 60 s; a poll may wait that long for squeue.
    expect(seconds(value(unit, 'Service', 'TimeoutStopSec')!)).toBeGreaterThan(60);
  });
});

describe('docs/deploy/eessi-bot.env.example', () => {
  it('holds only VAR=value lines and comments, and names the webhook secret', async () => {
    const lines = (await readFile(join(DEPLOY, 'eessi-bot.env.example'), 'utf8')).split('\n');
    const settings = lines.filter(
      (line) => line.trim() !== '' && !line.trimStart().startsWith('#'),
    );
    for (const line of settings) {
      expect(line).toMatch(/^[A-Z_][A-Z0-9_]*=\S*$/);
    }
    expect(settings.map((line) => line.split('=')[0])).toEqual(['GITHUB_APP_SECRET_TOKEN']);
  });
});

describe('docs/github-app-manifest.json', () => {
  /** The fields of GitHub's App-manifest format; anything else would be ignored or refused. */
  const MANIFEST_KEYS = [
    'name',
    'url',
    'hook_attributes',
    'redirect_url',
    'callback_urls',
    'setup_url',
    'description',
    'public',
    'default_events',
    'default_permissions',
    'request_oauth_on_install',
    'setup_on_update',
  ];

  it('asks for exactly the permissions and events the bot needs', async () => {
    const manifest = JSON.parse(
      await readFile(join(process.cwd(), 'docs', 'github-app-manifest.json'), 'utf8'),
    ) as Record<string, unknown>;
    expect(Object.keys(manifest).filter((key) => !MANIFEST_KEYS.includes(key))).toEqual([]);
    expect(manifest.default_permissions).toEqual({
      pull_requests: 'write',
      issues: 'write',
      contents: 'read',
      metadata: 'read',
    });
    expect(manifest.default_events).toEqual(['pull_request', 'issue_comment']);
    expect(manifest.public).toBe(false);
    // GitHub limits App names to 34 characters.
    expect(typeof manifest.name === 'string' && manifest.name.length <= 34).toBe(true);
    const hook = manifest.hook_attributes as { url: string; active: boolean };
    expect(hook.active).toBe(true);
    expect(new URL(hook.url).protocol).toBe('https:');
    expect(new URL(manifest.redirect_url as string).protocol).toMatch(/^https?:$/);
    expect(new URL(manifest.url as string).protocol).toBe('https:');
  });
});

describe('docs/setup.md', () => {
  it('links only to files that exist', async () => {
    const guide = await readFile(SETUP, 'utf8');
    const targets = [...guide.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)]
      .map((m) => m[1])
      .filter((target) => !/^[a-z]+:/.test(target));
    expect(targets).toEqual(
      expect.arrayContaining(['configuration.md', 'github-app-manifest.json']),
    );
    const missing = targets.filter((target) => !existsSync(resolve(dirname(SETUP), target)));
    expect(missing).toEqual([]);
  });

  it("lists the manifest's permissions in its table", async () => {
    const guide = await readFile(SETUP, 'utf8');
    for (const row of [
      /\| Pull requests \| Read and write \|/,
      /\| Issues \| Read and write \|/,
      /\| Contents \| Read-only \|/,
      /\| Metadata \| Read-only \|/,
    ]) {
      expect(guide).toMatch(row);
    }
  });
});

function hasSystemdAnalyze(): boolean {
  try {
    execFileSync('systemd-analyze', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function verify(
  unitPath: string,
  user = false,
  runtimeDir?: string,
): Promise<{ code: number; output: string }> {
  const args = [...(user ? ['--user'] : []), 'verify', unitPath];
  const env = { ...process.env, ...(runtimeDir ? { XDG_RUNTIME_DIR: runtimeDir } : {}) };
  return new Promise((settle) => {
    execFile('systemd-analyze', args, { env, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      settle({ code, output: `${stdout}${stderr}`.trim() });
    });
  });
}

const withSystemd = hasSystemdAnalyze() ? describe : describe.skip;

withSystemd('systemd-analyze verify', () => {
  const cleanup = cleanupAfterAll();
  let dir: string;
  let checkout: string;

  /** A copy whose paths exist here: verify checks that ExecStart's program is executable. */
  async function installedCopy(source: string, name: string, text?: string): Promise<string> {
    const original = text ?? (await readFile(join(DEPLOY, source), 'utf8'));
    const path = join(dir, name);
    await writeFile(
      path,
      original.replaceAll('/usr/bin/node', process.execPath).replaceAll('/opt/eessi-bot', checkout),
    );
    return path;
  }

  beforeAll(async () => {
    dir = await cleanup.tempDir('systemd-units-');
    checkout = join(dir, 'checkout');
    await mkdir(join(checkout, 'dist'), { recursive: true });
    await writeFile(join(checkout, 'dist', 'main.js'), '');
  });

  it.each([
    ['eessi-bot.service', 'eessi-bot.service'],
    ['job-manager.service', 'eessi-bot-job-manager.service'],
  ])(
    'accepts %s without a warning',
    async (source, name) => {
      const result = await verify(await installedCopy(source, name));
      expect(result).toEqual({ code: 0, output: '' });
    },
    60_000,
  );

  it('would report a mistake (the check can fail)', async () => {
    const text = (await readFile(join(DEPLOY, 'eessi-bot.service'), 'utf8')).replace(
      'Restart=on-failure',
      'Restart=on-failure\nRestartSecs=5',
    );
    const result = await verify(await installedCopy('', 'broken.service', text));
    expect(result.output).toMatch(/Unknown key .*RestartSecs/);
  }, 60_000);

  it("accepts the user-service variant made by setup.md's sed command", async () => {
    // The command as documented, minus its input and output paths.
    const guide = await readFile(SETUP, 'utf8');
    const command = /^sed (-e '[^']*'\s*\\?\s*)+/m.exec(guide);
    expect(command).not.toBeNull();
    const expressions = [...command![0].matchAll(/-e '([^']*)'/g)].flatMap((m) => ['-e', m[1]]);
    const { stdout: userUnit } = await promisify(execFile)('sed', [
      ...expressions,
      join(DEPLOY, 'eessi-bot.service'),
    ]);
    const unit = parseUnit(userUnit);
    expect(unit.get('Service')!.has('User')).toBe(false);
    expect(unit.get('Service')!.has('ProtectSystem')).toBe(false);
    expect(value(unit, 'Service', 'EnvironmentFile')).toBe('%h/.config/eessi-bot/eessi-bot.env');
    expect(value(unit, 'Install', 'WantedBy')).toBe('default.target');

    const runtimeDir = join(dir, 'runtime');
    await mkdir(runtimeDir, { mode: 0o700, recursive: true });
    const result = await verify(
      await installedCopy('', 'eessi-bot.service', userUnit),
      true,
      runtimeDir,
    );
    expect(result).toEqual({ code: 0, output: '' });
  }, 60_000);
});
