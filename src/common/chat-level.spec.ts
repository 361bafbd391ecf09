import { describe, expect, it } from '@jest/globals';
import { CHAT_LEVELS, mayPost } from './chat-level.js';

describe('mayPost (the chatlevel gate)', () => {
  it('posts a comment needing a level at that level and above, never below', () => {
    const table = CHAT_LEVELS.map((configured) =>
      CHAT_LEVELS.filter((needed) => mayPost(configured, needed)),
    );
    expect(table).toEqual([
      ['incognito'], // no comment kind needs "incognito": nothing is posted
      ['incognito', 'minimal'],
      ['incognito', 'minimal', 'basic'],
      ['incognito', 'minimal', 'basic', 'chatty'],
    ]);
  });
});
