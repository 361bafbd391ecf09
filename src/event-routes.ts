import { Injectable, type OnModuleInit } from '@nestjs/common';
import { BuildsService } from './builds/builds.service.js';
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
  ) {}

  onModuleInit(): void {
    this.dispatcher.on('pull_request', 'labeled', (delivery) =>
      this.builds.handleLabeled(delivery),
    );
  }
}
