import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from '@nestjs/common';
import { errorMessage } from '../common/error-message.js';
import { writeFileAtomic, writeFileExclusive } from '../common/atomic-file.js';
import type { ProcessIdentity } from '../common/process-identity.js';

/** `jobs/<id>.json`: what was submitted. Written once, when the id is claimed; never changed. */
export interface JobRecord {
  readonly id: string;
  readonly name: string;
  readonly workDir: string;
  /** Absolute: resolved against workDir at submission, as sbatch reads the script at submission. */
  readonly script: string;
  readonly scriptArgs: readonly string[];
  /** Recorded for operators; the local executor has no use for sbatch options. */
  readonly schedulerArgs: readonly string[];
  readonly submittedAt: string;
}

/** `jobs/<id>.started`: the one claim to start the job (or, with `cancelled`, to never start it). */
export interface StartClaim extends ProcessIdentity {
  readonly at: string;
  readonly cancelled?: boolean;
}

/** `jobs/<id>.pid`: the job's supervisor, leader of the job's process group. */
export interface RunningProcess extends ProcessIdentity {
  readonly startedAt: string;
}

/** `jobs/<id>.exit`: written by the supervisor when the job script ended. */
export interface ExitStatus {
  readonly code: number | null;
  readonly signal: string | null;
  /** Set when the script could not be started at all (ENOENT, EACCES, ...). */
  readonly error?: string;
}

/** `jobs/<id>.end`: how the job ended, decided once by whichever process saw the end first. */
export interface EndRecord {
  readonly state: 'COMPLETED' | 'FAILED' | 'CANCELLED';
  readonly exitCode?: string;
  readonly endedAt: string;
  readonly note?: string;
}

export type FileKind = 'json' | 'released' | 'started' | 'pid' | 'cancel' | 'exit' | 'end';
const ALL_KINDS: readonly FileKind[] = [
  'json',
  'released',
  'started',
  'pid',
  'cancel',
  'exit',
  'end',
];
const STATE_FILE = /^(\d+)\.(json|released|started|pid|cancel|exit|end)$/;

/**
 * The local executor's job files under `<stateDir>/local-executor/`: one file per transition of a
 * job in `jobs/`, each created once (exclusively) by whichever process makes that transition, and
 * the `next-id` counter. Files that never change once written (record, claim, pid) are read once
 * and cached until the job is forgotten.
 */
export class LocalJobStore {
  /** `<stateDir>/local-executor`: named in errors, so the operator knows what to check. */
  readonly root: string;
  readonly jobsDir: string;
  private readonly nextIdPath: string;
  private readonly records = new Map<string, JobRecord>();
  private readonly processes = new Map<string, RunningProcess>();
  private readonly claims = new Map<string, StartClaim>();
  private idQueue: Promise<unknown> = Promise.resolve();

  constructor(
    stateDir: string,
    private readonly logger: Logger,
  ) {
    this.root = join(resolve(stateDir), 'local-executor');
    this.jobsDir = join(this.root, 'jobs');
    this.nextIdPath = join(this.root, 'next-id');
  }

  path(id: string, kind: FileKind): string {
    return join(this.jobsDir, `${id}.${kind}`);
  }

  // ----- job ids

  /**
   * Claims the next id by creating its record exclusively: two submitters, in this process or
   * any other, can never get the same id. The counter only saves scanning; a stale one costs a
   * few EEXIST retries. Records are never deleted, so ids are never reused.
   */
  allocate(recordFor: (jobId: string) => JobRecord): Promise<string> {
    const run = this.idQueue.then(async () => {
      let candidate = await this.readNextId();
      while (!(await this.create(String(candidate), 'json', recordFor(String(candidate))))) {
        candidate += 1;
      }
      if ((await this.readNextId()) <= candidate) {
        await writeFileAtomic(this.nextIdPath, `${candidate + 1}\n`);
      }
      return String(candidate);
    });
    this.idQueue = run.catch(() => undefined);
    return run;
  }

  private async readNextId(): Promise<number> {
    let text: string;
    try {
      text = await readFile(this.nextIdPath, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return 1;
      }
      throw error;
    }
    const value = Number(text.trim());
    if (!Number.isSafeInteger(value) || value < 1) {
      // Recoverable: the exclusive creates skip every id already taken.
      this.logger.warn(
        `${this.nextIdPath} holds ${JSON.stringify(text)}, not a job id; counting from 1`,
      );
      return 1;
    }
    return value;
  }

  // ----- which files exist

  /** All state files, by job id in ascending order (the order jobs start in). */
  async scan(): Promise<Map<string, Set<FileKind>>> {
    let names: string[];
    try {
      names = await readdir(this.jobsDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return new Map();
      }
      throw error;
    }
    const byId = new Map<string, Set<FileKind>>();
    for (const name of names) {
      const match = STATE_FILE.exec(name);
      if (!match) {
        continue;
      }
      const kinds = byId.get(match[1]) ?? new Set<FileKind>();
      kinds.add(match[2] as FileKind);
      byId.set(match[1], kinds);
    }
    return new Map([...byId].sort(([a], [b]) => Number(a) - Number(b)));
  }

  async kindsOf(id: string): Promise<Set<FileKind>> {
    const kinds = new Set<FileKind>();
    await Promise.all(
      ALL_KINDS.map(async (kind) => {
        if (await this.has(id, kind)) {
          kinds.add(kind);
        }
      }),
    );
    return kinds;
  }

  async has(id: string, kind: FileKind): Promise<boolean> {
    try {
      await stat(this.path(id, kind));
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return false;
      }
      throw error;
    }
  }

  // ----- writing

  /**
   * Creates a transition file unless it exists: repeating a transition changes nothing.
   * @returns whether this call made the transition
   */
  create(id: string, kind: FileKind, content: object): Promise<boolean> {
    return writeFileExclusive(this.path(id, kind), json(content));
  }

  /** The pid file is the one written by rename: only the job's starter writes it. */
  async writeProcess(id: string, proc: RunningProcess): Promise<void> {
    this.processes.set(id, proc);
    await writeFileAtomic(this.path(id, 'pid'), json(proc));
  }

  /** An ended job is read from its .end file from now on. */
  forget(id: string): void {
    this.claims.delete(id);
    this.processes.delete(id);
    this.records.delete(id);
  }

  // ----- reading

  async record(id: string): Promise<JobRecord> {
    return this.required(id, 'json', await this.readOnce(this.records, id, 'json'));
  }

  async claim(id: string): Promise<StartClaim> {
    return this.required(id, 'started', await this.readOnce(this.claims, id, 'started'));
  }

  /** The cached supervisor of a job, without touching the disk. */
  knownProcess(id: string): RunningProcess | undefined {
    return this.processes.get(id);
  }

  process(id: string): Promise<RunningProcess | undefined> {
    return this.readOnce(this.processes, id, 'pid');
  }

  /** A file that never changes once written: read until it exists, then kept in `cache`. */
  private async readOnce<T>(
    cache: Map<string, T>,
    id: string,
    kind: FileKind,
  ): Promise<T | undefined> {
    const cached = cache.get(id);
    if (cached) {
      return cached;
    }
    const value = await this.readOptional<T>(id, kind);
    if (value) {
      cache.set(id, value);
    }
    return value;
  }

  async read<T>(id: string, kind: FileKind): Promise<T> {
    return this.required(id, kind, await this.readOptional<T>(id, kind));
  }

  private required<T>(id: string, kind: FileKind, value: T | undefined): T {
    if (value === undefined) {
      throw new Error(`${this.path(id, kind)} is missing`);
    }
    return value;
  }

  async readOptional<T>(id: string, kind: FileKind): Promise<T | undefined> {
    const path = this.path(id, kind);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return undefined;
      }
      throw error;
    }
    try {
      return JSON.parse(text) as T;
    } catch (error) {
      throw new Error(
        `${path} is not valid JSON (${errorMessage(error)}); it was edited or damaged by hand: restore it, or remove the job's files to forget the job`,
        { cause: error },
      );
    }
  }
}

function json(value: object): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
