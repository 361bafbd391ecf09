import type { UploadPolicy } from '../config/app-config.js';

/**
 * Which artefacts a deploy uploads: pure decisions over what the PR's jobs produced and what was
 * uploaded before, so the plan can be computed once, stored, and replayed after a crash.
 */

/** `eessi-2023.06-software-linux-x86_64-amd-zen2-1700000000.tar.gz` (any `.tar.*` compression). */
const ARTEFACT_NAME = /^(.+?)(?:-(\d+))?\.tar\.[A-Za-z0-9]+$/;

export interface ArtefactName {
  /** The name without its trailing timestamp and `.tar.*`: what `latest` and `once` group by. */
  readonly payload: string;
  /** The trailing number (seconds since the epoch in EESSI's names); 0 when the name has none. */
  readonly timestamp: number;
}

/** undefined: not a `.tar.*` file name (nor a plain name: no directories). */
export function parseArtefactName(name: string): ArtefactName | undefined {
  if (name.includes('/') || name.startsWith('.')) {
    return undefined;
  }
  const match = ARTEFACT_NAME.exec(name);
  if (!match) {
    return undefined;
  }
  return { payload: match[1], timestamp: match[2] ? Number(match[2]) : 0 };
}

/** One artefact of a successful job. */
export interface Candidate {
  readonly jobId: string;
  /** The artefact's file name in the job dir. */
  readonly name: string;
}

export interface PlannedArtefact extends Candidate {
  /** Undefined: to upload. Otherwise why not (shown in the job's `not uploaded` row). */
  readonly skip?: string;
}

/**
 * Applies upload_policy to the candidates (in job id order):
 * - all: everything;
 * - latest: per payload only the newest (timestamp, then job id), the others are skipped;
 * - once: like latest, but a payload already uploaded for this PR (`uploaded`: payload → the
 *   `uploaded.txt` entry that did it) is skipped altogether;
 * - none: nothing (the caller says so instead of planning).
 * Names that are no `.tar.*` files are skipped with the reason.
 */
export function planArtefacts(
  candidates: readonly Candidate[],
  policy: UploadPolicy,
  uploaded: ReadonlyMap<string, string>,
): PlannedArtefact[] {
  const newest = new Map<string, { candidate: Candidate; timestamp: number; order: number }>();
  candidates.forEach((candidate, order) => {
    const parsed = parseArtefactName(candidate.name);
    if (!parsed) {
      return;
    }
    const best = newest.get(parsed.payload);
    if (
      !best ||
      parsed.timestamp > best.timestamp ||
      (parsed.timestamp === best.timestamp && order > best.order)
    ) {
      newest.set(parsed.payload, { candidate, timestamp: parsed.timestamp, order });
    }
  });

  return candidates.map((candidate) => {
    const parsed = parseArtefactName(candidate.name);
    if (!parsed) {
      return { ...candidate, skip: 'not a `.tar.*` file name in the job directory' };
    }
    if (policy === 'none') {
      return { ...candidate, skip: 'upload_policy is `none`' };
    }
    if (policy === 'all') {
      return { ...candidate };
    }
    const before = policy === 'once' ? uploaded.get(parsed.payload) : undefined;
    if (before !== undefined) {
      return {
        ...candidate,
        skip: `payload already uploaded for this PR as \`${before}\` (upload_policy \`once\`)`,
      };
    }
    const best = newest.get(parsed.payload)!.candidate;
    if (best !== candidate) {
      return {
        ...candidate,
        skip: `superseded by \`${best.name}\` of job \`${best.jobId}\` (upload_policy \`${policy}\`)`,
      };
    }
    return { ...candidate };
  });
}
