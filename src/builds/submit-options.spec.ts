import { describe, expect, it } from '@jest/globals';
import type { BuildEnvConfig } from '../config/app-config.js';
import { makeConfig } from '../../test/support/make-config.js';
import {
  buildV09SubmitRequest,
  filterSubmitOptions,
  setsTimeLimit,
  type V09SubmitInput,
} from './submit-options.js';

function input(
  buildenv: Partial<BuildEnvConfig>,
  node = '-p zen4 --constraint "shape=c7a.2xlarge"',
  extra?: string[],
): V09SubmitInput {
  return {
    buildenv: makeConfig({
      root: '/r',
      buildenv: { jobName: 'bot-site-a', slurmParams: '--account=eessi', ...buildenv },
    }).buildenv,
    pollIntervalSeconds: 60,
    nodeType: 'zen4',
    nodeSlurmParams: node,
    extraOptions: extra,
    jobDir: '/jobs/run_001/x86_64/amd/zen4/EESSI',
    script: '/opt/bot/bot-build.slurm',
  };
}

describe('buildV09SubmitRequest', () => {
  it('hold_release: site params, one --hold, the default time, node params, in that order', () => {
    expect(buildV09SubmitRequest(input({ jobHandoverProtocol: 'hold_release' }))).toEqual({
      workDir: '/jobs/run_001/x86_64/amd/zen4/EESSI',
      schedulerArgs: [
        '--account=eessi',
        '--hold',
        '--time=24:00:00',
        '-p',
        'zen4',
        '--constraint',
        'shape=c7a.2xlarge',
      ],
      jobName: 'bot-site-a',
      script: '/opt/bot/bot-build.slurm',
      scriptArgs: [],
      hold: true,
    });
  });

  it('hold_release never passes --hold twice, wherever the operator wrote it', () => {
    const request = buildV09SubmitRequest(
      input(
        { slurmParams: '--hold --account=eessi -H', jobHandoverProtocol: 'hold_release' },
        '--hold -p zen4',
      ),
    );
    expect(request.schedulerArgs).toEqual([
      '--account=eessi',
      '--hold',
      '--time=24:00:00',
      '-p',
      'zen4',
    ]);
  });

  it('delayed_begin: no --hold anywhere, --begin=now+int(factor × poll_interval)', () => {
    const request = buildV09SubmitRequest(
      input(
        {
          slurmParams: '--hold --account=eessi',
          jobHandoverProtocol: 'delayed_begin',
          jobDelayBeginFactor: 2.5,
        },
        '-H -p zen4',
      ),
    );
    expect(request.schedulerArgs).toEqual([
      '--account=eessi',
      '--begin=now+150',
      '--time=24:00:00',
      '-p',
      'zen4',
    ]);
    expect(request.hold).toBe(false);
  });

  it.each([
    ['site', '--time=2:00:00', ''],
    ['site', '-t 30', ''],
    ['node', '', '-t1-00:00:00'],
    ['node', '', '--time 4:00:00'],
  ])('adds no default time when the %s params set one (%s%s)', (_, site, node) => {
    const request = buildV09SubmitRequest(input({ slurmParams: site }, node));
    expect(request.schedulerArgs.filter((w) => w.startsWith('--time=24'))).toEqual([]);
  });

  it('det_submit_opts options go after the node’s, and their --time replaces the default', () => {
    const request = buildV09SubmitRequest(input({}, '-p zen4', ['--mem=64G', '--time=8:00:00']));
    expect(request.schedulerArgs).toEqual([
      '--account=eessi',
      '--hold',
      '-p',
      'zen4',
      '--mem=64G',
      '--time=8:00:00',
    ]);
  });

  it('names the node type when its slurm_params cannot be split', () => {
    expect(() => buildV09SubmitRequest(input({}, '-p "zen4'))).toThrow(
      /node_type_map entry "zen4" slurm_params in app.cfg: unterminated " quote/,
    );
  });
});

describe('setsTimeLimit', () => {
  it('counts -t and --time, not --time-min or other -t… options', () => {
    expect(setsTimeLimit(['--time-min=10'])).toBe(false);
    expect(setsTimeLimit(['--threads-per-core=1'])).toBe(false);
    expect(setsTimeLimit(['-t', '5'])).toBe(true);
    expect(setsTimeLimit(['-t5'])).toBe(true);
    expect(setsTimeLimit(['--time=5'])).toBe(true);
  });
});

describe('filterSubmitOptions', () => {
  it('keeps resource options in every spelling, canonical as --name=value', () => {
    expect(
      filterSubmitOptions('--mem=64G --cpus-per-task 16 -t 8:00:00 -G2 --gres=gpu:a100:2 -N 1', []),
    ).toEqual({
      accepted: [
        '--mem=64G',
        '--cpus-per-task=16',
        '--time=8:00:00',
        '--gpus=2',
        '--gres=gpu:a100:2',
        '--nodes=1',
      ],
      rejected: [],
    });
  });

  it('drops the node type’s own parameters when the answer starts with them (v0.9’s return value)', () => {
    expect(filterSubmitOptions('-p zen4 --mem=8G', ['-p', 'zen4'])).toEqual({
      accepted: ['--mem=8G'],
      rejected: [],
    });
  });

  it('refuses anything that moves, redirects, delays or reshapes the job', () => {
    const { accepted, rejected } = filterSubmitOptions(
      "--partition=gpu --account x --qos=high --chdir=/ --output=/home/bot/.ssh/authorized_keys --wrap 'id' --export=ALL --begin=now --dependency=afterok:1 --hold --uid=0 --mem=$(id) --mem -5 --time=--x --mem=8G",
      [],
    );
    expect(accepted).toEqual(['--mem=8G']);
    expect(rejected).toEqual([
      '--partition=gpu',
      '--account',
      'x',
      '--qos=high',
      '--chdir=/',
      '--output=/home/bot/.ssh/authorized_keys',
      '--wrap',
      'id',
      '--export=ALL',
      '--begin=now',
      '--dependency=afterok:1',
      '--hold',
      '--uid=0',
      '--mem=$(id)',
      '--mem',
      '-5',
      '--time=--x',
    ]);
  });
});
