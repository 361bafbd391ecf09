import { describe, it, expect } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { closest, levenshtein, unknownKeyWarnings, USED_KEYS } from './config-keys.js';
import { readConfigParser } from './read-configparser.js';

describe('levenshtein', () => {
  it.each([
    ['app_name', 'app_name', 0],
    ['app_nmae', 'app_name', 2],
    ['poll_intervall', 'poll_interval', 1],
    ['', 'abc', 3],
    ['kitten', 'sitting', 3],
  ])('%s → %s is %i edits', (a, b, distance) => {
    expect(levenshtein(a, b)).toBe(distance);
    expect(levenshtein(b, a)).toBe(distance);
  });
});

describe('closest', () => {
  it('suggests the nearest candidate within two edits', () => {
    expect(closest('scontrol_comand', ['submit_command', 'scontrol_command'])).toBe(
      'scontrol_command',
    );
  });

  it('suggests nothing when every candidate is three or more edits away', () => {
    expect(closest('frobnicate', ['app_id', 'app_name'])).toBeUndefined();
  });
});

describe('unknownKeyWarnings', () => {
  function warningsFor(text: string): string[] {
    return unknownKeyWarnings(readConfigParser(text, 'app.cfg'), 'app.cfg');
  }

  it('accepts keys of the upstream bot that this bot ignores, silently', () => {
    expect(
      warningsFor(
        '[buildenv]\ncontainer_cachedir = /c\nshared_fs_path = /s\njob_handover_protocol = hold_release\n' +
          '[architecturetargets]\nnode_type_map = {}\n[github]\napi_timeout = 10\n',
      ),
    ).toEqual([]);
  });

  it('accepts any key in upstream sections this bot does not read', () => {
    expect(warningsFor('[git]\nanything_at_all = 1\n[gitlab]\nx = y\n')).toEqual([]);
  });

  it('knows the keys of the v0.9 sections and suggests the nearest one', () => {
    expect(
      warningsFor(
        '[bot_control]\nchatlevel = basic\nchat_level = x\n[deploycfg]\nupload_policy = once\nuplod_policy = x\n' +
          '[submitted_job_comments]\ninitial_comment = x\nawaits_release = y\njob_dir = z\n',
      ),
    ).toEqual([
      "app.cfg:3: [bot_control] unknown key 'chat_level' (did you mean 'chatlevel'?)",
      "app.cfg:6: [deploycfg] unknown key 'uplod_policy' (did you mean 'upload_policy'?)",
      "app.cfg:10: [submitted_job_comments] unknown key 'job_dir' (did you mean 'jobdir'?)",
    ]);
  });

  it('says when a line read as a key is a comment that lost its #', () => {
    expect(warningsFor('[architecturetargets]\n  - os: the operating system\n')).toEqual([
      "app.cfg:2: [architecturetargets] line read as key '- os' looks like a comment without its leading '#' (ignored; add the '#')",
    ]);
  });

  it('warns about unknown sections, with or without a suggestion', () => {
    expect(warningsFor('[event_handlr]\n[totally_new]\n[constructor]\n')).toEqual([
      'app.cfg:1: unknown section [event_handlr] (did you mean [event_handler]?)',
      'app.cfg:2: unknown section [totally_new] (ignored)',
      'app.cfg:3: unknown section [constructor] (ignored)',
    ]);
  });

  it('suggests keys of the same section only', () => {
    // 'log_path' is a key of [job_manager], not of [github]
    expect(warningsFor('[github]\nlog_pth = x\n[job_manager]\nlog_pth = x\n')).toEqual([
      "app.cfg:2: [github] unknown key 'log_pth' (ignored)",
      "app.cfg:4: [job_manager] unknown key 'log_pth' (did you mean 'log_path'?)",
    ]);
  });
});

describe('documentation of the keys', () => {
  const root = new URL('../../', import.meta.url);
  const example = readFileSync(new URL('app.cfg.example', root), 'utf8');
  const docs = readFileSync(new URL('docs/configuration.md', root), 'utf8');
  const keys = Object.entries(USED_KEYS).flatMap(([section, names]) =>
    names.map((key) => [section, key] as const),
  );

  it.each(keys)('app.cfg.example shows [%s] %s in its section', (section, key) => {
    const start = example.indexOf(`\n[${section}]\n`);
    const end = example.indexOf('\n[', start + 1);
    const body = example.slice(start, end === -1 ? undefined : end);

    expect(start).toBeGreaterThan(-1);
    expect(body).toMatch(new RegExp(`^#?${key} =`, 'm'));
  });

  it.each(keys)('docs/configuration.md has a table row for [%s] %s', (section, key) => {
    expect(docs).toContain(`| \`${section}\` | \`${key}\` |`);
  });

  it('app.cfg.example parses cleanly and uses only known keys', () => {
    const parsed = readConfigParser(example, 'app.cfg.example');

    expect(parsed.errors).toEqual([]);
    expect(parsed.warnings).toEqual([]);
    expect(unknownKeyWarnings(parsed, 'app.cfg.example')).toEqual([]);
  });
});
