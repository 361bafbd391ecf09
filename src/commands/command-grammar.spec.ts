import { describe, expect, it } from '@jest/globals';
import { isForInstance, parseCommand, type ParsedCommand } from './command-grammar.js';

const options = { allowedExportVars: ['SKIP_TESTS=yes'] };
const parse = (text: string) => parseCommand(text, options);
const problemOf = (text: string) => {
  const command = parse(text);
  if (command.kind !== 'invalid') {
    throw new Error(`${text}: parsed as ${command.kind}`);
  }
  return command.problem;
};
const filtersOf = (command: ParsedCommand) => command.filters.map((f) => [f.component, f.pattern]);

describe('parseCommand: the examples of help', () => {
  it('help, show_config, deploy, status', () => {
    expect(parse('help')).toMatchObject({ kind: 'help', filters: [] });
    expect(parse('show_config')).toMatchObject({ kind: 'show_config' });
    expect(parse('deploy')).toMatchObject({ kind: 'deploy' });
    expect(parse('status')).toMatchObject({ kind: 'status', lastBuild: false });
    expect(parse('status last_build')).toMatchObject({ kind: 'status', lastBuild: true });
  });

  it('build for:arch=x86_64/amd/zen4 (native)', () => {
    expect(parse('build for:arch=x86_64/amd/zen4')).toMatchObject({
      kind: 'build',
      for: { arch: 'x86_64/amd/zen4', accel: [] },
      on: undefined,
      exportVars: [],
      filters: [],
    });
  });

  it('build for:arch=…,accel=nvidia/cc90 and several accelerators, - for /, = for /', () => {
    expect(parse('build for:arch=x86_64-amd-zen4,accel=nvidia=cc80+nvidia/cc90')).toMatchObject({
      kind: 'build',
      for: { arch: 'x86_64/amd/zen4', accel: ['nvidia/cc80', 'nvidia/cc90'] },
    });
  });

  it('build for:… on:arch=zen3 repo:2023.06 exp:SKIP_TESTS=yes inst:site-a', () => {
    const command = parse(
      'build for:arch=x86_64/amd/zen4 on:arch=zen3 repo:2023.06 exp:SKIP_TESTS=yes inst:site-a',
    );
    expect(command).toMatchObject({
      kind: 'build',
      for: { arch: 'x86_64/amd/zen4', accel: [] },
      on: { arch: 'zen3', accel: [] },
      exportVars: [{ name: 'SKIP_TESTS', value: 'yes' }],
    });
    expect(filtersOf(command)).toEqual([
      ['repository', '2023.06'],
      ['instance', 'site-a'],
    ]);
  });

  it('status last_build arch:zen acc:nvidia repo:2025 job:12', () => {
    expect(filtersOf(parse('status last_build arch:zen- acc:nvidia= repo:2025 job:12'))).toEqual([
      ['architecture', 'zen/'],
      ['accelerator', 'nvidia/'],
      ['repository', '2025'],
      ['job', '12'],
    ]);
  });

  it('cancel jobid:123 and jobid:123,456 (duplicates once)', () => {
    expect(parse('cancel jobid:123')).toMatchObject({ kind: 'cancel', jobIds: ['123'] });
    expect(parse('cancel jobid:123,456,123')).toMatchObject({ jobIds: ['123', '456'] });
  });

  it('an unknown command keeps its name', () => {
    expect(parse('rebuild now')).toMatchObject({ kind: 'unknown', name: 'rebuild' });
  });
});

describe('parseCommand: errors name the token at fault', () => {
  it.each([
    ['build', /`for:arch=…` is required/],
    ['build on:arch=zen3', /`for:arch=…` is required/],
    ['build for:x86_64/amd/zen4', /`for:x86_64\/amd\/zen4`: .*is not KEY=VALUE/],
    ['build for:arch=', /`for:arch=`: .*is not a CPU subdir/],
    ['build for:arch=../../etc', /`for:arch=..\/..\/etc`: .*is not a CPU subdir/],
    [
      'build for:arch=x86_64/amd/zen4,accel=nvidia',
      /`for:arch=x86_64\/amd\/zen4,accel=nvidia`: .*not an accelerator/,
    ],
    ['build for:arch=x86_64/amd/zen4,gpu=1', /unknown key/],
    ['build for:arch=a/b for:arch=c/d', /`for:` is given twice/],
    ['build for:arch=a/b zen4', /`zen4`: unexpected argument; usage: `bot: build for:arch=/],
    [
      'build for:arch=a/b exp:SKIP_TESTS=no',
      /`SKIP_TESTS=no` is not in this instance's `\[buildenv\] allowed_exportvars`/,
    ],
    ['build for:arch=a/b exp:1X=yes', /`exp:1X=yes`: .*NAME a shell variable name/],
    ['build for:arch=a/b job:12', /`job:12`: `build` takes no job filter/],
    ['build for:arch=a/b ar:zen', /the filter name `ar` is too short/],
    ['build for:arch=a/b colour:red', /`colour` is not a filter/],
    ['build for:arch=a/b repo:(', /`repo:\(`: not a valid pattern/],
    ['help me', /`me`: unexpected argument; usage: `bot: help`/],
    ['help arch:zen4', /`arch:zen4`: `help` takes no architecture filter/],
    ['show_config job:1', /`show_config` takes no job filter/],
    ['status everything', /`everything`: unexpected argument/],
    ['status exp:SKIP_TESTS=yes', /`status` takes no exportvariable filter/],
    ['cancel', /`jobid:<N>` is required/],
    ['cancel 123', /`123`: unexpected argument; usage: `bot: cancel jobid:N/],
    ['cancel jobid:12a', /`jobid:12a`: `12a` is not a job id/],
    ['cancel jobid:1 jobid:2', /`jobid:` is given twice/],
    ['deploy now', /`now`: unexpected argument/],
  ])('%j', (text, message) => {
    expect(problemOf(text)).toMatch(message);
  });

  it('never lets a value of the command out of a code span', () => {
    const problem = problemOf('build for:arch=<img src=x onerror=alert(1)>');
    expect(problem.replace(/`[^`]*`/g, '')).not.toContain('<img');
  });
});

describe('isForInstance', () => {
  it('is true without instance filter, else when every instance filter matches', () => {
    expect(isForInstance(parse('help'), 'site-a')).toBe(true);
    expect(isForInstance(parse('help inst:site-a'), 'site-a')).toBe(true);
    expect(isForInstance(parse('help instance:^site'), 'site-a')).toBe(true);
    expect(isForInstance(parse('help inst:site-b'), 'site-a')).toBe(false);
  });

  it('also for a command with an error elsewhere: the instance it names answers it', () => {
    const command = parse('build for:nonsense inst:site-b');
    expect(command.kind).toBe('invalid');
    expect(isForInstance(command, 'site-a')).toBe(false);
    expect(isForInstance(command, 'site-b')).toBe(true);
  });
});
