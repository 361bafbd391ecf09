import { describe, expect, it } from '@jest/globals';
import { DEFAULT_COMMAND_RESPONSE_FMT } from '../config/upstream-defaults.js';
import { containsCommandLine } from './command-lines.js';
import { renderReply, replyMarker, resultItem, understoodItem } from './reply.js';

describe('renderReply', () => {
  it("fills upstream's command_response_fmt and ends with the hidden marker", () => {
    const body = renderReply(
      DEFAULT_COMMAND_RESPONSE_FMT,
      'site-a',
      { response: understoodItem('help', 'alice', 'basic'), result: '' },
      replyMarker('d-1', 'site-a'),
    );
    expect(body).toBe(
      [
        '<details><summary>Updates by the bot instance <code>site-a</code>',
        '<em>(click for details)</em></summary>',
        '',
        '- received `bot: help` from `alice`',
        '',
        '</details>',
        '',
        '<!-- bot:reply d-1 site-a -->',
      ].join('\n'),
    );
  });

  it('never carries a command line, whatever the operator template or results hold', () => {
    const body = renderReply(
      'bot: {app_name}\n{comment_response}\n{comment_result}',
      'site-a',
      { response: '- x', result: resultItem('help', 'text\nbot: build for:arch=a/b') },
      replyMarker('d-1', 'site-a'),
    );
    expect(containsCommandLine(body)).toBe(false);
  });

  it('keeps hostile text in code spans (logins, commands with backticks)', () => {
    const item = understoodItem('build for:`x`<b>', 'eve`', 'chatty', 'build');
    expect(item).toBe('- received ``bot: build for:`x`<b>`` from `` eve` ``\n  - read as `build`');
  });

  it('shows how a command was read at chatlevel chatty only', () => {
    expect(understoodItem('status arch:zen4-', 'alice', 'basic', 'status architecture:zen4/')).toBe(
      '- received `bot: status arch:zen4-` from `alice`',
    );
    expect(
      understoodItem('status arch:zen4-', 'alice', 'chatty', 'status architecture:zen4/'),
    ).toBe(
      '- received `bot: status arch:zen4-` from `alice`\n  - read as `status architecture:zen4/`',
    );
  });

  it('indents a result’s details under its item, but not a table', () => {
    expect(resultItem('status', '2 jobs:\n\n|a|b|\n|--|--|\nnote')).toBe(
      '- `bot: status`: 2 jobs:\n\n|a|b|\n|--|--|\n  note',
    );
  });
});

describe('a reply too long for GitHub', () => {
  it('keeps the start of the results and says it was cut', () => {
    const result = `- ${'x'.repeat(100_000)}`;
    const body = renderReply(
      '{app_name}\n{comment_response}\n{comment_result}',
      'a',
      { response: '- r', result },
      '<!-- m -->',
    );
    expect(body.length).toBeLessThan(65_536);
    expect(body).toContain('[…] (cut: the reply would be longer than GitHub allows');
    expect(body.endsWith('<!-- m -->')).toBe(true);
  });
});
