import { Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { CommandRunner } from './command-runner.js';
import { SlurmCliAdapter } from './slurm-cli.adapter.js';
import type { SlurmPort } from './slurm.port.js';
import { SLURM } from './slurm.tokens.js';

/**
 * Chooses the scheduler behind the SLURM token. Only Slurm's CLI exists today; a `scheduler =
 * local` executor ([buildenv] scheduler) will be picked here from config.buildenv.scheduler, so
 * nothing that injects SLURM has to change. APP_CONFIG comes from the global ConfigModule.
 */
export function createSlurmPort(config: AppConfig, runner: CommandRunner): SlurmPort {
  return new SlurmCliAdapter(runner, {
    submit: config.buildenv.submitCommand,
    poll: config.jobManager.pollCommand,
    scontrol: config.jobManager.scontrolCommand,
    scancel: config.jobManager.scancelCommand,
    timeoutMs: config.jobManager.commandTimeoutSeconds * 1000,
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
