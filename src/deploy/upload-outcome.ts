import type { UploadResult } from '../common/metrics/bot-metrics.js';
import { SigningError } from './artefact-signer.js';
import { ArtefactError } from './builtin-upload.js';
import { ObjectConflictError } from './s3-object.js';
import { MissingRepoValueError } from './upload-target.js';

/** How one artefact of a deploy ended; stored in the delivery's progress before its row is written. */
export type Outcome =
  | {
      readonly uploaded: true;
      readonly where: string;
      readonly sizeBytes: number;
      /** The bucket already held the same bytes (same sha256): nothing was transferred. */
      readonly present: boolean;
    }
  | {
      readonly uploaded: false;
      readonly reason: string;
      /** Left out by the upload policy, not attempted. */
      readonly skipped?: boolean;
      /** The bot stopped while the upload script ran: whether it uploaded is not known. */
      readonly interrupted?: boolean;
    };

/** The `result` label of eessi_bot_uploads_total for an outcome. */
export function uploadResultOf(outcome: Outcome): UploadResult {
  if (outcome.uploaded) {
    return outcome.present ? 'already_present' : 'uploaded';
  }
  if (outcome.skipped) {
    return 'skipped';
  }
  return outcome.interrupted ? 'interrupted' : 'failed';
}

/** A one-line reason for a PR comment; errors of our own making say what to fix. */
export function reasonOf(error: unknown): string {
  const known =
    error instanceof ArtefactError ||
    error instanceof MissingRepoValueError ||
    error instanceof SigningError ||
    error instanceof ObjectConflictError;
  const message = error instanceof Error ? error.message || error.name : String(error);
  // The SDK wraps network errors ("AWS SDK error wrapper for Error: connect ECONNREFUSED …").
  const line = message
    .split('\n')[0]
    .replace(/^AWS SDK error wrapper for \w*(Error)?:\s*/, '')
    .slice(0, 300);
  if (error instanceof SigningError) {
    return `signing failed, nothing uploaded: ${line}`;
  }
  return known ? line : `S3 upload failed: ${line}`;
}
