import { describe, expect, it } from '@jest/globals';
import {
  containsCommandLine,
  defuseCommandLines,
  findCommands,
  nearestCommand,
} from './command-lines.js';

describe('findCommands', () => {
  it('reads each line matching ^bot:\\s?(.*)$ as one command, several per comment', () => {
    const body = [
      'Thanks, let us try:',
      'bot: build for:arch=x86_64/amd/zen4',
      '  bot:status last_build  ',
      'bot: help\r',
      'no bot: here',
    ].join('\r\n');
    expect(findCommands(body)).toEqual({
      commands: [
        { line: 2, text: 'build for:arch=x86_64/amd/zen4' },
        { line: 3, text: 'status last_build' },
        { line: 4, text: 'help' },
      ],
      nearMisses: [],
    });
  });

  it('finds nothing in prose, quotes and code spans', () => {
    const body = [
      'The bot build failed for zen4, see the log.',
      '> bot: build for:arch=x86_64/amd/zen4',
      '`bot: help` lists the commands',
      'robot: help',
      'bot build failed for zen4 again',
    ].join('\n');
    expect(findCommands(body)).toEqual({ commands: [], nearMisses: [] });
  });

  it.each([
    ['bot show_config', 'bot: show_config'],
    ['Bot: help', 'bot: help'],
    ['bot:bulid for:arch=x86_64/amd/zen4', 'bot: build for:arch=x86_64/amd/zen4'],
    [
      'bot build for:arch=x86_64/amd/zen4 repo:2023',
      'bot: build for:arch=x86_64/amd/zen4 repo:2023',
    ],
    ['bot: staus last_build', 'bot: status last_build'],
    ['@bot help', 'bot: help'],
    ['bot; status', 'bot: status'],
  ])('takes %j for a near miss of %j, not a command', (line, suggestion) => {
    const found = findCommands(line);
    expect(found.commands).toEqual([]);
    expect(found.nearMisses).toEqual([{ line: 1, written: line, suggestion }]);
  });

  it('keeps an unknown command far from every known one as a command (answered as unknown)', () => {
    expect(findCommands('bot: rebuild-everything').commands).toEqual([
      { line: 1, text: 'rebuild-everything' },
    ]);
    expect(findCommands('bot:').commands).toEqual([{ line: 1, text: '' }]);
  });
});

describe('nearestCommand', () => {
  it('matches any case, `-` for `_`, and two edits at most for words of 4+ letters', () => {
    expect(nearestCommand('BUILD')).toBe('build');
    expect(nearestCommand('show-config')).toBe('show_config');
    expect(nearestCommand('canel')).toBe('cancel');
    expect(nearestCommand('bld')).toBeUndefined();
    expect(nearestCommand('rebuild-all')).toBeUndefined();
  });
});

describe('defuseCommandLines', () => {
  it('leaves no line any bot (ours, or v0.9 which trims lines) would read as a command', () => {
    const text = 'result:\nbot: build for:arch=x\n   bot:help\n- `bot: help` is fine';
    const defused = defuseCommandLines(text);
    expect(containsCommandLine(text)).toBe(true);
    expect(containsCommandLine(defused)).toBe(false);
    // what v0.9 does: strip() each line, then re.search('^bot:[ ]?(.*)$')
    expect(defused.split('\n').some((l) => /^bot:[ ]?(.*)$/.test(l.trim()))).toBe(false);
    expect(defused).toContain('- `bot: help` is fine');
    expect(defused.replace(/\u200B/g, '')).toBe(text.replace('   bot:help', 'bot:help'));
  });
});
