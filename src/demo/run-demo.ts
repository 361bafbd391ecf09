import { generateKeyPairSync } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runGit } from '../builds/git.js';
import { startProcess } from '../common/command-runner.js';

/**
 * `npm run demo`: the bot's main job on a fresh machine with no GitHub App and no Slurm. It lays
 * out an example software-layer repository with one pull request, an app.cfg with two targets and
 * the local executor, and runs `simulate` on a real-shaped `pull_request.labeled` payload.
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const IDENTITY = {
  GIT_AUTHOR_NAME: 'EESSI demo',
  GIT_AUTHOR_EMAIL: 'demo@example.org',
  GIT_COMMITTER_NAME: 'EESSI demo',
  GIT_COMMITTER_EMAIL: 'demo@example.org',
};

async function makeRepository(
  work: string,
): Promise<{ bare: string; baseSha: string; headSha: string }> {
  const tree = join(work, 'software-layer');
  const bare = join(work, 'software-layer.git');
  await cp(join(ROOT, 'examples', 'software-layer'), tree, { recursive: true });
  const git = (args: string[], cwd = tree) => runGit(args, { cwd, env: IDENTITY });
  await git(['init', '--quiet', '--initial-branch=main']);
  await git(['add', '--all']);
  await git(['commit', '--quiet', '-m', 'software layer']);
  const baseSha = (await git(['rev-parse', 'HEAD'])).stdout.trim();
  await git(['checkout', '--quiet', '-b', 'add-demo-package']);
  const easystack = join(tree, 'easystacks', 'demo.yml');
  await mkdir(dirname(easystack), { recursive: true });
  await writeFile(easystack, 'easyconfigs:\n  - zlib-1.2.13-GCCcore-12.3.0.eb\n');
  await git(['add', '--all']);
  await git(['commit', '--quiet', '-m', 'Add a demo package']);
  const headSha = (await git(['rev-parse', 'HEAD'])).stdout.trim();
  await git(['init', '--quiet', '--bare', bare], work);
  await git(['push', '--quiet', bare, 'main:refs/heads/main', 'add-demo-package:refs/pull/1/head']);
  return { bare, baseSha, headSha };
}

function appCfg(work: string): string {
  const targets = {
    'linux/x86_64/generic': '--constraint shape=c4.2xlarge',
    'linux/x86_64/amd/zen2': '--constraint shape=c5a.2xlarge',
  };
  return `# Written by npm run demo: two targets, jobs run on this machine by the local executor.
[github]
app_id = 1
app_name = demo-bot
installation_id = 1
private_key = ${join(work, 'github-app.pem')}

[buildenv]
scheduler = local
build_job_script = ${join(ROOT, 'scripts', 'slurm', 'eessi-bot-build.slurm')}
jobs_base_dir = ${join(work, 'jobs')}
local_tmp = ${join(work, 'tmp')}/\\$USER
slurm_params = --hold
# Not run with scheduler = local; kept so this file shows what a cluster sets.
submit_command = sbatch

[architecturetargets]
arch_target_map = ${JSON.stringify(targets)}

[job_manager]
job_ids_dir = ${join(work, 'job-ids')}
poll_interval = 1
poll_command = squeue
scontrol_command = scontrol

[event_handler]
state_dir = ${join(work, 'state')}
`;
}

function run(command: string, args: string[]): Promise<number> {
  return new Promise((done) => {
    const child = startProcess(command, args, { stdio: 'inherit' });
    child.on('error', (error) => {
      process.stderr.write(`demo: cannot run ${command}: ${error.message}\n`);
      done(1);
    });
    child.on('close', (code) => done(code ?? 1));
  });
}

async function main(): Promise<number> {
  const work = await mkdtemp(join(tmpdir(), 'eessi-bot-demo-'));
  process.stdout.write(`demo workspace: ${work}\n`);
  const { bare, baseSha, headSha } = await makeRepository(work);

  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  await writeFile(join(work, 'github-app.pem'), privateKey, { mode: 0o600 });
  const config = join(work, 'app.cfg');
  await writeFile(config, appCfg(work));

  const event = JSON.parse(
    await readFile(join(ROOT, 'examples', 'events', 'pull_request.labeled.json'), 'utf8'),
  ) as { pull_request: { base: { sha: string }; head: { sha: string } } };
  event.pull_request.base.sha = baseSha;
  event.pull_request.head.sha = headSha;
  const eventPath = join(work, 'pull_request.labeled.json');
  await writeFile(eventPath, `${JSON.stringify(event, null, 2)}\n`);

  const args = [
    join(ROOT, 'dist', 'main.js'),
    'simulate',
    '--config',
    config,
    '--event',
    eventPath,
    '--repo',
    bare,
  ];
  process.stdout.write(`$ node ${args.join(' ')}\n`);
  return run(process.execPath, args);
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`demo failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
