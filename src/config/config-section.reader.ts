import { isAbsolute, resolve } from 'node:path';
import { userInfo } from 'node:os';
import { templateProblems } from '../common/fill-template.js';
import { expandVariables } from './expand-variables.js';
import { locateJsonError } from './json-error.js';
import { resolveCommand } from './resolve-command.js';
import {
  unescapeInterpolation,
  type ConfigEntry,
  type ConfigParserResult,
  type ConfigSection,
} from './read-configparser.js';

/**
 * Collects problems and warnings while typed values are pulled out of a parsed app.cfg, so that
 * loadConfig can report everything wrong at once. Every message is prefixed with where it applies:
 * `file:line: [section] key: …`.
 */
export class ConfigReadContext {
  readonly problems: string[] = [];
  readonly warnings: string[] = [];

  constructor(
    readonly parsed: ConfigParserResult,
    /** The path as the operator gave it: messages should show what they typed. */
    readonly fileName: string,
    /** Directory of the config file; relative paths are resolved against it. */
    readonly baseDir: string,
    readonly env: NodeJS.ProcessEnv,
  ) {}

  /**
   * With `[buildenv] scheduler = local` the Slurm commands are never run, so a machine without
   * Slurm (a laptop, the demo) must not be refused for lacking them.
   */
  get schedulerCommandsUnused(): boolean {
    const value = this.parsed.sections.get('buildenv')?.entries.get('scheduler')?.value;
    return value?.trim().toLowerCase() === 'local';
  }

  /**
   * A reader for one section. A missing required section is one problem (listing what it must hold);
   * its keys are then not reported one by one.
   */
  section(name: string, requiredKeys: readonly string[]): ConfigSectionReader {
    const section = this.parsed.sections.get(name);
    if (!section && requiredKeys.length > 0) {
      this.problems.push(
        `${this.fileName}: missing section [${name}] (it must set ${requiredKeys.join(', ')}; see app.cfg.example)`,
      );
    }
    return new ConfigSectionReader(this, name, section);
  }

  /** `$HOME`, `$USER`, `${VAR}`, `~`, `\$`; HOME and USER fall back to this account's passwd entry. */
  expand(text: string): { value: string; errors: readonly string[] } {
    return expandVariables(text, this.env, accountVariable);
  }

  /** Expands, then makes the path absolute against the config file's directory. */
  expandPath(text: string): { value: string; errors: readonly string[] } {
    const expanded = this.expand(text);
    const value = isAbsolute(expanded.value)
      ? expanded.value
      : resolve(this.baseDir, expanded.value);
    return { value, errors: expanded.errors };
  }
}

// Cron and some service managers start processes without USER (and occasionally HOME); the
// account running the bot is still well defined, so `$USER` in a path should not fail there.
function accountVariable(name: string): string | undefined {
  try {
    if (name === 'USER') {
      return userInfo().username;
    }
    if (name === 'HOME') {
      return userInfo().homedir;
    }
  } catch {
    // No passwd entry (e.g. an arbitrary container uid): report the variable as unset.
  }
  return undefined;
}

export class ConfigSectionReader {
  constructor(
    private readonly context: ConfigReadContext,
    readonly name: string,
    private readonly section: ConfigSection | undefined,
  ) {}

  get env(): NodeJS.ProcessEnv {
    return this.context.env;
  }

  /** Whether the file has this section at all. */
  get exists(): boolean {
    return this.section !== undefined;
  }

  /** The entry for `key` after configparser's `%%` unescaping; undefined when absent or broken. */
  get(key: string): ConfigEntry | undefined {
    const entry = this.section?.entries.get(key);
    if (!entry) {
      return undefined;
    }
    const unescaped = unescapeInterpolation(entry.value);
    if ('error' in unescaped) {
      this.problem(key, entry, unescaped.error);
      return undefined;
    }
    return { ...entry, value: unescaped.value };
  }

  /** Like get(), but a missing or empty value is a problem that says what the key is for. */
  required(key: string, meaning: string): ConfigEntry | undefined {
    if (!this.section) {
      return undefined;
    }
    const raw = this.section.entries.get(key);
    if (!raw) {
      this.context.problems.push(
        `${this.context.fileName}:${this.section.line}: [${this.name}] missing required key '${key}' (${meaning})`,
      );
      return undefined;
    }
    const entry = this.get(key);
    if (entry && entry.value === '') {
      this.problem(key, entry, `is empty; set it to ${meaning}`);
      return undefined;
    }
    return entry;
  }

  problem(key: string, entry: ConfigEntry | undefined, message: string): void {
    this.context.problems.push(`${this.where(key, entry)} ${message}`);
  }

  /** A problem at a given line, e.g. inside a multi-line value. */
  problemAtLine(key: string, line: number, message: string): void {
    this.context.problems.push(`${this.where(key, { value: '', line })} ${message}`);
  }

  warnAtLine(key: string, line: number, message: string): void {
    this.context.warnings.push(`${this.where(key, { value: '', line })} ${message}`);
  }

  /** A problem with an environment variable read on this section's behalf. */
  envProblem(variable: string, message: string): void {
    this.context.problems.push(`environment variable ${variable}: ${message}`);
  }

  warn(key: string, entry: ConfigEntry | undefined, message: string): void {
    this.context.warnings.push(`${this.where(key, entry)} ${message}`);
  }

  /** An optional string, verbatim (after `%%` unescaping). */
  string(key: string, fallback: string): string {
    return this.get(key)?.value ?? fallback;
  }

  /** A positive integer; `fallback` undefined means the key is required. */
  positiveInt(key: string, meaning: string, fallback?: number): number | undefined {
    const entry = fallback === undefined ? this.required(key, meaning) : this.get(key);
    if (!entry) {
      return fallback;
    }
    // Digits only: Python's int() would also take '+5' or '1_000', but no real app.cfg needs them.
    const value = /^[0-9]+$/.test(entry.value) ? Number(entry.value) : NaN;
    if (!Number.isSafeInteger(value) || value <= 0) {
      this.problem(key, entry, `${JSON.stringify(entry.value)} is not an integer > 0 (${meaning})`);
      return undefined;
    }
    return value;
  }

  /** A number > 0 (fractions allowed, as Python's float() reads them). */
  positiveNumber(key: string, meaning: string, fallback: number): number {
    const entry = this.get(key);
    if (!entry || entry.value === '') {
      return fallback;
    }
    const value = /^(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/.test(entry.value)
      ? Number(entry.value)
      : NaN;
    if (!Number.isFinite(value) || value <= 0) {
      this.problem(key, entry, `${JSON.stringify(entry.value)} is not a number > 0 (${meaning})`);
      return fallback;
    }
    return value;
  }

  /** true/false as configparser's getboolean() reads it (yes/no, on/off, 1/0 too); empty = fallback. */
  boolean(key: string, fallback: boolean): boolean {
    const entry = this.get(key);
    if (!entry || entry.value === '') {
      return fallback;
    }
    const value = entry.value.toLowerCase();
    if (['1', 'yes', 'true', 'on'].includes(value)) {
      return true;
    }
    if (['0', 'no', 'false', 'off'].includes(value)) {
      return false;
    }
    this.problem(key, entry, `${JSON.stringify(entry.value)} is not a boolean; use true or false`);
    return fallback;
  }

  /**
   * One of `allowed` (compared case-insensitively). `fallback` undefined means the key is required;
   * the returned value is then undefined only after a problem was reported.
   */
  choice<T extends string>(
    key: string,
    allowed: readonly T[],
    meaning: string,
    fallback?: T,
  ): T | undefined {
    const entry = fallback === undefined ? this.required(key, meaning) : this.get(key);
    if (!entry || entry.value === '') {
      return fallback;
    }
    const value = allowed.find((option) => option === entry.value.toLowerCase());
    if (value === undefined) {
      this.problem(
        key,
        entry,
        `${JSON.stringify(entry.value)} is not one of ${allowed.join(', ')} (${meaning})`,
      );
    }
    return value ?? fallback;
  }

  /**
   * Space-separated GitHub logins. Entries that cannot be logins (commas, `@`) are kept, since they
   * match nobody anyway, but warned about: they usually mean a list written the wrong way.
   * `emptyMeansNobodyMay`: with the v0.9 format an empty list lets nobody in; say what nobody may do.
   */
  logins(key: string, emptyMeansNobodyMay?: string): string[] {
    const entry = this.get(key);
    const logins = (entry?.value ?? '').split(/\s+/).filter((login) => login !== '');
    const odd = logins.filter((login) => !GITHUB_LOGIN.test(login));
    if (entry && odd.length > 0) {
      this.warn(
        key,
        entry,
        `${odd.map((login) => JSON.stringify(login)).join(', ')} ${odd.length === 1 ? 'is not a GitHub login' : 'are not GitHub logins'} and will match nobody; separate logins by blanks, without commas or @`,
      );
    }
    if (emptyMeansNobodyMay !== undefined && logins.length === 0) {
      this.warn(
        key,
        entry,
        `is empty: with node_type_map (v0.9 format) that means nobody may ${emptyMeansNobodyMay}; list the GitHub logins allowed to, separated by blanks`,
      );
    }
    return logins;
  }

  /** An optional path (see path()); absent or empty gives undefined. */
  optionalPath(key: string): string | undefined {
    const entry = this.get(key);
    return entry && entry.value !== '' ? this.path(key, entry) : undefined;
  }

  /** An optional path on the compute node (see expandedOnly()); absent or empty gives undefined. */
  optionalExpanded(key: string): string | undefined {
    const entry = this.get(key);
    return entry && entry.value !== '' ? this.expandedOnly(key, entry) : undefined;
  }

  /**
   * A comment template that may use the placeholders in `allowed`; absent or empty gives
   * `fallback`. Each unknown placeholder or malformed field is a problem.
   */
  template(key: string, allowed: readonly string[], fallback: string): string {
    const entry = this.get(key);
    if (!entry || entry.value === '') {
      return fallback;
    }
    const problems = templateProblems(entry.value, allowed);
    for (const message of problems) {
      this.problem(key, entry, message);
    }
    return problems.length > 0 ? fallback : entry.value;
  }

  /**
   * Any JSON value. Invalid JSON is reported at the line (and column) of the file where the error
   * is, which for a multi-line map is not the key's line.
   */
  json(key: string, entry: ConfigEntry, example: string): unknown {
    try {
      return JSON.parse(entry.value) as unknown;
    } catch (error) {
      const located = locateJsonError(entry.value);
      const offset = located?.offset ?? 0;
      const { line, column } = this.positionOf(entry, offset);
      const what = located?.message ?? (error as Error).message;
      this.problemAtLine(
        key,
        line,
        `invalid JSON at column ${column}: ${what} (expected something like ${example})`,
      );
      return undefined;
    }
  }

  /** File line and column of the character at `offset` in the entry's value. */
  positionOf(entry: ConfigEntry, offset: number): { line: number; column: number } {
    const before = entry.value.slice(0, offset);
    const lineIndex = before.split('\n').length - 1;
    const lineStart = before.lastIndexOf('\n') + 1;
    const start = entry.valueLines?.[lineIndex] ?? { line: entry.line, column: 1 };
    return { line: start.line, column: start.column + offset - lineStart };
  }

  /** A filesystem path with variables expanded, absolute against the config file's directory. */
  path(key: string, entry: ConfigEntry): string | undefined {
    const expanded = this.context.expandPath(entry.value);
    for (const error of expanded.errors) {
      this.problem(key, entry, error);
    }
    return expanded.errors.length > 0 ? undefined : expanded.value;
  }

  /** A path with variables expanded but kept relative to wherever the job runs. */
  expandedOnly(key: string, entry: ConfigEntry): string | undefined {
    const expanded = this.context.expand(entry.value);
    for (const error of expanded.errors) {
      this.problem(key, entry, error);
    }
    return expanded.errors.length > 0 ? undefined : expanded.value;
  }

  /** An executable: expanded, then found by path or on PATH. */
  command(key: string, entry: ConfigEntry): string | undefined {
    const expanded = this.expandedOnly(key, entry);
    if (expanded === undefined) {
      return undefined;
    }
    const resolved = resolveCommand(expanded, this.context.env, this.context.baseDir);
    if ('error' in resolved) {
      if (this.context.schedulerCommandsUnused) {
        return expanded;
      }
      this.problem(key, entry, resolved.error);
      return undefined;
    }
    return resolved.path;
  }

  /** A JSON object whose values are all strings (configparser values may span lines for this). */
  jsonStringMap(
    key: string,
    entry: ConfigEntry,
    example: string,
  ): Record<string, string> | undefined {
    let parsed: unknown;
    try {
      parsed = JSON.parse(entry.value);
    } catch (error) {
      this.problem(
        key,
        entry,
        `invalid JSON (${(error as Error).message}); expected an object like ${example}`,
      );
      return undefined;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      this.problem(key, entry, `must be a JSON object like ${example}`);
      return undefined;
    }
    const pairs: [string, string][] = [];
    for (const [name, value] of Object.entries(parsed)) {
      if (typeof value !== 'string') {
        this.problem(key, entry, `the value for ${JSON.stringify(name)} must be a string`);
        continue;
      }
      pairs.push([name, value]);
    }
    // fromEntries defines own properties, so a "__proto__" key stays data, never a prototype.
    const map = Object.fromEntries(pairs);
    const ok = pairs.length === Object.keys(parsed).length;
    return ok ? map : undefined;
  }

  /** An http(s) URL; trailing slashes dropped so callers can append paths. */
  httpUrl(key: string, entry: ConfigEntry): string | undefined {
    const url = parseHttpUrl(entry.value);
    if (url === undefined) {
      this.problem(key, entry, `${JSON.stringify(entry.value)} is not an http:// or https:// URL`);
    }
    return url;
  }

  private where(key: string, entry: ConfigEntry | undefined): string {
    const line = entry?.line ?? this.section?.line;
    const file = line === undefined ? this.context.fileName : `${this.context.fileName}:${line}`;
    return `${file}: [${this.name}] ${key}:`;
  }
}

// GitHub's rule: letters, digits and single inner hyphens; Apps act as `name[bot]`.
const GITHUB_LOGIN = /^[A-Za-z0-9](?:-?[A-Za-z0-9])*(?:\[bot\])?$/;

/** Line breaks, tabs, NUL and other C0 controls (and DEL). */
export function hasControlCharacter(value: string): boolean {
  return [...value].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
}

/** `text` without trailing slashes if it is an http(s) URL; undefined otherwise. */
export function parseHttpUrl(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  return url.protocol === 'http:' || url.protocol === 'https:'
    ? text.replace(/\/+$/, '')
    : undefined;
}
