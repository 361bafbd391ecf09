import { describe, expect, it } from '@jest/globals';
import { MAX_EVENT_CHARS, SseParser } from './sse-parser.js';

describe('SseParser', () => {
  it('parses events with names, multi-line data and comments', () => {
    const parser = new SseParser();
    const events = parser.feed(
      ': keep-alive comment\nid: 0\nevent: ready\ndata: {}\n\nid: 1\ndata: line one\ndata:line two\n\n',
    );
    expect(events).toEqual([
      { event: 'ready', data: '{}' },
      { event: 'message', data: 'line one\nline two' },
    ]);
  });

  it('accepts CRLF and bare CR line ends, also when a CRLF is split between pieces', () => {
    const parser = new SseParser();
    expect(parser.feed('data: a\r')).toEqual([]);
    expect(parser.feed('\n\r\ndata: b\r\rdata: c\n')).toEqual([
      { event: 'message', data: 'a' },
      { event: 'message', data: 'b' },
    ]);
    expect(parser.feed('\n')).toEqual([{ event: 'message', data: 'c' }]);
  });

  it('keeps partial lines until they are complete', () => {
    const parser = new SseParser();
    expect(parser.feed('da')).toEqual([]);
    expect(parser.feed('ta: {"x":')).toEqual([]);
    expect(parser.feed('1}\n')).toEqual([]);
    expect(parser.feed('\n')).toEqual([{ event: 'message', data: '{"x":1}' }]);
  });

  it('ignores blocks without data and forgets the event name after each event', () => {
    const parser = new SseParser();
    expect(parser.feed('event: ping\n\ndata: x\n\n')).toEqual([{ event: 'message', data: 'x' }]);
  });

  it('parses a 25 MB delivery arriving in 64 KiB pieces', () => {
    const data = JSON.stringify({ body: { text: 'é'.repeat((25 * 1024 * 1024) / 2) } });
    const stream = `data: ${data}\n\n`;
    const parser = new SseParser();
    const events = [];
    for (let at = 0; at < stream.length; at += 64 * 1024) {
      events.push(...parser.feed(stream.slice(at, at + 64 * 1024)));
    }
    expect(events).toHaveLength(1);
    expect(events[0].data).toBe(data);
  });

  it('drops an event larger than any delivery, and goes on with the next', () => {
    const parser = new SseParser();
    const piece = 'x'.repeat(1024 * 1024);
    let events = parser.feed('data: ');
    for (let sent = 0; sent <= MAX_EVENT_CHARS; sent += piece.length) {
      events = events.concat(parser.feed(piece));
    }
    events = events.concat(parser.feed('\n\ndata: next\n\n'));
    expect(events).toEqual([{ event: 'message', data: 'next' }]);
    expect(parser.dropped).toBe(1);
  });

  it('removes only one leading space from a value', () => {
    expect(new SseParser().feed('data:  two spaces\n\n')).toEqual([
      { event: 'message', data: ' two spaces' },
    ]);
  });
});
