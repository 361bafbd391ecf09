import { describe, expect, it } from '@jest/globals';
import { DEFAULT_NO_BUILD_PERMISSION_COMMENT } from '../config/load-config.js';
import {
  eventMarker,
  fencedBlock,
  firstLines,
  renderNoPermissionComment,
  renderSubmitFailureComment,
  renderTreeFailureComment,
  scrubCredentials,
} from './event-comments.js';

describe('fencedBlock', () => {
  it('uses a fence longer than any backtick run in the text', () => {
    expect(fencedBlock('plain')).toBe('```\nplain\n```');
    expect(fencedBlock('a ``` b ````` c')).toBe('``````\na ``` b ````` c\n``````');
  });
});

describe('firstLines', () => {
  it('keeps the first lines and marks the cut', () => {
    const text = Array.from({ length: 30 }, (_, i) => `line ${i}`).join('\n');
    expect(firstLines(text, 3)).toBe('line 0\nline 1\nline 2\n[…]');
    expect(firstLines('one\r\ntwo\n\n')).toBe('one\ntwo');
    expect(firstLines('x'.repeat(50), 15, 10)).toBe(`${'x'.repeat(10)}\n[…]`);
  });
});

describe('scrubCredentials', () => {
  it('masks user:password in URLs and Authorization values', () => {
    expect(
      scrubCredentials("fatal: unable to access 'https://bot:s3cret@mirror.example/x.git/'"),
    ).toBe("fatal: unable to access 'https://***@mirror.example/x.git/'");
    expect(scrubCredentials('AUTHORIZATION: basic eC1hY2Nlc3M=')).toBe('AUTHORIZATION: basic ***');
  });
});

describe('renderNoPermissionComment', () => {
  it('fills the default template with the login as code, without nesting backticks', () => {
    const body = renderNoPermissionComment(
      DEFAULT_NO_BUILD_PERMISSION_COMMENT,
      'eve`x',
      ['bob'],
      '<!-- m -->',
    );
    expect(body).toBe(
      'Label `bot:build` has been set by user ``eve`x``, but this user is not allowed to trigger builds on this bot instance\n\n<!-- m -->',
    );
  });

  it('fills an operator template with bare placeholders, and the allowed users', () => {
    expect(
      renderNoPermissionComment(
        '{build_labeler} may not build; ask {build_permission_users}',
        'eve',
        ['bob', 'carol'],
        'M',
      ),
    ).toBe('`eve` may not build; ask `bob`, `carol`\n\nM');
  });
});

describe('event comments', () => {
  const marker = eventMarker('d-1', 'tree-failed', 'my bot<-->');

  it('carry a marker naming the delivery, the kind and a sanitised app name', () => {
    expect(marker).toBe('<!-- bot:event d-1 tree-failed my_bot___ -->');
  });

  it('say what failed and what to do, with git’s output fenced and scrubbed', () => {
    const body = renderTreeFailureComment(
      'bot',
      'conflict',
      'CONFLICT (content): Merge conflict in README.md\nhttps://u:p@h/x',
      marker,
    );
    expect(body).toContain(
      'could not merge this pull request into its base branch because of conflicts',
    );
    expect(body).toContain('Rebase the pull request on the base branch');
    expect(body).toContain(
      '```\nCONFLICT (content): Merge conflict in README.md\nhttps://***@h/x\n```',
    );
    expect(body.endsWith(marker)).toBe(true);
  });

  it('list each failed target with its stderr, and say when the outcome is unknown', () => {
    const body = renderSubmitFailureComment(
      'bot',
      [
        { target: 'linux/x86_64/amd/zen2', detail: 'sbatch: error: Invalid account' },
        { target: 'linux/aarch64/generic', detail: 'interrupted', uncertain: true },
      ],
      marker,
    );
    expect(body).toContain('for 2 targets');
    expect(body).toContain(
      '- `x86_64-amd-zen2`: the scheduler refused the job:\n\n```\nsbatch: error: Invalid account\n```',
    );
    expect(body).toContain(
      '- `aarch64-generic`: the bot was interrupted while submitting this job and cannot tell',
    );
  });
});
