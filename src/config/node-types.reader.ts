import type { NodeType } from './app-config.js';
import { closest } from './config-keys.js';
import type { ConfigSectionReader } from './config-section.reader.js';
import type { ConfigEntry } from './read-configparser.js';

/**
 * Reads `[architecturetargets] node_type_map` (v0.9 format): JSON
 * `{name: {os, cpu_subdir, slurm_params, repo_targets: [...], accel?}}`, one entry per kind of
 * build node. Each problem names the line of the node type (or of its field) in the file.
 */

const KEY = 'node_type_map';
const NODE_TYPE_FIELDS = ['os', 'cpu_subdir', 'slurm_params', 'repo_targets', 'accel'];
const EXAMPLE =
  '{"cpu_zen4": {"os": "linux", "cpu_subdir": "x86_64/amd/zen4", "slurm_params": "-p genoa", "repo_targets": ["eessi.io-2023.06-software"]}}';
// One path segment of a job directory: cpu_subdir parts, repo ids and accelerator parts end up there.
const SEGMENT = /^[A-Za-z0-9._-]+$/;
const ACCEL = /^[A-Za-z0-9._-]+\/[A-Za-z0-9._-]+$/;
// Node type names appear in Markdown tables (show_config, check-config) and in job.cfg.
const NODE_TYPE_NAME = /^[^\s|`<>"\\]+$/;

export function readNodeTypes(section: ConfigSectionReader, entry: ConfigEntry): NodeType[] {
  const parsed = section.json(KEY, entry, EXAMPLE);
  if (parsed === undefined) {
    return [];
  }
  if (!isObject(parsed)) {
    section.problem(KEY, entry, `must be a JSON object of node types, e.g. ${EXAMPLE}`);
    return [];
  }
  const names = Object.keys(parsed);
  if (names.length === 0) {
    section.problem(KEY, entry, `has no node types; add at least one, e.g. ${EXAMPLE}`);
    return [];
  }
  const locate = new NodeTypeLocator(section, entry, names);
  const nodeTypes: NodeType[] = [];
  for (const [name, value] of Object.entries(parsed)) {
    const nodeType = readNodeType(name, value, locate);
    if (nodeType) {
      nodeTypes.push(nodeType);
    }
  }
  return nodeTypes;
}

function readNodeType(name: string, value: unknown, at: NodeTypeLocator): NodeType | undefined {
  const problem = (field: string | undefined, message: string) =>
    at.section.problemAtLine(
      KEY,
      at.line(name, field),
      `node type ${JSON.stringify(name)}: ${message}`,
    );
  if (!NODE_TYPE_NAME.test(name)) {
    problem(undefined, 'the name must be one word without |, `, <, >, " or \\');
  }
  if (!isObject(value)) {
    problem(undefined, `must be a JSON object with os, cpu_subdir, slurm_params and repo_targets`);
    return undefined;
  }
  for (const field of Object.keys(value)) {
    if (NODE_TYPE_FIELDS.includes(field)) {
      continue;
    }
    const hint = closest(field, NODE_TYPE_FIELDS);
    at.section.warnAtLine(
      KEY,
      at.line(name, field),
      `node type ${JSON.stringify(name)}: unknown field ${JSON.stringify(field)} ${hint ? `(did you mean "${hint}"?)` : '(ignored)'}`,
    );
  }
  let ok = true;
  const text = (field: string, pattern: RegExp, shape: string): string => {
    const raw = value[field];
    if (typeof raw === 'string' && pattern.test(raw)) {
      return raw;
    }
    problem(
      raw === undefined ? undefined : field,
      raw === undefined
        ? `missing "${field}" (${shape})`
        : `"${field}" must be ${shape}, not ${JSON.stringify(raw)}`,
    );
    ok = false;
    return '';
  };
  const os = text('os', SEGMENT, 'a word like "linux"');
  const cpuSubdir = text(
    'cpu_subdir',
    /^[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/,
    'a CPU subdirectory like "x86_64/amd/zen4"',
  );
  if (cpuSubdir.split('/').some((part) => part === '.' || part === '..')) {
    problem('cpu_subdir', '"cpu_subdir" may not contain . or .. parts');
    ok = false;
  }
  const slurmParams = text('slurm_params', /^[^\0]*$/, 'sbatch options as a string, may be ""');
  const repoTargets = readRepoTargets(value.repo_targets, (message) => {
    problem('repo_targets', message);
    ok = false;
  });
  if (repoTargets?.length === 0) {
    at.section.warnAtLine(
      KEY,
      at.line(name, value.repo_targets === undefined ? undefined : 'repo_targets'),
      `node type ${JSON.stringify(name)}: no repo_targets, so no job is ever submitted to it`,
    );
  }
  const accel = readAccel(value.accel, (message) => {
    problem('accel', message);
    ok = false;
  });
  if (!ok) {
    return undefined;
  }
  return { name, os, cpuSubdir, slurmParams, repoTargets: repoTargets ?? [], accel: accel ?? [] };
}

function readRepoTargets(raw: unknown, problem: (message: string) => void): string[] | undefined {
  if (raw === undefined) {
    return [];
  }
  const shape = 'a list of repository ids like ["eessi.io-2023.06-software"]';
  if (!Array.isArray(raw) || !raw.every((id) => typeof id === 'string')) {
    problem(`"repo_targets" must be ${shape}, not ${JSON.stringify(raw)}`);
    return undefined;
  }
  const ids = raw;
  const bad = ids.filter((id) => !SEGMENT.test(id) || id === '.' || id === '..');
  if (bad.length > 0) {
    problem(
      `repository id ${JSON.stringify(bad[0])} may only contain letters, digits, '.', '_' and '-' (it names a job directory)`,
    );
    return undefined;
  }
  return [...new Set(ids)];
}

/** Absent, "None" (upstream's spelling), null or "" mean CPU only; a string or list of `vendor/model`. */
function readAccel(raw: unknown, problem: (message: string) => void): string[] | undefined {
  if (raw === undefined || raw === null || raw === '' || raw === 'None') {
    return [];
  }
  const list = typeof raw === 'string' ? [raw] : raw;
  if (!Array.isArray(list) || !list.every((item) => typeof item === 'string')) {
    problem(
      `"accel" must be "None", an accelerator like "nvidia/cc80", or a list of them, not ${JSON.stringify(raw)}`,
    );
    return undefined;
  }
  const bad = list.find((item) => !ACCEL.test(item) || item.split('/').includes('..'));
  if (bad !== undefined) {
    problem(
      `accelerator ${JSON.stringify(bad)} must look like vendor/model, e.g. "nvidia/cc80"${bad.includes('+') ? '; list several as ["nvidia/cc70", "nvidia/cc80"]' : ''}`,
    );
    return undefined;
  }
  return [...new Set(list)];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Finds the file line of a node type, or of one of its fields, in the JSON text: the first
 * `"name":` at or after the node type's own name and before the next node type's.
 */
class NodeTypeLocator {
  private readonly starts = new Map<string, number>();

  constructor(
    readonly section: ConfigSectionReader,
    private readonly entry: ConfigEntry,
    names: readonly string[],
  ) {
    let from = 0;
    for (const name of names) {
      const at = findProperty(entry.value, name, from);
      if (at === -1) {
        continue;
      }
      this.starts.set(name, at);
      from = at + 1;
    }
  }

  line(name: string, field?: string): number {
    const start = this.starts.get(name);
    if (start === undefined) {
      return this.entry.line;
    }
    if (field === undefined) {
      return this.section.positionOf(this.entry, start).line;
    }
    const later = [...this.starts.values()].filter((offset) => offset > start);
    const end = later.length > 0 ? Math.min(...later) : this.entry.value.length;
    const at = findProperty(this.entry.value.slice(0, end), field, start);
    return this.section.positionOf(this.entry, at === -1 ? start : at).line;
  }
}

function findProperty(text: string, name: string, from: number): number {
  const quoted = JSON.stringify(name);
  for (let at = text.indexOf(quoted, from); at !== -1; at = text.indexOf(quoted, at + 1)) {
    if (/^\s*:/.test(text.slice(at + quoted.length))) {
      return at;
    }
  }
  return -1;
}
