import type { BuildEnvConfig } from '../config/app-config.js';
import { splitWords } from '../slurm/split-words.js';
import type { SubmitRequest } from '../slurm/slurm.port.js';

/**
 * The scheduler request of a v0.9 job, in upstream's order (tasks/build.py submit_job):
 *
 *   submit_command  slurm_params  --hold | --begin=now+N  [--time=24:00:00]  <node type
 *   slurm_params>  [det_submit_opts options]  --job-name=<job_name>  <build_job_script>
 *
 * as an argument array run in the job dir (no shell). The adapter adds `--job-name=`.
 */
const DEFAULT_JOB_TIME_LIMIT = '24:00:00';

export interface V09SubmitInput {
  readonly buildenv: BuildEnvConfig;
  readonly pollIntervalSeconds: number;
  readonly nodeType: string;
  /** The node type's raw slurm_params. */
  readonly nodeSlurmParams: string;
  /** Options accepted from det_submit_opts (already allow-listed), placed after the node's. */
  readonly extraOptions?: readonly string[];
  readonly jobDir: string;
  /** Absolute path of the job script (inside the job dir for `path@repo`). */
  readonly script: string;
}

/** delayed_begin: seconds until the job may start, `int(job_delay_begin_factor × poll_interval)`. */
export function delaySeconds(buildenv: BuildEnvConfig, pollIntervalSeconds: number): number {
  return Math.trunc(buildenv.jobDelayBeginFactor * pollIntervalSeconds);
}

function isHold(word: string): boolean {
  return word === '--hold' || word === '-H';
}

/**
 * Whether the words set a time limit, so that the default of 24 h is not added: `-t`, `-tVALUE`,
 * `--time`, `--time=VALUE`. Unlike v0.9's prefix test, `--time-min` (a minimum) does not count.
 */
export function setsTimeLimit(words: readonly string[]): boolean {
  return words.some(
    (w) => w === '-t' || w === '--time' || w.startsWith('--time=') || /^-t[^-]/.test(w),
  );
}

export function buildV09SubmitRequest(input: V09SubmitInput): SubmitRequest {
  const { buildenv } = input;
  // The protocol decides holding: a --hold written in either parameter list is dropped, then
  // added once (hold_release) or replaced by --begin (delayed_begin).
  const siteWords = wordsOf(buildenv.slurmParams, '[buildenv] slurm_params').filter(
    (w) => !isHold(w),
  );
  const nodeWords = wordsOf(
    input.nodeSlurmParams,
    `[architecturetargets] node_type_map entry ${JSON.stringify(input.nodeType)} slurm_params`,
  ).filter((w) => !isHold(w));
  const extra = input.extraOptions ?? [];
  const hold = buildenv.jobHandoverProtocol !== 'delayed_begin';
  const handover = hold
    ? ['--hold']
    : [`--begin=now+${delaySeconds(buildenv, input.pollIntervalSeconds)}`];
  const timeLimit = setsTimeLimit([...siteWords, ...nodeWords, ...extra])
    ? []
    : [`--time=${DEFAULT_JOB_TIME_LIMIT}`];
  return {
    workDir: input.jobDir,
    schedulerArgs: [...siteWords, ...handover, ...timeLimit, ...nodeWords, ...extra],
    jobName: buildenv.jobName,
    script: input.script,
    scriptArgs: [],
    hold,
  };
}

function wordsOf(text: string, key: string): string[] {
  try {
    return splitWords(text);
  } catch (error) {
    throw new Error(`${key} in app.cfg: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Slurm options a PR's det_submit_opts may set: resources of the job only. Anything that moves
 * the job elsewhere (partition, account, qos), changes what runs or where it writes (chdir,
 * output, wrap, export), or its timing (begin, dependency, hold) is refused.
 */
const ALLOWED_SUBMIT_OPTIONS: ReadonlySet<string> = new Set([
  'time',
  'mem',
  'mem-per-cpu',
  'mem-per-gpu',
  'cpus-per-task',
  'cpus-per-gpu',
  'gpus',
  'gpus-per-node',
  'gpus-per-task',
  'gres',
  'nodes',
  'ntasks',
  'ntasks-per-node',
]);

const SHORT_OPTIONS: Readonly<Record<string, string>> = {
  t: 'time',
  c: 'cpus-per-task',
  N: 'nodes',
  n: 'ntasks',
  G: 'gpus',
};

const OPTION_VALUE = /^[A-Za-z0-9_:.,/+%=][A-Za-z0-9_:.,/+%=-]{0,99}$/;

export interface FilteredOptions {
  /** Accepted options, each as `--name=value`. */
  readonly accepted: readonly string[];
  /** Words refused, as given. */
  readonly rejected: readonly string[];
}

/**
 * Keeps the allow-listed options of a det_submit_opts answer. v0.9's function returns the whole
 * option string, usually the node type's own parameters plus its changes, so a leading copy of
 * `nodeWords` is dropped first rather than reported.
 */
export function filterSubmitOptions(text: string, nodeWords: readonly string[]): FilteredOptions {
  let words = splitWords(text);
  if (nodeWords.length > 0 && nodeWords.every((w, i) => words[i] === w)) {
    words = words.slice(nodeWords.length);
  }
  const accepted: string[] = [];
  const rejected: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i];
    let name: string | undefined;
    let value: string | undefined;
    let takesNext = false;
    if (word.startsWith('--')) {
      const eq = word.indexOf('=');
      name = eq < 0 ? word.slice(2) : word.slice(2, eq);
      value = eq < 0 ? words[i + 1] : word.slice(eq + 1);
      takesNext = eq < 0;
    } else if (/^-[A-Za-z]/.test(word)) {
      name = SHORT_OPTIONS[word[1]];
      value = word.length > 2 ? word.slice(2) : words[i + 1];
      takesNext = word.length === 2;
    }
    if (
      name === undefined ||
      !ALLOWED_SUBMIT_OPTIONS.has(name) ||
      value === undefined ||
      !OPTION_VALUE.test(value)
    ) {
      rejected.push(word);
      continue;
    }
    accepted.push(`--${name}=${value}`);
    if (takesNext) {
      i += 1;
    }
  }
  return { accepted, rejected };
}
