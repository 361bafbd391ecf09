import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  APP_NAME,
  deployConfig,
  deployWorld,
  MIB,
  PR,
  REPO,
  REPO_ID,
  type DeployWorld,
} from '../support/deploy-world.js';
import { sampleValue } from '../support/prometheus.js';
import { S3_ENV, startS3Server, type S3Server } from '../support/s3-server.js';
import type { DeployConfig } from '../../src/config/app-config.js';

/**
 * The deploy label end to end with the built-in uploader against a real S3-compatible server
 * (s3rver on 127.0.0.1), a real GitHubClient against FakeGitHub, jobs laid out on disk as builds
 * leaves them.
 */
jest.setTimeout(30_000);

const ZEN2 = 'eessi-2023.06-software-linux-x86_64-amd-zen2';
const ZEN3 = 'eessi-2023.06-software-linux-x86_64-amd-zen3';
const artefact = (payload: string, ts: number) => `${payload}-${ts}.tar.gz`;
const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

let s3: S3Server;
let world: DeployWorld | undefined;
const savedEnv = { ...process.env };

beforeAll(async () => {
  Object.assign(process.env, S3_ENV);
  s3 = await startS3Server();
  for (const bucket of ['staging', 'staging-2023', 'staging-2025']) {
    await s3.createBucket(bucket);
  }
});

afterAll(async () => {
  await s3.stop();
  process.env = savedEnv;
});

afterEach(async () => {
  await s3.setDown(false);
  await world?.close();
  world = undefined;
});

async function start(
  overrides: Partial<DeployConfig> = {},
  partSizeBytes?: number,
  http?: boolean,
) {
  world = await deployWorld(deployConfig({ endpointUrl: s3.url, ...overrides }), {
    partSizeBytes,
    http,
  });
  return world;
}

async function putObject(key: string, body: string): Promise<void> {
  const client = new S3Client({
    endpoint: s3.url,
    forcePathStyle: true,
    region: 'us-east-1',
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
  await client.send(new PutObjectCommand({ Bucket: 'staging', Key: key, Body: body }));
  client.destroy();
}

function uploadedLog(w: DeployWorld): string {
  const path = join(w.jobsBaseDir, '2026.11', `pr_${PR}`, 'uploaded.txt');
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}

/** PUTs and multipart completions of `key` that reached the server. */
function writesOf(key: string): number {
  return s3.requests.filter(
    (r) =>
      (r.method === 'PUT' &&
        r.path.split('?')[0].endsWith(`/${key}`) &&
        !r.path.includes('partNumber')) ||
      (r.method === 'POST' && r.path.includes(`/${key}?uploadId`)),
  ).length;
}

/** Every file and dir under `dir`, relative, with sizes: a snapshot to compare. */
function tree(dir: string): string[] {
  if (!existsSync(dir)) {
    return [];
  }
  return readdirSync(dir, { recursive: true, withFileTypes: false })
    .map(String)
    .sort()
    .map(
      (name) => `${name}:${statSync(join(dir, name), { throwIfNoEntry: false })?.size ?? 'link'}`,
    );
}

describe('deploy with the built-in uploader', () => {
  it('uploads a successful job’s artefact with its metadata, records it, and shows it in the job comment', async () => {
    const w = await start({
      artefactPrefix: { kind: 'single', value: 'new/${github_repository}/${pull_request_number}' },
      metadataPrefix: { kind: 'single', value: 'meta/${pull_request_number}' },
    });
    const name = artefact(ZEN2, 1700000000);
    const job = await w.addJob({ jobId: '101', artefacts: { [name]: 'tarball bytes of zen2' } });

    await w.deliver();

    const key = `new/${REPO}/${PR}/${name}`;
    const object = await s3.object('staging', key);
    expect(object?.body.toString()).toBe('tarball bytes of zen2');
    expect(object?.metadata.sha256).toBe(sha256('tarball bytes of zen2'));
    const meta = JSON.parse(
      (await s3.object('staging', `meta/${PR}/${name}.meta.txt`))!.body.toString(),
    );
    expect(meta).toMatchObject({
      uploader: { bot_instance: APP_NAME },
      payload: {
        filename: name,
        size: String('tarball bytes of zen2'.length),
        sha256sum: sha256('tarball bytes of zen2'),
        url: `${s3.url}/staging/${key}`,
      },
      link2pr: { repo: REPO, pr: String(PR), pr_comment_id: String(job.commentId) },
      job: { id: '101' },
    });
    expect(Date.parse(meta.uploaded_at)).not.toBeNaN();
    expect(uploadedLog(w)).toBe(`101/${name}\n`);
    expect(w.commentOf(job)).toMatch(
      new RegExp(
        `\\|uploaded\\|transfer of \`${name}\` to \`staging/${key}\` succeeded \\(21 bytes\\)\\|`,
      ),
    );
    // Everything deployed: no reply besides the job comments.
    expect(w.replies()).toEqual([]);
  });

  it('once: a payload already uploaded for the PR is not uploaded again', async () => {
    const w = await start({ uploadPolicy: 'once' });
    const name = artefact(ZEN2, 1700001000);
    const job = await w.addJob({ jobId: '111', artefacts: { [name]: 'once only' } });

    await w.deliver();
    expect(writesOf(name)).toBe(1);
    // A newer build of the same payload, then the label again.
    const newer = artefact(ZEN2, 1700001500);
    const second = await w.addJob({ jobId: '112', artefacts: { [newer]: 'newer bytes' } });
    await w.deliver();

    expect(writesOf(name)).toBe(1);
    expect(writesOf(newer)).toBe(0);
    expect(uploadedLog(w)).toBe(`111/${name}\n`);
    expect(w.commentOf(second)).toContain(
      `|not uploaded|\`${newer}\` not uploaded: payload already uploaded for this PR as \`111/${name}\` (upload_policy \`once\`)|`,
    );
    expect(w.commentOf(job).match(/\|uploaded\|/g)).toHaveLength(1);
  });

  it('latest uploads only the newest artefact per payload; all uploads every one', async () => {
    const old = artefact(ZEN2, 1700002000);
    const newest = artefact(ZEN2, 1700002900);
    const other = artefact(ZEN3, 1700002100);
    const jobs = async (w: DeployWorld) => [
      await w.addJob({ jobId: '121', artefacts: { [newest]: 'zen2 new' } }),
      await w.addJob({ jobId: '122', artefacts: { [old]: 'zen2 old' } }),
      await w.addJob({ jobId: '123', artefacts: { [other]: 'zen3' } }),
    ];
    const latest = await start({
      uploadPolicy: 'latest',
      artefactPrefix: { kind: 'single', value: 'latest' },
    });
    const [, oldJob] = await jobs(latest);
    await latest.deliver();

    expect((await s3.keys('staging')).filter((k) => k.startsWith('latest/'))).toEqual([
      `latest/${newest}`,
      `latest/${other}`,
    ]);
    expect(uploadedLog(latest).split('\n').sort()).toEqual(['', `121/${newest}`, `123/${other}`]);
    expect(latest.commentOf(oldJob)).toContain(
      `|not uploaded|\`${old}\` not uploaded: superseded by \`${newest}\` of job \`121\` (upload_policy \`latest\`)|`,
    );
    await latest.close();

    const all = await start({
      uploadPolicy: 'all',
      artefactPrefix: { kind: 'single', value: 'all' },
    });
    await jobs(all);
    await all.deliver();
    expect((await s3.keys('staging')).filter((k) => k.startsWith('all/'))).toEqual([
      `all/${old}`,
      `all/${newest}`,
      `all/${other}`,
    ]);
  });

  it('none uploads nothing and says so once', async () => {
    const w = await start({ uploadPolicy: 'none' });
    await w.addJob({ jobId: '131', artefacts: { [artefact(ZEN2, 1)]: 'x' } });
    const before = s3.requests.length;

    await w.deliver({ id: 'none-1' });
    await w.deliver({ id: 'none-1' }); // the same delivery handled again

    expect(s3.requests.length).toBe(before);
    expect(uploadedLog(w)).toBe('');
    expect(w.replies()).toEqual([
      expect.stringContaining("this instance's `upload_policy` is `none`"),
    ]);
  });

  it('lists failed, unfinished and unknown jobs in one reply, and deploys the rest', async () => {
    const w = await start();
    const name = artefact(ZEN2, 1700003000);
    await w.addJob({ jobId: '141', artefacts: { [name]: 'good' } });
    await w.addJob({ jobId: '142', artefacts: { [artefact(ZEN3, 2)]: 'bad' }, status: 'FAILURE' });
    await w.addJob({ jobId: '143', artefacts: {}, status: null });
    await w.addJob({ jobId: '144', artefacts: {}, status: null, finished: false });
    // Another bot instance's job in the same PR dir is none of ours.
    await w.addJob({ jobId: '145', artefacts: { [artefact(ZEN3, 3)]: 'x' }, appName: 'other-bot' });

    await w.deliver({ id: 'mixed' });
    await w.deliver({ id: 'mixed' });

    const replies = w.replies();
    expect(replies).toHaveLength(1);
    expect(replies[0]).toContain(
      `Deploy (\`bot:deploy\`) on instance \`${APP_NAME}\` uploads one artefact`,
    );
    expect(replies[0]).toContain('- job `142`: failed: `status = FAILURE` in `_bot_job142.result`');
    expect(replies[0]).toContain('- job `143`: unknown: no result file `_bot_job143.result`');
    expect(replies[0]).toContain('- job `144`: unfinished: the job has not ended yet');
    expect(replies[0]).not.toContain('145');
    expect(uploadedLog(w)).toBe(`141/${name}\n`);
    expect(await s3.keys('staging')).not.toContain(expect.stringContaining(artefact(ZEN3, 3)));
  });

  it('per-repository buckets: each job goes to its repository’s bucket; a missing one is named', async () => {
    const w = await start({
      bucketName: {
        kind: 'map',
        byRepo: { [REPO_ID]: 'staging-2023', 'eessi.io-2025.06-software': 'staging-2025' },
      },
    });
    const a = artefact(ZEN2, 1700000001);
    const b = artefact(ZEN3, 1700000002);
    const c = artefact('eessi-2023.06-software-linux-aarch64-generic', 1700000003);
    await w.addJob({ jobId: '151', artefacts: { [a]: 'a' } });
    await w.addJob({ jobId: '152', artefacts: { [b]: 'b' }, repoId: 'eessi.io-2025.06-software' });
    const stray = await w.addJob({ jobId: '153', artefacts: { [c]: 'c' }, repoId: 'dev.eessi.io' });

    await w.deliver();

    expect(await s3.keys('staging-2023')).toContain(
      `2023.06/software/linux/x86_64/amd/zen2/1700000001/${a}`,
    );
    expect(await s3.keys('staging-2025')).toContain(
      `2023.06/software/linux/x86_64/amd/zen3/1700000002/${b}`,
    );
    expect(w.commentOf(stray)).toContain(
      `|not uploaded|transfer of \`${c}\` to S3 bucket failed: no \`bucket_name\` is configured for repository \`dev.eessi.io\`|`,
    );
    expect(uploadedLog(w)).not.toContain(c);
  });

  it('an object already there: the same bytes count as uploaded, other bytes are never overwritten', async () => {
    const w = await start({ artefactPrefix: { kind: 'single', value: 'exists' } });
    const same = artefact(ZEN2, 1700000011);
    const clash = artefact(ZEN3, 1700000012);
    await putObject(`exists/${same}`, 'identical');
    await putObject(`exists/${clash}`, 'someone else');
    const sameJob = await w.addJob({ jobId: '161', artefacts: { [same]: 'identical' } });
    const clashJob = await w.addJob({ jobId: '162', artefacts: { [clash]: 'ours' } });

    await w.deliver();

    expect(w.commentOf(sameJob)).toContain(
      `to \`staging/exists/${same}\` was already there (same sha256)`,
    );
    expect(w.commentOf(clashJob)).toContain(
      `|not uploaded|transfer of \`${clash}\` to S3 bucket failed: \`staging/exists/${clash}\` already exists with other content; existing objects are never overwritten|`,
    );
    expect((await s3.object('staging', `exists/${clash}`))?.body.toString()).toBe('someone else');
    expect(uploadedLog(w)).toBe(`161/${same}\n`);
  });

  it('the server down: a clear row, nothing recorded as uploaded; the next deploy uploads', async () => {
    const w = await start({ artefactPrefix: { kind: 'single', value: 'down' } });
    const name = artefact(ZEN2, 1700000021);
    const job = await w.addJob({ jobId: '171', artefacts: { [name]: 'later' } });
    await s3.setDown(true);

    await w.deliver();

    expect(w.commentOf(job)).toMatch(
      new RegExp(
        `\\|not uploaded\\|transfer of \`${name}\` to S3 bucket failed: S3 upload failed: connect ECONNREFUSED 127\\.0\\.0\\.1:\\d+\\|`,
      ),
    );
    expect(w.commentOf(job)).not.toContain('|uploaded|');
    expect(uploadedLog(w)).toBe('');

    await s3.setDown(false);
    await w.deliver();
    expect((await s3.object('staging', `down/${name}`))?.body.toString()).toBe('later');
    expect(uploadedLog(w)).toBe(`171/${name}\n`);
  });

  it('uploads a large artefact in parts and checks what the server stored', async () => {
    const w = await start({ artefactPrefix: { kind: 'single', value: 'big' } }, 5 * MIB);
    const name = artefact(ZEN2, 1700000031);
    const job = await w.addJob({ jobId: '181', artefacts: { [name]: 12 * MIB + 7 } });

    await w.deliver();

    const object = await s3.object('staging', `big/${name}`);
    expect(object?.body.length).toBe(12 * MIB + 7);
    expect(object?.metadata.sha256).toBe(sha256(readFileSync(join(job.jobDir, name))));
    expect(s3.requests.filter((r) => r.path.includes('partNumber=')).length).toBe(3);
  });

  describe('signing', () => {
    let keyDir: string;
    beforeAll(() => {
      keyDir = mkdtempSync(join(tmpdir(), 'deploy-signing-'));
    });
    afterAll(() => rmSync(keyDir, { recursive: true, force: true }));

    function sshKey(dir: string): { key: string; allowedSigners: string } {
      const key = join(dir, 'signing-key');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bot@test', '-f', key]);
      const allowedSigners = join(dir, 'allowed_signers');
      const publicKey = readFileSync(`${key}.pub`, 'utf8').trim();
      writeFileSync(allowedSigners, `bot@test namespaces="${APP_NAME}" ${publicKey}\n`);
      return { key, allowedSigners };
    }

    it('signs artefact and metadata with ssh-keygen; the signatures verify with ssh-keygen -Y verify', async () => {
      const { key, allowedSigners } = sshKey(keyDir);
      world = await start({
        artefactPrefix: { kind: 'single', value: 'signed' },
        metadataPrefix: { kind: 'single', value: 'signed-meta' },
        signing: { [REPO_ID]: { script: '', key } },
      });
      const name = artefact(ZEN2, 1700000041);
      await world.addJob({ jobId: '191', artefacts: { [name]: 'signed bytes' } });

      await world.deliver();

      for (const [dataKey, sigKey] of [
        [`signed/${name}`, `signed/${name}.sig`],
        [`signed-meta/${name}.meta.txt`, `signed-meta/${name}.meta.txt.sig`],
      ]) {
        const data = (await s3.object('staging', dataKey))!.body;
        const signature = join(keyDir, 'check.sig');
        writeFileSync(signature, (await s3.object('staging', sigKey))!.body);
        const verified = execFileSync(
          'ssh-keygen',
          ['-Y', 'verify', '-f', allowedSigners, '-I', 'bot@test', '-n', APP_NAME, '-s', signature],
          { input: data, encoding: 'utf8' },
        );
        expect(verified).toContain('Good "');
      }
    });

    it('a signing failure uploads nothing for that artefact', async () => {
      const badKey = join(keyDir, 'not-a-key');
      writeFileSync(badKey, 'garbage\n', { mode: 0o600 });
      world = await start({
        artefactPrefix: { kind: 'single', value: 'unsigned' },
        signing: { [REPO_ID]: { script: '', key: badKey } },
      });
      const name = artefact(ZEN2, 1700000051);
      const job = await world.addJob({ jobId: '201', artefacts: { [name]: 'never uploaded' } });

      await world.deliver();

      expect(world.commentOf(job)).toContain(
        `|not uploaded|transfer of \`${name}\` to S3 bucket failed: signing failed, nothing uploaded: ssh-keygen exited with code`,
      );
      expect((await s3.keys('staging')).filter((k) => k.startsWith('unsigned/'))).toEqual([]);
      expect(uploadedLog(world)).toBe('');
    });
  });

  it('served as the app: the label as a signed webhook, each artefact’s result in /metrics', async () => {
    const w = await start(
      { uploadPolicy: 'latest', artefactPrefix: { kind: 'single', value: 'metrics' } },
      undefined,
      true,
    );
    const newest = artefact(ZEN2, 1700000062);
    const superseded = artefact(ZEN2, 1700000061);
    const present = artefact(ZEN3, 1700000063);
    const clash = artefact('eessi-2023.06-software-linux-aarch64-generic', 1700000064);
    await putObject(`metrics/${present}`, 'same bytes');
    await putObject(`metrics/${clash}`, 'other bytes');
    await w.addJob({ jobId: '221', artefacts: { [newest]: 'new' } });
    await w.addJob({ jobId: '222', artefacts: { [superseded]: 'old' } });
    await w.addJob({ jobId: '223', artefacts: { [present]: 'same bytes' } });
    await w.addJob({ jobId: '224', artefacts: { [clash]: 'ours' } });
    const before = await w.metrics();
    expect(before.find((f) => f.name === 'eessi_bot_uploads_total')?.type).toBe('COUNTER');
    expect(sampleValue(before, 'eessi_bot_uploads_total', { result: 'failed' })).toBe(0);

    await w.deliver({ id: 'metrics-1' });

    const metrics = await w.metrics();
    const uploads = (result: string) => sampleValue(metrics, 'eessi_bot_uploads_total', { result });
    expect(
      sampleValue(metrics, 'eessi_bot_deliveries_processed_total', {
        event: 'pull_request',
        outcome: 'done',
      }),
    ).toBe(1);
    expect(uploads('uploaded')).toBe(1);
    expect(uploads('skipped')).toBe(1);
    expect(uploads('already_present')).toBe(1);
    expect(uploads('failed')).toBe(1);
    expect(uploads('interrupted')).toBe(0);
    expect(uploadedLog(w).split('\n').sort()).toEqual(['', `221/${newest}`, `223/${present}`]);
  });

  it('a labeler without deploy permission gets one reply and nothing is written', async () => {
    const w = await start();
    await w.addJob({ jobId: '211', artefacts: { [artefact(ZEN2, 1)]: 'x' } });
    const before = tree(w.root);
    const requests = s3.requests.length;

    await w.deliver({ sender: 'mallory', id: 'refused' });
    await w.deliver({ sender: 'mallory', id: 'refused' }); // handled again after a crash

    expect(w.replies()).toEqual([
      expect.stringContaining(
        'Label `bot:deploy` has been set by user `mallory`, but this person does not have permission to trigger deployments',
      ),
    ]);
    expect(tree(w.root)).toEqual(before);
    expect(existsSync(w.progressDir)).toBe(false);
    expect(s3.requests.length).toBe(requests);
  });
});
