import type { NodeType } from '../config/app-config.js';
import {
  describeTarget,
  isAccelerator,
  isArch,
  joinAccelerators,
  normalizeArch,
  type BuildRequest,
  type CandidateJob,
  type TargetSpec,
} from './build-request.js';

/**
 * Which jobs a v0.9 build request becomes: one per (matching node type × each of its repo
 * targets). Pure: node types are plain data from `[architecturetargets] node_type_map`, nothing
 * about particular CPUs or GPUs is known here.
 *
 * Matching (docs/builds.md, "Which node types build a request"):
 * - The node side is `on:` when given, else `for:` (a native build).
 * - Native: node types whose cpu_subdir equals `for:arch`.
 * - `on:arch` may be the full cpu_subdir or its tail in whole path components (`zen3` or
 *   `amd/zen3` for `x86_64/amd/zen3`), as v0.11 accepts, provided the tail names one cpu_subdir.
 * - Accelerators on the node side must all be ones the node type has; a node type with an
 *   accelerator is used only when the node side asks for one (no CPU-only builds on GPU nodes).
 * - `for:accel` of a cross build (with `on:`) is what the build targets (e.g. CUDA compute
 *   capabilities compiled on a CPU node) and is not checked against node types.
 * - Two node types that would build the same (for, accelerators, repo) build it once, on the
 *   first in node_type_map: their job dirs would be the same.
 */
export interface PlannedJob {
  /** Unique within the plan: `<node type>/<repo id>`. */
  readonly key: string;
  readonly nodeType: string;
  readonly os: string;
  /** cpu_subdir of the node type. */
  readonly onArch: string;
  /** Accelerators of the node type (empty: CPU only). */
  readonly onAccel: readonly string[];
  readonly forArch: string;
  readonly forAccel: readonly string[];
  readonly repoId: string;
  /** The node type's raw sbatch parameters. */
  readonly slurmParams: string;
  /** Job dir relative to run_NNN: `<forArch>[/<accelerators>]/<repoId>`, nested as v0.9 makes it. */
  readonly subdir: string;
}

/** A job the request matched but that is not built, and why. */
export interface SkippedJob {
  readonly nodeType: string;
  readonly onArch: string;
  readonly onAccel: readonly string[];
  readonly forArch: string;
  readonly forAccel: readonly string[];
  readonly repoId: string;
  readonly reason: string;
}

export interface NodeTypeSummary {
  readonly name: string;
  readonly cpuSubdir: string;
  readonly accel: readonly string[];
}

export interface BuildPlan {
  readonly jobs: readonly PlannedJob[];
  readonly skipped: readonly SkippedJob[];
  /** Why nothing is built, when `jobs` is empty. */
  readonly problem?: string;
  /** Node types nearest to what was asked, when none matched it. */
  readonly closest: readonly NodeTypeSummary[];
}

export interface PlanInput {
  readonly nodeTypes: readonly NodeType[];
  /** This instance's app_name (filters may select on it). */
  readonly appName: string;
  /** `[buildenv] allowed_exportvars`: `NAME=value` strings. */
  readonly allowedExportVars: readonly string[];
}

const CLOSEST_COUNT = 3;
const PATH_SEGMENT = /^[A-Za-z0-9_.+-]+$/;

export function planBuild(request: BuildRequest, input: PlanInput): BuildPlan {
  const refused = (problem: string, closest: readonly NodeTypeSummary[] = []): BuildPlan => ({
    jobs: [],
    skipped: [],
    problem,
    closest,
  });

  const invalid = invalidSpec(request);
  if (invalid) {
    return refused(invalid);
  }
  if (!normalizeArch(request.for.arch).includes('/')) {
    return refused(
      `for:arch=${request.for.arch} is not a whole CPU subdir such as x86_64/amd/zen4`,
      closestNodeTypes(request.for.arch, input.nodeTypes),
    );
  }

  const allowed = new Set(input.allowedExportVars);
  const notAllowed = request.exportVars
    .map((v) => `${v.name}=${v.value}`)
    .filter((pair) => !allowed.has(pair));
  if (notAllowed.length > 0) {
    return refused(
      `exportvariable ${notAllowed.map((p) => JSON.stringify(p)).join(', ')} ${notAllowed.length === 1 ? 'is' : 'are'} not in [buildenv] allowed_exportvars`,
    );
  }
  const names = request.exportVars.map((v) => v.name);
  const twice = names.find((name, i) => names.indexOf(name) !== i);
  if (twice !== undefined) {
    return refused(`exportvariable ${twice} is given twice`);
  }

  const side: TargetSpec = request.on ?? request.for;
  const sideName = request.on ? 'on' : 'for';
  const resolved = resolveArch(side.arch, input.nodeTypes, request.on !== undefined);
  if (typeof resolved !== 'string') {
    return refused(
      `${resolved.problem} (${sideName}:${describeTarget(side)})`,
      closestNodeTypes(side.arch, input.nodeTypes),
    );
  }
  const sameArch = input.nodeTypes.filter((n) => normalizeArch(n.cpuSubdir) === resolved);
  const matching = sameArch.filter((node) =>
    side.accel.length === 0
      ? node.accel.length === 0
      : side.accel.every((accel) => node.accel.includes(accel)),
  );
  if (matching.length === 0) {
    return refused(
      `${acceleratorMismatch(side, resolved, sameArch)} (${sideName}:${describeTarget(side)})`,
      sameArch.map(summary),
    );
  }

  // Native builds build for the node's own cpu_subdir (as spelt in node_type_map).
  const forArch = request.on ? request.for.arch : matching[0].cpuSubdir;
  const forAccel = request.for.accel;
  const forDir = forAccel.length === 0 ? forArch : `${forArch}/${joinAccelerators(forAccel)}`;
  const jobs: PlannedJob[] = [];
  const skipped: SkippedJob[] = [];
  const bySubdir = new Map<string, PlannedJob>();
  for (const node of matching) {
    for (const repoId of node.repoTargets) {
      const skip = (reason: string) =>
        skipped.push({
          nodeType: node.name,
          onArch: node.cpuSubdir,
          onAccel: node.accel,
          forArch,
          forAccel,
          repoId,
          reason,
        });
      if (!PATH_SEGMENT.test(repoId) || repoId === '.' || repoId === '..') {
        skip(`repo id ${JSON.stringify(repoId)} cannot name a job directory`);
        continue;
      }
      const candidate: CandidateJob = {
        nodeType: node.name,
        architecture: node.cpuSubdir,
        accelerator: node.accel,
        repository: repoId,
        instance: input.appName,
      };
      if (request.accept && !request.accept(candidate)) {
        skip(`excluded by the filters${request.filterText ? ` ${request.filterText}` : ''}`);
        continue;
      }
      const subdir = `${forDir}/${repoId}`;
      const twin = bySubdir.get(subdir);
      if (twin) {
        skip(`the same build runs on node type ${twin.nodeType}`);
        continue;
      }
      const job: PlannedJob = {
        key: `${node.name}/${repoId}`,
        nodeType: node.name,
        os: node.os,
        onArch: node.cpuSubdir,
        onAccel: node.accel,
        forArch,
        forAccel,
        repoId,
        slurmParams: node.slurmParams,
        subdir,
      };
      bySubdir.set(subdir, job);
      jobs.push(job);
    }
  }
  if (jobs.length === 0) {
    const reasons = [...new Set(skipped.map((s) => s.reason))];
    return {
      jobs,
      skipped,
      problem:
        reasons.length > 0
          ? `no job left: ${reasons.join('; ')}`
          : `node type${matching.length === 1 ? '' : 's'} ${matching.map((n) => n.name).join(', ')} ${matching.length === 1 ? 'has' : 'have'} no repo_targets`,
      closest: [],
    };
  }
  return { jobs, skipped, closest: [] };
}

/**
 * The last guard before values become paths, job.cfg lines and comment text (a caller may have
 * built the request without parseTargetSpec). A `for:` architecture names a software subdir, so
 * planBuild also wants a whole one (`isa/name` at least), even in cross builds where no node type
 * has it.
 */
function invalidSpec(request: BuildRequest): string | undefined {
  for (const [side, spec] of [
    ['for', request.for],
    ['on', request.on],
  ] as const) {
    if (!spec) {
      continue;
    }
    if (!isArch(spec.arch)) {
      return `${side}:arch ${JSON.stringify(spec.arch)} is not a CPU subdir`;
    }
    const bad = spec.accel.find((a) => !isAccelerator(a));
    if (bad !== undefined) {
      return `${side}:accel ${JSON.stringify(bad)} is not an accelerator such as nvidia/cc90`;
    }
  }
  return undefined;
}

/**
 * The cpu_subdir (normalized) that `arch` names: equal to one, or with `allowTail`, the tail of
 * exactly one distinct cpu_subdir in whole components.
 */
function resolveArch(
  arch: string,
  nodeTypes: readonly NodeType[],
  allowTail: boolean,
): string | { problem: string } {
  const wanted = normalizeArch(arch);
  const subdirs = [...new Set(nodeTypes.map((n) => normalizeArch(n.cpuSubdir)))];
  if (subdirs.includes(wanted)) {
    return wanted;
  }
  if (allowTail) {
    const tails = subdirs.filter((s) => s.endsWith(`/${wanted}`));
    if (tails.length === 1) {
      return tails[0];
    }
    if (tails.length > 1) {
      return {
        problem: `${arch} is ambiguous: it ends ${tails.join(', ')}; give the full CPU subdir`,
      };
    }
  }
  return { problem: `no node type has CPU subdir ${arch}` };
}

function acceleratorMismatch(
  side: TargetSpec,
  arch: string,
  sameArch: readonly NodeType[],
): string {
  const nodes = sameArch
    .map((n) => `${n.name} (${n.accel.length === 0 ? 'CPU only' : joinAccelerators(n.accel)})`)
    .join(', ');
  return side.accel.length === 0
    ? `every node type with CPU subdir ${arch} has an accelerator, and none was asked for: ${nodes}`
    : `no node type with CPU subdir ${arch} has accelerator ${joinAccelerators(side.accel)}: ${nodes}`;
}

function summary(node: NodeType): NodeTypeSummary {
  return { name: node.name, cpuSubdir: node.cpuSubdir, accel: node.accel };
}

/**
 * Node types ordered by how near their cpu_subdir is to `arch`: sharing the last component
 * (`zen4`) first, then the most leading components (`x86_64/amd`), then the fewest edits, then
 * the nearest generation (`zen5` for `zen6`).
 */
export function closestNodeTypes(
  arch: string,
  nodeTypes: readonly NodeType[],
  count = CLOSEST_COUNT,
): NodeTypeSummary[] {
  const wanted = normalizeArch(arch).split('/');
  const ranked = nodeTypes.map((node) => {
    const parts = normalizeArch(node.cpuSubdir).split('/');
    let prefix = 0;
    while (prefix < Math.min(parts.length, wanted.length) && parts[prefix] === wanted[prefix]) {
      prefix += 1;
    }
    return {
      node,
      sameLast: parts[parts.length - 1] === wanted[wanted.length - 1] ? 1 : 0,
      prefix,
      distance: editDistance(parts.join('/'), wanted.join('/')),
      generationGap: generationGap(parts[parts.length - 1], wanted[wanted.length - 1]),
    };
  });
  ranked.sort(
    (a, b) =>
      b.sameLast - a.sameLast ||
      b.prefix - a.prefix ||
      a.distance - b.distance ||
      a.generationGap - b.generationGap,
  );
  return ranked.slice(0, count).map((r) => summary(r.node));
}

/** zen6 is nearer to zen5 than to zen2: the gap between trailing numbers of same-named parts. */
function generationGap(a: string, b: string): number {
  const [ma, mb] = [/^(.*?)(\d+)$/.exec(a), /^(.*?)(\d+)$/.exec(b)];
  if (!ma || !mb || ma[1] !== mb[1]) {
    return Number.MAX_SAFE_INTEGER;
  }
  return Math.abs(Number(ma[2]) - Number(mb[2]));
}

/** Levenshtein distance; both strings are short (≤ 100 characters, checked by the parser). */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j] + 1,
        current[j - 1] + 1,
        previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length];
}

/** `name (cpu_subdir, accel)` list for messages. */
export function describeNodeTypes(nodes: readonly NodeTypeSummary[]): string {
  return nodes
    .map(
      (n) =>
        `${n.name} (${n.cpuSubdir}${n.accel.length > 0 ? `, ${joinAccelerators(n.accel)}` : ''})`,
    )
    .join(', ');
}
