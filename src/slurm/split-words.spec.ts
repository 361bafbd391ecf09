import { describe, expect, it } from '@jest/globals';
import { splitWords } from './split-words.js';

describe('splitWords', () => {
  it('splits an arch target parameter string into sbatch words', () => {
    expect(splitWords('--hold --time=4:0:0 --constraint "shape=c5a.2xlarge"')).toEqual([
      '--hold',
      '--time=4:0:0',
      '--constraint',
      'shape=c5a.2xlarge',
    ]);
  });

  it('treats runs of spaces, tabs and newlines as one separator and ignores them at the ends', () => {
    expect(splitWords(' \t-p  batch\n\n--nodes=1 \r\n')).toEqual(['-p', 'batch', '--nodes=1']);
    expect(splitWords('')).toEqual([]);
    expect(splitWords('   \n\t ')).toEqual([]);
  });

  it('keeps quoted blanks inside one word and joins adjacent quoted and bare parts', () => {
    expect(splitWords(`--comment='two  words' a"b c"'d e'f`)).toEqual([
      '--comment=two  words',
      'ab cd ef',
    ]);
  });

  it('keeps everything inside single quotes literal, backslashes included', () => {
    expect(splitWords(`'a\\b' '\\"'`)).toEqual(['a\\b', '\\"']);
  });

  it('lets a backslash in double quotes escape only " \\ $ and `', () => {
    expect(splitWords(String.raw`"a\"b" "c\\d" "e\$f" "g\h" "i\n"`)).toEqual([
      'a"b',
      'c\\d',
      'e$f',
      'g\\h',
      'i\\n',
    ]);
  });

  it('lets a bare backslash escape any character, blanks and quotes included', () => {
    expect(splitWords(String.raw`a\ b \'c \"d \\e`)).toEqual(['a b', "'c", '"d', '\\e']);
  });

  it('drops backslash-newline as a line continuation, in and out of double quotes', () => {
    expect(splitWords('--time=1\\\n0 "a\\\nb"')).toEqual(['--time=10', 'ab']);
  });

  it('yields empty words for empty quotes', () => {
    expect(splitWords(`a '' ""`)).toEqual(['a', '', '']);
  });

  it('never expands variables, globs, tildes, command substitutions or comments', () => {
    const hostile = '$HOME ${USER} ~ *.sh $(touch /tmp/pwned) `id` #comment';
    expect(splitWords(hostile)).toEqual([
      '$HOME',
      '${USER}',
      '~',
      '*.sh',
      '$(touch',
      '/tmp/pwned)',
      '`id`',
      '#comment',
    ]);
    expect(splitWords('"$HOME $(id)"')).toEqual(['$HOME $(id)']);
  });

  it('keeps shell operators as plain text', () => {
    expect(splitWords('a;b|c&&d >e')).toEqual(['a;b|c&&d', '>e']);
  });

  it('rejects an unterminated single quote, naming where it starts', () => {
    expect(() => splitWords(`--constraint 'shape=c5a`)).toThrow(
      /unterminated ' quote starting at character 14 of "--constraint 'shape=c5a"/,
    );
  });

  it('rejects an unterminated double quote, even one left open by an escaped quote', () => {
    expect(() => splitWords('-J "name')).toThrow(/unterminated " quote starting at character 4/);
    expect(() => splitWords('"abc\\"')).toThrow(/unterminated " quote/);
  });

  it('rejects a trailing backslash', () => {
    expect(() => splitWords('--hold \\')).toThrow(/unescaped backslash at the end/);
  });
});
