import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DeployConfig } from '../../src/config/app-config.js';
import {
  APP_NAME,
  deployConfig,
  deployWorld,
  PR,
  REPO,
  REPO_ID,
  type DeployWorld,
} from '../support/deploy-world.js';
import { S3_ENV, startS3Server, type S3Server } from '../support/s3-server.js';

/**
 * `artefact_upload_script`: run with upstream v0.9's arguments (a script recording its argv), and
 * a real upload through Debian's awscli against a local S3-compatible server.
 */
jest.setTimeout(60_000);

const NAME = 'eessi-2023.06-software-linux-x86_64-amd-zen2-1700005000.tar.gz';

let dir: string;
let s3: S3Server;
let world: DeployWorld | undefined;
const savedEnv = { ...process.env };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'deploy-script-e2e-'));
  Object.assign(process.env, S3_ENV);
  s3 = await startS3Server();
  await s3.createBucket('script-staging');
});

afterAll(async () => {
  await s3.stop();
  process.env = savedEnv;
  rmSync(dir, { recursive: true, force: true });
});

afterEach(async () => {
  await world?.close();
  world = undefined;
});

function script(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/bash\nset -euo pipefail\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

async function start(overrides: Partial<DeployConfig>): Promise<DeployWorld> {
  world = await deployWorld(
    deployConfig({ bucketName: { kind: 'single', value: '' }, ...overrides }),
  );
  return world;
}

function uploadedLog(w: DeployWorld): string {
  const path = join(w.jobsBaseDir, '2026.11', `pr_${PR}`, 'uploaded.txt');
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}

describe('deploy through artefact_upload_script', () => {
  it('runs the script with upstream v0.9’s arguments, in upstream’s order, the artefact last', async () => {
    const argvFile = join(dir, 'argv.json');
    const key = join(dir, 'sign.key');
    writeFileSync(key, 'k');
    const w = await start({
      artefactUploadScript: script(
        'record-argv.sh',
        `node -e 'process.stdout.write(JSON.stringify(process.argv.slice(1)))' -- "$@" > ${argvFile}`,
      ),
      endpointUrl: 'https://s3.example.org',
      bucketName: { kind: 'map', byRepo: { [REPO_ID]: 'eessi-staging-2023.06' } },
      metadataPrefix: { kind: 'single', value: 'meta/${github_repository}/${pull_request_number}' },
      artefactPrefix: { kind: 'single', value: '' },
      signing: { [REPO_ID]: { script: 'scripts/sign_verify_file_ssh.sh', key } },
    });
    const job = await w.addJob({ jobId: '301', artefacts: { [NAME]: 'tar' } });

    await w.deliver();

    const link = join(w.jobsBaseDir, '2026.11', `pr_${PR}`, '301');
    expect(JSON.parse(readFileSync(argvFile, 'utf8'))).toEqual([
      '--bucket-name',
      'eessi-staging-2023.06',
      '--endpoint-url',
      'https://s3.example.org',
      '--metadata-prefix',
      'meta/${github_repository}/${pull_request_number}',
      '--pr-comment-id',
      String(job.commentId),
      '--pull-request-number',
      String(PR),
      '--repository',
      REPO,
      '--bot-instance',
      APP_NAME,
      '--sign-key',
      key,
      '--sign-script',
      join(job.jobDir, 'scripts/sign_verify_file_ssh.sh'),
      join(link, NAME),
    ]);
    expect(uploadedLog(w)).toBe(`301/${NAME}\n`);
    expect(w.commentOf(job)).toContain(
      `|uploaded|transfer of \`${NAME}\` to \`eessi-staging-2023.06\` succeeded (3 bytes)|`,
    );
  });

  it('a failing script: a not-uploaded row with its exit code, nothing recorded', async () => {
    const w = await start({
      artefactUploadScript: script('fail.sh', 'echo "access denied" >&2; exit 3'),
    });
    const job = await w.addJob({ jobId: '311', artefacts: { [NAME]: 'tar' } });

    await w.deliver();

    expect(w.commentOf(job)).toContain(
      `|not uploaded|transfer of \`${NAME}\` to S3 bucket failed: the upload script exited with code 3 (its output is in the bot's log)|`,
    );
    expect(uploadedLog(w)).toBe('');
  });

  it('uploads with Debian’s awscli to the S3-compatible server', async () => {
    const aws = '/usr/bin/aws';
    if (!existsSync(aws)) {
      throw new Error(`${aws} is missing: apt-get install -y awscli (.ci/run installs it)`);
    }
    // The part of eessi-upload-to-staging that talks to S3, with upstream's options.
    const upload = script(
      'aws-upload.sh',
      [
        'while [[ $# -gt 1 ]]; do',
        '  case $1 in',
        '    --bucket-name) bucket=$2; shift 2;;',
        '    --endpoint-url) endpoint=$2; shift 2;;',
        '    --artefact-prefix) prefix=$2; shift 2;;',
        '    *) shift 2;;',
        '  esac',
        'done',
        `"${aws}" --endpoint-url "$endpoint" s3 cp "$1" "s3://$bucket/$prefix/$(basename "$1")"`,
      ].join('\n'),
    );
    const w = await start({
      artefactUploadScript: upload,
      endpointUrl: s3.url,
      bucketName: { kind: 'single', value: 'script-staging' },
      artefactPrefix: { kind: 'single', value: 'via-awscli' },
    });
    await w.addJob({ jobId: '321', artefacts: { [NAME]: 'uploaded by awscli' } });

    await w.deliver();

    expect((await s3.object('script-staging', `via-awscli/${NAME}`))?.body.toString()).toBe(
      'uploaded by awscli',
    );
    expect(uploadedLog(w)).toBe(`321/${NAME}\n`);
  });
});
