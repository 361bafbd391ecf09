import { JOB_ID_PATTERN } from '../common/ids.js';

/**
 * argv → one command. Hand-written rather than util.parseArgs because the seed's
 * `job_manager.sh -i -1` passes a negative number as an option value, which parseArgs rejects.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const DEFAULT_PORT = 3000;
const DEFAULT_CONFIG = 'app.cfg';

export type Command =
  | { kind: 'help'; topic?: string }
  | { kind: 'version' }
  | { kind: 'serve'; config: string; port: number; jobManager: boolean; smeeUrl?: string }
  | { kind: 'job-manager'; config: string; iterations: number; jobIds?: string[] }
  | { kind: 'check-config'; config: string; online: boolean }
  | { kind: 'simulate'; config: string; event: string; repo?: string; build?: string }
  | { kind: 'hash-password'; user: string };

export const USAGE = `Usage: eessi-bot [command] [options]

Commands:
  serve            webhook server and job manager in one process (default)
  job-manager      only the job manager (another host may run the server)
  check-config     validate app.cfg and print the resolved settings (secrets redacted)
  simulate         run one saved webhook payload through the pipeline, GitHub replaced by the terminal
  hash-password USER  read a password on standard input, print the status_auth line for app.cfg

Options for every command:
  -c, --config FILE              configuration file (default: ./app.cfg)
  -h, --help                     this text
  -V, --version                  print the version

serve:
  -p, --port N                   port of the webhook server (default: ${DEFAULT_PORT})
      --no-job-manager           do not run the job manager in this process
      --smee-url URL             relay webhooks from a smee.io channel to this server

job-manager:
  -i, --max-manager-iterations N ticks to run: N < 0 forever (default), 0 none
  -j, --jobs ID[,ID...]          act only on these job ids

check-config:
      --online                   also mint an installation token to test the App's credentials

simulate:
      --event FILE               the webhook payload (JSON, as saved from GitHub or smee)
      --repo PATH_OR_URL         fetch the base repository from here instead of GitHub
      --build 'for:arch=… [on:arch=…] [exp:NAME=value]'
                                 v0.9-format config: the build request to run for the PR of
                                 the pull_request payload (as the \`bot: build\` command would)

The webhook secret is read from the environment variable GITHUB_APP_SECRET_TOKEN.`;

const COMMANDS = new Set([
  'serve',
  'job-manager',
  'check-config',
  'simulate',
  'hash-password',
  'help',
]);

export function parseArgs(argv: readonly string[]): Command {
  const args = [...argv];
  let name = 'serve';
  if (args.length > 0 && !args[0].startsWith('-')) {
    name = args.shift()!;
    if (!COMMANDS.has(name)) {
      throw new UsageError(`unknown command '${name}' (try --help)`);
    }
  }
  if (name === 'help') {
    return { kind: 'help', topic: args[0] };
  }
  if (name === 'hash-password') {
    return parseHashPassword(args);
  }

  const options = new Map<string, string | true>();
  const valued: Record<string, string> = {
    '-c': 'config',
    '--config': 'config',
    '-p': 'port',
    '--port': 'port',
    '-i': 'iterations',
    '--max-manager-iterations': 'iterations',
    '-j': 'jobs',
    '--jobs': 'jobs',
    '--smee-url': 'smee-url',
    '--event': 'event',
    '--repo': 'repo',
    '--build': 'build',
  };
  const flags: Record<string, string> = {
    '-h': 'help',
    '--help': 'help',
    '-V': 'version',
    '--version': 'version',
    '--no-job-manager': 'no-job-manager',
    '--online': 'online',
  };
  while (args.length > 0) {
    const arg = args.shift()!;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const key = eq > 0 ? arg.slice(0, eq) : arg;
    if (flags[key]) {
      if (eq > 0) {
        throw new UsageError(`option ${key} takes no value`);
      }
      options.set(flags[key], true);
    } else if (valued[key]) {
      const value = eq > 0 ? arg.slice(eq + 1) : args.shift();
      if (value === undefined || value === '') {
        throw new UsageError(`option ${key} needs a value`);
      }
      options.set(valued[key], value);
    } else {
      throw new UsageError(`unknown option '${arg}' for '${name}' (try --help)`);
    }
  }
  if (options.has('help')) {
    return { kind: 'help', topic: name };
  }
  if (options.has('version')) {
    return { kind: 'version' };
  }

  const allowed: Record<string, string[]> = {
    serve: ['config', 'port', 'no-job-manager', 'smee-url'],
    'job-manager': ['config', 'iterations', 'jobs'],
    'check-config': ['config', 'online'],
    simulate: ['config', 'event', 'repo', 'build'],
  };
  for (const key of options.keys()) {
    if (!allowed[name].includes(key)) {
      throw new UsageError(`option --${key} does not apply to '${name}'`);
    }
  }
  const config = (options.get('config') as string | undefined) ?? DEFAULT_CONFIG;
  const text = (key: string) => options.get(key) as string | undefined;

  switch (name) {
    case 'serve': {
      const port = text('port') === undefined ? DEFAULT_PORT : integer('--port', text('port')!);
      if (port < 0 || port > 65535) {
        throw new UsageError(`--port must be 0..65535, got ${port}`);
      }
      const smeeUrl = text('smee-url');
      if (smeeUrl !== undefined && !/^https?:\/\/\S+$/.test(smeeUrl)) {
        throw new UsageError(`--smee-url must be an http(s) URL, got '${smeeUrl}'`);
      }
      return { kind: 'serve', config, port, jobManager: !options.has('no-job-manager'), smeeUrl };
    }
    case 'job-manager': {
      const iterations = text('iterations') === undefined ? -1 : integer('-i', text('iterations')!);
      const jobs = text('jobs');
      let jobIds: string[] | undefined;
      if (jobs !== undefined) {
        jobIds = jobs
          .split(',')
          .map((id) => id.trim())
          .filter((id) => id !== '');
        const bad = jobIds.find((id) => !JOB_ID_PATTERN.test(id));
        if (bad !== undefined || jobIds.length === 0) {
          throw new UsageError(`-j/--jobs takes job ids separated by commas, got '${jobs}'`);
        }
      }
      return { kind: 'job-manager', config, iterations, jobIds };
    }
    case 'check-config':
      return { kind: 'check-config', config, online: options.has('online') };
    default: {
      const event = text('event');
      if (event === undefined) {
        throw new UsageError(`simulate needs --event FILE (a saved webhook payload)`);
      }
      return { kind: 'simulate', config, event, repo: text('repo'), build: text('build') };
    }
  }
}

function parseHashPassword(args: string[]): Command {
  if (args.some((arg) => arg === '-h' || arg === '--help')) {
    return { kind: 'help', topic: 'hash-password' };
  }
  const [user, ...rest] = args;
  if (user === undefined || user.startsWith('-')) {
    throw new UsageError('hash-password needs the user name: eessi-bot hash-password USER');
  }
  if (rest.length > 0) {
    throw new UsageError(`unexpected argument '${rest[0]}' for 'hash-password'`);
  }
  if (!/^[^\s:]+$/.test(user)) {
    throw new UsageError(`the user name may not contain ':' or spaces, got '${user}'`);
  }
  return { kind: 'hash-password', user };
}

function integer(option: string, value: string): number {
  if (!/^-?\d+$/.test(value)) {
    throw new UsageError(`${option} takes a whole number, got '${value}'`);
  }
  return Number(value);
}
