import { describe, expect, it } from '@jest/globals';
import {
  examplePayload,
  labeledPullRequestPayload,
  type Json,
} from '../../test/support/payloads.js';
import {
  isIssueComment,
  issueCommentProblem,
  isPullRequestLabeled,
  pullRequestEventProblem,
  pullRequestLabeledProblem,
  pullRequestNumberOf,
  repositoryOf,
} from './github-events.js';

describe('isPullRequestLabeled', () => {
  it("accepts GitHub's real pull_request.labeled payload", () => {
    const payload = labeledPullRequestPayload({
      label: 'bot:build',
      number: 12,
      repo: 'EESSI/software-layer',
    });
    expect(isPullRequestLabeled(payload)).toBe(true);
    expect(repositoryOf(payload)).toBe('EESSI/software-layer');
    expect(pullRequestNumberOf(payload)).toBe(12);
  });

  it('accepts a PR whose fork was deleted (head.repo null)', () => {
    const payload = labeledPullRequestPayload();
    payload.pull_request.head.repo = null;
    expect(isPullRequestLabeled(payload)).toBe(true);
  });

  it.each([
    [
      'another action',
      (p: Json) => {
        p.action = 'unlabeled';
      },
    ],
    [
      'a label name that is not a string',
      (p: Json) => {
        p.label.name = 7;
      },
    ],
    [
      'a title that is not a string',
      (p: Json) => {
        p.pull_request.title = { x: 1 };
      },
    ],
    [
      'numbers that disagree',
      (p: Json) => {
        p.pull_request.number = p.number + 1;
      },
    ],
    [
      'no head sha',
      (p: Json) => {
        delete p.pull_request.head.sha;
      },
    ],
    [
      'no repository',
      (p: Json) => {
        delete p.repository;
      },
    ],
    [
      'an installation without id',
      (p: Json) => {
        p.installation = {};
      },
    ],
  ])('rejects %s', (_name, spoil) => {
    const payload = labeledPullRequestPayload();
    spoil(payload);
    expect(isPullRequestLabeled(payload)).toBe(false);
  });

  it('rejects non-objects', () => {
    expect(isPullRequestLabeled(null)).toBe(false);
    expect(isPullRequestLabeled([labeledPullRequestPayload()])).toBe(false);
  });
});

describe('isIssueComment', () => {
  it("accepts GitHub's real issue_comment.created payload and keys it by issue number", () => {
    const payload = examplePayload('issue_comment', 'created');
    expect(isIssueComment(payload)).toBe(true);
    expect(pullRequestNumberOf(payload)).toBe(payload.issue.number);
    expect(repositoryOf(payload)).toBe(payload.repository.full_name);
  });

  it('rejects a comment without a body', () => {
    const payload = examplePayload('issue_comment', 'created');
    delete payload.comment.body;
    expect(isIssueComment(payload)).toBe(false);
  });
});

describe('repositoryOf / pullRequestNumberOf', () => {
  it('return undefined for deliveries about no repository or PR', () => {
    const ping = examplePayload('ping');
    expect(pullRequestNumberOf(ping)).toBeUndefined();
    expect(repositoryOf({ repository: { full_name: 5 } })).toBeUndefined();
    expect(pullRequestNumberOf({ pull_request: { number: -1 } })).toBeUndefined();
  });
});

describe('payload problems name the field at fault', () => {
  it.each([
    [
      'comment.body null',
      (p: Json) => (p.comment.body = null),
      'comment.body: expected a string, got null',
    ],
    [
      'issue.number a string',
      (p: Json) => (p.issue.number = '5'),
      'issue.number: expected a positive integer, got the string "5"',
    ],
    ['sender missing', (p: Json) => delete p.sender, 'sender: expected an object, got missing'],
    [
      'action unknown',
      (p: Json) => (p.action = 'pinned'),
      'action: expected "created" or "edited" or "deleted", got the string "pinned"',
    ],
    [
      'installation.id 0',
      (p: Json) => (p.installation = { id: 0 }),
      'installation.id: expected a positive integer, got number 0',
    ],
  ])('issue_comment with %s', (_name, spoil, problem) => {
    const payload = examplePayload('issue_comment', 'created');
    spoil(payload);
    expect(issueCommentProblem(payload)).toBe(problem);
    expect(isIssueComment(payload)).toBe(false);
  });

  it('pull_request labeled: the label, and numbers that disagree', () => {
    const noLabel = labeledPullRequestPayload();
    noLabel.label = [];
    expect(pullRequestLabeledProblem(noLabel)).toBe('label: expected an object, got an array');
    const numbers = labeledPullRequestPayload();
    numbers.pull_request.number = numbers.number + 1;
    expect(pullRequestEventProblem(numbers)).toMatch(
      /^pull_request.number: \d+ is not the event's number/,
    );
    expect(pullRequestEventProblem('x')).toBe('payload: expected an object, got the string "x"');
  });
});
