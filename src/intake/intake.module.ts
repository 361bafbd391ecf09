import { Module } from '@nestjs/common';
import { EventDispatcher } from './event-dispatcher.js';
import { HealthController } from './health.controller.js';
import { Inbox } from './inbox/inbox.js';
import { WebhookController } from './webhook.controller.js';

/**
 * Webhook intake: `POST /` (verify, store, acknowledge), `GET /health`, the durable Inbox and the
 * background EventDispatcher. Needs APP_CONFIG from a global config module and an app created with
 * `bodyParser: false`. Feature modules register handlers with `EventDispatcher.on()`.
 */
@Module({
  controllers: [WebhookController, HealthController],
  providers: [Inbox, EventDispatcher],
  exports: [Inbox, EventDispatcher],
})
export class IntakeModule {}
