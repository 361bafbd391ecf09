import { lstat, mkdir } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../common/atomic-file.js';
import type { DeployConfig } from '../config/app-config.js';
import type { CommandRunner } from '../common/command-runner.js';
import { signFile } from './artefact-signer.js';
import type { JobRepository } from './pr-jobs.js';
import { digestFile, type FileDigest, type MultipartObserver } from './s3-object.js';
import type { S3Uploader } from './s3-uploader.js';
import { objectKeys, objectUrl, type PrefixVariables, type UploadTarget } from './upload-target.js';

/**
 * One artefact through the built-in uploader: metadata file and signatures made (and kept) in
 * `<job dir>/_bot_job<ID>.deploy/`, then uploaded in upstream's order with the metadata last, as
 * ingestion takes a metadata file as the sign that its artefact is complete. Every step can be
 * repeated: the staged files are reused, and objects already holding the same bytes count as done.
 */
export interface BuiltInUpload {
  readonly jobId: string;
  readonly jobDir: string;
  readonly name: string;
  readonly target: UploadTarget;
  readonly vars: PrefixVariables;
  readonly repoId?: string;
  readonly repository: JobRepository;
  readonly prCommentId: number;
  readonly appName: string;
}

export interface BuiltInResult {
  readonly bucket: string;
  readonly key: string;
  readonly sizeBytes: number;
  /** The artefact object was already there with the same bytes. */
  readonly present: boolean;
}

/** A reason for the `not uploaded` row (the artefact itself is at fault, not the storage). */
export class ArtefactError extends Error {
  override readonly name = 'ArtefactError';
}

export async function uploadBuiltIn(
  uploader: S3Uploader,
  runner: CommandRunner,
  deploy: DeployConfig,
  upload: BuiltInUpload,
  onMultipart: MultipartObserver,
): Promise<BuiltInResult> {
  const { jobDir, name, target } = upload;
  const artefact = join(jobDir, name);
  // lstat: an artefact planted as a symlink would upload whatever it points at.
  const info = await lstat(artefact).catch(() => undefined);
  if (!info?.isFile()) {
    throw new ArtefactError(`${info ? 'not a regular file' : 'no such file'} in the job directory`);
  }
  const signing = signingOf(deploy, upload.repoId);
  const digest = await digestFile(artefact);
  const keys = objectKeys(target, name, upload.vars);
  const stage = await stageDir(jobDir, upload.jobId);

  const metadata = join(stage, `${name}.meta.txt`);
  if (!(await lstat(metadata).catch(() => undefined))) {
    const url = objectUrl(deploy.endpointUrl, target.bucket, keys.artefact);
    await writeFileAtomic(metadata, metadataJson(upload, digest, url, info.ctime));
  }
  const files: { key: string; path: string }[] = [];
  if (signing) {
    const context = { signing, appName: upload.appName, jobDir, repository: upload.repository };
    // Both signatures before any upload: a signing failure uploads nothing.
    await signFile(runner, artefact, join(stage, `${name}.sig`), context);
    await signFile(runner, metadata, `${metadata}.sig`, context);
    files.push({ key: keys.artefactSignature, path: join(stage, `${name}.sig`) });
  }
  files.push({ key: keys.artefact, path: artefact });
  if (signing) {
    files.push({ key: keys.metadataSignature, path: `${metadata}.sig` });
  }
  files.push({ key: keys.metadata, path: metadata });

  let present = false;
  for (const file of files) {
    const fileDigest = file.path === artefact ? digest : await digestFile(file.path);
    const outcome = await uploader.putOnce(
      target.bucket,
      file.key,
      file.path,
      fileDigest,
      file.path === artefact ? onMultipart : undefined,
    );
    if (file.path === artefact) {
      present = outcome === 'present';
    }
  }
  return { bucket: target.bucket, key: keys.artefact, sizeBytes: digest.sizeBytes, present };
}

function signingOf(deploy: DeployConfig, repoId: string | undefined) {
  if (repoId === undefined) {
    if (Object.keys(deploy.signing).length > 0) {
      throw new ArtefactError(
        "signing is configured per repository, but the job's `cfg/job.cfg` names no repository id",
      );
    }
    return undefined;
  }
  return Object.hasOwn(deploy.signing, repoId) ? deploy.signing[repoId] : undefined;
}

/** The job's deploy staging dir; a name the PR's tree planted (a symlink) is refused. */
async function stageDir(jobDir: string, jobId: string): Promise<string> {
  const dir = join(jobDir, `_bot_job${jobId}.deploy`);
  await mkdir(dir, { recursive: true });
  if (!(await lstat(dir)).isDirectory()) {
    throw new ArtefactError(`\`_bot_job${jobId}.deploy\` in the job directory is not a directory`);
  }
  return dir;
}

/** Upstream's metadata layout (eessi-upload-to-staging), which ingestion reads, plus the job. */
function metadataJson(upload: BuiltInUpload, digest: FileDigest, url: string, ctime: Date): string {
  const account = (() => {
    try {
      return userInfo().username;
    } catch {
      return String(process.getuid?.() ?? '');
    }
  })();
  return `${JSON.stringify(
    {
      uploader: { username: account, hostname: hostname(), bot_instance: upload.appName },
      payload: {
        filename: upload.name,
        size: String(digest.sizeBytes),
        ctime: ctime.toISOString(),
        sha256sum: digest.sha256,
        url,
      },
      link2pr: {
        repo: upload.vars.githubRepository,
        pr: String(upload.vars.pullRequestNumber),
        pr_comment_id: String(upload.prCommentId),
      },
      job: { id: upload.jobId },
      uploaded_at: new Date().toISOString(),
    },
    null,
    2,
  )}\n`;
}
