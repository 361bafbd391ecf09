import { describe, expect, it } from '@jest/globals';
import { TerminalGitHub } from './terminal-github.js';

describe('TerminalGitHub', () => {
  it('prints each comment and each update as it would appear, without the hidden marker', async () => {
    const printed: string[] = [];
    const github = new TerminalGitHub((text) => printed.push(text));
    const created = await github.createComment(
      'EESSI/software-layer',
      7,
      'hello\n\n<!-- bot:job 1 bot -->',
    );
    await github.updateComment(
      'EESSI/software-layer',
      created.id,
      'hello again\n<!-- bot:job 1 bot -->',
    );
    expect(printed).toHaveLength(2);
    expect(printed[0]).toMatch(/new comment 1 on EESSI\/software-layer#7/);
    expect(printed[0]).toContain('hello');
    expect(printed[1]).toMatch(/comment 1 on EESSI\/software-layer#7 updated/);
    expect(printed.join('')).not.toContain('bot:job');
  });

  it('behaves like GitHub for reads, so marker searches and updates work', async () => {
    const github = new TerminalGitHub(() => undefined);
    const a = await github.createComment('o/r', 1, 'first <!-- bot:job 5 x -->');
    await github.createComment('o/r', 2, 'other PR');
    expect(await github.listComments('o/r', 1)).toEqual([
      { id: a.id, body: 'first <!-- bot:job 5 x -->' },
    ]);
    await github.updateComment('o/r', a.id, 'changed');
    expect(await github.getComment('o/r', a.id)).toEqual({ id: a.id, body: 'changed' });
    expect(await github.getComment('o/r', 99)).toBeUndefined();
    await expect(github.updateComment('o/r', 99, 'x')).rejects.toThrow(/comment 99 does not exist/);
  });
});
