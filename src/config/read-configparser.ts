/**
 * A reader for the INI dialect of Python's `configparser` (default settings), so that app.cfg files
 * written for the upstream Python bot (EESSI/eessi-bot-software-layer) read the same here.
 * The `ini` package cannot do this: it cuts values at `;`/`#`, coerces `true`, and has no
 * continuation lines.
 *
 * Semantics copied from CPython's `RawConfigParser._read`:
 * - `[name]` starts a section; names are case-sensitive and kept verbatim.
 * - `key = value` or `key: value`; the first `=` or `:` splits; keys are lower-cased; values stripped.
 * - A line indented deeper than its key line continues the value (joined with `\n`), so a JSON map
 *   may span lines. Blank lines inside such a value are kept; trailing ones are dropped.
 * - A line whose stripped text starts with `#` or `;` is a comment, even inside a multi-line value.
 *   There are no inline comments: `;` and `#` after a value's first character are part of it.
 * - Duplicate sections and keys are errors (configparser's `strict=True`).
 * Unlike configparser we report every syntax error (not only the first), and warn about text after
 * a section's closing `]`, which configparser silently drops.
 */

export interface ConfigEntry {
  readonly value: string;
  /** 1-based line of the `key = value` line. */
  readonly line: number;
  /**
   * Only for values spanning several lines: where each line of `value` (split at `\n`) stands in
   * the file, so that an error inside a multi-line JSON map can name its own line.
   */
  readonly valueLines?: readonly ValueLine[];
}

export interface ValueLine {
  /** 1-based line in the file. */
  readonly line: number;
  /** 1-based column in the file of the line's first character in the value (after stripping). */
  readonly column: number;
}

export interface ConfigSection {
  readonly name: string;
  /** 1-based line of the `[name]` header. */
  readonly line: number;
  /** Lower-cased key → entry, in file order. A Map, so keys like `__proto__` stay plain data. */
  readonly entries: ReadonlyMap<string, ConfigEntry>;
}

export interface ConfigParserResult {
  /** Section name → section, in file order. */
  readonly sections: ReadonlyMap<string, ConfigSection>;
  /** Syntax errors, each `file:line: what is wrong`. Sections parsed so far are still returned. */
  readonly errors: readonly string[];
  /** Lines configparser accepts but that probably do not mean what the author thinks. */
  readonly warnings: readonly string[];
}

interface MutableEntry {
  lines: string[];
  positions: ValueLine[];
  line: number;
}

interface MutableSection {
  name: string;
  line: number;
  entries: Map<string, MutableEntry>;
}

const COMMENT_PREFIXES = ['#', ';'];
// Greedy up to the last `]`, anything after it dropped: configparser's SECTCRE used with match().
const SECTION_HEADER = /^\[(.+)\](.*)$/;
// Non-greedy key up to the first `=` or `:` (configparser's OPTCRE).
const OPTION_LINE = /^(.*?)\s*[=:]\s*(.*)$/;
const MAX_QUOTED_LINE = 60;

function quoteLine(text: string): string {
  const shown = text.length > MAX_QUOTED_LINE ? `${text.slice(0, MAX_QUOTED_LINE)}…` : text;
  return JSON.stringify(shown);
}

function indentOf(line: string): number {
  const match = /\S/.exec(line);
  return match ? match.index : 0;
}

/**
 * Parses configparser-format text. `fileName` only labels error messages.
 * Never throws on bad input: every problem is returned in `errors`.
 */
export function readConfigParser(text: string, fileName: string): ConfigParserResult {
  const sections = new Map<string, MutableSection>();
  const errors: string[] = [];
  const warnings: string[] = [];
  let current: MutableSection | undefined;
  let currentEntry: MutableEntry | undefined;
  let keyIndent = 0;

  // Python reads text files with universal newlines; a UTF-8 BOM is common from Windows editors.
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);

  lines.forEach((raw, index) => {
    const lineNo = index + 1;
    const stripped = raw.trim();
    const isComment = COMMENT_PREFIXES.some((prefix) => stripped.startsWith(prefix));

    if (stripped === '' || isComment) {
      // Blank lines may sit inside a multi-line value; comment lines are skipped without ending it.
      if (!isComment && currentEntry) {
        currentEntry.lines.push('');
        currentEntry.positions.push({ line: lineNo, column: 1 });
      }
      return;
    }

    const indent = indentOf(raw);
    if (currentEntry && indent > keyIndent) {
      currentEntry.lines.push(stripped);
      currentEntry.positions.push({ line: lineNo, column: indent + 1 });
      return;
    }

    keyIndent = indent;
    currentEntry = undefined;

    const header = SECTION_HEADER.exec(stripped);
    if (header) {
      const name = header[1];
      if (header[2].trim() !== '') {
        warnings.push(
          `${fileName}:${lineNo}: text after [${name}] is ignored: ${quoteLine(header[2].trim())}; put comments on their own line`,
        );
      }
      const existing = sections.get(name);
      if (existing) {
        errors.push(
          `${fileName}:${lineNo}: section [${name}] already defined on line ${existing.line}; merge the two sections`,
        );
        // Keep reading into the first one so later keys are still checked.
        current = existing;
        return;
      }
      current = { name, line: lineNo, entries: new Map() };
      sections.set(name, current);
      return;
    }
    if (stripped.startsWith('[')) {
      errors.push(
        `${fileName}:${lineNo}: malformed section header ${quoteLine(stripped)}; write it as [name] alone on the line`,
      );
      current = undefined;
      return;
    }

    if (!current) {
      errors.push(
        `${fileName}:${lineNo}: ${quoteLine(stripped)} is outside any section; add a [section] header above it`,
      );
      return;
    }

    const option = OPTION_LINE.exec(stripped);
    if (!option || option[1].trim() === '') {
      errors.push(
        `${fileName}:${lineNo}: [${current.name}] cannot parse ${quoteLine(stripped)}; expected 'key = value' or 'key: value'`,
      );
      return;
    }

    const key = option[1].trimEnd().toLowerCase();
    const existing = current.entries.get(key);
    if (existing) {
      errors.push(
        `${fileName}:${lineNo}: [${current.name}] key '${key}' already set on line ${existing.line}; keep only one (keys are case-insensitive)`,
      );
      return;
    }
    const firstValue = option[2].trim();
    currentEntry = {
      lines: [firstValue],
      // The value is what is left of the line once stripped, so it ends where the line does.
      positions: [{ line: lineNo, column: raw.trimEnd().length - firstValue.length + 1 }],
      line: lineNo,
    };
    current.entries.set(key, currentEntry);
  });

  const result = new Map<string, ConfigSection>();
  for (const section of sections.values()) {
    const entries = new Map<string, ConfigEntry>();
    for (const [key, entry] of section.entries) {
      entries.set(key, finishEntry(entry));
    }
    result.set(section.name, { name: section.name, line: section.line, entries });
  }
  return { sections: result, errors, warnings };
}

/**
 * Joins the value's lines. Every line is already stripped, so configparser's final strip() of the
 * value amounts to dropping empty lines at either end.
 */
function finishEntry(entry: MutableEntry): ConfigEntry {
  let first = 0;
  let end = entry.lines.length;
  while (first < end && entry.lines[first] === '') {
    first++;
  }
  while (end > first && entry.lines[end - 1] === '') {
    end--;
  }
  const value = entry.lines.slice(first, end).join('\n');
  if (end - first <= 1) {
    return { value, line: entry.line };
  }
  return { value, line: entry.line, valueLines: entry.positions.slice(first, end) };
}

/**
 * Undoes configparser's default BasicInterpolation escape, which the upstream bot's reads go
 * through: an existing app.cfg writes `%%` for a literal `%` (e.g. `--output=%%j.out`).
 * `%(name)s` references are not supported and reported; a lone `%` (which configparser rejects)
 * is kept as written.
 */
export function unescapeInterpolation(value: string): { value: string } | { error: string } {
  // One left-to-right scan, so `%%(cluster)s` is a literal `%(cluster)s` (upstream's way of writing
  // scontrol_command placeholders), not a reference.
  let reference: string | undefined;
  const unescaped = value.replace(/%%|%\(([^)]*)\)/g, (match, name: string | undefined) => {
    if (match === '%%') {
      return '%';
    }
    reference ??= name;
    return match;
  });
  if (reference !== undefined) {
    return {
      error: `uses configparser interpolation '%(${reference})'; write the value out in full (use %% for a literal %)`,
    };
  }
  return { value: unescaped };
}
