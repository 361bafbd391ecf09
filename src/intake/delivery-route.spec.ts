import { describe, expect, it } from '@jest/globals';
import { examplePayload } from '../../test/support/payloads.js';
import { asRoute, routeOf } from './delivery-route.js';

describe('routeOf', () => {
  it('routes a pull_request delivery to its repository and PR', () => {
    const payload = examplePayload('pull_request', 'labeled');
    expect(routeOf(payload)).toEqual({
      repo: payload.repository.full_name,
      pr: payload.pull_request.number,
    });
  });

  it('routes an issue_comment delivery to the issue (a PR comment arrives as one)', () => {
    const payload = examplePayload('issue_comment', 'created');
    expect(routeOf(payload)).toEqual({
      repo: payload.repository.full_name,
      pr: payload.issue.number,
    });
  });

  it('routes nothing it cannot read', () => {
    expect(routeOf({ zen: 'Keep it simple.' })).toEqual({});
    expect(routeOf({ repository: { full_name: 7 }, pull_request: { number: -1 } })).toEqual({});
    expect(routeOf(null)).toEqual({});
  });
});

describe('asRoute', () => {
  it('takes a route read back from a record header, and nothing else', () => {
    expect(asRoute({ repo: 'o/r', pr: 3 })).toEqual({ repo: 'o/r', pr: 3 });
    expect(asRoute({})).toEqual({});
    expect(asRoute({ repo: 'o/r', pr: 0 })).toBeUndefined();
    expect(asRoute({ repo: 1 })).toBeUndefined();
    expect(asRoute([])).toBeUndefined();
    expect(asRoute(undefined)).toBeUndefined();
  });
});
