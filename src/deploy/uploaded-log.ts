import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { writeFileAtomic } from '../common/atomic-file.js';
import { KeyedLock } from '../common/keyed-lock.js';
import { parseArtefactName } from './deploy-plan.js';

/**
 * `uploaded.txt` in a PR dir (`jobs_base_dir/YYYY.MM/pr_<N>/`), in upstream v0.9's format: one
 * `<job id>/<artefact file name>` line per successful upload. Upstream's tools (and `once`) read
 * it, so the format stays; unlike upstream, a line is added by rewriting the file atomically, and
 * only after the upload finished.
 */
const UPLOADED_LOG = 'uploaded.txt';

const appends = new KeyedLock();

/** The log's lines; a PR dir without one has none. */
async function readUploadedLog(prDir: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(join(prDir, UPLOADED_LOG), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return [];
    }
    throw error;
  }
  return text.split('\n').filter((line) => line.trim() !== '');
}

/**
 * Payload → the first line that uploaded it, over all of the PR's month dirs (a PR built across a
 * month boundary has two; upstream looked only at the job's own). Payloads are compared exactly:
 * upstream's pattern `.*<payload>-.*` also matched longer payloads starting with the same text.
 */
export async function uploadedPayloads(prDirs: readonly string[]): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for (const prDir of prDirs) {
    for (const line of await readUploadedLog(prDir)) {
      const payload = parseArtefactName(basename(line.trim()))?.payload;
      if (payload !== undefined && !found.has(payload)) {
        found.set(payload, line.trim());
      }
    }
  }
  return found;
}

/** Adds `<jobId>/<name>` unless already there (a resumed deploy records an upload once). */
export async function recordUpload(prDir: string, jobId: string, name: string): Promise<void> {
  const line = `${jobId}/${name}`;
  await appends.run(prDir, async () => {
    const lines = await readUploadedLog(prDir);
    if (lines.includes(line)) {
      return;
    }
    await writeFileAtomic(join(prDir, UPLOADED_LOG), [...lines, line, ''].join('\n'));
  });
}
