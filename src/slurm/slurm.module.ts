import { type DynamicModule, type FactoryProvider, Module } from '@nestjs/common';
import { CommandRunner } from '../common/command-runner.js';
import { LocalExecutor } from './local-executor.js';
import { SlurmCliAdapter } from './slurm-cli.adapter.js';
import type { SlurmOptions } from './slurm.options.js';
import type { SlurmPort } from './slurm.port.js';
import { SLURM } from './slurm.tokens.js';

/**
 * Chooses the scheduler behind the SLURM token from `[buildenv] scheduler`: Slurm's CLI on a
 * cluster, or the local executor for demos, development and one-machine sites. Nothing that
 * injects SLURM has to know which.
 */
export function createSlurmPort(options: SlurmOptions, runner: CommandRunner): SlurmPort {
  if (options.scheduler === 'local') {
    return new LocalExecutor({ stateDir: options.stateDir });
  }
  return new SlurmCliAdapter(runner, options.commands);
}

/** Builds SlurmOptions from providers the importing module can see (the app's config). */
type SlurmModuleAsyncOptions = Pick<FactoryProvider<SlurmOptions>, 'useFactory' | 'inject'>;

const SLURM_OPTIONS = Symbol('SLURM_OPTIONS');

/**
 * Provides SLURM and the CommandRunner. Registered once (by the builds module, which re-exports
 * it), so that the process has a single scheduler port: one local executor, one set of timers.
 */
@Module({})
export class SlurmModule {
  static registerAsync(options: SlurmModuleAsyncOptions): DynamicModule {
    return {
      module: SlurmModule,
      providers: [
        { provide: SLURM_OPTIONS, useFactory: options.useFactory, inject: options.inject },
        CommandRunner,
        { provide: SLURM, useFactory: createSlurmPort, inject: [SLURM_OPTIONS, CommandRunner] },
      ],
      exports: [SLURM, CommandRunner],
    };
  }
}
