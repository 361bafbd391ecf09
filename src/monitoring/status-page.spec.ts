import { describe, expect, it } from '@jest/globals';
import { duration, escapeHtml, renderStatusPage, STATUS_PAGE_CSP } from './status-page.js';
import type { StatusReport } from './status-report.js';

const hostile = '<script>alert(1)</script>"\'&';

function report(overrides: Partial<StatusReport> = {}): StatusReport {
  return {
    instance: {
      name: `bot ${hostile}`,
      version: '1.2.3',
      startedAt: '2026-11-30T10:00:00.000Z',
      uptimeSeconds: 3 * 3600 + 120,
      generatedAt: '2026-11-30T13:02:00Z',
    },
    relay: {
      state: 'disconnected',
      sinceSeconds: 90,
      lastProblem: `HTTP 503 ${hostile}`,
      forwarded: 4,
    },
    inbox: { pending: 2, failed: 1, oldestPendingSeconds: 42 },
    jobManager: { pollIntervalSeconds: 60, secondsWithoutTick: 12 },
    catchUp: null,
    jobs: {
      windowDays: 14,
      matching: 1,
      items: [
        {
          jobId: '1234',
          repo: `EESSI/${hostile}`,
          pr: 7,
          target: `linux/${hostile}`,
          state: 'finished',
          result: 'FAILURE',
          submittedAt: '2026-11-30T12:00:00.000Z',
          ageSeconds: 3720,
          jobDir: `/jobs/2026.11/pr_7/${hostile}`,
        },
      ],
    },
    ...overrides,
  };
}

describe('renderStatusPage', () => {
  it('escapes every value taken from records, builds and the relay', () => {
    const html = renderStatusPage(report(), `bad filter ${hostile}`);

    expect(html).not.toContain('<script>');
    expect(html).not.toMatch(/"'&[^a#]/);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;');
    expect(html).toContain('finished: FAILURE');
    expect(html).toContain('1 h 2 min');
  });

  it('links a PR and its comment only for repository names GitHub allows', () => {
    const html = renderStatusPage(
      report({
        jobs: {
          windowDays: 14,
          pr: 7,
          matching: 1,
          items: [
            {
              ...report().jobs.items[0],
              repo: 'EESSI/software-layer',
              prUrl: 'https://github.com/EESSI/software-layer/pull/7',
              commentUrl: 'https://github.com/EESSI/software-layer/pull/7#issuecomment-9',
            },
          ],
        },
      }),
    );
    expect(html).toContain(
      '<a href="https://github.com/EESSI/software-layer/pull/7">EESSI/software-layer#7</a>',
    );
    expect(html).toContain('#issuecomment-9">comment</a>');
    expect(html).toContain('value="7"');
    expect(html).toContain('1 job for PR 7');
    expect(renderStatusPage(report())).not.toContain('<a href');
  });

  it('allows no script and only its own stylesheet', () => {
    expect(STATUS_PAGE_CSP).toMatch(
      /^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/=]+'; img-src data:;/,
    );
    expect(renderStatusPage(report())).not.toMatch(/<script|javascript:|https?:\/\/(?!github)/);
  });
});

describe('escapeHtml and duration', () => {
  it('escape the five HTML specials and read seconds as a person would', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe(
      '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;',
    );
    expect([40, 600, 7260, 2 * 86_400 + 3 * 3600].map(duration)).toEqual([
      '40 s',
      '10 min',
      '2 h 1 min',
      '2 d 3 h',
    ]);
  });
});
