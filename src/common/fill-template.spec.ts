import { describe, it, expect } from '@jest/globals';
import {
  fillPercentPlaceholders,
  fillTemplate,
  percentPlaceholderProblems,
  templatePlaceholders,
  templateProblems,
} from './fill-template.js';

/** A code span no backtick run inside can close (what the comment code uses). */
function codeSpan(text: string): string {
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  return `${fence} ${text} ${fence}`;
}

describe('fillTemplate', () => {
  it('replaces each {name} by its value, numbers included', () => {
    expect(
      fillTemplate('job id `{job_id}` will be eligible to start in about {delay_seconds} seconds', {
        job_id: '4711',
        delay_seconds: 120,
      }),
    ).toBe('job id `4711` will be eligible to start in about 120 seconds');
  });

  it('reads {{ and }} as literal braces, as str.format does', () => {
    expect(fillTemplate('{{"id": {job_id}}} {{x}}', { job_id: 7 })).toBe('{"id": 7} {x}');
  });

  it('never fills placeholders found inside values', () => {
    expect(
      fillTemplate('{comment_response} by {app_name}', {
        comment_response: 'title {app_name} {{x}} {constructor}',
        app_name: 'site-a',
      }),
    ).toBe('title {app_name} {{x}} {constructor} by site-a');
  });

  it('keeps placeholders without a value and malformed fields as written', () => {
    expect(fillTemplate('{a} {b} {c!r} {} }', { a: 'A' })).toBe('A {b} {c!r} {} }');
  });

  it('does not take values from Object.prototype', () => {
    expect(fillTemplate('{toString}{constructor}', {})).toBe('{toString}{constructor}');
  });

  it('with codeSpan, replaces a backticked placeholder together with its backticks', () => {
    const hostile = 'evil` **bold** `';

    expect(
      fillTemplate(
        'user `{build_labeler}` may not build',
        { build_labeler: hostile },
        { codeSpan },
      ),
    ).toBe('user `` evil` **bold** ` `` may not build');
    // not wrapped: inserted as is
    expect(fillTemplate('{job_id}`', { job_id: '1' }, { codeSpan })).toBe('1`');
    // ``{x}`` is a double-backtick span written by the operator: left alone
    expect(fillTemplate('``{x}``', { x: 'v' }, { codeSpan })).toBe('``v``');
    // backticks that touch another backtick belong to a longer run: left alone
    expect(fillTemplate('`{a}``{b}`', { a: '1', b: '2' }, { codeSpan })).toBe('`1``2`');
    expect(fillTemplate('`{a}` and `{b}`', { a: '1', b: '2' }, { codeSpan })).toBe(
      '` 1 ` and ` 2 `',
    );
  });
});

describe('templateProblems', () => {
  const allowed = ['job_id', 'filename'];

  it('accepts known placeholders and escaped braces', () => {
    expect(templateProblems('`{job_id}` {{literal}} {filename}', allowed)).toEqual([]);
  });

  it('names each unknown placeholder once, with what may be used', () => {
    expect(templateProblems('{jobid} {jobid} {symlink}', allowed)).toEqual([
      'unknown placeholder {jobid}; this text may use {job_id} {filename} (write {{ and }} for literal braces)',
      'unknown placeholder {symlink}; this text may use {job_id} {filename} (write {{ and }} for literal braces)',
    ]);
  });

  it('says when a text may use no placeholders at all', () => {
    expect(templateProblems('{x}', [])).toEqual([
      'unknown placeholder {x}; this text may use no placeholders (write {{ and }} for literal braces)',
    ]);
  });

  it.each([
    ['{job_id.real}', '{job_id.real} at character 1: only plain {name} placeholders are supported'],
    ['a {job_id[0]}', '{job_id[0]} at character 3: only plain {name} placeholders are supported'],
    ['{job_id:>10}', '{job_id:>10} at character 1: only plain {name} placeholders are supported'],
    ['{0}', '{0} at character 1: positional placeholders are not supported'],
    ['x {} y', '{} at character 3: positional placeholders are not supported'],
    ['brace } here', "} at character 7: a single '}'; write '}}' for a literal }"],
    ['open { here', "{ at character 6: a '{' without its '}'; write '{{' for a literal {"],
    ['{a {job_id}', "{ at character 1: a '{' without its '}'; write '{{' for a literal {"],
  ])('refuses %s', (template, message) => {
    expect(templateProblems(template, allowed)).toEqual([expect.stringContaining(message)]);
  });
});

describe('templatePlaceholders', () => {
  it('lists the names used, once each, in order', () => {
    expect(templatePlaceholders('{b} {{a}} {a} {b} {c!r}')).toEqual(['b', 'a']);
  });
});

describe('percent placeholders (scontrol_command)', () => {
  const allowed = ['jobid', 'cluster'];

  it('fills %(name)s fields and leaves unknown ones', () => {
    expect(
      fillPercentPlaceholders('--clusters=%(cluster)s,%(other)s', { cluster: 'c1', jobid: 5 }),
    ).toBe('--clusters=c1,%(other)s');
  });

  it('reports unknown fields with the allowed ones', () => {
    expect(percentPlaceholderProblems('--clusters=%(clustr)s %(jobid)s', allowed)).toEqual([
      'unknown placeholder %(clustr)s; it may use %(jobid)s %(cluster)s',
    ]);
  });
});
