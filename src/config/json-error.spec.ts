import { describe, it, expect } from '@jest/globals';
import { locateJsonError } from './json-error.js';

/** The located error, with the offset shown as the text from there on. */
function located(text: string): { at: string; message: string } | undefined {
  const error = locateJsonError(text);
  return error && { at: text.slice(error.offset, error.offset + 12), message: error.message };
}

describe('locateJsonError', () => {
  it.each([
    '{}',
    '[]',
    '{"a": [1, -2.5e3, true, false, null, "x\\"y\\u00e9\\n"], "b": {"c": {}}}',
    '  \n{\n "a" : 1 \n}\n ',
  ])('finds nothing wrong in %s', (text) => {
    expect(() => JSON.parse(text) as unknown).not.toThrow();
    expect(locateJsonError(text)).toBeUndefined();
  });

  it.each([
    [
      '{"a": 1,\n "b": 2,\n}',
      {
        at: ',\n}',
        message: "trailing comma before '}': JSON allows no comma after the last entry",
      },
    ],
    [
      '["a", "b",]',
      { at: ',]', message: "trailing comma before ']': JSON allows no comma after the last item" },
    ],
    [
      '{"a": {"x": 1}\n "b": 2}',
      { at: '}\n "b": 2}', message: "missing ',' after this entry, before the next one" },
    ],
    [
      '["a"\n "b"]',
      { at: '"\n "b"]', message: "missing ',' after this item, before the next one" },
    ],
    [
      '{"accel": None}',
      { at: 'None}', message: 'None is Python, not JSON: write null (or the string "None")' },
    ],
    ['[True]', { at: 'True]', message: 'True is Python, not JSON: write true' }],
    [
      "{'os': 'linux'}",
      {
        at: "'os': 'linux",
        message: 'property names need double quotes (") in JSON, not single quotes',
      },
    ],
    [
      '{"os": \'linux\'}',
      { at: "'linux'}", message: 'strings need double quotes (") in JSON, not single quotes' },
    ],
    [
      '{os: "linux"}',
      { at: 'os: "linux"}', message: 'property names must be in double quotes, e.g. "name": …' },
    ],
    ['{"a" 1}', { at: '1}', message: "expected ':' after the property name, found '1'" }],
    [
      '{"a": 1',
      { at: '', message: "expected ',' or '}' after a property value, found the end of the text" },
    ],
    ['{"a": }', { at: '}', message: "unexpected '}' where a value should start" }],
    [
      '{"a": linux}',
      { at: 'linux}', message: 'linux is not a JSON value; put text in double quotes' },
    ],
    [
      '{"a": "x\n"}',
      { at: '"x\n"}', message: 'this string has no closing double quote on its line' },
    ],
    ['{"a": "x', { at: '"x', message: 'this string has no closing double quote' }],
    [
      '{"a": "\\q"}',
      { at: '\\q"}', message: 'invalid escape in a string; write \\\\ for a backslash' },
    ],
    ['{"a": 01}', { at: '1}', message: "expected ',' or '}' after a property value, found '1'" }],
    ['{"a": -}', { at: '-}', message: 'malformed number' }],
    [
      '{"a": 1}}',
      {
        at: '}',
        message: "unexpected '}' after the end of the JSON value (an extra closing bracket?)",
      },
    ],
    ['', { at: '', message: 'the value is empty; expected JSON' }],
  ])('locates the error in %j', (text, expected) => {
    expect(() => JSON.parse(text) as unknown).toThrow(SyntaxError);
    expect(located(text)).toEqual(expected);
  });

  it('copes with deep nesting without exhausting the stack', () => {
    expect(locateJsonError('['.repeat(100_000))?.message).toBe('nested more than 512 levels deep');
  });
});
