import {
  BuildRequestError,
  parseExportVar,
  parseTargetSpec,
  type ExportVar,
  type TargetSpec,
} from '../builds/build-request.js';
import { codeSpan } from '../builds/job-comment.js';
import { isCommandName, MAX_COMMAND_LENGTH, type CommandName } from './command-lines.js';
import {
  componentOf,
  FilterError,
  matchesAll,
  parseFilter,
  type Filter,
  type FilterComponent,
} from './filters.js';

/**
 * The arguments of each command (docs/commands.md):
 *
 *   help                                         [inst:…]
 *   show_config                                  [arch:… acc:… repo:… inst:…]
 *   build  for:arch=…[,accel=…] [on:arch=…[,accel=…]] [exp:NAME=value…] [arch:… acc:… repo:… inst:…]
 *   status [last_build]                          [arch:… acc:… repo:… job:… inst:…]
 *   cancel jobid:<N>[,<N>…]                      [inst:…]
 *   deploy                                       [inst:…]
 *
 * A parse error names the token at fault and refuses the whole command. An `inst:` filter that
 * does not match this instance makes the command not this instance's, even when another token is
 * wrong: it is answered by the instance it names, not by every instance that can read it.
 */
export interface CommandBase {
  /** The command as written after `bot:`. */
  readonly text: string;
  /** Filters other than exportvariable, in the order written. */
  readonly filters: readonly Filter[];
}

export type ParsedCommand =
  | (CommandBase & { readonly kind: 'help' | 'show_config' | 'deploy' })
  | (CommandBase & {
      readonly kind: 'build';
      readonly for: TargetSpec;
      readonly on?: TargetSpec;
      readonly exportVars: readonly ExportVar[];
    })
  | (CommandBase & { readonly kind: 'status'; readonly lastBuild: boolean })
  | (CommandBase & { readonly kind: 'cancel'; readonly jobIds: readonly string[] })
  | (CommandBase & { readonly kind: 'unknown'; readonly name: string })
  | (CommandBase & {
      readonly kind: 'invalid';
      readonly name: CommandName;
      /** What is wrong, naming the token. */
      readonly problem: string;
    });

export interface GrammarOptions {
  /** `[buildenv] allowed_exportvars`: `NAME=value` pairs a build may export. */
  readonly allowedExportVars: readonly string[];
}

/** Filters each command takes (instance: all of them). */
const ACCEPTED_FILTERS: Readonly<Record<CommandName, readonly FilterComponent[]>> = {
  help: ['instance'],
  show_config: ['instance', 'architecture', 'accelerator', 'repository'],
  build: ['instance', 'architecture', 'accelerator', 'repository', 'exportvariable'],
  status: ['instance', 'architecture', 'accelerator', 'repository', 'job'],
  cancel: ['instance'],
  deploy: ['instance'],
};

const JOB_ID = /^\d{1,15}$/;
const MAX_CANCEL_IDS = 50;

class GrammarError extends Error {}

export function parseCommand(text: string, options: GrammarOptions): ParsedCommand {
  const tokens = text.split(/\s+/).filter((t) => t !== '');
  const name = tokens[0] ?? '';
  if (!isCommandName(name)) {
    return { kind: 'unknown', text, filters: [], name };
  }
  const filters: Filter[] = [];
  const invalid = (problem: string): ParsedCommand => ({
    kind: 'invalid',
    text,
    name,
    problem,
    filters: filters.filter((f) => f.component === 'instance'),
  });
  if (text.length > MAX_COMMAND_LENGTH) {
    return invalid(`the command is longer than ${MAX_COMMAND_LENGTH} characters`);
  }
  let forSpec: TargetSpec | undefined;
  let onSpec: TargetSpec | undefined;
  const exportVars: ExportVar[] = [];
  let lastBuild = false;
  let jobIds: string[] | undefined;
  let problem: string | undefined;
  for (const token of tokens.slice(1)) {
    try {
      const colon = token.indexOf(':');
      const key = colon < 0 ? token : token.slice(0, colon);
      const value = token.slice(colon + 1);
      if (name === 'build' && (key === 'for' || key === 'on') && colon > 0) {
        if ((key === 'for' ? forSpec : onSpec) !== undefined) {
          throw new GrammarError(`${codeSpan(key + ':')} is given twice`);
        }
        const spec = parseTargetSpec(value, key);
        if (key === 'for') {
          forSpec = spec;
        } else {
          onSpec = spec;
        }
      } else if (name === 'status' && token === 'last_build') {
        lastBuild = true;
      } else if (name === 'cancel' && key === 'jobid' && colon > 0) {
        if (jobIds) {
          throw new GrammarError(`${codeSpan('jobid:')} is given twice`);
        }
        jobIds = parseJobIds(token, value);
      } else if (colon > 0 && componentOf(key) === 'exportvariable') {
        if (name !== 'build') {
          throw notTaken(name, token, 'exportvariable');
        }
        const variable = parseExportVar(value);
        if (!options.allowedExportVars.includes(`${variable.name}=${variable.value}`)) {
          throw new GrammarError(
            `${codeSpan(token)}: ${codeSpan(`${variable.name}=${variable.value}`)} is not in this instance's \`[buildenv] allowed_exportvars\``,
          );
        }
        exportVars.push(variable);
      } else if (colon > 0) {
        const filter = parseFilter(token);
        if (!ACCEPTED_FILTERS[name].includes(filter.component)) {
          throw notTaken(name, token, filter.component);
        }
        filters.push(filter);
      } else {
        throw new GrammarError(`${codeSpan(token)}: unexpected argument; ${usage(name)}`);
      }
    } catch (error) {
      // The first error is the one reported, but instance filters after it still count.
      problem ??= explain(error, token);
    }
  }
  if (problem !== undefined) {
    return invalid(problem);
  }
  switch (name) {
    case 'build':
      if (!forSpec) {
        return invalid(`${codeSpan('for:arch=…')} is required; ${usage('build')}`);
      }
      return { kind: 'build', text, filters, for: forSpec, on: onSpec, exportVars };
    case 'status':
      return { kind: 'status', text, filters, lastBuild };
    case 'cancel':
      if (!jobIds) {
        return invalid(`${codeSpan('jobid:<N>')} is required; ${usage('cancel')}`);
      }
      return { kind: 'cancel', text, filters, jobIds };
    default:
      return { kind: name, text, filters };
  }
}

/**
 * Whether the command is for this instance: no `instance` filter, or all of them match its
 * app_name. A command for another instance is ignored without a word.
 */
export function isForInstance(command: ParsedCommand, appName: string): boolean {
  const instance = command.filters.filter((f) => f.component === 'instance');
  return matchesAll(instance, { instance: appName });
}

/** How each command is written, for error messages. */
function usage(name: CommandName): string {
  const forms: Record<CommandName, string> = {
    help: 'bot: help',
    show_config: 'bot: show_config [arch:… acc:… repo:…]',
    build:
      'bot: build for:arch=CPU_SUBDIR[,accel=VENDOR/CC] [on:arch=…[,accel=…]] [exp:NAME=value] [filters]',
    status: 'bot: status [last_build] [arch:… acc:… repo:… job:…]',
    cancel: 'bot: cancel jobid:N[,N…]',
    deploy: 'bot: deploy',
  };
  return `usage: ${codeSpan(forms[name])}`;
}

function parseJobIds(token: string, value: string): string[] {
  const ids = value.split(',');
  const bad = ids.find((id) => !JOB_ID.test(id));
  if (bad !== undefined) {
    throw new GrammarError(`${codeSpan(token)}: ${codeSpan(bad)} is not a job id (digits only)`);
  }
  if (ids.length > MAX_CANCEL_IDS) {
    throw new GrammarError(`${codeSpan('jobid:')}: more than ${MAX_CANCEL_IDS} job ids`);
  }
  return [...new Set(ids)];
}

function notTaken(name: CommandName, token: string, component: FilterComponent): GrammarError {
  const taken = ACCEPTED_FILTERS[name].filter((c) => c !== 'exportvariable');
  return new GrammarError(
    `${codeSpan(token)}: \`${name}\` takes no ${component} filter (it takes ${taken.join(', ')})`,
  );
}

/** The reply's text for a token's error; anything but our own parse errors is a bug, passed on. */
function explain(error: unknown, token: string): string {
  // parseTargetSpec and parseExportVar quote the user's text as JSON: shown as code, not Markdown.
  if (error instanceof BuildRequestError) {
    return `${codeSpan(token)}: ${codeSpan(error.message)}`;
  }
  if (error instanceof GrammarError || error instanceof FilterError) {
    return error.message;
  }
  throw error;
}
