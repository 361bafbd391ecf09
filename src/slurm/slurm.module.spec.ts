import { describe, expect, it } from '@jest/globals';
import { Test } from '@nestjs/testing';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandRunner, type RunOptions, type RunResult } from '../common/command-runner.js';
import { LocalExecutor } from './local-executor.js';
import { SlurmCliAdapter } from './slurm-cli.adapter.js';
import { SlurmModule } from './slurm.module.js';
import type { SlurmOptions } from './slurm.options.js';
import type { SlurmPort } from './slurm.port.js';
import { SLURM } from './slurm.tokens.js';

const options: SlurmOptions = {
  scheduler: 'slurm',
  stateDir: '/nonexistent',
  commands: {
    submit: '/site/bin/sbatch',
    poll: '/site/bin/squeue',
    scontrol: '/site/bin/scontrol',
    scancel: '/site/bin/scancel',
    timeoutMs: 42_000,
  },
};

/** As the builds module registers it: the options come from a global provider (APP_CONFIG there). */
const OPTIONS = Symbol('OPTIONS');
class OptionsModule {}
function moduleFor(value: SlurmOptions) {
  return Test.createTestingModule({
    imports: [
      {
        module: OptionsModule,
        global: true,
        providers: [{ provide: OPTIONS, useValue: value }],
        exports: [OPTIONS],
      },
      SlurmModule.registerAsync({
        useFactory: (given: SlurmOptions) => given,
        inject: [OPTIONS],
      }),
    ],
  });
}

class RecordingRunner {
  readonly calls: { command: string; args: readonly string[]; opts: RunOptions }[] = [];
  async run(command: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
    this.calls.push({ command, args, opts });
    return { stdout: '', stderr: '', exitCode: 0 };
  }
}

describe('SlurmModule', () => {
  it('provides SLURM as the CLI adapter wired to the configured commands and timeout', async () => {
    const runner = new RecordingRunner();
    const moduleRef = await moduleFor(options)
      .overrideProvider(CommandRunner)
      .useValue(runner)
      .compile();

    const slurm = moduleRef.get<SlurmPort>(SLURM);
    expect(slurm).toBeInstanceOf(SlurmCliAdapter);

    await slurm.listJobs('bot-job');
    await slurm.release('5');
    await slurm.cancel('5');
    expect(runner.calls.map((c) => [c.command, c.opts.timeoutMs])).toEqual([
      ['/site/bin/squeue', 42_000],
      ['/site/bin/scontrol', 42_000],
      ['/site/bin/scancel', 42_000],
    ]);
    await expect(
      slurm.submit({
        workDir: '/tmp',
        schedulerArgs: [],
        jobName: 'bot-job',
        script: 's',
        scriptArgs: [],
      }),
    ).rejects.toThrow(/printed no job id/);
    expect(runner.calls[3].command).toBe('/site/bin/sbatch');
    await moduleRef.close();
  });

  it('provides SLURM as the local executor over state_dir when the scheduler is local', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'slurm-module-'));
    try {
      const moduleRef = await moduleFor({ ...options, scheduler: 'local', stateDir }).compile();
      const slurm = moduleRef.get<SlurmPort>(SLURM);
      expect(slurm).toBeInstanceOf(LocalExecutor);
      expect(await slurm.listJobs('bot-job')).toEqual([]);
      await moduleRef.close();
    } finally {
      await rm(stateDir, { recursive: true, force: true });
    }
  });

  it('passes the long squeue format and the scontrol_command arguments on to the adapter', async () => {
    const runner = new RecordingRunner();
    const v09: SlurmOptions = {
      ...options,
      commands: {
        ...options.commands,
        squeueFormat: 'long',
        scontrolArgs: ['--clusters=%(cluster)s'],
      },
    };
    const moduleRef = await moduleFor(v09)
      .overrideProvider(CommandRunner)
      .useValue(runner)
      .compile();
    const slurm = moduleRef.get<SlurmPort>(SLURM);

    await slurm.listJobs('bot-job');
    await slurm.release('5', {
      id: '5',
      name: 'bot-job',
      state: 'PENDING',
      reason: 'JobHeldUser',
      held: true,
      cluster: 'c2',
    });

    expect(runner.calls[0].args.at(-1)).toMatch(/^--Format=JobID:0/);
    expect(runner.calls[1].args).toEqual(['--clusters=c2', 'release', '5']);
    await moduleRef.close();
  });
});
