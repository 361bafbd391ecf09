import { mkdtemp, realpath, rename, rm, stat, symlink } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { pathExists } from '../common/fs-entries.js';
import type { SigningConfig } from '../config/app-config.js';
import type { CommandRunner } from '../common/command-runner.js';
import type { JobRepository } from './pr-jobs.js';

/**
 * Signs a file with an SSH key, as upstream's sign_verify_file_ssh.sh does (`ssh-keygen -Y sign`,
 * namespace = the bot's app_name), writing `<file>.sig`. With `script` set, that script is run
 * the way upstream's upload script runs it (`--sign --private-key K --file F --namespace N`); a
 * relative script lives in the job's checkout (upstream's rule). With `container_runtime` set,
 * the signing runs inside the job's build container (`<runtime> exec --contain --no-home`), for
 * hosts whose OpenSSH is older than 8.2.
 */
export class SigningError extends Error {
  override readonly name = 'SigningError';
}

const SIGN_TIMEOUT_MS = 5 * 60 * 1000;

export interface SignContext {
  readonly signing: SigningConfig;
  readonly appName: string;
  readonly jobDir: string;
  readonly repository: JobRepository;
}

/**
 * Writes `sigPath` for `file`. A signature left by an earlier attempt is kept: re-signing with
 * a non-deterministic key type would give other bytes than those possibly uploaded already.
 */
export async function signFile(
  runner: CommandRunner,
  file: string,
  sigPath: string,
  context: SignContext,
): Promise<void> {
  if (await pathExists(sigPath)) {
    return;
  }
  const { signing, appName } = context;
  // Signed through a link in a fresh directory, so the tool's `<name>.sig` lands there, and only
  // a complete signature is renamed into place.
  const workDir = await mkdtemp(join(dirname(sigPath), '.signing-'));
  try {
    const target = await realpath(file);
    const link = join(workDir, basename(sigPath).replace(/\.sig$/, ''));
    await symlink(target, link);
    const script = signing.script === '' ? undefined : scriptPath(signing.script, context.jobDir);
    const command = script
      ? [script, '--sign', '--private-key', signing.key, '--file', link, '--namespace', appName]
      : ['ssh-keygen', '-Y', 'sign', '-n', appName, '-f', signing.key, link];
    const [program, ...args] = signing.containerRuntime
      ? inContainer(signing.containerRuntime, context.repository, command, [
          workDir,
          dirname(target),
          dirname(signing.key),
          ...(script ? [dirname(script)] : []),
        ])
      : command;
    const env = signing.containerRuntime ? containerEnv(context.repository, workDir) : process.env;
    const result = await runner
      .run(program, args, { timeoutMs: SIGN_TIMEOUT_MS, env })
      .catch((error: Error) => {
        throw new SigningError(`signing could not run: ${error.message}`);
      });
    const produced = `${link}.sig`;
    if (result.exitCode !== 0 || !(await nonEmpty(produced))) {
      const why =
        result.exitCode !== 0 ? `exited with code ${result.exitCode}` : 'wrote no signature';
      throw new SigningError(
        `${basename(program)} ${why}: ${lastLine(result.stderr || result.stdout)}`,
      );
    }
    await rename(produced, sigPath);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

function scriptPath(script: string, jobDir: string): string {
  return isAbsolute(script) ? script : join(jobDir, script);
}

/** Upstream's container call: binds for every directory the command touches. */
function inContainer(
  runtime: string,
  repository: JobRepository,
  command: readonly string[],
  dirs: readonly string[],
): string[] {
  if (!repository.container) {
    throw new SigningError(
      "signing is configured to run in a container, but the job's `cfg/job.cfg` names no `[repository] container`",
    );
  }
  const binds = [...new Set(dirs)].flatMap((dir) => ['--bind', dir]);
  return [runtime, 'exec', '--contain', '--no-home', ...binds, repository.container, ...command];
}

function containerEnv(repository: JobRepository, workDir: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    SINGULARITY_TMPDIR: workDir,
    ...(repository.containerCachedir ? { SINGULARITY_CACHEDIR: repository.containerCachedir } : {}),
  };
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return (lines[lines.length - 1] ?? '').slice(0, 300) || '(no output)';
}

async function nonEmpty(path: string): Promise<boolean> {
  try {
    return (await stat(path)).size > 0;
  } catch {
    return false;
  }
}
