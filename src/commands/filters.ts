import { RE2JS, RE2JSException } from 're2js';
import { normalizeAccelerator, normalizeArch } from '../builds/build-request.js';
import { codeSpan } from '../builds/job-comment.js';

/**
 * Command filters `component:pattern` as v0.9 reads them (tools/filter.py): the component is any
 * prefix of three letters or more of architecture, accelerator, exportvariable, instance, job or
 * repository; the pattern is a regular expression searched anywhere in the value (`re.search`).
 * For architectures `-` and `/` are the same, for accelerators `=` and `/` (in the pattern and in
 * the value). All filters of a command must match (AND); a value the context lacks matches no
 * filter. `exportvariable` is not a filter but a request (the command's handler reads it).
 *
 * Patterns are written by anyone who can comment: they run on RE2 (re2js, a pure-JavaScript
 * port), whose matching time is linear in the input whatever the pattern, so no pattern can
 * stall the bot; patterns longer than MAX_PATTERN_LENGTH are refused before compiling.
 */
export const FILTER_COMPONENTS = [
  'accelerator',
  'architecture',
  'exportvariable',
  'instance',
  'job',
  'repository',
] as const;
export type FilterComponent = (typeof FILTER_COMPONENTS)[number];

export const MAX_PATTERN_LENGTH = 200;

export class FilterError extends Error {
  override readonly name = 'FilterError';
}

export interface Filter {
  readonly component: FilterComponent;
  /** The pattern as matched (after the `-`/`=` → `/` mapping). */
  readonly pattern: string;
  /** The token as written, for messages. */
  readonly token: string;
  readonly regex: RE2JS;
}

/** The component a 3+ letter prefix names, or undefined. */
export function componentOf(prefix: string): FilterComponent | undefined {
  const lower = prefix.toLowerCase();
  if (lower.length < 3) {
    return undefined;
  }
  return FILTER_COMPONENTS.find((c) => c.startsWith(lower));
}

/**
 * A `component:pattern` token (the caller has seen the `:`).
 * @throws FilterError naming the token: unknown or too short component, empty, too long or
 *         invalid pattern.
 */
export function parseFilter(token: string): Filter {
  const colon = token.indexOf(':');
  const prefix = token.slice(0, colon);
  let pattern = token.slice(colon + 1);
  const component = componentOf(prefix);
  const shown = codeSpan(token);
  if (!component) {
    throw new FilterError(
      prefix.length < 3
        ? `${shown}: the filter name ${codeSpan(prefix)} is too short (3 letters at least, e.g. arch, acc, repo, inst)`
        : `${shown}: ${codeSpan(prefix)} is not a filter (filters: ${FILTER_COMPONENTS.join(', ')}, or a prefix of 3 letters or more)`,
    );
  }
  if (pattern === '') {
    throw new FilterError(`${shown}: the pattern is empty`);
  }
  if (pattern.length > MAX_PATTERN_LENGTH) {
    throw new FilterError(
      `${codeSpan(token.slice(0, 40) + '…')}: the pattern is longer than ${MAX_PATTERN_LENGTH} characters`,
    );
  }
  if (component === 'architecture') {
    pattern = normalizeArch(pattern);
  }
  if (component === 'accelerator') {
    pattern = normalizeAccelerator(pattern);
  }
  return { component, pattern, token, regex: compilePattern(pattern, shown) };
}

function compilePattern(pattern: string, shown: string): RE2JS {
  try {
    return RE2JS.compile(pattern);
  } catch (error) {
    const reason = error instanceof RE2JSException ? error.message : String(error);
    // RE2 has no backreferences or lookaround: say so, as a Python pattern may use them.
    const hint = /invalid (escape|named capture|or unsupported Perl syntax)/.test(reason)
      ? ' (backreferences and lookaround are not supported)'
      : '';
    throw new FilterError(`${shown}: not a valid pattern: ${reason}${hint}`);
  }
}

/** What filters are matched against: one value per component, several for lists. */
export type FilterContext = Partial<Record<FilterComponent, string | readonly string[]>>;

/**
 * Whether every filter matches the context (v0.9's check_filters): a component missing from the
 * context (or with no values) fails its filters; a list matches when any of its values does.
 */
export function matchesAll(filters: readonly Filter[], context: FilterContext): boolean {
  return filters.every((filter) => {
    const value = context[filter.component];
    const values = value === undefined ? [] : typeof value === 'string' ? [value] : value;
    return values.some((v) => filter.regex.matcher(normalizeValue(filter.component, v)).find());
  });
}

function normalizeValue(component: FilterComponent, value: string): string {
  if (component === 'architecture') {
    return normalizeArch(value);
  }
  if (component === 'accelerator') {
    return normalizeAccelerator(value);
  }
  return value;
}
