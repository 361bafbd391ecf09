/**
 * The intake bench's durable floor: only the work the intake must do before answering 202, in as
 * few lines as node:http allows. It verifies X-Hub-Signature-256 over the raw bytes, parses the
 * JSON, appends a header line and the body to one file, and answers once an fdatasync covering the
 * delivery is over (group commit: the deliveries that arrive during a write + fdatasync share the
 * next one). No duplicate index, no replay, no routing: whatever the bot spends above this is
 * overhead, not durability.
 *
 * Listens on 127.0.0.1:$PORT; the webhook secret is $WEBHOOK_SECRET, the file goes to $STATE_DIR.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { fdatasync, openSync, writev } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import { join } from 'node:path';

const secret = process.env.WEBHOOK_SECRET ?? '';
const fd = openSync(join(process.env.STATE_DIR ?? '.', 'journal.log'), 'a', 0o600);
let queued: { chunks: Buffer[]; res: ServerResponse }[] = [];
let flushing = false;

function answer(res: ServerResponse, status: number): void {
  const body = status === 202 ? '{"status":"accepted"}' : '{"error":"refused"}';
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
}

function flush(): void {
  if (flushing || queued.length === 0) {
    return;
  }
  flushing = true;
  const batch = queued;
  queued = [];
  writev(
    fd,
    batch.flatMap((entry) => entry.chunks),
    (writeError) => {
      const done = (error: Error | null) => {
        for (const entry of batch) {
          answer(entry.res, error ? 500 : 202);
        }
        flushing = false;
        flush();
      };
      if (writeError) {
        done(writeError);
      } else {
        fdatasync(fd, done);
      }
    },
  );
}

createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const header = req.headers['x-hub-signature-256'];
    const expected = createHmac('sha256', secret).update(body).digest();
    const received = Buffer.from(typeof header === 'string' ? header.slice(7) : '', 'hex');
    if (received.length !== expected.length || !timingSafeEqual(received, expected)) {
      return answer(res, 401);
    }
    let payload: { action?: unknown };
    try {
      payload = JSON.parse(body.toString('utf8')) as { action?: unknown };
    } catch {
      return answer(res, 400);
    }
    const meta = JSON.stringify({
      id: req.headers['x-github-delivery'],
      event: req.headers['x-github-event'],
      action: payload.action,
      len: body.length,
    });
    queued.push({ chunks: [Buffer.from(`${meta}\n`), body, Buffer.from('\n')], res });
    flush();
  });
}).listen(Number(process.env.PORT), '127.0.0.1');
