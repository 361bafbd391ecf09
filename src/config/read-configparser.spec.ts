import { describe, it, expect } from '@jest/globals';
import { readConfigParser, unescapeInterpolation } from './read-configparser.js';

function parse(text: string) {
  return readConfigParser(text, 'app.cfg');
}

function valueOf(text: string, section: string, key: string): string | undefined {
  return parse(text).sections.get(section)?.entries.get(key)?.value;
}

describe('readConfigParser', () => {
  it('reads sections and keys with their line numbers', () => {
    const result = parse('[github]\napp_id = 1\n\n[buildenv]\njob_name = prod\n');

    expect(result.errors).toEqual([]);
    expect([...result.sections.keys()]).toEqual(['github', 'buildenv']);
    expect(result.sections.get('github')?.line).toBe(1);
    expect(result.sections.get('buildenv')?.entries.get('job_name')).toEqual({
      value: 'prod',
      line: 5,
    });
  });

  it('splits at the first = or :, whichever comes first', () => {
    const text = [
      '[s]',
      'url = http://proxy:3128/',
      'colon: a = b',
      'equals = a: b',
      'nospace=x',
      'tight:y',
    ].join('\n');

    expect(valueOf(text, 's', 'url')).toBe('http://proxy:3128/');
    expect(valueOf(text, 's', 'colon')).toBe('a = b');
    expect(valueOf(text, 's', 'equals')).toBe('a: b');
    expect(valueOf(text, 's', 'nospace')).toBe('x');
    expect(valueOf(text, 's', 'tight')).toBe('y');
  });

  it('lower-cases keys but keeps section names as written', () => {
    const result = parse('[GitHub]\nApp_ID = 7\n');

    expect(result.sections.has('GitHub')).toBe(true);
    expect(result.sections.has('github')).toBe(false);
    expect(result.sections.get('GitHub')?.entries.get('app_id')?.value).toBe('7');
  });

  it('keeps ;, #, |, quotes and backslashes inside values (no inline comments)', () => {
    const value =
      '{ "/etc/cvmfs/default.local": "CVMFS_HTTP_PROXY=\\"http://a:3128|http://b:3128\\"" } ; # not a comment';
    const text = `[buildenv]\ncvmfs_customizations = ${value}\n`;

    expect(valueOf(text, 'buildenv', 'cvmfs_customizations')).toBe(value);
  });

  it('strips values and allows empty ones', () => {
    const text = '[s]\npadded =    spaced out   \nempty =\nempty_colon:\n';

    expect(valueOf(text, 's', 'padded')).toBe('spaced out');
    expect(valueOf(text, 's', 'empty')).toBe('');
    expect(valueOf(text, 's', 'empty_colon')).toBe('');
  });

  it('joins deeper-indented lines onto the value with newlines, so JSON may span lines', () => {
    const text = [
      '[architecturetargets]',
      'arch_target_map = {',
      '    "linux/x86_64/generic": "--partition a",',
      '\t"linux/x86_64/amd/zen2": "--partition b" }',
      'next = 1',
    ].join('\n');

    const value = valueOf(text, 'architecturetargets', 'arch_target_map');
    expect(value).toBe(
      '{\n"linux/x86_64/generic": "--partition a",\n"linux/x86_64/amd/zen2": "--partition b" }',
    );
    expect(JSON.parse(value ?? '')).toEqual({
      'linux/x86_64/generic': '--partition a',
      'linux/x86_64/amd/zen2': '--partition b',
    });
    expect(valueOf(text, 'architecturetargets', 'next')).toBe('1');
  });

  it('continues a value that starts on the next line, keeping inner blank lines and dropping trailing ones', () => {
    const text = [
      '[bot_control]',
      'command_response_fmt =',
      '    <details>',
      '',
      '    {comment_response}',
      '',
      '',
      'chatlevel = basic',
    ].join('\n');

    expect(valueOf(text, 'bot_control', 'command_response_fmt')).toBe(
      '<details>\n\n{comment_response}',
    );
    expect(valueOf(text, 'bot_control', 'chatlevel')).toBe('basic');
  });

  it('treats continuation relative to the key line indentation', () => {
    const text = ['[s]', '  a = 1', '  b = 2', '    more', 'c = 3'].join('\n');

    expect(valueOf(text, 's', 'a')).toBe('1');
    expect(valueOf(text, 's', 'b')).toBe('2\nmore');
    expect(valueOf(text, 's', 'c')).toBe('3');
  });

  it('skips full-line comments, indented ones too, even inside a multi-line value', () => {
    const text = [
      '# top comment',
      '; another',
      '[s]',
      '  # indented comment',
      'map = {',
      '    # a comment line inside the value',
      '    ; and another',
      '    "k": "v" }',
    ].join('\n');
    const result = parse(text);

    expect(result.errors).toEqual([]);
    expect([...(result.sections.get('s')?.entries.keys() ?? [])]).toEqual(['map']);
    expect(valueOf(text, 's', 'map')).toBe('{\n"k": "v" }');
  });

  it('reads CRLF files and ignores a UTF-8 byte order mark', () => {
    const result = parse('\uFEFF[s]\r\nkey = value\r\nother = 2\r\n');

    expect(result.errors).toEqual([]);
    expect(result.sections.get('s')?.entries.get('key')?.value).toBe('value');
    expect(result.sections.get('s')?.entries.get('other')).toEqual({ value: '2', line: 3 });
  });

  it('reports a line before any section with file and line', () => {
    const result = parse('# comment\napp_id = 1\n[github]\n');

    expect(result.errors).toEqual([
      expect.stringMatching(/^app\.cfg:2: "app_id = 1" is outside any section; add a \[section\]/),
    ]);
  });

  it('reports a line without a separator with file, line and section', () => {
    const result = parse('[github]\napp_id = 1\njust some words\n');

    expect(result.errors).toEqual([
      expect.stringMatching(
        /^app\.cfg:3: \[github\] cannot parse "just some words"; expected 'key = value'/,
      ),
    ]);
    expect(result.sections.get('github')?.entries.get('app_id')?.value).toBe('1');
  });

  it('reports an empty key name', () => {
    const result = parse('[s]\n= value\n');

    expect(result.errors).toEqual([
      expect.stringMatching(/^app\.cfg:2: \[s\] cannot parse "= value"/),
    ]);
  });

  it('reports duplicate keys (case-insensitively) and duplicate sections, keeping the first value', () => {
    const result = parse('[github]\napp_id = 1\nAPP_ID = 2\n[other]\n[github]\nx = y\n');

    expect(result.errors).toEqual([
      expect.stringMatching(/^app\.cfg:3: \[github\] key 'app_id' already set on line 2/),
      expect.stringMatching(/^app\.cfg:5: section \[github\] already defined on line 1/),
    ]);
    expect(result.sections.get('github')?.entries.get('app_id')?.value).toBe('1');
    expect(result.sections.get('github')?.entries.get('x')?.value).toBe('y');
  });

  it('reports every syntax error, not only the first', () => {
    const result = parse('stray\n[s]\nbad one\nbad two\n[broken\n');

    expect(result.errors).toHaveLength(4);
    expect(result.errors.map((e) => e.split(':')[1])).toEqual(['1', '3', '4', '5']);
    expect(result.errors[3]).toMatch(/malformed section header "\[broken"/);
  });

  it('accepts text after a section header as configparser does, with a warning', () => {
    const result = parse('[github] # the App\napp_id = 1\n');

    expect(result.errors).toEqual([]);
    expect(result.sections.get('github')?.entries.get('app_id')?.value).toBe('1');
    expect(result.warnings).toEqual([
      expect.stringMatching(/^app\.cfg:1: text after \[github\] is ignored: "# the App"/),
    ]);
  });

  it('stores keys that collide with Object.prototype names as plain entries', () => {
    const result = parse('[s]\n__proto__ = x\nconstructor = y\n');

    expect(result.sections.get('s')?.entries.get('__proto__')?.value).toBe('x');
    expect(result.sections.get('s')?.entries.get('constructor')?.value).toBe('y');
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
});

describe('readConfigParser value lines', () => {
  it('records where each line of a multi-line value stands in the file', () => {
    const text = [
      '[architecturetargets]',
      'node_type_map =',
      '    {',
      '',
      '      # a comment inside the value',
      '      "a": 1',
      '    }',
      '',
      'single = x',
    ].join('\n');

    const entries = parse(text).sections.get('architecturetargets')?.entries;

    expect(entries?.get('node_type_map')).toEqual({
      value: '{\n\n"a": 1\n}',
      line: 2,
      valueLines: [
        { line: 3, column: 5 },
        { line: 4, column: 1 },
        { line: 6, column: 7 },
        { line: 7, column: 5 },
      ],
    });
    expect(entries?.get('single')).toEqual({ value: 'x', line: 9 });
  });

  it('counts the first line from where the value starts after the key', () => {
    const entry = parse('[s]\nmap  =   {"a":\n  1}\n').sections.get('s')?.entries.get('map');

    expect(entry?.valueLines).toEqual([
      { line: 2, column: 10 },
      { line: 3, column: 3 },
    ]);
  });
});

describe('unescapeInterpolation', () => {
  it('turns %% into % as configparser does on read', () => {
    expect(unescapeInterpolation('--output=slurm-%%j.out')).toEqual({
      value: '--output=slurm-%j.out',
    });
  });

  it('keeps a lone % as written', () => {
    expect(unescapeInterpolation('100% sure')).toEqual({ value: '100% sure' });
  });

  it('reads %%(name)s as a literal %(name)s, not a reference (upstream scontrol_command)', () => {
    expect(unescapeInterpolation('scontrol --clusters=%%(cluster)s %%%%')).toEqual({
      value: 'scontrol --clusters=%(cluster)s %%',
    });
  });

  it('rejects %(name)s references with a hint', () => {
    const result = unescapeInterpolation('%(home)s/jobs');

    expect(result).toEqual({ error: expect.stringContaining("interpolation '%(home)'") });
  });
});
