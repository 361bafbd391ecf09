import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  BUILD_LABEL,
  mayBuild,
  parseLabeledDelivery,
  parsePullRequestDelivery,
  type LabeledDelivery,
} from '../builds/build-plan.js';
import { codeSpan } from '../builds/job-comment.js';
import { APP_CONFIG, type AppConfig, type ChatLevel } from '../config/app-config.js';
import { CommentPoster } from '../github/comment-poster.js';
import type { DeliveryProgress } from '../common/delivery-progress.js';
import { GitHubClient } from '../github/github.client.js';
import { CommandHandlers, fetchPullRequest, type CommandContext } from './command-handlers.js';
import { isForInstance, parseCommand, type ParsedCommand } from './command-grammar.js';
import { findCommands, MAX_COMMANDS, type NearMiss } from './command-lines.js';
import { parseCommentDelivery, type CommentEvent, type Delivery } from './comment-event.js';
import { renderShowConfig } from './instance-texts.js';
import {
  nearMissItem,
  refusalText,
  renderReply,
  replyMarker,
  resultItem,
  understoodItem,
} from './reply.js';

/** The reply's state in the delivery's progress (kept until the delivery is done). */
interface ReplyState {
  /** Set before the reply is created: a resume looks for its marker before posting. */
  readonly posting?: boolean;
  readonly commentId?: number;
  /** Below the chatlevel: not posted, not edited. */
  readonly suppressed?: boolean;
  /** The results are in the reply. */
  readonly final?: boolean;
}

const REPLY = 'reply';

/**
 * PR comment commands (`bot: help | build | show_config | status | cancel | deploy`), see
 * docs/commands.md. One `issue_comment` delivery is one inbox entry: its commands are answered
 * in one reply, posted with what was understood and edited once with the results. The reply's
 * state and each command's result are kept in the delivery's progress, and the reply carries a
 * hidden marker, so a crash anywhere followed by a restart ends with one reply and each job
 * submitted once. Refusals and hints write nothing to disk: they find their reply by marker.
 */
@Injectable()
export class CommandsService {
  private readonly logger = new Logger(CommandsService.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly github: GitHubClient,
    private readonly poster: CommentPoster,
    private readonly handlers: CommandHandlers,
  ) {}

  /**
   * Handler of `issue_comment` (any action). Resolves when every command's outcome is in the
   * reply; rejects when an outcome is not known yet (handling the delivery again completes it).
   * @throws InvalidDeliveryError for a malformed payload, naming the field.
   */
  async handleComment(delivery: Delivery, progress: DeliveryProgress): Promise<void> {
    const event = parseCommentDelivery(delivery);
    const tag = `delivery ${event.deliveryId} ${event.repo}#${event.prNumber} comment ${event.commentId}`;
    if (event.action !== 'created') {
      this.logger.log(`${tag}: ${event.action}: commands are read from new comments only`);
      return;
    }
    if (!event.onPullRequest) {
      this.logger.log(`${tag}: on an issue, not a pull request: not read`);
      return;
    }
    if (event.writtenByBot) {
      this.logger.log(`${tag}: written by a bot (${event.writtenByBot}): not read`);
      return;
    }
    const found = findCommands(event.body);
    const parsed = found.commands.slice(0, MAX_COMMANDS).map((line) => ({
      written: line.text,
      command: parseCommand(line.text, {
        allowedExportVars: this.config.buildenv.allowedExportVars,
      }),
    }));
    const appName = this.config.github.appName;
    const mine = parsed.filter(({ command }) => isForInstance(command, appName));
    const hints = found.nearMisses.filter((miss) => this.nearMissIsMine(miss));
    if (parsed.length > mine.length) {
      this.logger.log(`${tag}: ${parsed.length - mine.length} command(s) for other instances`);
    }
    if (mine.length === 0 && hints.length === 0) {
      if (parsed.length === 0) {
        this.logger.log(`${tag}: no command`);
      }
      return;
    }
    const sender = event.sender;
    this.logger.log(
      `${tag}: ${mine.length} command(s) from ${JSON.stringify(sender)}: ${mine.map((c) => c.command.kind).join(', ')}`,
    );
    // Empty command_permission means nobody in both formats: the seed had no commands to keep.
    if (!mayBuild(sender, this.config.botControl.commandPermission, 'v09')) {
      this.logger.log(
        `${tag}: ${JSON.stringify(sender)} is not in [bot_control] command_permission`,
      );
      // A near miss is not a command: there is nothing to refuse.
      if (mine.length > 0) {
        await this.replyOnce(event, refusalText(sender, 'send commands'), 'basic');
      }
      return;
    }
    const buildPermitted = mayBuild(
      sender,
      this.config.buildenv.buildPermission,
      this.config.generation,
    );
    if (
      mine.length > 0 &&
      mine.every(({ command }) => command.kind === 'build') &&
      !buildPermitted
    ) {
      this.logger.log(`${tag}: ${JSON.stringify(sender)} is not in [buildenv] build_permission`);
      await this.replyOnce(event, refusalText(sender, 'build'), 'basic');
      return;
    }
    if (mine.length === 0) {
      await this.replyOnce(
        event,
        hints.map((miss) => nearMissItem(miss.written, miss.suggestion)).join('\n'),
        'basic',
      );
      return;
    }

    const level = this.config.botControl.chatlevel;
    const response = [
      ...mine.map(({ written, command }) =>
        understoodItem(written, sender, level, expand(command)),
      ),
      ...(found.commands.length > MAX_COMMANDS
        ? [
            `- ${found.commands.length - MAX_COMMANDS} more command line(s) not read (${MAX_COMMANDS} at most per comment)`,
          ]
        : []),
      ...hints.map((miss) => nearMissItem(miss.written, miss.suggestion)),
    ].join('\n');
    const marker = replyMarker(event.deliveryId, appName);
    const render = (result: string) =>
      renderReply(this.config.botControl.commandResponseFmt, appName, { response, result }, marker);
    await this.postReply(event, progress, render(''), tag);

    const results: string[] = [];
    let builds = 0;
    for (const [index, { written, command }] of mine.entries()) {
      const key = `result.${index}`;
      let outcome = await progress.get<string>(key);
      if (outcome === undefined) {
        const ctx: CommandContext = {
          event,
          progress: scoped(progress, `command.${index}.`),
          buildIndex: command.kind === 'build' ? builds : -1,
          pullRequest: () => fetchPullRequest(this.github, event, progress),
          tag,
        };
        outcome = await this.handlers.run(command, ctx);
        await progress.set(key, outcome);
      }
      if (command.kind === 'build') {
        builds += 1;
      }
      results.push(resultItem(written, outcome));
    }
    await this.finishReply(event, progress, render(results.join('\n')), tag);
  }

  /** A near miss with an `inst:` for another instance is that instance's to answer. */
  private nearMissIsMine(miss: NearMiss): boolean {
    const command = parseCommand(miss.suggestion.replace(/^bot:\s*/, ''), {
      allowedExportVars: this.config.buildenv.allowedExportVars,
    });
    return isForInstance(command, this.config.github.appName);
  }

  /** The first post: once, across crashes (marker searched when an attempt may have posted). */
  private async postReply(
    event: CommentEvent,
    progress: DeliveryProgress,
    body: string,
    tag: string,
  ): Promise<void> {
    const state = (await progress.get<ReplyState>(REPLY)) ?? {};
    if (state.commentId || state.suppressed) {
      return;
    }
    if (!this.poster.allows('minimal')) {
      await progress.set(REPLY, { suppressed: true });
      return;
    }
    if (state.posting) {
      const found = await this.findReply(event);
      if (found) {
        this.logger.log(`${tag}: reply ${found} found after an interruption`);
        await progress.set(REPLY, { commentId: found });
        return;
      }
    } else {
      await progress.set(REPLY, { posting: true });
    }
    const posted = await this.poster.post(event.repo, event.prNumber, body, 'minimal', 'reply');
    await progress.set(REPLY, posted ? { commentId: posted.id } : { suppressed: true });
    if (posted) {
      this.logger.log(`${tag}: replied (${posted.id})`);
    }
  }

  /** The one edit, with every command's result. */
  private async finishReply(
    event: CommentEvent,
    progress: DeliveryProgress,
    body: string,
    tag: string,
  ): Promise<void> {
    const state = (await progress.get<ReplyState>(REPLY)) ?? {};
    if (!state.commentId || state.final) {
      return;
    }
    await this.github.updateComment(event.repo, state.commentId, body);
    await progress.set(REPLY, { ...state, final: true });
    this.logger.log(`${tag}: reply ${state.commentId} completed`);
  }

  private async findReply(event: CommentEvent): Promise<number | undefined> {
    const marker = replyMarker(event.deliveryId, this.config.github.appName);
    const comments = await this.github.listComments(event.repo, event.prNumber);
    // Anyone could quote the marker: only a bot's comment can be our reply.
    return comments.find((c) => c.byBot === true && c.body.includes(marker))?.id;
  }

  /**
   * A reply with nothing to do after it (refusal, hints): nothing is written to disk, so it
   * looks for its marker before posting, every time.
   */
  private async replyOnce(event: CommentEvent, response: string, level: ChatLevel): Promise<void> {
    if (!this.poster.allows(level)) {
      return;
    }
    if (await this.findReply(event)) {
      return;
    }
    const appName = this.config.github.appName;
    const body = renderReply(
      this.config.botControl.commandResponseFmt,
      appName,
      { response, result: '' },
      replyMarker(event.deliveryId, appName),
    );
    await this.poster.post(event.repo, event.prNumber, body, level, 'reply');
  }

  /** Whether a `pull_request` `labeled` delivery is the build label under a v0.9 config. */
  answersBuildLabel(payload: unknown): boolean {
    const label = (payload as { label?: { name?: unknown } } | null)?.label?.name;
    return this.config.generation === 'v09' && label === BUILD_LABEL;
  }

  /** Under a v0.9 config the label only says how builds are asked for (as v0.9 does). */
  async answerBuildLabel(delivery: LabeledDelivery): Promise<void> {
    const event = parseLabeledDelivery(delivery);
    if (!this.poster.allows('basic')) {
      return;
    }
    const appName = this.config.github.appName;
    const marker = replyMarker(event.deliveryId, appName);
    const comments = await this.github.listComments(event.repo, event.prNumber);
    if (comments.some((c) => c.byBot === true && c.body.includes(marker))) {
      return;
    }
    const response = `- the label ${codeSpan(BUILD_LABEL)} starts no build on this instance: builds are started with the command ${codeSpan('bot: build for:arch=…')} (${codeSpan('bot: help')} says more)`;
    const body = renderReply(
      this.config.botControl.commandResponseFmt,
      appName,
      { response, result: '' },
      marker,
    );
    await this.poster.post(event.repo, event.prNumber, body, 'basic', 'build label answer');
  }

  /** `pull_request` `opened`: what this instance builds (v0.9 configs, chatlevel chatty). */
  async showConfigOnOpened(delivery: LabeledDelivery): Promise<void> {
    const event = parsePullRequestDelivery(delivery);
    if (this.config.generation !== 'v09' || !this.poster.allows('chatty')) {
      return;
    }
    const marker = `<!-- bot:show_config ${event.deliveryId} ${this.config.github.appName.replace(/--+|[<>\s]/g, '_')} -->`;
    const comments = await this.github.listComments(event.repo, event.prNumber);
    if (comments.some((c) => c.byBot === true && c.body.includes(marker))) {
      return;
    }
    const body = `${renderShowConfig(this.config)}\n\n${marker}`;
    await this.poster.post(event.repo, event.prNumber, body, 'chatty', 'show_config');
  }
}

/** A command as the bot reads it, with every filter's full component name. */
function expand(command: ParsedCommand): string | undefined {
  if (command.kind === 'unknown' || command.kind === 'invalid') {
    return undefined;
  }
  const parts: string[] = [command.kind];
  if (command.kind === 'build') {
    const spec = (s: { arch: string; accel: readonly string[] }) =>
      `arch=${s.arch}${s.accel.length > 0 ? `,accel=${s.accel.join('+')}` : ''}`;
    parts.push(`for:${spec(command.for)}`);
    if (command.on) {
      parts.push(`on:${spec(command.on)}`);
    }
    parts.push(...command.exportVars.map((v) => `exportvariable:${v.name}=${v.value}`));
  }
  if (command.kind === 'status' && command.lastBuild) {
    parts.push('last_build');
  }
  if (command.kind === 'cancel') {
    parts.push(`jobid:${command.jobIds.join(',')}`);
  }
  parts.push(...command.filters.map((f) => `${f.component}:${f.pattern}`));
  return parts.join(' ');
}

/** A view of the delivery's progress whose keys start with `prefix`. */
function scoped(progress: DeliveryProgress, prefix: string): DeliveryProgress {
  return {
    get: <T>(key: string) => progress.get<T>(`${prefix}${key}`),
    set: (key, value) => progress.set(`${prefix}${key}`, value),
  };
}
