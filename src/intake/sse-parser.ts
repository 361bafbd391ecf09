/** One event as parsed from a server-sent-events stream. */
export interface SseEvent {
  readonly event: string;
  readonly data: string;
}

/** GitHub caps payloads at 25 MB; one smee event is that plus headers. */
export const MAX_EVENT_CHARS = 32 * 1024 * 1024;

/**
 * Incremental parser for the text/event-stream format
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).
 * Fed decoded text in arbitrary pieces; returns the events completed by each piece.
 */
export class SseParser {
  /** The current line, until its end arrives. */
  private partial = '';
  private afterCarriageReturn = false;
  private data: string[] = [];
  private dataChars = 0;
  private eventName = '';
  private overflowed = false;
  private droppedEvents = 0;

  /** How many events so far exceeded MAX_EVENT_CHARS and were dropped. */
  get dropped(): number {
    return this.droppedEvents;
  }

  feed(text: string): SseEvent[] {
    const events: SseEvent[] = [];
    // Only the new text is searched for line ends: a 25 MB delivery arrives in hundreds of
    // pieces, and rescanning what is buffered would be quadratic.
    let start = this.afterCarriageReturn && text.startsWith('\n') ? 1 : 0;
    this.afterCarriageReturn = false;
    const lineEnd = /\r\n|\r|\n/g;
    lineEnd.lastIndex = start;
    for (let match = lineEnd.exec(text); match !== null; match = lineEnd.exec(text)) {
      const line = this.partial + text.slice(start, match.index);
      this.partial = '';
      start = match.index + match[0].length;
      // A CR ending this piece may be the first half of a CRLF whose LF comes next.
      if (match[0] === '\r' && start === text.length) {
        this.afterCarriageReturn = true;
      }
      const event = this.line(line);
      if (event) {
        events.push(event);
      }
    }
    this.partial += text.slice(start);
    if (this.partial.length > MAX_EVENT_CHARS) {
      this.partial = '';
      this.discard();
    }
    return events;
  }

  private line(line: string): SseEvent | undefined {
    if (line === '') {
      if (this.overflowed) {
        this.droppedEvents++;
      }
      const complete = this.data.length > 0 && !this.overflowed;
      const event = complete
        ? { event: this.eventName || 'message', data: this.data.join('\n') }
        : undefined;
      this.data = [];
      this.dataChars = 0;
      this.eventName = '';
      this.overflowed = false;
      return event;
    }
    if (line.startsWith(':')) {
      return undefined;
    }
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) {
      value = value.slice(1);
    }
    if (field === 'data') {
      this.dataChars += value.length;
      if (this.dataChars > MAX_EVENT_CHARS) {
        this.discard();
      } else if (!this.overflowed) {
        this.data.push(value);
      }
    } else if (field === 'event') {
      this.eventName = value;
    }
    // `id` and `retry` are ignored: smee keeps no history to resume from, and the relay's own
    // back-off decides when to reconnect.
    return undefined;
  }

  private discard(): void {
    this.data = [];
    this.overflowed = true;
  }
}
