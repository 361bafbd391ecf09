import { readFileSync } from 'node:fs';
import type { RunOptions, RunResult } from '../../src/slurm/command-runner.js';

/** Stands in for CommandRunner: records each argv and answers with the next canned result. */
export class StubRunner {
  readonly calls: { command: string; args: readonly string[]; opts: RunOptions }[] = [];
  private readonly replies: (RunResult | Error)[] = [];

  reply(result: Partial<RunResult> | Error): this {
    this.replies.push(
      result instanceof Error ? result : { stdout: '', stderr: '', exitCode: 0, ...result },
    );
    return this;
  }

  async run(command: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
    this.calls.push({ command, args: [...args], opts });
    const next = this.replies.shift();
    if (next === undefined) {
      throw new Error(`StubRunner: unexpected call ${command} ${args.join(' ')}`);
    }
    if (next instanceof Error) {
      throw next;
    }
    return next;
  }
}

/** A file of test/fixtures/slurm/, byte for byte. */
export function slurmFixture(name: string): string {
  return readFileSync(new URL(`../fixtures/slurm/${name}`, import.meta.url), 'utf8');
}
