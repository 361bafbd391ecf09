import { describe, expect, it } from '@jest/globals';
import {
  archLabel,
  codeSpan,
  formatRowDate,
  parseRowDate,
  jobMarker,
  renderJobComment,
  tableCell,
  type JobCommentView,
} from './job-comment.js';
import type { StatusRow } from './job-store.js';

/**
 * The content a CommonMark reader gets from an inline code span that spans the whole string:
 * the closing run must have the opening run's length, and one space is stripped from each end
 * when both ends have one (spec 0.31, "Code spans").
 */
function readCodeSpan(span: string): string {
  const open = /^`+/.exec(span)?.[0];
  if (!open) {
    throw new Error(`not a code span: ${span}`);
  }
  // The first backtick run of exactly the opening length closes the span.
  const runs = [...span.slice(open.length).matchAll(/`+/g)];
  const close = runs.find((r) => r[0].length === open.length);
  if (!close || close.index + open.length + close[0].length !== span.length) {
    throw new Error(`code span does not close at the end: ${span}`);
  }
  const content = span.slice(open.length, open.length + close.index);
  return content.startsWith(' ') && content.endsWith(' ') && content.trim() !== ''
    ? content.slice(1, -1)
    : content;
}

/** Lines as CommonMark splits them: LF, CR LF and a lone CR each end a line. */
function markdownLines(body: string): string[] {
  return body.split(/\r\n|\r|\n/);
}

/**
 * The data rows of the comment's table as GitHub's renderer (cmark-gfm) reads them: the table
 * runs from the header to the first blank line; a pipe ends a cell unless a backslash precedes
 * it; cells are trimmed, and `\|` inside a cell is then a literal pipe.
 */
function parseTable(body: string): string[][] {
  const lines = markdownLines(body);
  const header = lines.indexOf('|date|job status|comment|');
  if (header < 0) {
    throw new Error('no table header');
  }
  expect(lines[header + 1]).toMatch(/^\|-+\|-+\|-+\|$/);
  const rows: string[][] = [];
  for (const line of lines.slice(header + 2)) {
    if (line.trim() === '') {
      break;
    }
    const inner = line.replace(/^\|/, '').replace(/(?<!\\)\|$/, '');
    rows.push(inner.split(/(?<!\\)\|/).map((cell) => cell.trim().replace(/\\\|/g, '|')));
  }
  return rows;
}

const ROWS: StatusRow[] = [
  {
    kind: 'submitted',
    date: 'Nov 28 01:02:03 UTC 2026',
    status: 'submitted',
    comment: 'job waits for release by job manager',
  },
  {
    kind: 'released',
    date: 'Nov 28 01:03:03 UTC 2026',
    status: 'released',
    comment: 'job awaits launch by Slurm scheduler',
  },
  {
    kind: 'running',
    date: 'Nov 28 01:04:03 UTC 2026',
    status: 'running',
    comment: 'job is running',
  },
];

function view(overrides: Partial<JobCommentView> = {}): JobCommentView {
  return {
    jobId: '1234',
    appName: 'eessi-bot-test',
    target: 'linux/x86_64/amd/zen2',
    jobDirLink: '/jobs/2026.11/pr_42/1234',
    rows: ROWS,
    ...overrides,
  };
}

describe('archLabel', () => {
  it.each([
    ['linux/x86_64/amd/zen2', 'x86_64-amd-zen2'],
    ['linux/aarch64/generic', 'aarch64-generic'],
    ['x86_64', 'x86_64'],
  ])('%s → %s', (target, label) => {
    expect(archLabel(target)).toBe(label);
  });
});

describe('renderJobComment', () => {
  it('names job, instance, architecture and job dir on the first line', () => {
    const lines = markdownLines(renderJobComment(view()));
    expect(lines[0]).toBe(
      'Job `1234` on instance `eessi-bot-test` for architecture `x86_64-amd-zen2` ' +
        'in job dir `/jobs/2026.11/pr_42/1234`',
    );
    expect(lines[1]).toBe('');
    expect(lines[2]).toBe('|date|job status|comment|');
  });

  it('has one table row per status, in the given order, with date, status and comment', () => {
    expect(parseTable(renderJobComment(view()))).toEqual(
      ROWS.map((r) => [r.date, r.status, r.comment]),
    );
  });

  it('has an empty table when there are no rows yet', () => {
    expect(parseTable(renderJobComment(view({ rows: [] })))).toEqual([]);
  });

  it('ends with the marker after a blank line', () => {
    const lines = markdownLines(renderJobComment(view()));
    expect(lines.slice(-2)).toEqual(['', '<!-- bot:job 1234 eessi-bot-test -->']);
    expect(lines.at(-1)).toBe(jobMarker('1234', 'eessi-bot-test'));
  });

  it('keeps its shape whatever hostile text the rows and names carry', () => {
    const hostile = [
      '$(touch x)',
      'a | b || c',
      'line one\nline two\r\nline three\rline four',
      '<!-- never closed',
      '```code``` and `tick`',
      'trailing backslash \\',
      'escaped \\| pipe',
      '|',
      '\n',
    ];
    const rows: StatusRow[] = hostile.map((text, i) => ({
      kind: 'finished',
      date: `Nov 28 0${i}:00:00 UTC 2026 | ${text}`,
      status: text,
      comment: `${text} <!-- bot:job 9 x --> end`,
    }));
    const body = renderJobComment(
      view({
        rows,
        appName: 'evil\n|name|--> `x`',
        jobDirLink: '/jobs/pr_1/1234\n\n|date|job status|comment|\n<!--',
      }),
    );
    const lines = markdownLines(body);

    // The first line stays one line: the next lines are the blank line and the header.
    expect(lines[1]).toBe('');
    expect(lines[2]).toBe('|date|job status|comment|');

    const table = parseTable(body);
    expect(table).toHaveLength(hostile.length);
    for (const [i, cells] of table.entries()) {
      expect(cells).toHaveLength(3);
      const shown = (text: string) => text.replace(/\r\n|[\r\n]/g, '<br/>').trim();
      expect(cells).toEqual([shown(rows[i].date), shown(rows[i].status), shown(rows[i].comment)]);
    }
    // Exactly the table, a blank line and the marker: nothing leaked out of a cell.
    expect(lines).toHaveLength(4 + hostile.length + 2);
    expect(lines.at(-1)).toBe(jobMarker('1234', 'evil\n|name|--> `x`'));
  });
});

describe('codeSpan', () => {
  it.each([
    ['plain'],
    ['one ` backtick'],
    ['a `` double and ``` triple run'],
    ['`leading'],
    ['trailing`'],
    ['``'],
    [' both ends spaced '],
    ['pipes | and <!-- and $(touch x)'],
  ])('reads back as the same text: %j', (text) => {
    expect(readCodeSpan(codeSpan(text))).toBe(text);
  });

  it('uses a fence longer than any backtick run in the text', () => {
    const span = codeSpan('a ``` b ` c');
    expect(span.startsWith('````')).toBe(true);
    expect(span.startsWith('`````')).toBe(false);
    expect(span.endsWith('````')).toBe(true);
  });

  it('pads with a space when the text starts or ends with a backtick', () => {
    expect(codeSpan('`x')).toBe('`` `x ``');
    expect(codeSpan('x`')).toBe('`` x` ``');
    expect(codeSpan('x')).toBe('`x`');
  });

  it('flattens newlines to spaces so the span stays on one line', () => {
    const span = codeSpan('a\nb\r\nc\rd');
    expect(markdownLines(span)).toHaveLength(1);
    expect(readCodeSpan(span)).toBe('a b c d');
  });
});

describe('tableCell', () => {
  it('escapes pipes', () => {
    expect(tableCell('a|b||c')).toBe('a\\|b\\|\\|c');
  });

  it('turns every kind of line ending into <br/>', () => {
    expect(tableCell('a\nb\r\nc\rd')).toBe('a<br/>b<br/>c<br/>d');
  });

  it('keeps a trailing backslash from escaping the pipe that closes the cell', () => {
    expect(tableCell('C:\\')).toBe('C:\\ ');
    expect(parseTable(`|date|job status|comment|\n|-|-|-|\n|${tableCell('a\\')}|b|c|`)).toEqual([
      ['a\\', 'b', 'c'],
    ]);
  });

  it('leaves other text alone', () => {
    expect(tableCell(':grin: SUCCESS `x` <ul><li>y</li></ul>')).toBe(
      ':grin: SUCCESS `x` <ul><li>y</li></ul>',
    );
  });
});

describe('formatRowDate', () => {
  it("formats in the seed's style, in UTC", () => {
    expect(formatRowDate(new Date(Date.UTC(2026, 10, 28, 1, 2, 3)))).toBe(
      'Nov 28 01:02:03 UTC 2026',
    );
  });

  it("ignores the host's time zone", () => {
    // Jest's process.env does not reach V8's zone, so play a host at UTC+9 on the instance: its
    // local view of 23:59:59 UTC on Jan 1 is already Jan 2, 08:59:59.
    const lateNight = new Date(Date.UTC(2026, 0, 1, 23, 59, 59));
    const tokyo = new Date(lateNight.getTime() + 9 * 3600 * 1000);
    for (const getter of ['FullYear', 'Month', 'Date', 'Hours', 'Minutes', 'Seconds'] as const) {
      Object.defineProperty(lateNight, `get${getter}`, {
        value: () => tokyo[`getUTC${getter}`](),
      });
    }
    expect(lateNight.getDate()).toBe(2);
    expect(formatRowDate(lateNight)).toBe('Jan 01 23:59:59 UTC 2026');
  });
});

describe('jobMarker', () => {
  it('names job id and app name in a hidden HTML comment', () => {
    expect(jobMarker('1234', 'eessi-bot-test')).toBe('<!-- bot:job 1234 eessi-bot-test -->');
  });

  it.each(['a-->b', 'a--!>b', 'a->b', 'a>b', 'a---b', 'a <b> c', 'x--', '-->'])(
    'cannot be closed early by the app name %j',
    (appName) => {
      const marker = jobMarker('1', appName);
      expect(marker.startsWith('<!-- bot:job 1 ')).toBe(true);
      expect(marker.endsWith(' -->')).toBe(true);
      const inside = marker.slice('<!--'.length, -'-->'.length);
      // HTML ends a comment at `-->` or `--!>`; both need `--` or `>`.
      expect(inside).not.toMatch(/--|>/);
      expect(markdownLines(marker)).toHaveLength(1);
    },
  );

  it('differs between jobs whose ids share a prefix', () => {
    expect(jobMarker('10', 'bot')).not.toContain(jobMarker('1', 'bot').slice(0, -4) + ' ');
    expect(jobMarker('10', 'bot').includes(jobMarker('1', 'bot'))).toBe(false);
  });
});

describe('parseRowDate', () => {
  it('reads back what formatRowDate wrote', () => {
    const at = Date.UTC(2026, 10, 28, 1, 2, 3);
    expect(parseRowDate(formatRowDate(new Date(at)))).toBe(at);
  });

  it.each(['', 'Nov 31 01:02:03 UTC 2026', 'Foo 01 01:02:03 UTC 2026', '2026-11-28T01:02:03Z'])(
    'gives nothing for %j',
    (text) => {
      expect(parseRowDate(text)).toBeUndefined();
    },
  );
});
