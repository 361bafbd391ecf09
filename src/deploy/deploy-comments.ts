import { codeSpan } from '../builds/job-comment.js';

/**
 * What a deploy says on the PR: the refusal, one reply listing what is not deployed, and the
 * `uploaded` / `not uploaded` rows of the job comments (upstream's wording, with the object named).
 * Logins and file names are hostile: they appear only inside code spans. Each reply carries a
 * hidden marker so that a resumed deploy finds the reply it may already have posted.
 */
export function deployMarker(
  deliveryId: string,
  kind: 'refused' | 'report',
  appName: string,
): string {
  return `<!-- bot:deploy ${deliveryId} ${kind} ${appName.replace(/--+|[<>\s]/g, '_')} -->`;
}

/** no_deploy_permission_comment with `{deploy_labeler}` as a code span (backticks around it too). */
export function renderRefusal(template: string, login: string, marker: string): string {
  const body = template.replace(/`\{deploy_labeler\}`|\{deploy_labeler\}/g, () => codeSpan(login));
  return `${body}\n\n${marker}`;
}

export interface NotDeployedJob {
  readonly jobId: string;
  readonly reason: string;
}

export function renderReport(
  appName: string,
  label: string,
  toUpload: number,
  notDeployed: readonly NotDeployedJob[],
  marker: string,
): string {
  const uploading =
    toUpload === 0
      ? 'found nothing to upload for this PR'
      : `uploads ${toUpload === 1 ? 'one artefact' : `${toUpload} artefacts`} (see the job comments)`;
  const lines = [`Deploy (${codeSpan(label)}) on instance ${codeSpan(appName)} ${uploading}.`];
  if (notDeployed.length > 0) {
    lines.push('', 'Not deployed:');
    for (const job of notDeployed) {
      lines.push(`- job ${codeSpan(job.jobId)}: ${job.reason}`);
    }
  }
  lines.push('', marker);
  return lines.join('\n');
}

export function renderPolicyNone(appName: string, label: string, marker: string): string {
  return [
    `Deploy (${codeSpan(label)}) on instance ${codeSpan(appName)}: nothing is uploaded, this instance's \`upload_policy\` is \`none\`.`,
    '',
    marker,
  ].join('\n');
}

const GIB = 2 ** 30;

function formatSize(bytes: number): string {
  return bytes >= GIB / 10 ? `${(bytes / GIB).toFixed(3)} GiB` : `${bytes} bytes`;
}

/** The row's comment cell for an upload that finished. */
export function uploadedText(
  name: string,
  where: string,
  sizeBytes: number,
  already: boolean,
): string {
  const how = already ? 'was already there (same sha256)' : 'succeeded';
  return `transfer of ${codeSpan(name)} to ${codeSpan(where)} ${how} (${formatSize(sizeBytes)})`;
}

export function notUploadedText(name: string, reason: string, skipped: boolean): string {
  return skipped
    ? `${codeSpan(name)} not uploaded: ${reason}`
    : `transfer of ${codeSpan(name)} to S3 bucket failed: ${reason}`;
}
