import { describe, expect, it } from '@jest/globals';
import { Test } from '@nestjs/testing';
import type { AppConfig } from '../config/app-config.js';
import { ConfigModule } from '../config/config.module.js';
import { CommandRunner, type RunOptions, type RunResult } from './command-runner.js';
import { SlurmCliAdapter } from './slurm-cli.adapter.js';
import { SlurmModule } from './slurm.module.js';
import type { SlurmPort } from './slurm.port.js';
import { SLURM } from './slurm.tokens.js';

// Only the keys the factory reads; the rest of AppConfig does not matter to SlurmModule.
const config = {
  buildenv: { submitCommand: '/site/bin/sbatch', scheduler: 'slurm' },
  jobManager: {
    pollCommand: '/site/bin/squeue',
    scontrolCommand: '/site/bin/scontrol',
    scancelCommand: '/site/bin/scancel',
    commandTimeoutSeconds: 42,
  },
} as unknown as AppConfig;

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
    const moduleRef = await Test.createTestingModule({
      imports: [ConfigModule.forConfig(config), SlurmModule],
    })
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

    expect(moduleRef.get(CommandRunner)).toBe(runner);
    await moduleRef.close();
  });

  it('gives a v0.9-format config the long squeue format and the scontrol_command arguments', async () => {
    const runner = new RecordingRunner();
    const v09 = {
      ...config,
      generation: 'v09',
      jobManager: { ...config.jobManager, scontrolArgs: ['--clusters=%(cluster)s'] },
    } as unknown as AppConfig;
    const moduleRef = await Test.createTestingModule({
      imports: [ConfigModule.forConfig(v09), SlurmModule],
    })
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
