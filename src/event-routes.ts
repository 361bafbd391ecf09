import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { InvalidDeliveryError } from './builds/build-plan.js';
import { BuildsService } from './builds/builds.service.js';
import { PrLifecycleService } from './builds/pr-lifecycle.service.js';
import { CommandsService } from './commands/commands.service.js';
import { DeployService } from './deploy/deploy.service.js';
import { EventDispatcher, type DeliveryHandler } from './intake/event-dispatcher.js';
import { Inbox } from './intake/inbox/inbox.js';

/**
 * Which webhook goes to which handler. Registered in onModuleInit, i.e. before the dispatcher
 * resumes unfinished deliveries in onApplicationBootstrap.
 */
@Injectable()
export class EventRoutes implements OnModuleInit {
  private readonly logger = new Logger(EventRoutes.name);

  constructor(
    private readonly dispatcher: EventDispatcher,
    private readonly inbox: Inbox,
    private readonly builds: BuildsService,
    private readonly lifecycle: PrLifecycleService,
    private readonly deploy: DeployService,
    private readonly commands: CommandsService,
  ) {}

  onModuleInit(): void {
    // One label event, routed by the label's name: the deploy label ([deploycfg] deploy_label)
    // to deploy; under a v0.9 config `bot:build` only gets an answer (builds are commands);
    // every other one to builds.
    this.route('pull_request', 'labeled', (delivery) =>
      this.deploy.isDeployLabel(delivery.payload)
        ? this.deploy.handleLabeled(delivery, this.inbox.progress(delivery.id))
        : this.commands.answersBuildLabel(delivery.payload)
          ? this.commands.answerBuildLabel(delivery)
          : this.builds.handleLabeled(delivery),
    );
    this.route('pull_request', 'opened', (delivery) => this.commands.showConfigOnOpened(delivery));
    // Every action: edited and deleted comments are logged as not read.
    this.route('issue_comment', '*', (delivery) =>
      this.commands.handleComment(delivery, this.inbox.progress(delivery.id)),
    );
    this.dispatcher.on('pull_request', 'closed', (delivery) =>
      this.lifecycle.handleClosed(delivery),
    );
    this.dispatcher.on('pull_request', 'synchronize', (delivery) =>
      this.lifecycle.handleSynchronize(delivery),
    );
  }

  /**
   * A correctly signed payload with a field missing, null or of the wrong type is not GitHub's
   * usual shape: it is ignored with a log line naming the field (never retried, never half
   * handled), instead of failing the delivery.
   */
  private route(event: string, action: string, handler: DeliveryHandler): void {
    this.dispatcher.on(event, action, async (delivery) => {
      try {
        await handler(delivery);
      } catch (error) {
        if (!(error instanceof InvalidDeliveryError)) {
          throw error;
        }
        this.logger.warn(
          `delivery ${delivery.id} (${delivery.event}.${delivery.action ?? '-'}) ignored: ${error.message}`,
        );
      }
    });
  }
}
