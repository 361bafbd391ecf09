import { type DynamicModule, Module } from '@nestjs/common';
import { MetricsModule } from '../common/metrics/metrics.module.js';
import { CatchUpService } from './catch-up/catch-up.service.js';
import { EventDispatcher } from './event-dispatcher.js';
import { HealthController } from './health.controller.js';
import { Inbox } from './inbox/inbox.js';
import { INTAKE_OPTIONS, type IntakeOptions } from './intake.options.js';
import { WebhookController } from './webhook.controller.js';

/**
 * Webhook intake: `POST /` (verify, store, acknowledge), `GET /health`, the durable Inbox, the
 * background EventDispatcher and missed-webhook catch-up (CatchUpService). Needs an app created with `bodyParser: false`. Feature modules
 * register handlers with `EventDispatcher.on()`.
 */
@Module({})
export class IntakeModule {
  static register(options: IntakeOptions): DynamicModule {
    return {
      module: IntakeModule,
      imports: [MetricsModule],
      controllers: [WebhookController, HealthController],
      providers: [
        { provide: INTAKE_OPTIONS, useValue: options },
        Inbox,
        EventDispatcher,
        CatchUpService,
      ],
      exports: [Inbox, EventDispatcher],
    };
  }
}
