import type { DeployConfig, PerRepoValue, SigningConfig, UploadPolicy } from './app-config.js';
import type { ConfigReadContext, ConfigSectionReader } from './config-section.reader.js';
import type { ConfigEntry } from './read-configparser.js';
import { readableFileProblem } from './readable-file.js';
import { resolveCommand } from './resolve-command.js';

export const DEFAULT_DEPLOY_LABEL = 'bot:deploy';
const DEFAULT_UPLOAD_POLICY: UploadPolicy = 'once';
/** Upstream v0.9's text (app.cfg.example), so PRs read the same after a switch. */
export const DEFAULT_NO_DEPLOY_PERMISSION_COMMENT =
  'Label `bot:deploy` has been set by user `{deploy_labeler}`, but this person does not have permission to trigger deployments';

const UPLOAD_POLICIES: readonly UploadPolicy[] = ['all', 'latest', 'once', 'none'];
/** Variables upstream's eessi-upload-to-staging lets prefixes use (envsubst), and so do we. */
const PREFIX_VARIABLES = ['github_repository', 'pull_request_number', 'legacy_aws_path'];
const PREFIX_VARIABLE = /\$\{([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;
/** S3's rules, loosened to what legacy us-east-1 buckets may be called. */
const BUCKET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$/;
/** GitHub limits label names to 50 characters. */
const MAX_LABEL_CHARS = 50;
const LOGIN = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\[bot\])?$/;
const SIGNING_KEYS = ['script', 'key', 'container_runtime'];

/**
 * Reads `[deploycfg]` (upstream v0.9's keys plus our `deploy_label`); undefined when the file has
 * no such section, i.e. this instance does not deploy. Every problem is reported, naming the key
 * and, inside the JSON maps, the line of the offending entry. `text` is the whole file, to find
 * those lines.
 */
export function readDeployConfig(
  context: ConfigReadContext,
  text: string,
): DeployConfig | undefined {
  if (!context.parsed.sections.has('deploycfg')) {
    return undefined;
  }
  const section = context.section('deploycfg', []);
  const json = new JsonLines(text);

  const label = readLabel(section);
  const artefactUploadScript = readUploadScript(section, context);
  const builtIn = artefactUploadScript === undefined;

  const endpointEntry = section.get('endpoint_url');
  const endpointUrl =
    endpointEntry && endpointEntry.value !== ''
      ? section.httpUrl('endpoint_url', endpointEntry)
      : undefined;

  const bucketName = readPerRepo(section, json, 'bucket_name', (value) =>
    value === ''
      ? builtIn
        ? 'is empty; the built-in uploader needs a bucket (or set artefact_upload_script)'
        : undefined
      : BUCKET_NAME.test(value)
        ? undefined
        : `${JSON.stringify(value)} is not a bucket name (3-63 letters, digits, '.', '_' or '-')`,
  );
  if (builtIn && !section.get('bucket_name')) {
    section.problem(
      'bucket_name',
      undefined,
      'missing; the built-in uploader needs the bucket to upload to (or set artefact_upload_script)',
    );
  }
  const metadataPrefix = readPerRepo(section, json, 'metadata_prefix', prefixProblem);
  const artefactPrefix = readPerRepo(section, json, 'artefact_prefix', prefixProblem);

  const policyEntry = section.get('upload_policy');
  let uploadPolicy = DEFAULT_UPLOAD_POLICY;
  if (policyEntry && policyEntry.value !== '') {
    const value = policyEntry.value.toLowerCase() as UploadPolicy;
    if (UPLOAD_POLICIES.includes(value)) {
      uploadPolicy = value;
    } else {
      section.problem(
        'upload_policy',
        policyEntry,
        `${JSON.stringify(policyEntry.value)} is not one of ${UPLOAD_POLICIES.join(', ')}`,
      );
    }
  }

  const deployPermission = readPermission(section);
  const noDeployPermissionComment = readNoPermissionComment(section);
  const signing = readSigning(section, json, context, !builtIn);

  return {
    label,
    ...(artefactUploadScript !== undefined ? { artefactUploadScript } : {}),
    ...(endpointUrl !== undefined ? { endpointUrl } : {}),
    bucketName,
    uploadPolicy,
    deployPermission,
    noDeployPermissionComment,
    metadataPrefix,
    artefactPrefix,
    signing,
  };
}

function readLabel(section: ConfigSectionReader): string {
  const entry = section.get('deploy_label');
  if (!entry || entry.value === '') {
    return DEFAULT_DEPLOY_LABEL;
  }
  if (entry.value.length > MAX_LABEL_CHARS || entry.value.includes('\n')) {
    section.problem(
      'deploy_label',
      entry,
      `must be one line of at most ${MAX_LABEL_CHARS} characters (a GitHub label name)`,
    );
    return DEFAULT_DEPLOY_LABEL;
  }
  if (entry.value === 'bot:build') {
    section.problem('deploy_label', entry, 'must differ from the build label `bot:build`');
    return DEFAULT_DEPLOY_LABEL;
  }
  return entry.value;
}

function readUploadScript(
  section: ConfigSectionReader,
  context: ConfigReadContext,
): string | undefined {
  const entry = section.get('artefact_upload_script');
  if (!entry || entry.value === '') {
    return undefined;
  }
  const expanded = section.expandedOnly('artefact_upload_script', entry);
  if (expanded === undefined) {
    return undefined;
  }
  // Unlike the Slurm commands, no `scheduler = local` leniency: a deploy always runs the script.
  const resolved = resolveCommand(expanded, context.env, context.baseDir);
  if ('error' in resolved) {
    section.problem('artefact_upload_script', entry, resolved.error);
    return undefined;
  }
  return resolved.path;
}

/** A string, or (a value starting with `{`, as upstream decides) a JSON map repo id → string. */
function readPerRepo(
  section: ConfigSectionReader,
  json: JsonLines,
  key: string,
  problemOf: (value: string) => string | undefined,
): PerRepoValue {
  const entry = section.get(key);
  const value = entry?.value ?? '';
  if (!entry || !value.startsWith('{')) {
    const problem = problemOf(value);
    if (problem && entry) {
      section.problem(key, entry, problem);
    }
    return { kind: 'single', value };
  }
  const parsed = json.parseObject(section, key, entry, '{"eessi.io-2023.06-software": "…"}');
  if (!parsed) {
    return { kind: 'map', byRepo: {} };
  }
  const pairs: [string, string][] = [];
  for (const [repoId, repoValue] of Object.entries(parsed)) {
    const at = json.entryAt(entry, repoId);
    if (typeof repoValue !== 'string') {
      section.problem(
        key,
        at,
        `the value for repository ${JSON.stringify(repoId)} must be a string`,
      );
      continue;
    }
    const problem = problemOf(repoValue);
    if (problem) {
      section.problem(key, at, `repository ${JSON.stringify(repoId)}: ${problem}`);
    }
    pairs.push([repoId, repoValue]);
  }
  return { kind: 'map', byRepo: Object.fromEntries(pairs) };
}

/** Prefixes name S3 key paths and may use upstream's three variables, nothing else. */
function prefixProblem(value: string): string | undefined {
  for (const match of value.matchAll(PREFIX_VARIABLE)) {
    const name = match[1] ?? match[2];
    if (!PREFIX_VARIABLES.includes(name)) {
      return `uses unknown variable ${JSON.stringify(match[0])}; only ${PREFIX_VARIABLES.map((v) => `\${${v}}`).join(', ')} are filled in`;
    }
  }
  if (value.startsWith('/') || value.split('/').some((part) => part === '..' || part === '.')) {
    return `${JSON.stringify(value)} must be a relative key prefix without '.' or '..' parts`;
  }
  return undefined;
}

function readPermission(section: ConfigSectionReader): readonly string[] {
  const entry = section.get('deploy_permission');
  const logins = (entry?.value ?? '').split(/\s+/).filter((login) => login !== '');
  // Empty is upstream's way to say "this instance does not deploy" ([deploycfg] is required there).
  for (const login of logins) {
    if (!LOGIN.test(login)) {
      section.problem(
        'deploy_permission',
        entry,
        `${JSON.stringify(login)} is not a GitHub login (logins are separated by spaces)`,
      );
    }
  }
  return logins;
}

function readNoPermissionComment(section: ConfigSectionReader): string {
  const entry = section.get('no_deploy_permission_comment');
  if (!entry || entry.value === '') {
    return DEFAULT_NO_DEPLOY_PERMISSION_COMMENT;
  }
  for (const match of entry.value.matchAll(/\{([^{}]*)\}/g)) {
    if (match[1] !== 'deploy_labeler') {
      section.problem(
        'no_deploy_permission_comment',
        entry,
        `unknown placeholder {${match[1]}}; only {deploy_labeler} is filled in`,
      );
    }
  }
  return entry.value;
}

function readSigning(
  section: ConfigSectionReader,
  json: JsonLines,
  context: ConfigReadContext,
  scriptRequired: boolean,
): Readonly<Record<string, SigningConfig>> {
  const entry = section.get('signing');
  if (!entry || entry.value === '') {
    return {};
  }
  const example = '{"eessi.io-2023.06-software": {"key": "/path/to/signing.key"}}';
  const parsed = json.parseObject(section, 'signing', entry, example);
  if (!parsed) {
    return {};
  }
  const result: [string, SigningConfig][] = [];
  for (const [repoId, spec] of Object.entries(parsed)) {
    const at = json.entryAt(entry, repoId);
    const problem = (message: string) =>
      section.problem('signing', at, `repository ${JSON.stringify(repoId)}: ${message}`);
    if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
      problem(`must be an object like ${example}`);
      continue;
    }
    const fields = spec as Record<string, unknown>;
    for (const name of Object.keys(fields)) {
      if (!SIGNING_KEYS.includes(name)) {
        problem(`unknown field ${JSON.stringify(name)} (known: ${SIGNING_KEYS.join(', ')})`);
      }
    }
    const text = (name: string): string | undefined => {
      const value = fields[name];
      if (value === undefined) {
        return undefined;
      }
      if (typeof value !== 'string') {
        problem(`"${name}" must be a string`);
      }
      return typeof value === 'string' && value !== '' ? value : undefined;
    };
    const keyText = text('key');
    const script = text('script');
    const runtimeText = text('container_runtime');
    if (keyText === undefined) {
      problem('"key" (the path of the private SSH key that signs) is missing');
      continue;
    }
    const key = context.expandPath(keyText);
    for (const error of key.errors) {
      problem(`"key": ${error}`);
    }
    const keyProblem = readableFileProblem(key.value);
    if (keyProblem) {
      problem(`"key": ${key.value} ${keyProblem}`);
    }
    if (script === undefined && scriptRequired) {
      problem('"script" is missing; artefact_upload_script signs through it (--sign-script)');
    }
    // A relative script lives in the PR's checkout (upstream's rule), so only absolute ones can be
    // checked now.
    if (script?.startsWith('/')) {
      const resolved = resolveCommand(script, context.env, context.baseDir);
      if ('error' in resolved) {
        problem(`"script": ${resolved.error}`);
      }
    }
    let containerRuntime: string | undefined;
    if (runtimeText !== undefined) {
      const resolved = resolveCommand(runtimeText, context.env, context.baseDir);
      if ('error' in resolved) {
        problem(`"container_runtime": ${resolved.error}`);
      } else {
        containerRuntime = resolved.path;
      }
    }
    result.push([
      repoId,
      {
        script: script ?? '',
        key: key.value,
        ...(containerRuntime !== undefined ? { containerRuntime } : {}),
      },
    ]);
  }
  return Object.fromEntries(result);
}

/**
 * Line numbers inside multi-line values. The parser keeps only the key's line, so the value's
 * physical lines are found again in the file text, the way the parser joined them: continuation
 * lines indented deeper than the key, comment lines skipped, blank lines kept.
 */
class JsonLines {
  private readonly lines: string[];

  constructor(text: string) {
    this.lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  }

  /** The file line of each line of the (trimmed) value that starts on `keyLine`. */
  private valueLines(keyLine: number): number[] {
    const first = this.lines[keyLine - 1] ?? '';
    const keyIndent = /\S/.exec(first)?.index ?? 0;
    const afterKey = /^[^=:]*[=:]\s*(.*)$/.exec(first.trim())?.[1] ?? '';
    const joined: { text: string; line: number }[] = [{ text: afterKey, line: keyLine }];
    for (let index = keyLine; index < this.lines.length; index++) {
      const raw = this.lines[index];
      const stripped = raw.trim();
      if (stripped.startsWith('#') || stripped.startsWith(';')) {
        continue;
      }
      if (stripped !== '' && (/\S/.exec(raw)?.index ?? 0) <= keyIndent) {
        break;
      }
      joined.push({ text: stripped, line: index + 1 });
    }
    while (joined.length > 1 && joined[0].text === '') {
      joined.shift();
    }
    return joined.map((part) => part.line);
  }

  /** The entry re-pointed at the file line holding offset `position` of its value. */
  private at(entry: ConfigEntry, position: number): ConfigEntry {
    const lineInValue = entry.value.slice(0, position).split('\n').length - 1;
    const line = this.valueLines(entry.line)[lineInValue] ?? entry.line;
    return { value: entry.value, line };
  }

  /** Where `"name":` first appears in the value (the line of that map entry). */
  entryAt(entry: ConfigEntry, name: string): ConfigEntry {
    const position = entry.value.search(new RegExp(`${escapeRegExp(JSON.stringify(name))}\\s*:`));
    return position === -1 ? entry : this.at(entry, position);
  }

  parseObject(
    section: ConfigSectionReader,
    key: string,
    entry: ConfigEntry,
    example: string,
  ): Record<string, unknown> | undefined {
    let parsed: unknown;
    try {
      parsed = JSON.parse(entry.value);
    } catch (error) {
      const message = (error as Error).message;
      const position = /at position (\d+)/.exec(message);
      section.problem(
        key,
        position ? this.at(entry, Number(position[1])) : entry,
        `invalid JSON (${message.split('\n')[0]}); expected an object like ${example}`,
      );
      return undefined;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      section.problem(key, entry, `must be a JSON object like ${example}`);
      return undefined;
    }
    return parsed as Record<string, unknown>;
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
