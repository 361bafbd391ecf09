/**
 * GitHub's check runs as FakeGitHub serves them (POST /repos/{o}/{r}/check-runs,
 * PATCH /repos/{o}/{r}/check-runs/{id}), validated the way GitHub validates the fields the bot
 * sends: a 40-hex head_sha, a known status, a conclusion exactly when completed, an output with
 * title and summary.
 */

export interface FakeCheckRunState {
  readonly status: string;
  readonly conclusion?: string;
  readonly title: string;
  readonly summary: string;
}

export interface FakeCheckRun extends FakeCheckRunState {
  readonly id: number;
  readonly repo: string;
  readonly name: string;
  readonly headSha: string;
  /** Every state the check run has had, oldest first; the last one is the current. */
  readonly history: readonly FakeCheckRunState[];
}

export class CheckRunInputError extends Error {}

const STATUSES = new Set(['queued', 'in_progress', 'completed']);
const CONCLUSIONS = new Set([
  'success',
  'failure',
  'neutral',
  'cancelled',
  'skipped',
  'timed_out',
  'action_required',
]);

export class FakeCheckRuns {
  private readonly runs = new Map<number, FakeCheckRun>();

  constructor(private readonly nextId: () => number) {}

  create(repo: string, body: unknown): FakeCheckRun {
    const input = (body ?? {}) as Record<string, unknown>;
    if (typeof input.name !== 'string' || input.name === '') {
      throw new CheckRunInputError('name is required');
    }
    if (typeof input.head_sha !== 'string' || !/^[0-9a-f]{40}$/.test(input.head_sha)) {
      throw new CheckRunInputError('head_sha must be a commit sha');
    }
    const state = stateOf(input, undefined);
    const run: FakeCheckRun = {
      id: this.nextId(),
      repo,
      name: input.name,
      headSha: input.head_sha,
      ...state,
      history: [state],
    };
    this.runs.set(run.id, run);
    return run;
  }

  update(repo: string, id: number, body: unknown): FakeCheckRun | undefined {
    const run = this.runs.get(id);
    if (!run || run.repo !== repo) {
      return undefined;
    }
    const state = stateOf((body ?? {}) as Record<string, unknown>, run);
    const updated: FakeCheckRun = { ...run, ...state, history: [...run.history, state] };
    this.runs.set(id, updated);
    return updated;
  }

  list(repo?: string): FakeCheckRun[] {
    return [...this.runs.values()]
      .filter((run) => repo === undefined || run.repo === repo)
      .sort((a, b) => a.id - b.id);
  }
}

function stateOf(input: Record<string, unknown>, previous?: FakeCheckRunState): FakeCheckRunState {
  const status = input.status ?? previous?.status ?? 'queued';
  if (typeof status !== 'string' || !STATUSES.has(status)) {
    throw new CheckRunInputError(`status ${JSON.stringify(status)} is not valid`);
  }
  const conclusion = input.conclusion;
  if (status === 'completed' && (typeof conclusion !== 'string' || !CONCLUSIONS.has(conclusion))) {
    throw new CheckRunInputError('conclusion is required when status is completed');
  }
  if (status !== 'completed' && conclusion !== undefined) {
    throw new CheckRunInputError('conclusion may only be given with status completed');
  }
  const output = (input.output ?? {}) as Record<string, unknown>;
  const title = output.title ?? previous?.title;
  const summary = output.summary ?? previous?.summary;
  if (typeof title !== 'string' || typeof summary !== 'string') {
    throw new CheckRunInputError('output.title and output.summary are required');
  }
  return { status, ...(typeof conclusion === 'string' ? { conclusion } : {}), title, summary };
}
