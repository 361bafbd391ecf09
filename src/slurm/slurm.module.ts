import { Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { CommandRunner } from './command-runner.js';
import { LocalExecutor } from './local-executor.js';
import { SlurmCliAdapter } from './slurm-cli.adapter.js';
import type { SlurmPort } from './slurm.port.js';
import { SLURM } from './slurm.tokens.js';

/**
 * Chooses the scheduler behind the SLURM token from `[buildenv] scheduler`: Slurm's CLI on a
 * cluster, or the local executor for demos, development and one-machine sites. Nothing that
 * injects SLURM has to know which. APP_CONFIG comes from the global ConfigModule.
 */
export function createSlurmPort(config: AppConfig, runner: CommandRunner): SlurmPort {
  if (config.buildenv.scheduler === 'local') {
    return new LocalExecutor({ stateDir: config.eventHandler.stateDir });
  }
  return new SlurmCliAdapter(runner, {
    submit: config.buildenv.submitCommand,
    poll: config.jobManager.pollCommand,
    scontrol: config.jobManager.scontrolCommand,
    scancel: config.jobManager.scancelCommand,
    timeoutMs: config.jobManager.commandTimeoutSeconds * 1000,
    scontrolArgs: config.jobManager.scontrolArgs ?? [],
    // The seed's queue format stays for seed configs; v0.9 configs need cluster and partition.
    squeueFormat: config.generation === 'v09' ? 'long' : 'short',
  });
}

@Module({
  providers: [
    CommandRunner,
    { provide: SLURM, useFactory: createSlurmPort, inject: [APP_CONFIG, CommandRunner] },
  ],
  exports: [SLURM, CommandRunner],
})
export class SlurmModule {}
