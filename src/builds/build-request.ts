/**
 * A v0.9 build request: what to build *for* (a CPU subdir, optionally accelerators), optionally
 * what to build *on*, which allow-listed variables to export into the job, and who asked. The
 * comment command `bot: build for:… [on:…] [filters…]` becomes one of these; so does
 * `simulate --build`. Everything here is hostile until checked: each value ends up in a path, in
 * cfg/job.cfg and in a PR comment, so only a strict character set is accepted.
 */
export interface TargetSpec {
  /** CPU subdir, e.g. `x86_64/amd/zen4` (on the `on:` side possibly only its tail, e.g. `zen4`). */
  readonly arch: string;
  /** Accelerators, e.g. `nvidia/cc80`; empty = CPU only. `accel=a+b` lists several. */
  readonly accel: readonly string[];
}

export interface ExportVar {
  readonly name: string;
  readonly value: string;
}

/** What the command's filters (repository, instance, …) are checked against, one per candidate job. */
export interface CandidateJob {
  readonly nodeType: string;
  /** CPU subdir of the node type the job runs on. */
  readonly architecture: string;
  /** Accelerators of that node type (empty: CPU only). */
  readonly accelerator: readonly string[];
  readonly repository: string;
  /** This bot instance's app_name. */
  readonly instance: string;
}

export interface BuildRequest {
  readonly for: TargetSpec;
  /** Absent: a native build (on = for). */
  readonly on?: TargetSpec;
  readonly exportVars: readonly ExportVar[];
  /** GitHub login of whoever asked; recorded with each job (for `cancel`). */
  readonly requester: string;
  /**
   * The command's other filters, evaluated by the caller (patterns are its business): a candidate
   * job is built only when this returns true. Absent: every matching job is built.
   */
  readonly accept?: (job: CandidateJob) => boolean;
  /** The filters as the user wrote them, for messages ("the filters repo:x exclude …"). */
  readonly filterText?: string;
}

export class BuildRequestError extends Error {
  override readonly name = 'BuildRequestError';
}

const SEGMENT = /^[A-Za-z0-9_.-]+$/;
const MAX_ARCH_LENGTH = 100;
const MAX_ACCELERATORS = 16;

/**
 * A CPU subdir (or, with `partial`, a tail of one): segments of letters, digits, `_`, `.`, `-`
 * joined by `/`, never `.` or `..`. `-` stays as written here; see normalizeArch.
 */
export function isArch(text: string): boolean {
  return (
    text.length > 0 &&
    text.length <= MAX_ARCH_LENGTH &&
    text.split('/').every((part) => SEGMENT.test(part) && part !== '.' && part !== '..')
  );
}

/** `vendor/model`, e.g. `nvidia/cc90` or `amd/gfx90a`. */
export function isAccelerator(text: string): boolean {
  const parts = text.split('/');
  return (
    parts.length === 2 &&
    text.length <= 50 &&
    parts.every((part) => SEGMENT.test(part) && part !== '.' && part !== '..')
  );
}

/**
 * v0.9 treats `-` and `/` in architectures alike (`x86_64-amd-zen4`), and no EESSI CPU subdir
 * contains a `-`, so `-` is read as `/` on both sides of a comparison.
 */
export function normalizeArch(arch: string): string {
  return arch.replace(/-/g, '/');
}

/** v0.9 accepts `nvidia=cc80` for `nvidia/cc80` (a `/` cannot be typed in some filter positions). */
function normalizeAccelerator(accel: string): string {
  return accel.replace(/=/g, '/');
}

/** An accelerator list as a job dir segment and as job.cfg's `accelerator`: `a+b`. */
export function joinAccelerators(accel: readonly string[]): string {
  return accel.join('+');
}

/**
 * `arch=x86_64/amd/zen4[,accel=nvidia/cc70+nvidia/cc80]`, the part after `for:` or `on:`.
 * Keys may be abbreviated as in v0.9 (`arch`, `architecture`, `acc`, `accelerator`).
 * @throws BuildRequestError naming the side and the token at fault.
 */
export function parseTargetSpec(text: string, side: 'for' | 'on'): TargetSpec {
  const fail = (what: string): never => {
    throw new BuildRequestError(`${side}:${text}: ${what}`);
  };
  let arch: string | undefined;
  let accel: string[] | undefined;
  for (const item of text.split(',')) {
    const eq = item.indexOf('=');
    if (eq <= 0) {
      fail(`${JSON.stringify(item)} is not KEY=VALUE (keys: arch, accel)`);
    }
    const key = item.slice(0, eq).toLowerCase();
    const value = item.slice(eq + 1);
    if (key.length >= 3 && 'architecture'.startsWith(key)) {
      if (arch !== undefined) {
        fail('arch given twice');
      }
      const normalized = normalizeArch(value);
      if (!isArch(normalized)) {
        fail(`${JSON.stringify(value)} is not a CPU subdir such as x86_64/amd/zen4`);
      }
      arch = normalized;
    } else if (key.length >= 3 && 'accelerator'.startsWith(key)) {
      if (accel !== undefined) {
        fail('accel given twice');
      }
      accel = value.split('+').map(normalizeAccelerator);
      const bad = accel.find((a) => !isAccelerator(a));
      if (bad !== undefined) {
        fail(`${JSON.stringify(bad)} is not an accelerator such as nvidia/cc90`);
      }
      if (accel.length > MAX_ACCELERATORS) {
        fail(`more than ${MAX_ACCELERATORS} accelerators`);
      }
      if (new Set(accel).size !== accel.length) {
        fail('an accelerator is listed twice');
      }
    } else {
      fail(`unknown key ${JSON.stringify(item.slice(0, eq))} (keys: arch, accel)`);
    }
  }
  if (arch === undefined) {
    return fail('arch=… is required');
  }
  return { arch, accel: accel ?? [] };
}

/** `NAME=value` of an `exp:` / `exportvariable:` filter. */
export function parseExportVar(text: string): ExportVar {
  const eq = text.indexOf('=');
  const name = eq < 0 ? text : text.slice(0, eq);
  if (eq < 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    throw new BuildRequestError(
      `exportvariable ${JSON.stringify(text)}: expected NAME=value with NAME a shell variable name`,
    );
  }
  return { name, value: text.slice(eq + 1) };
}

/** The request's for/on as the user would write them, for messages. */
export function describeTarget(spec: TargetSpec): string {
  return spec.accel.length === 0
    ? `arch=${spec.arch}`
    : `arch=${spec.arch},accel=${joinAccelerators(spec.accel)}`;
}

/**
 * The arguments of a build command, restricted to what the build side understands:
 * `for:…` (required), `on:…`, and `exp:NAME=value` / `exportvariable:NAME=value`. Used by
 * `simulate --build`; the comment command parses the full grammar (filters) itself and builds
 * a BuildRequest from parseTargetSpec and parseExportVar.
 * @throws BuildRequestError naming the token at fault.
 */
export function parseBuildArguments(text: string, requester: string): BuildRequest {
  let forSpec: TargetSpec | undefined;
  let onSpec: TargetSpec | undefined;
  const exportVars: ExportVar[] = [];
  for (const token of text.split(/\s+/).filter((t) => t !== '')) {
    const colon = token.indexOf(':');
    const component = colon < 0 ? token : token.slice(0, colon).toLowerCase();
    const value = token.slice(colon + 1);
    if (component === 'for') {
      if (forSpec) {
        throw new BuildRequestError('for: given twice');
      }
      forSpec = parseTargetSpec(value, 'for');
    } else if (component === 'on') {
      if (onSpec) {
        throw new BuildRequestError('on: given twice');
      }
      onSpec = parseTargetSpec(value, 'on');
    } else if (colon > 0 && component.length >= 3 && 'exportvariable'.startsWith(component)) {
      exportVars.push(parseExportVar(value));
    } else {
      throw new BuildRequestError(
        `${JSON.stringify(token)}: expected for:arch=…[,accel=…], on:arch=…[,accel=…] or exp:NAME=value`,
      );
    }
  }
  if (!forSpec) {
    throw new BuildRequestError('for:arch=… is required');
  }
  return { for: forSpec, on: onSpec, exportVars, requester };
}
