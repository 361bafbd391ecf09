/**
 * The comment templates of app.cfg (`[submitted_job_comments]`, `running_job`, …) and their
 * placeholders, read the way upstream's Python bot reads them with `str.format`, but never
 * evaluated: `{name}` is replaced by the value given for `name`, `{{` and `}}` stand for literal
 * braces, and nothing else is special. Field access (`{a.b}`, `{a[0]}`), conversions (`{a!r}`),
 * format specs (`{a:>5}`) and positional fields (`{}`, `{0}`) are not supported; loadConfig reports
 * them, and any placeholder a template may not use, before the bot starts (templateProblems), so
 * filling never fails at run time.
 *
 * Use:
 *   fillTemplate(config.templates.runningJob, { job_id: '1234' })
 *   fillTemplate(template, { job_id: id }, { codeSpan })   // `{job_id}` → codeSpan(id)
 *
 * `[job_manager] scontrol_command` uses Python's `%(name)s` style instead; see
 * fillPercentPlaceholders.
 */

export type TemplateValues = Readonly<Record<string, string | number>>;

export interface FillOptions {
  /**
   * Renders a value as a Markdown code span. When given, a placeholder the template wraps in
   * backticks (`` `{job_id}` ``, as upstream's templates do) is replaced together with those
   * backticks by codeSpan(value), so a value holding backticks cannot end the span early.
   */
  readonly codeSpan?: (text: string) => string;
}

type Piece =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'placeholder'; readonly name: string; readonly raw: string }
  | { readonly kind: 'bad'; readonly raw: string; readonly at: number; readonly why: string };

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Splits a template into literal text and `{…}` fields, with `{{`/`}}` already unescaped. */
function pieces(template: string): Piece[] {
  const result: Piece[] = [];
  let text = '';
  let i = 0;
  const flush = () => {
    if (text !== '') {
      result.push({ kind: 'text', text });
    }
    text = '';
  };
  while (i < template.length) {
    const c = template[i];
    if ((c === '{' || c === '}') && template[i + 1] === c) {
      text += c;
      i += 2;
      continue;
    }
    if (c === '}') {
      flush();
      result.push({
        kind: 'bad',
        raw: '}',
        at: i,
        why: "a single '}'; write '}}' for a literal }",
      });
      i++;
      continue;
    }
    if (c !== '{') {
      text += c;
      i++;
      continue;
    }
    const close = template.indexOf('}', i + 1);
    const open = template.indexOf('{', i + 1);
    flush();
    if (close === -1 || (open !== -1 && open < close)) {
      result.push({
        kind: 'bad',
        raw: '{',
        at: i,
        why: "a '{' without its '}'; write '{{' for a literal {",
      });
      i++;
      continue;
    }
    const raw = template.slice(i, close + 1);
    const field = raw.slice(1, -1);
    if (NAME.test(field)) {
      result.push({ kind: 'placeholder', name: field, raw });
    } else {
      result.push({ kind: 'bad', raw, at: i, why: unsupportedFieldReason(field) });
    }
    i = close + 1;
  }
  flush();
  return result;
}

function unsupportedFieldReason(field: string): string {
  if (field.trim() === '' || /^[0-9]+$/.test(field)) {
    return 'positional placeholders are not supported; name the value, e.g. {job_id}';
  }
  return 'only plain {name} placeholders are supported (no attributes, indexes, conversions or format specs)';
}

/** The names a template uses, once each, in order of first use (malformed fields left out). */
export function templatePlaceholders(template: string): string[] {
  const names = pieces(template).flatMap((piece) =>
    piece.kind === 'placeholder' ? [piece.name] : [],
  );
  return [...new Set(names)];
}

/**
 * What is wrong with a template that may use only the placeholders in `allowed`: one message per
 * problem (unknown placeholder, unsupported field, unbalanced brace); empty when it is fine.
 */
export function templateProblems(template: string, allowed: readonly string[]): string[] {
  const problems: string[] = [];
  const reported = new Set<string>();
  const known = allowed.map((name) => `{${name}}`).join(' ');
  for (const piece of pieces(template)) {
    if (piece.kind === 'bad') {
      problems.push(`${piece.raw} at character ${piece.at + 1}: ${piece.why}`);
    } else if (piece.kind === 'placeholder' && !allowed.includes(piece.name)) {
      if (reported.has(piece.name)) {
        continue;
      }
      reported.add(piece.name);
      problems.push(
        `unknown placeholder {${piece.name}}; this text may use ${known || 'no placeholders'} (write {{ and }} for literal braces)`,
      );
    }
  }
  return problems;
}

/**
 * The template with each `{name}` replaced by `values[name]` and `{{`/`}}` by single braces.
 * Values are inserted as they are and never scanned for placeholders themselves, so text from a
 * pull request cannot pull in other values. A placeholder without a value, or a malformed field,
 * stays as written: loadConfig has rejected those already, and a comment must never fail to render.
 */
export function fillTemplate(
  template: string,
  values: TemplateValues,
  options: FillOptions = {},
): string {
  const parts = pieces(template);
  let out = '';
  // Set when a code span has taken over the backtick that opens the next text piece.
  let dropBacktick = false;
  for (const [index, piece] of parts.entries()) {
    if (piece.kind === 'text') {
      out += dropBacktick ? piece.text.slice(1) : piece.text;
      dropBacktick = false;
    } else if (piece.kind === 'bad' || !Object.hasOwn(values, piece.name)) {
      out += piece.raw;
    } else {
      const value = String(values[piece.name]);
      const next = parts[index + 1];
      const wrapped =
        /(?:^|[^`])`$/.test(out) && next?.kind === 'text' && /^`(?:[^`]|$)/.test(next.text);
      if (options.codeSpan && wrapped) {
        out = out.slice(0, -1) + options.codeSpan(value);
        dropBacktick = true;
      } else {
        out += value;
      }
    }
  }
  return out;
}

const PERCENT_FIELD = /%\(([^)]*)\)s/g;

/** Problems with the `%(name)s` fields of `text` (e.g. scontrol_command), as templateProblems. */
export function percentPlaceholderProblems(text: string, allowed: readonly string[]): string[] {
  const problems: string[] = [];
  for (const match of text.matchAll(PERCENT_FIELD)) {
    if (!allowed.includes(match[1])) {
      problems.push(
        `unknown placeholder ${match[0]}; it may use ${allowed.map((name) => `%(${name})s`).join(' ')}`,
      );
    }
  }
  return problems;
}

/**
 * `text` with each `%(name)s` replaced by `values[name]`, as Python's `%` operator does with a
 * dict (upstream's `scontrol_command = scontrol --clusters=%(cluster)s`). Fill each argument of
 * a command separately, never a whole command line: a value may contain blanks.
 */
export function fillPercentPlaceholders(text: string, values: TemplateValues): string {
  return text.replace(PERCENT_FIELD, (whole, name: string) =>
    Object.hasOwn(values, name) ? String(values[name]) : whole,
  );
}
