/**
 * Which lines of a PR comment are bot commands: as v0.9, each line that, with surrounding white
 * space removed, matches `^bot:\s?(.*)$` (case-sensitive) is one command. Lines that look like a
 * mistyped command (`bot show_config`, `Bot: help`, `bot:bulid …`) are near misses: they get a
 * short hint, nothing else. A comment of ordinary prose gets neither.
 */
const COMMAND_LINE = /^bot:\s?(.*)$/;

/** The commands a bot instance answers (in `help`'s order). */
export const COMMAND_NAMES = [
  'help',
  'build',
  'show_config',
  'status',
  'cancel',
  'deploy',
] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

/** Longest command line read: a real command is a few hundred characters at most. */
export const MAX_COMMAND_LENGTH = 2000;
/** Commands read from one comment; the rest are named in the reply as not read. */
export const MAX_COMMANDS = 20;

export interface CommandLine {
  /** 1-based line number in the comment. */
  readonly line: number;
  /** What follows `bot:`, trimmed. */
  readonly text: string;
}

export interface NearMiss {
  readonly line: number;
  /** The line as written (trimmed, cut to 100 characters). */
  readonly written: string;
  /** The command it probably meant, e.g. `bot: show_config`. */
  readonly suggestion: string;
}

export interface CommentCommands {
  readonly commands: readonly CommandLine[];
  readonly nearMisses: readonly NearMiss[];
}

/** `bot`, an optional separator other than a single `:`, then the command word and the rest. */
const LOOKS_LIKE_COMMAND = /^@?bot\s*[:;.,]?\s*([A-Za-z_-]+)(.*)$/i;
/** Arguments of a real command have a `:` or `=` (for:…, arch:…) or are `last_build`. */
const ARGUMENT = /^(?:[^\s:=]+[:=]\S*|last_build)$/;

export function findCommands(body: string): CommentCommands {
  const commands: CommandLine[] = [];
  const nearMisses: NearMiss[] = [];
  body.split(/\r\n|\r|\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '') {
      return;
    }
    const match = COMMAND_LINE.exec(line);
    if (match) {
      const text = match[1].trim();
      const name = text.split(/\s+/)[0] ?? '';
      const meant = nearestCommand(name);
      if (meant !== undefined && meant !== name && !isCommandName(name)) {
        nearMisses.push({
          line: index + 1,
          written: line.slice(0, 100),
          suggestion: `bot: ${meant}${text.slice(name.length)}`.slice(0, 100),
        });
      } else {
        commands.push({ line: index + 1, text });
      }
      return;
    }
    const loose = LOOKS_LIKE_COMMAND.exec(line);
    if (!loose) {
      return;
    }
    const meant = nearestCommand(loose[1]);
    const args = loose[2].trim().split(/\s+/).filter(Boolean);
    if (meant !== undefined && args.every((arg) => ARGUMENT.test(arg))) {
      nearMisses.push({
        line: index + 1,
        written: line.slice(0, 100),
        suggestion: `bot: ${[meant, ...args].join(' ')}`.slice(0, 100),
      });
    }
  });
  return { commands, nearMisses };
}

export function isCommandName(name: string): name is CommandName {
  return (COMMAND_NAMES as readonly string[]).includes(name);
}

/**
 * The command `word` probably means: itself (any case), or one at most two edits away for words
 * of four letters or more (`bulid`, `staus`, `show-config`). Undefined when none is close.
 */
export function nearestCommand(word: string): CommandName | undefined {
  const lower = word.toLowerCase().replace(/-/g, '_');
  if (isCommandName(lower)) {
    return lower;
  }
  if (lower.length < 4) {
    return undefined;
  }
  let best: { name: CommandName; distance: number } | undefined;
  for (const name of COMMAND_NAMES) {
    const distance = editDistance(lower, name);
    if (distance <= 2 && (!best || distance < best.distance)) {
      best = { name, distance };
    }
  }
  return best?.name;
}

/** Levenshtein distance with adjacent transpositions (`bulid` is one edit from `build`). */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) {
    return 3;
  }
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/**
 * A reply never carries a command line, so that no bot instance (ours, or v0.9's, which trims
 * lines before matching) takes it for a command: a line that would match gets a zero-width
 * space in front, invisible on GitHub and outside the pattern.
 */
export function defuseCommandLines(text: string): string {
  return text
    .split('\n')
    .map((line) => (COMMAND_LINE.test(line.trim()) ? `\u200B${line.trimStart()}` : line))
    .join('\n');
}

/** Whether a text holds a line some bot would read as a command (what defuseCommandLines removes). */
export function containsCommandLine(text: string): boolean {
  return text.split(/\r\n|\r|\n/).some((line) => COMMAND_LINE.test(line.trim()));
}
