import { Injectable, type OnModuleInit } from '@nestjs/common';
import { BuildsService } from './builds/builds.service.js';
import { DeployService } from './deploy/deploy.service.js';
import { EventDispatcher } from './intake/event-dispatcher.js';
import { Inbox } from './intake/inbox/inbox.js';

/**
 * Which webhook goes to which handler. Registered in onModuleInit, i.e. before the dispatcher
 * resumes unfinished deliveries in onApplicationBootstrap.
 */
@Injectable()
export class EventRoutes implements OnModuleInit {
  constructor(
    private readonly dispatcher: EventDispatcher,
    private readonly inbox: Inbox,
    private readonly builds: BuildsService,
    private readonly deploy: DeployService,
  ) {}

  onModuleInit(): void {
    // One label event, routed by the label's name: the deploy label ([deploycfg] deploy_label)
    // to deploy, every other one to builds.
    this.dispatcher.on('pull_request', 'labeled', (delivery) =>
      this.deploy.isDeployLabel(delivery.payload)
        ? this.deploy.handleLabeled(delivery, this.inbox.progress(delivery.id))
        : this.builds.handleLabeled(delivery),
    );
  }
}
