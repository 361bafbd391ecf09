/**
 * The intake bench's Probot: a Probot app with a no-op `pull_request` handler, served the way
 * `probot run` serves it (Probot's own Server, its default logging), with the webhook path at `/`.
 * It persists nothing. Listens on 127.0.0.1:$PORT; secret $WEBHOOK_SECRET; key $PRIVATE_KEY_PATH.
 */
import { readFileSync } from 'node:fs';
import { Probot, Server } from 'probot';

const server = new Server({
  host: '127.0.0.1',
  port: Number(process.env.PORT),
  webhookPath: '/',
  Probot: Probot.defaults({
    appId: 1,
    privateKey: readFileSync(process.env.PRIVATE_KEY_PATH ?? '', 'utf8'),
    secret: process.env.WEBHOOK_SECRET,
  }),
});
await server.load((app) => {
  app.on('pull_request', async () => {});
});
await server.start();
