import { Logger } from '@nestjs/common';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, resolve, sep, isAbsolute } from 'node:path';
import { createInterface } from 'node:readline';
import type { JobEndInfo } from '../slurm/slurm.port.js';
import { codeSpan } from './job-comment.js';
import { readConfigParser } from '../config/read-configparser.js';

export type ResultStatus = 'SUCCESS' | 'FAILURE' | 'UNKNOWN' | 'CANCELLED';

export interface Artefact {
  /** As named by the result file or found in the job dir. */
  readonly name: string;
  /** Undefined when the file cannot be stat'ed or lies outside the job dir. */
  readonly sizeBytes?: number;
}

export interface JobResult {
  readonly status: ResultStatus;
  /** The `finished` row's comment cell: one line, markdown/HTML as GitHub renders it in a table. */
  readonly summary: string;
  /** What was checked or found wrong, one item each (markdown, for the comment and the log). */
  readonly details: readonly string[];
  readonly artefacts: readonly Artefact[];
  /** Where the verdict came from. */
  readonly source: 'result-file' | 'job-output';
  /** Slurm's end state when known (from the scheduler, else from slurmstepd lines in the output). */
  readonly slurmState?: string;
}

/** The seed's tarball pattern (eessi_bot_job_manager.py). */
const TARBALL_GLOB = 'eessi-*software-*.tar.gz';
const TARBALL = /^eessi-.*software-.*\.tar\.gz$/;
const NO_MISSING_MODULES = 'No missing modules!';
const GIB = 2 ** 30;

/** GitHub refuses comments over 65,536 characters; a result must leave room for the other rows. */
export const MAX_DESCRIPTION_CHARS = 20_000;
const MAX_DETAIL_CHARS = 500;

/** Slurm states that end a job without it having run to its own end. */
export const TERMINAL_FAILURES: Readonly<Record<string, string>> = {
  TIMEOUT: 'job hit its time limit',
  OUT_OF_MEMORY: 'job ran out of memory',
  FAILED: 'job exited with an error',
  NODE_FAIL: 'job was killed by a node failure',
  PREEMPTED: 'job was preempted',
  BOOT_FAIL: 'job nodes failed to boot',
  DEADLINE: 'job missed its deadline',
};

/**
 * Decides what a finished job achieved, for its `finished` row. In this order:
 * 1. `_bot_job<ID>.result` (`[RESULT]` status, comment_description, artefacts), written by EESSI's
 *    later build scripts (bot/check-build.sh): the build knows best, so it wins.
 * 2. Slurm's end state: a job cancelled by hand is reported as cancelled, a timeout or OOM as such,
 *    not as an anonymous build failure.
 * 3. The seed's rule: `No missing modules!` in slurm-<ID>.out and exactly one tarball.
 * Everything read from the job dir was produced by the PR's build and is treated as hostile.
 */
export class ResultAnalyzer {
  private readonly logger = new Logger(ResultAnalyzer.name);

  /**
   * @param endInfo  what the scheduler remembers of the job (sacct), if anything
   * @param lastSeenState  the last queue state the bot saw (e.g. RUNNING), to tell a job that
   *   never started from one that lost its output
   */
  async analyze(
    jobId: string,
    jobDir: string,
    endInfo?: JobEndInfo,
    lastSeenState?: string,
  ): Promise<JobResult> {
    const fromFile = await this.readResultFile(jobId, jobDir, endInfo);
    if (fromFile) {
      return fromFile;
    }

    const outName = `slurm-${jobId}.out`;
    const output = await scanOutput(join(jobDir, outName), jobId);
    const tarballs = await findTarballs(jobDir);
    const buildOk = output.noMissingModules && tarballs.length === 1;
    // An oom-kill event in the output does not undo a build that succeeded; the scheduler's
    // own end state (sacct) always counts.
    const slurmState =
      normaliseState(endInfo?.state) ??
      (output.markerState === 'OUT_OF_MEMORY' && buildOk ? undefined : output.markerState);
    const base = { source: 'job-output' as const, slurmState, artefacts: tarballs };

    if (slurmState === 'CANCELLED') {
      const when = output.exists ? '' : ' before it started';
      return {
        ...base,
        status: 'CANCELLED',
        summary: `:no_entry_sign: CANCELLED job was cancelled${when} (Slurm state CANCELLED)`,
        details: [`job was cancelled${when}`],
      };
    }
    if (!output.exists && !slurmState && lastSeenState !== 'RUNNING') {
      // Pending jobs cancelled by hand leave neither output nor (without accounting) a trace.
      const text = 'job left the queue without output (cancelled before it started?)';
      return { ...base, status: 'UNKNOWN', summary: `:shrug: UNKNOWN ${text}`, details: [text] };
    }

    const details: string[] = [];
    const stateProblem = slurmState ? TERMINAL_FAILURES[slurmState] : undefined;
    if (stateProblem) {
      const exit = endInfo?.exitCode ? `, exit code ${codeSpan(endInfo.exitCode)}` : '';
      details.push(`${stateProblem} (Slurm state ${slurmState}${exit})`);
    }
    if (buildOk && !stateProblem) {
      const [tarball] = tarballs;
      const size = gibibytes(tarball.sizeBytes);
      return {
        ...base,
        status: 'SUCCESS',
        summary: `:grin: SUCCESS tarball ${codeSpan(tarball.name)} (${size} GiB) in job dir`,
        details: [`tarball ${codeSpan(tarball.name)} (${size} GiB)`],
      };
    }
    if (!stateProblem && output.markerState && TERMINAL_FAILURES[output.markerState]) {
      details.push(`${TERMINAL_FAILURES[output.markerState]} (reported in ${codeSpan(outName)})`);
    }
    if (!output.exists) {
      details.push(`No slurm output ${codeSpan(outName)} in job dir`);
    } else {
      if (!output.readable) {
        details.push(`Slurm output ${codeSpan(outName)} cannot be read`);
      } else if (!output.noMissingModules) {
        details.push(`Slurm output lacks message "${NO_MISSING_MODULES}"`);
      }
    }
    if (tarballs.length === 0) {
      details.push(`No tarball matching ${codeSpan(TARBALL_GLOB)} found in job dir`);
    } else if (tarballs.length > 1) {
      details.push(
        `Found ${tarballs.length} tarballs in job dir - only 1 matching ${codeSpan(TARBALL_GLOB)} expected`,
      );
    }
    return {
      ...base,
      status: 'FAILURE',
      summary: `:cry: FAILURE <ul>${details.map((d) => `<li>${d}</li>`).join('')}</ul>`,
      details,
    };
  }

  private async readResultFile(
    jobId: string,
    jobDir: string,
    endInfo: JobEndInfo | undefined,
  ): Promise<JobResult | undefined> {
    const fileName = `_bot_job${jobId}.result`;
    const section = await readJobFileSection(join(jobDir, fileName), 'RESULT');
    if (!('entries' in section)) {
      if (!section.missing) {
        this.logger.warn(`job ${jobId}: ${section.problem}; judging by the job output`);
      }
      return undefined;
    }
    if (section.errors.length > 0) {
      this.logger.warn(`job ${jobId}: ${section.errors.join('; ')}`);
    }
    const value = (key: string) => section.entries.get(key)?.value;

    const { status, artefacts } = await statusAndArtefacts(section.entries, jobDir);
    // Older EESSI scripts wrote `summary` + multi-line `details` instead of comment_description.
    const legacyDetails = lines(value('details'));
    const description =
      value('comment_description') ??
      [value('summary') ?? `${EMOJI[status]} ${status}`, ...legacyDetails].join('<br/>');
    const summary = sanitise(description, MAX_DESCRIPTION_CHARS);
    return {
      status,
      summary: summary || `${EMOJI[status]} ${status}`,
      details:
        legacyDetails.length > 0
          ? legacyDetails.map((d) => sanitise(d, MAX_DETAIL_CHARS))
          : [`result file ${codeSpan(fileName)}`],
      artefacts,
      source: 'result-file',
      slurmState: normaliseState(endInfo?.state),
    };
  }
}

/** One section of a configparser file the job wrote, or why it could not be had. */
export type JobFileSection =
  | {
      readonly entries: ReadonlyMap<string, { readonly value: string }>;
      /** Syntax problems elsewhere in the file (`file:line: what`); the section was still read. */
      readonly errors: readonly string[];
    }
  | { readonly missing: boolean; readonly problem: string };

/**
 * Reads `[section]` of a file the build wrote into the job dir (`_bot_job<ID>.result`/`.test`),
 * with configparser's dialect: descriptions hold `;`/`#`, artefacts span indented lines.
 */
export async function readJobFileSection(path: string, section: string): Promise<JobFileSection> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    return { missing, problem: `cannot read ${path} (${(error as Error).message})` };
  }
  const parsed = readConfigParser(text, path);
  const found = parsed.sections.get(section);
  if (!found) {
    return { missing: false, problem: `${path} has no [${section}] section` };
  }
  return { entries: found.entries, errors: parsed.errors };
}

/**
 * `status` (SUCCESS or FAILURE in any case; anything else is UNKNOWN) and `artefacts` (one name a
 * line, each sized with stat but only inside the job dir) of a `[RESULT]` section.
 */
export async function statusAndArtefacts(
  entries: ReadonlyMap<string, { readonly value: string }>,
  jobDir: string,
): Promise<{ status: ResultStatus; artefacts: Artefact[] }> {
  const rawStatus = (entries.get('status')?.value ?? '').trim().toUpperCase();
  const status: ResultStatus =
    rawStatus === 'SUCCESS' || rawStatus === 'FAILURE' ? rawStatus : 'UNKNOWN';
  const names = lines(entries.get('artefacts')?.value);
  return { status, artefacts: await Promise.all(names.map((name) => artefactOf(jobDir, name))) };
}

/** A size as the finished row shows it: GiB with 3 decimals, `?` when unknown. */
export function gibibytes(sizeBytes: number | undefined): string {
  return sizeBytes === undefined ? '?' : (sizeBytes / GIB).toFixed(3);
}

export const EMOJI: Readonly<Record<ResultStatus, string>> = {
  SUCCESS: ':grin:',
  FAILURE: ':cry:',
  UNKNOWN: ':shrug:',
  CANCELLED: ':no_entry_sign:',
};

/** The non-empty lines of a (multi-line) configparser value, trimmed. */
function lines(value: string | undefined): string[] {
  return (value ?? '')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

/**
 * Text from the job dir goes into a PR comment: an unclosed `<!--` would hide every later row and
 * the bot's own marker, control characters are noise, and GitHub caps a comment's length.
 */
export function sanitise(text: string, maxChars: number): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/<!--/g, '&lt;!--').replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '');
  return clean.length > maxChars ? `${clean.slice(0, maxChars)} … (truncated)` : clean;
}

/** sacct prints e.g. `CANCELLED by 1000`; only the state word matters. */
export function normaliseState(state: string | undefined): string | undefined {
  const word = state?.trim().split(/\s+/)[0]?.toUpperCase();
  return word || undefined;
}

async function artefactOf(jobDir: string, name: string): Promise<Artefact> {
  // A result file naming `../../etc/passwd` must not make the bot stat outside the job dir.
  const path = resolve(jobDir, name);
  const inside = relative(resolve(jobDir), path);
  if (
    inside === '' ||
    inside.startsWith('..') ||
    isAbsolute(inside) ||
    inside.includes(`..${sep}`)
  ) {
    return { name };
  }
  try {
    const info = await stat(path);
    return info.isFile() ? { name, sizeBytes: info.size } : { name };
  } catch {
    return { name };
  }
}

async function findTarballs(jobDir: string): Promise<Artefact[]> {
  let names: string[];
  try {
    names = await readdir(jobDir);
  } catch {
    return [];
  }
  const matching = names.filter((name) => TARBALL.test(name)).sort();
  return Promise.all(matching.map((name) => artefactOf(jobDir, name)));
}

export interface OutputScan {
  readonly exists: boolean;
  readonly readable: boolean;
  readonly noMissingModules: boolean;
  /** State implied by slurmstepd's own lines (CANCELLED, TIMEOUT, OUT_OF_MEMORY, ...). */
  readonly markerState?: string;
}

const DUE_TO: Readonly<Record<string, string>> = {
  'TIME LIMIT': 'TIMEOUT',
  PREEMPTION: 'PREEMPTED',
  'NODE FAILURE': 'NODE_FAIL',
};

/**
 * Reads slurm-<ID>.out line by line (it can be gigabytes). Only lines written by slurmstepd about
 * this very job count as markers, so build output quoting another job's messages is not mistaken.
 */
export async function scanOutput(path: string, jobId: string): Promise<OutputScan> {
  try {
    const info = await stat(path);
    if (!info.isFile()) {
      return { exists: true, readable: false, noMissingModules: false };
    }
  } catch {
    return { exists: false, readable: false, noMissingModules: false };
  }
  // Array tasks (123_4) are named by their own numeric id in slurmstepd's lines.
  const id = jobId.includes('_') ? '\\d+' : jobId;
  const cancelled = new RegExp(
    `^slurmstepd(?:-\\S+)?: error: \\*\\*\\* (?:JOB|STEP) ${id}(?:\\.\\S+)? ON \\S+ CANCELLED AT \\S+(?: DUE TO ([A-Z ]+?))?(?: \\*\\*\\*|$)`,
  );
  const oom = /^slurmstepd(?:-\S+)?: error: Detected \d+ oom[-_]kill event/;
  let noMissingModules = false;
  let markerState: string | undefined;
  let sawOom = false;
  try {
    const reader = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
    for await (const line of reader) {
      if (!noMissingModules && line.trimEnd() === NO_MISSING_MODULES) {
        noMissingModules = true;
      }
      if (!line.startsWith('slurmstepd')) {
        continue;
      }
      const cancel = cancelled.exec(line);
      if (cancel) {
        markerState = cancel[1] ? (DUE_TO[cancel[1]] ?? 'CANCELLED') : 'CANCELLED';
      } else if (oom.test(line)) {
        sawOom = true;
      }
    }
  } catch {
    return { exists: true, readable: false, noMissingModules, markerState };
  }
  return {
    exists: true,
    readable: true,
    noMissingModules,
    markerState: markerState ?? (sawOom ? 'OUT_OF_MEMORY' : undefined),
  };
}
