/**
 * Shell-like expansion for path values in app.cfg: `$NAME`, `${NAME}` and a leading `~`.
 * `\$` yields a literal `$`, which is how an operator hands a variable on to the build job
 * unexpanded (upstream's `local_tmp = /tmp/\$USER/EESSI` idiom).
 * Unlike Python's os.path.expandvars, an undefined variable is an error, not left in the path:
 * a directory literally named `$SCRATCH` is never what the operator meant.
 */

export interface ExpandResult {
  readonly value: string;
  /** Each names the variable or construct at fault; empty when the expansion succeeded. */
  readonly errors: readonly string[];
}

/** Looks a variable up when the environment lacks it (e.g. HOME/USER from the passwd entry). */
export type VariableFallback = (name: string) => string | undefined;

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;
const WHOLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function expandVariables(
  text: string,
  env: NodeJS.ProcessEnv,
  fallback: VariableFallback = () => undefined,
): ExpandResult {
  const errors: string[] = [];
  const lookup = (name: string): string => {
    const value = env[name] ?? fallback(name);
    if (value === undefined) {
      errors.push(`environment variable ${name} is not set (set it, or write the path out)`);
      return '';
    }
    return value;
  };

  let rest = text;
  let out = '';
  if (rest === '~' || rest.startsWith('~/')) {
    out = lookup('HOME');
    rest = rest.slice(1);
  } else if (rest.startsWith('~')) {
    errors.push(`'~user' paths are not supported (write the home directory out)`);
  }

  while (rest.length > 0) {
    if (rest.startsWith('\\$')) {
      out += '$';
      rest = rest.slice(2);
      continue;
    }
    if (!rest.startsWith('$')) {
      const next = nextSpecial(rest);
      out += rest.slice(0, next);
      rest = rest.slice(next);
      continue;
    }
    if (rest.startsWith('${')) {
      const close = rest.indexOf('}');
      const name = close === -1 ? undefined : rest.slice(2, close);
      if (name === undefined || !WHOLE_NAME.test(name)) {
        errors.push(
          `malformed variable reference '${rest.slice(0, close === -1 ? 20 : close + 1)}'`,
        );
        out += rest.slice(0, 2);
        rest = rest.slice(2);
        continue;
      }
      out += lookup(name);
      rest = rest.slice(close + 1);
      continue;
    }
    const name = NAME.exec(rest.slice(1))?.[0];
    if (name === undefined) {
      // `$` not followed by a name (e.g. at the end) stays literal, as in a shell.
      out += '$';
      rest = rest.slice(1);
      continue;
    }
    out += lookup(name);
    rest = rest.slice(1 + name.length);
  }
  return { value: out, errors };
}

function nextSpecial(text: string): number {
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '$' || (text[i] === '\\' && text[i + 1] === '$')) {
      return i;
    }
  }
  return text.length;
}
