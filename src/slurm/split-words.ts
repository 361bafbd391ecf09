/**
 * Splits a string into words the way a POSIX shell does (blanks, '…', "…", backslash escapes),
 * but with no expansion of any kind: `$VAR`, `~`, `*`, `$(…)` and backquotes stay literal text,
 * and nothing is ever executed. `#` is an ordinary character too (no comments).
 * Used for operator-written sbatch parameters (`slurm_params`, arch_target_map values), e.g.
 * `--hold --time=4:0:0 --constraint "shape=c5a.2xlarge"` → ['--hold', '--time=4:0:0',
 * '--constraint', 'shape=c5a.2xlarge'].
 *
 * @throws Error on an unterminated quote or a trailing backslash, naming the position.
 */
export function splitWords(s: string): string[] {
  const words: string[] = [];
  let word = '';
  // A word exists once any character or quote pair was seen, so `""` yields an empty word.
  let inWord = false;
  let i = 0;

  while (i < s.length) {
    const c = s[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (inWord) {
        words.push(word);
      }
      word = '';
      inWord = false;
      i++;
    } else if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end === -1) {
        throw new Error(unterminated("'", i, s));
      }
      word += s.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      const start = i;
      i++;
      for (;;) {
        if (i >= s.length) {
          throw new Error(unterminated('"', start, s));
        }
        const d = s[i];
        if (d === '"') {
          i++;
          break;
        }
        if (d === '\\' && i + 1 < s.length) {
          const next = s[i + 1];
          // Inside double quotes a backslash only escapes these; elsewhere it is kept.
          if (next === '\n') {
            i += 2;
            continue;
          }
          if (next === '"' || next === '\\' || next === '$' || next === '`') {
            word += next;
            i += 2;
            continue;
          }
        }
        word += d;
        i++;
      }
      inWord = true;
    } else if (c === '\\') {
      if (i + 1 >= s.length) {
        throw new Error(
          `unescaped backslash at the end of ${JSON.stringify(s)}: write \\\\ for a literal backslash`,
        );
      }
      const next = s[i + 1];
      if (next !== '\n') {
        word += next;
        inWord = true;
      }
      i += 2;
    } else {
      word += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) {
    words.push(word);
  }
  return words;
}

function unterminated(quote: string, at: number, s: string): string {
  return `unterminated ${quote} quote starting at character ${at + 1} of ${JSON.stringify(s)}: add the closing ${quote}`;
}
