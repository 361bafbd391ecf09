import { Injectable, type OnModuleInit } from '@nestjs/common';
import { BuildsService } from './builds/builds.service.js';
import { PrLifecycleService } from './builds/pr-lifecycle.service.js';
import { EventDispatcher } from './intake/event-dispatcher.js';

/**
 * Which webhook goes to which handler. Registered in onModuleInit, i.e. before the dispatcher
 * resumes unfinished deliveries in onApplicationBootstrap.
 */
@Injectable()
export class EventRoutes implements OnModuleInit {
  constructor(
    private readonly dispatcher: EventDispatcher,
    private readonly builds: BuildsService,
    private readonly lifecycle: PrLifecycleService,
  ) {}

  onModuleInit(): void {
    this.dispatcher.on('pull_request', 'labeled', (delivery) =>
      this.builds.handleLabeled(delivery),
    );
    this.dispatcher.on('pull_request', 'closed', (delivery) =>
      this.lifecycle.handleClosed(delivery),
    );
    this.dispatcher.on('pull_request', 'synchronize', (delivery) =>
      this.lifecycle.handleSynchronize(delivery),
    );
  }
}
