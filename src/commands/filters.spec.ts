import { describe, expect, it } from '@jest/globals';
import {
  componentOf,
  FilterError,
  matchesAll,
  MAX_PATTERN_LENGTH,
  parseFilter,
} from './filters.js';

const filters = (...tokens: string[]) => tokens.map(parseFilter);

describe('componentOf', () => {
  it.each([
    ['arch', 'architecture'],
    ['architecture', 'architecture'],
    ['acc', 'accelerator'],
    ['ACCEL', 'accelerator'],
    ['repo', 'repository'],
    ['inst', 'instance'],
    ['job', 'job'],
    ['exp', 'exportvariable'],
  ])('reads %j as %s', (prefix, component) => {
    expect(componentOf(prefix)).toBe(component);
  });

  it('needs 3 letters and a real prefix', () => {
    expect(componentOf('ar')).toBeUndefined();
    expect(componentOf('archx')).toBeUndefined();
    expect(componentOf('for')).toBeUndefined();
  });
});

describe('parseFilter', () => {
  it.each([
    ['ar:zen4', /`ar:zen4`: the filter name `ar` is too short/],
    ['color:red', /`color:red`: `color` is not a filter/],
    ['arch:', /`arch:`: the pattern is empty/],
    ['repo:(2023', /`repo:\(2023`: not a valid pattern: .*missing closing \)/],
    ['repo:(a)\\1', /backreferences and lookaround are not supported/],
    ['repo:(?<=x)y', /backreferences and lookaround are not supported/],
    [`arch:${'a'.repeat(MAX_PATTERN_LENGTH + 1)}`, /longer than 200 characters/],
  ])('refuses %j naming the token', (token, message) => {
    expect(() => parseFilter(token)).toThrow(FilterError);
    expect(() => parseFilter(token)).toThrow(message);
  });

  it('keeps a `:` inside the pattern', () => {
    expect(parseFilter('repo:(?:2023|2025)').pattern).toBe('(?:2023|2025)');
  });
});

describe('matchesAll (v0.9 check_filters)', () => {
  const zen4 = {
    architecture: 'x86_64/amd/zen4',
    repository: 'eessi.io-2023.06-software',
    instance: 'site-a',
  };

  it('is a partial regular-expression match (re.search), every filter must match (AND)', () => {
    expect(matchesAll(filters('arch:zen'), zen4)).toBe(true);
    expect(matchesAll(filters('arch:^x86_64/amd/zen4$'), zen4)).toBe(true);
    expect(matchesAll(filters('arch:zen[45]', 'repo:2023'), zen4)).toBe(true);
    expect(matchesAll(filters('arch:zen4', 'repo:2025'), zen4)).toBe(false);
    expect(matchesAll(filters('inst:^site-b$'), zen4)).toBe(false);
    expect(matchesAll([], zen4)).toBe(true);
  });

  it('treats - and / alike in architectures, = and / in accelerators (pattern and value)', () => {
    expect(matchesAll(filters('arch:x86_64-amd-zen4'), zen4)).toBe(true);
    expect(matchesAll(filters('arch:amd/zen4'), { architecture: 'x86_64-amd-zen4' })).toBe(true);
    expect(matchesAll(filters('acc:nvidia=cc90'), { accelerator: ['nvidia/cc90'] })).toBe(true);
    expect(matchesAll(filters('accel:nvidia/cc90'), { accelerator: ['nvidia=cc90'] })).toBe(true);
  });

  it('fails a filter whose component the context lacks (a CPU-only node and acc:)', () => {
    expect(matchesAll(filters('acc:nvidia'), zen4)).toBe(false);
    expect(matchesAll(filters('acc:nvidia'), { ...zen4, accelerator: [] })).toBe(false);
    expect(matchesAll(filters('job:123'), zen4)).toBe(false);
  });

  it('matches a list when any of its values matches', () => {
    const gpu = { accelerator: ['nvidia/cc80', 'nvidia/cc90'] };
    expect(matchesAll(filters('acc:cc90'), gpu)).toBe(true);
    expect(matchesAll(filters('acc:amd'), gpu)).toBe(false);
  });

  it.each(['(a+)+$', '(a|aa)+$', '(a*)*b', '^(a|a?)+$', '(.*a){20}'])(
    'runs the pathological pattern %j on a long input in milliseconds (linear-time engine)',
    (pattern) => {
      const [filter] = filters(`repo:${pattern}`);
      const input = `${'a'.repeat(5_000)}!`;
      const started = performance.now();
      for (let i = 0; i < 10; i++) {
        matchesAll([filter], { repository: input });
      }
      // A backtracking engine takes longer than the age of the universe on these.
      expect((performance.now() - started) / 10).toBeLessThan(200);
    },
  );
});
