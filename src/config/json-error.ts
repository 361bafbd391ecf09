/**
 * Where and why a JSON text is invalid, for config values that operators write by hand
 * (node_type_map, allowed_exportvars, config_map). JSON.parse says why but on Node 20 not always
 * where ("Unexpected token 'N', … is not valid JSON"), so this scans the text once more after
 * JSON.parse has refused it, finds the first error, and explains the mistakes people who write
 * Python dicts make: trailing commas, single quotes, None/True/False, names without quotes.
 */
export interface JsonErrorLocation {
  /** Index into the text of the character at fault (the text's length for a premature end). */
  readonly offset: number;
  readonly message: string;
}

const PYTHON_LITERALS: Readonly<Record<string, string>> = {
  None: 'null (or the string "None")',
  True: 'true',
  False: 'false',
};
// Far beyond any config value; keeps a pathological nesting from exhausting the stack.
const MAX_DEPTH = 512;

class JsonSyntaxError extends Error {
  constructor(
    readonly offset: number,
    message: string,
  ) {
    super(message);
  }
}

/** The first syntax error in `text`, or undefined if it is valid JSON. */
export function locateJsonError(text: string): JsonErrorLocation | undefined {
  const scanner = new Scanner(text);
  try {
    scanner.document();
    return undefined;
  } catch (error) {
    if (error instanceof JsonSyntaxError) {
      return { offset: error.offset, message: error.message };
    }
    throw error;
  }
}

class Scanner {
  private pos = 0;

  constructor(private readonly text: string) {}

  document(): void {
    this.skipBlanks();
    if (this.pos >= this.text.length) {
      this.fail('the value is empty; expected JSON');
    }
    this.value(0);
    this.skipBlanks();
    if (this.pos < this.text.length) {
      this.fail(
        `unexpected ${this.describeHere()} after the end of the JSON value (an extra closing bracket?)`,
      );
    }
  }

  private value(depth: number): void {
    if (depth > MAX_DEPTH) {
      this.fail(`nested more than ${MAX_DEPTH} levels deep`);
    }
    const c = this.text[this.pos];
    if (c === '{') {
      return this.object(depth);
    }
    if (c === '[') {
      return this.array(depth);
    }
    if (c === '"') {
      return this.string();
    }
    if (c === '-' || (c >= '0' && c <= '9')) {
      return this.number();
    }
    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.text.slice(this.pos))?.[0];
    if (word === 'true' || word === 'false' || word === 'null') {
      this.pos += word.length;
      return;
    }
    if (word !== undefined && Object.hasOwn(PYTHON_LITERALS, word)) {
      this.fail(`${word} is Python, not JSON: write ${PYTHON_LITERALS[word]}`);
    }
    if (c === "'") {
      this.fail('strings need double quotes (") in JSON, not single quotes');
    }
    if (c === undefined) {
      this.fail('the text ends where a value should follow');
    }
    if (word !== undefined) {
      this.fail(`${word} is not a JSON value; put text in double quotes`);
    }
    this.fail(`unexpected ${this.describeHere()} where a value should start`);
  }

  private object(depth: number): void {
    this.members('}', 'entry', 'a property value', () => {
      this.propertyName();
      this.skipBlanks();
      if (this.text[this.pos] !== ':') {
        this.fail(`expected ':' after the property name, found ${this.describeHere()}`);
      }
      this.pos++;
      this.skipBlanks();
      this.value(depth + 1);
    });
  }

  private array(depth: number): void {
    this.members(']', 'item', 'a list item', () => this.value(depth + 1));
  }

  /** The comma-separated members of an object or array, from its opening bracket on. */
  private members(close: '}' | ']', noun: string, after: string, member: () => void): void {
    this.pos++;
    this.skipBlanks();
    if (this.text[this.pos] === close) {
      this.pos++;
      return;
    }
    for (;;) {
      member();
      const memberEnd = this.pos;
      this.skipBlanks();
      const c = this.text[this.pos];
      if (c === close) {
        this.pos++;
        return;
      }
      if (c === ',') {
        const comma = this.pos;
        this.pos++;
        this.skipBlanks();
        if (this.text[this.pos] === close) {
          this.failAt(
            comma,
            `trailing comma before '${close}': JSON allows no comma after the last ${noun}`,
          );
        }
        continue;
      }
      // A quote where a comma belongs: the comma at the end of the previous line is missing.
      if (c === '"') {
        this.failAt(memberEnd - 1, `missing ',' after this ${noun}, before the next one`);
      }
      this.fail(`expected ',' or '${close}' after ${after}, found ${this.describeHere()}`);
    }
  }

  private propertyName(): void {
    const c = this.text[this.pos];
    if (c === '"') {
      return this.string();
    }
    if (c === "'") {
      this.fail('property names need double quotes (") in JSON, not single quotes');
    }
    if (c !== undefined && /[A-Za-z_]/.test(c)) {
      this.fail('property names must be in double quotes, e.g. "name": …');
    }
    this.fail(`expected a property name in double quotes, found ${this.describeHere()}`);
  }

  private string(): void {
    const start = this.pos;
    this.pos++;
    for (;;) {
      const c = this.text[this.pos];
      if (c === undefined) {
        this.failAt(start, 'this string has no closing double quote');
      }
      if (c === '"') {
        this.pos++;
        return;
      }
      if (c === '\n') {
        this.failAt(start, 'this string has no closing double quote on its line');
      }
      if (c < ' ') {
        this.fail('control character inside a string; write it as an escape like \\t');
      }
      if (c === '\\') {
        const next = this.text[this.pos + 1];
        if (next === 'u' && /^[0-9A-Fa-f]{4}$/.test(this.text.slice(this.pos + 2, this.pos + 6))) {
          this.pos += 6;
          continue;
        }
        if (next !== undefined && '"\\/bfnrt'.includes(next)) {
          this.pos += 2;
          continue;
        }
        this.fail('invalid escape in a string; write \\\\ for a backslash');
      }
      this.pos++;
    }
  }

  private number(): void {
    const match = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/.exec(
      this.text.slice(this.pos),
    );
    if (!match) {
      this.fail('malformed number');
    }
    this.pos += match[0].length;
  }

  private skipBlanks(): void {
    while (this.pos < this.text.length && ' \t\n\r'.includes(this.text[this.pos])) {
      this.pos++;
    }
  }

  private describeHere(): string {
    const c = this.text[this.pos];
    return c === undefined ? 'the end of the text' : `'${c}'`;
  }

  private fail(message: string): never {
    throw new JsonSyntaxError(this.pos, message);
  }

  private failAt(offset: number, message: string): never {
    throw new JsonSyntaxError(offset, message);
  }
}
