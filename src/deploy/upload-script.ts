import { mkdir, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import type { DeployConfig } from '../config/app-config.js';
import type { CommandRunner, RunResult } from '../common/command-runner.js';
import type { JobRepository } from './pr-jobs.js';
import type { UploadTarget } from './upload-target.js';

/**
 * `artefact_upload_script`, run exactly as upstream v0.9's tasks/deploy.py runs it (so EESSI's
 * eessi-upload-to-staging works unchanged): options in upstream's order, empty values left out as
 * upstream does, the artefact's absolute path (through the pr_<N>/<ID> link) last. An argument
 * array, never a shell line: nothing in it is interpreted.
 */
export interface ScriptUpload {
  readonly target: UploadTarget;
  /** `<pr dir>/<job id>/<artefact>`, as upstream builds it. */
  readonly artefactPath: string;
  /** The job dir (relative sign scripts live in its checkout). */
  readonly jobDir: string;
  readonly repoId?: string;
  readonly repository: JobRepository;
  /** -1 when the job has no comment (upstream's value). */
  readonly prCommentId: number;
  readonly prNumber: number;
  readonly repo: string;
  readonly appName: string;
}

/** A tarball of several GiB over a slow link takes long; a hung script must still end. */
const UPLOAD_SCRIPT_TIMEOUT_MS = 4 * 60 * 60 * 1000;

function uploadScriptArgs(deploy: DeployConfig, upload: ScriptUpload): string[] {
  const { target } = upload;
  const args: string[] = [];
  if (target.artefactPrefix !== '') {
    args.push('--artefact-prefix', target.artefactPrefix);
  }
  if (target.bucket !== '') {
    args.push('--bucket-name', target.bucket);
  }
  if (deploy.endpointUrl) {
    args.push('--endpoint-url', deploy.endpointUrl);
  }
  if (target.metadataPrefix !== '') {
    args.push('--metadata-prefix', target.metadataPrefix);
  }
  args.push(
    '--pr-comment-id',
    String(upload.prCommentId),
    '--pull-request-number',
    String(upload.prNumber),
    '--repository',
    upload.repo,
    '--bot-instance',
    upload.appName,
  );
  const signing = signingFor(deploy, upload.repoId);
  if (signing) {
    const script = isAbsolute(signing.script)
      ? signing.script
      : join(upload.jobDir, signing.script);
    args.push('--sign-key', signing.key, '--sign-script', script);
  }
  args.push(upload.artefactPath);
  return args;
}

export async function runUploadScript(
  runner: CommandRunner,
  deploy: DeployConfig,
  upload: ScriptUpload,
): Promise<RunResult> {
  const script = deploy.artefactUploadScript!;
  const args = uploadScriptArgs(deploy, upload);
  const signing = signingFor(deploy, upload.repoId);
  if (!signing?.containerRuntime) {
    return runner.run(script, args, { timeoutMs: UPLOAD_SCRIPT_TIMEOUT_MS });
  }
  // Upstream runs the whole script in the build container when signing needs one.
  const { container, containerCachedir } = upload.repository;
  if (!container) {
    throw new Error(
      "signing runs in a container, but the job's `cfg/job.cfg` names no `[repository] container`",
    );
  }
  const tmpDir = join(upload.jobDir, 'previous_tmp', 'upload_step');
  await mkdir(tmpDir, { recursive: true });
  const binds = new Set<string>([dirname(dirname(upload.artefactPath))]);
  for (const arg of [script, ...args]) {
    if (!arg.startsWith('/')) {
      continue;
    }
    binds.add(dirname(arg));
    binds.add(await realpath(dirname(arg)).catch(() => dirname(arg)));
  }
  return runner.run(
    signing.containerRuntime,
    [
      'exec',
      '--contain',
      '--no-home',
      ...[...binds].flatMap((dir) => ['--bind', dir]),
      container,
      script,
      ...args,
    ],
    {
      timeoutMs: UPLOAD_SCRIPT_TIMEOUT_MS,
      env: {
        ...process.env,
        SINGULARITY_TMPDIR: tmpDir,
        ...(containerCachedir ? { SINGULARITY_CACHEDIR: containerCachedir } : {}),
      },
    },
  );
}

function signingFor(deploy: DeployConfig, repoId: string | undefined) {
  return repoId !== undefined && Object.hasOwn(deploy.signing, repoId)
    ? deploy.signing[repoId]
    : undefined;
}
