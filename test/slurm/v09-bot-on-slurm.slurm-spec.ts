import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeExit, startBot, type BotProcess } from '../support/bot-process.js';
import { createGitFixture, type FixtureFile, type GitFixture } from '../support/git-fixture.js';
import {
  BOT_BUILD_JOB_SCRIPT,
  V09_SOFTWARE_LAYER,
  readWithConfigparser,
} from '../support/job-dir.js';
import { generateAppKeys } from '../support/make-config.js';
import { labeledPullRequestPayload } from '../support/payloads.js';
import {
  SLURM_COMMANDS,
  queue,
  requireSlurmCluster,
  scancelByName,
  scontrolWrapperCalls,
  writeScontrolWrapper,
  type SlurmCluster,
} from '../support/slurm-cluster.js';

/*
 * A v0.9-format app.cfg through the BUILT bot on the real local Slurm, to the finished rows:
 * `node dist/main.js simulate --build 'for:arch=…'` plans the request over node_type_map ×
 * repos.cfg, lays out run_001/<cpu_subdir>/<repo_id> with cfg/job.cfg, submits
 * scripts/slurm/bot-build.slurm held (job_handover_protocol = hold_release) with the node type's
 * --constraint, and runs the job manager until the job finished; the job runs the bot/ scripts of
 * test/fixtures/software-layer-v09 (the PR's tree).
 *
 * simulate posts its comments to the terminal (each version of each comment, as GitHub would
 * show it), so the comment rows are read from its output. Until `bot: build` lands (the next
 * issue) a v0.9 build cannot be asked for by a webhook, which is why no FakeGitHub is involved.
 *
 * scontrol_command is a wrapper (writeScontrolWrapper) that records each call, with the job's queue
 * state at that moment, and runs the real scontrol: it proves the job was still held when the
 * manager released it. It also checks and drops `--clusters=<cluster>` (from `%(cluster)s`),
 * which the local cluster cannot serve without a slurmdbd.
 */

const REPO = 'EESSI/software-layer';
const PR = 21;
const DELIVERY = 'b7e1d2c0-4a5b-11ef-9f00-0123456789ab';
const APP_NAME = 'v09-slurm-e2e';
const REPO_ID = 'eessi.io-2025.06-software';
const NODE_TYPE_MAP = {
  c5a: {
    os: 'linux',
    cpu_subdir: 'x86_64/amd/zen2',
    slurm_params: '--constraint shape=c5a.2xlarge',
    repo_targets: [REPO_ID],
  },
  c4: {
    os: 'linux',
    cpu_subdir: 'x86_64/generic',
    slurm_params: '--constraint shape=c4.2xlarge',
    repo_targets: [REPO_ID],
  },
};
const CASE_TIMEOUT_MS = 150_000;
const runId = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;

let cluster: SlurmCluster;
let fixture: GitFixture;
let root: string;
const jobName = `eessi-bot-e2e-${runId}-v09`;
const bots: BotProcess[] = [];

beforeAll(async () => {
  cluster = await requireSlurmCluster();
  root = mkdtempSync(join(tmpdir(), 'eessi-bot-v09-built-'));
  fixture = createGitFixture({ repo: REPO });
}, 60_000);

afterAll(async () => {
  await Promise.all(bots.map((bot) => bot.stop()));
  await scancelByName(jobName);
  fixture.cleanup();
  if (!process.env.SLURM_E2E_KEEP) {
    rmSync(root, { recursive: true, force: true });
  }
}, 30_000);

/** refs/pull/<PR>/head: the base plus the fixture's bot/ scripts (modes kept), a 4 s build. */
function pushPullRequest(): string {
  const bot = join(V09_SOFTWARE_LAYER, 'bot');
  const files: Record<string, FixtureFile> = Object.fromEntries(
    readdirSync(bot).map((name) => [
      `bot/${name}`,
      {
        content: readFileSync(join(bot, name), 'utf8'),
        mode: statSync(join(bot, name)).mode & 0o777,
      },
    ]),
  );
  // Long enough for a poll (1 s) to see the job running.
  files['bot/SLEEP'] = '4\n';
  return fixture.addPullRequest(PR, files);
}

function writeAppCfg(scontrolWrapper: string): string {
  const keyPath = join(root, 'app.pem');
  writeFileSync(keyPath, generateAppKeys().privateKey, { mode: 0o600 });
  const reposDir = join(root, 'repos');
  mkdirSync(reposDir);
  writeFileSync(
    join(reposDir, 'repos.cfg'),
    `[${REPO_ID}]\nrepo_name = software.eessi.io\nrepo_version = 2025.06\n`,
  );
  const configPath = join(root, 'app.cfg');
  writeFileSync(
    configPath,
    [
      '[github]',
      'app_id = 1',
      `app_name = ${APP_NAME}`,
      'installation_id = 2',
      `private_key = ${keyPath}`,
      '',
      '[bot_control]',
      'command_permission = alice',
      '',
      '[buildenv]',
      `build_job_script = ${BOT_BUILD_JOB_SCRIPT}`,
      `jobs_base_dir = ${join(root, 'jobs')}`,
      `local_tmp = ${join(root, 'local-tmp')}`,
      'slurm_params = --time=00:05:00',
      `submit_command = ${SLURM_COMMANDS.sbatch}`,
      `job_name = ${jobName}`,
      'job_handover_protocol = hold_release',
      'build_permission = alice',
      '',
      '[architecturetargets]',
      `node_type_map = ${JSON.stringify(NODE_TYPE_MAP, null, 2).replace(/\n/g, '\n    ')}`,
      '',
      '[repo_targets]',
      `repos_cfg_dir = ${reposDir}`,
      '',
      '[job_manager]',
      `job_ids_dir = ${join(root, 'job-ids')}`,
      `poll_command = ${SLURM_COMMANDS.squeue}`,
      'poll_interval = 1',
      `scontrol_command = ${scontrolWrapper} --clusters=%%(cluster)s`,
      `scancel_command = ${SLURM_COMMANDS.scancel}`,
      'command_timeout = 20',
      '',
      '[event_handler]',
      `state_dir = ${join(root, 'state')}`,
      '',
    ].join('\n'),
  );
  return configPath;
}

/** A smee.io-style saved event: the payload and GitHub's headers, so the delivery id is ours. */
function writeEventFile(headSha: string): string {
  const path = join(root, 'event.json');
  const payload = labeledPullRequestPayload({
    sender: 'alice',
    number: PR,
    repo: REPO,
    base: { ref: fixture.baseRef },
    head: { sha: headSha },
  });
  writeFileSync(
    path,
    JSON.stringify({
      'x-github-event': 'pull_request',
      'x-github-delivery': DELIVERY,
      body: payload,
    }),
  );
  return path;
}

interface CommentVersion {
  readonly commentId: number;
  readonly body: string;
}

/** Every comment body simulate printed, oldest first (`── new comment N on …` / `── comment N on … updated`). */
function commentVersions(output: string): CommentVersion[] {
  return output
    .split(/^── /m)
    .slice(1)
    .flatMap((block) => {
      const head = /^(?:new )?comment (\d+) on [^\n]*\n/.exec(block);
      // The block ends where simulate's next own line begins.
      const body = head ? block.slice(head[0].length).split(/\n\n(?=[a-z])/)[0] : '';
      return head ? [{ commentId: Number(head[1]), body }] : [];
    });
}

function rowsOf(body: string): [status: string, comment: string][] {
  return [...body.matchAll(/^\|[^|]+\|([^|]+)\|(.*)\|$/gm)]
    .map((m): [string, string] => [m[1], m[2]])
    .filter(([status]) => status !== 'job status' && !status.startsWith('---'));
}

describe('the built bot with a v0.9-format app.cfg on a real Slurm', () => {
  it(
    'simulate --build: held until the job manager releases it, then released, running, finished SUCCESS with the tarball and the test row',
    async () => {
      const headSha = pushPullRequest();
      const scontrolLog = join(root, 'scontrol-calls.log');
      const configPath = writeAppCfg(writeScontrolWrapper(root, scontrolLog));
      const bot = startBot(
        [
          'simulate',
          '--config',
          configPath,
          '--event',
          writeEventFile(headSha),
          '--build',
          'for:arch=x86_64/amd/zen2',
        ],
        {
          env: {
            PATH: process.env.PATH,
            HOME: process.env.HOME,
            USER: process.env.USER,
            LANG: 'C.UTF-8',
            NO_COLOR: '1',
            SLURM_CONF: cluster.conf,
            ...fixture.env,
          },
          label: 'simulate --build',
        },
      );
      bots.push(bot);
      const exit = await bot.waitForExit(120_000);
      const output = bot.output();
      try {
        expect(describeExit(exit)).toBe('exit code 0');
        await expectFinishedJob(output, scontrolLog);
      } catch (error) {
        const calls = scontrolWrapperCalls(scontrolLog)
          .map((call) => `${call.join(' | ')}\n`)
          .join('');
        throw new Error(
          `${(error as Error).message}\n\n----- simulate output\n${output}\n----- scontrol calls\n${calls}` +
            `----- slurmctld.log (tail)\n${cluster.logTail()}`,
          { cause: error },
        );
      }
    },
    CASE_TIMEOUT_MS,
  );
});

async function expectFinishedJob(output: string, scontrolLog: string): Promise<void> {
  // One job: the node type whose cpu_subdir matches, for its one repository target.
  const submitted = /^ {2}(\S+) for:arch=x86_64\/amd\/zen2 on (\S+): job (\d+)$/m.exec(output);
  expect(submitted?.slice(1, 3)).toEqual([REPO_ID, 'c5a']);
  const jobId = submitted![3];
  expect(output).not.toMatch(/ on c4: /);

  // v0.9's job dir layout, reached through job_ids_dir/finished/<id> and the PR's symlink.
  const jobDir = readlinkSync(join(root, 'job-ids', 'finished', jobId));
  const [month] = readdirSync(join(root, 'jobs'));
  expect(month).toMatch(/^\d{4}\.\d\d$/);
  const prDir = join(root, 'jobs', month, `pr_${PR}`);
  expect(jobDir).toBe(join(prDir, `event_${DELIVERY}`, 'run_001', 'x86_64/amd/zen2', REPO_ID));
  expect(readlinkSync(join(prDir, jobId))).toBe(jobDir);
  const jobCfg = readWithConfigparser(join(jobDir, 'cfg', 'job.cfg'));
  expect(jobCfg.architecture).toMatchObject({
    node_type: 'c5a',
    software_subdir: 'x86_64/amd/zen2',
    os_type: 'linux',
  });
  expect(jobCfg.repository).toMatchObject({
    repo_id: REPO_ID,
    repo_name: 'software.eessi.io',
    repo_version: '2025.06',
  });
  expect(existsSync(join(jobDir, 'cfg', 'repos.cfg'))).toBe(true);

  // Held with the node type's constraint until the manager released it, once, through
  // scontrol_command with the cluster filled in.
  const releases = scontrolWrapperCalls(scontrolLog).filter(([args]) =>
    args.endsWith(` release ${jobId}`),
  );
  expect(releases).toEqual([
    [`--clusters=eessi-bot-local release ${jobId}`, 'PENDING JobHeldUser shape=c5a.2xlarge'],
  ]);

  // The comment, version by version as simulate printed it: first only the submitted row.
  const versions = commentVersions(output).filter((v) => v.body.includes('|submitted|'));
  expect(new Set(versions.map((v) => v.commentId)).size).toBe(1);
  const history = versions.map((v) => rowsOf(v.body).map(([status]) => status));
  expect(history[0]).toEqual(['submitted']);
  const final = versions[versions.length - 1].body;
  expect(final).toContain(
    `New job on instance \`${APP_NAME}\` for repository \`${REPO_ID}\`\nBuilding on: \`x86_64/amd/zen2\`\nBuilding for: \`x86_64/amd/zen2\`\nJob dir: \`${join(prDir, jobId)}\``,
  );
  const rows = rowsOf(final);
  expect(rows.map(([status]) => status)).toEqual([
    'submitted',
    'released',
    'running',
    'finished',
    'test result',
  ]);
  expect(rows[0][1]).toBe(`job id \`${jobId}\` awaits release by job manager`);
  expect(rows[1][1]).toBe('job awaits launch by Slurm scheduler');
  expect(rows[2][1]).toBe(`job \`${jobId}\` is running`);
  expect(rows[3][1]).toMatch(/^<details><summary>:grin: SUCCESS/);
  expect(rows[4][1]).toBe(':grin: SUCCESS: 2 tests passed');

  // The result file bot/check-build.sh wrote names the tarball built in the job dir.
  const tarballs = readdirSync(jobDir).filter((name) => name.endsWith('.tar.zst'));
  expect(tarballs).toEqual([
    expect.stringMatching(/^eessi-2025\.06-software-linux-x86_64-amd-zen2-\d{11}\.tar\.zst$/),
  ]);
  const result = readWithConfigparser(join(jobDir, `_bot_job${jobId}.result`));
  expect(result.RESULT.status).toBe('SUCCESS');
  expect(result.RESULT.artefacts.trim()).toBe(tarballs[0]);
  expect(rows[3][1]).toContain(tarballs[0]);
  expect(existsSync(join(jobDir, `_bot_job${jobId}.test`))).toBe(true);

  // Slurm's own record, and nothing left behind: the queue, the job's private TMPDIR.
  expect(
    cluster.completedJobLines(jobName).map((line) => /JobState=(\S+)/.exec(line)?.[1]),
  ).toEqual(['COMPLETED']);
  expect(await queue({ name: jobName })).toEqual([]);
  // The job's private TMPDIR was made under local_tmp, and removed when the job ended.
  expect(readFileSync(join(jobDir, `slurm-${jobId}.out`), 'utf8')).toContain(
    `build.sh: TMPDIR=${join(root, 'local-tmp')}/`,
  );
  expect(readdirSync(join(root, 'local-tmp'))).toEqual([]);
  expect(output).toMatch(
    new RegExp(`job ${jobId} ${REPO_ID} for linux/x86_64/amd/zen2: SUCCESS \\(${jobDir}\\)`),
  );
}
