/**
 * The intake bench's baseline: a bare node:http server that reads the body and answers 200.
 * Listens on 127.0.0.1:$PORT.
 */
import { createServer } from 'node:http';

createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"status":"ok"}');
  });
}).listen(Number(process.env.PORT), '127.0.0.1');
