import { describe, expect, it } from '@jest/globals';
import { makeConfig } from '../../test/support/make-config.js';
import type { AppConfig } from '../config/app-config.js';
import { slurmOptionsOf } from './builds.module.js';

describe('slurmOptionsOf', () => {
  it('hands the slurm module the scheduler, the state dir and the configured clients', () => {
    const config = makeConfig({
      root: '/srv/bot',
      buildenv: { scheduler: 'local', submitCommand: '/site/bin/sbatch' },
      jobManager: {
        pollCommand: '/site/bin/squeue',
        scontrolCommand: '/site/bin/scontrol',
        scancelCommand: '/site/bin/scancel',
        commandTimeoutSeconds: 42,
      },
    });

    expect(slurmOptionsOf(config)).toEqual({
      scheduler: 'local',
      stateDir: config.eventHandler.stateDir,
      commands: {
        submit: '/site/bin/sbatch',
        poll: '/site/bin/squeue',
        scontrol: '/site/bin/scontrol',
        scancel: '/site/bin/scancel',
        timeoutMs: 42_000,
        scontrolArgs: [],
        squeueFormat: 'short',
      },
    });
  });

  it('gives a v0.9-format config the long squeue format and the scontrol_command arguments', () => {
    const config = {
      ...makeConfig({
        root: '/srv/bot',
        jobManager: { scontrolArgs: ['--clusters=%(cluster)s'] },
      }),
      generation: 'v09',
    } as AppConfig;

    expect(slurmOptionsOf(config).commands).toMatchObject({
      squeueFormat: 'long',
      scontrolArgs: ['--clusters=%(cluster)s'],
    });
  });
});
