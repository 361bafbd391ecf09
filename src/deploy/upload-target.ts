import type { DeployConfig, PerRepoValue } from '../config/app-config.js';

/**
 * Where one artefact goes: bucket and prefixes for the job's repository, and the object keys the
 * way upstream's eessi-upload-to-staging names them (`<prefix>/<file>`, `<file>.meta.txt`,
 * `.sig` beside each), so ingestion finds built-in uploads where it found scripted ones.
 */
export interface UploadTarget {
  readonly bucket: string;
  /** Raw prefixes (variables not yet filled in; the upload script fills them itself). */
  readonly artefactPrefix: string;
  readonly metadataPrefix: string;
}

export class MissingRepoValueError extends Error {
  override readonly name = 'MissingRepoValueError';
}

/**
 * The target for `repoId` (the job's `[repository] repo_id`). A map without the id, or a map and
 * a job without id, is an error that says which key lacks which repository.
 */
export function uploadTargetFor(deploy: DeployConfig, repoId: string | undefined): UploadTarget {
  const pick = (key: string, value: PerRepoValue): string => {
    if (value.kind === 'single') {
      return value.value;
    }
    if (repoId === undefined) {
      throw new MissingRepoValueError(
        `\`${key}\` is set per repository, but the job's \`cfg/job.cfg\` names no repository id`,
      );
    }
    const chosen = Object.hasOwn(value.byRepo, repoId) ? value.byRepo[repoId] : undefined;
    if (chosen === undefined) {
      throw new MissingRepoValueError(`no \`${key}\` is configured for repository \`${repoId}\``);
    }
    return chosen;
  };
  return {
    bucket: pick('bucket_name', deploy.bucketName),
    artefactPrefix: pick('artefact_prefix', deploy.artefactPrefix),
    metadataPrefix: pick('metadata_prefix', deploy.metadataPrefix),
  };
}

export interface PrefixVariables {
  /** owner/name of the PR's repository. */
  readonly githubRepository: string;
  readonly pullRequestNumber: number;
}

/**
 * Upstream's path before prefixes existed: the file name with `-` as `/`, the leading `eessi-`
 * and the `.tar.*` suffix dropped (`2023.06/software/linux/x86_64/amd/zen2/1700000000`).
 */
export function legacyAwsPath(fileName: string): string {
  return fileName
    .replace(/-+/g, '/')
    .replace(/^eessi./, '')
    .replace(/\.tar\.[A-Za-z0-9]+$/, '');
}

/** The prefix with `${github_repository}`, `${pull_request_number}`, `${legacy_aws_path}` filled in. */
export function expandPrefix(prefix: string, fileName: string, vars: PrefixVariables): string {
  const values: Record<string, string> = {
    github_repository: vars.githubRepository,
    pull_request_number: String(vars.pullRequestNumber),
    legacy_aws_path: legacyAwsPath(fileName),
  };
  if (prefix === '') {
    return values.legacy_aws_path;
  }
  // The reader allowed only these three names, so nothing else can be left to substitute.
  return prefix
    .replace(/\$\{([A-Za-z_]+)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (whole, a?: string, b?: string) =>
      Object.hasOwn(values, a ?? b ?? '') ? values[(a ?? b)!] : whole,
    )
    .replace(/\/+$/, '');
}

export interface ObjectKeys {
  readonly artefact: string;
  readonly artefactSignature: string;
  readonly metadata: string;
  readonly metadataSignature: string;
}

export function objectKeys(
  target: UploadTarget,
  fileName: string,
  vars: PrefixVariables,
): ObjectKeys {
  const join = (prefix: string, name: string) => (prefix === '' ? name : `${prefix}/${name}`);
  const artefact = join(expandPrefix(target.artefactPrefix, fileName, vars), fileName);
  const metadata = join(
    expandPrefix(target.metadataPrefix, fileName, vars),
    `${fileName}.meta.txt`,
  );
  return {
    artefact,
    artefactSignature: `${artefact}.sig`,
    metadata,
    metadataSignature: `${metadata}.sig`,
  };
}

/** The object's URL as upstream's metadata states it. */
export function objectUrl(endpointUrl: string | undefined, bucket: string, key: string): string {
  return endpointUrl
    ? `${endpointUrl}/${bucket}/${key}`
    : `https://${bucket}.s3.amazonaws.com/${key}`;
}
