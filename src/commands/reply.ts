import { fillTemplate } from '../common/fill-template.js';
import { codeSpan } from '../builds/job-comment.js';
import type { ChatLevel } from '../config/app-config.js';
import { defuseCommandLines } from './command-lines.js';

/**
 * The one reply to a comment with commands, built from `[bot_control] command_response_fmt`:
 * `{comment_response}` says what the instance understood (posted first), `{comment_result}` what
 * came of it (the reply is edited once with it). Hostile text (the commands as written, logins)
 * appears only in code spans; no line of the reply can be read as a command by any bot.
 */
export interface ReplyText {
  /** `{comment_response}`: one list item per command line understood. */
  readonly response: string;
  /** `{comment_result}`: one list item per command; empty in the first post. */
  readonly result: string;
}

export function replyMarker(deliveryId: string, appName: string): string {
  return `<!-- bot:reply ${deliveryId} ${appName.replace(/--+|[<>\s]/g, '_')} -->`;
}

export function renderReply(
  format: string,
  appName: string,
  text: ReplyText,
  marker: string,
): string {
  const fill = (result: string) =>
    defuseCommandLines(
      fillTemplate(format, {
        app_name: appName,
        comment_response: text.response,
        comment_result: result,
      }),
    );
  let body = fill(text.result);
  if (body.length > MAX_REPLY_LENGTH) {
    // GitHub refuses comments over 65,536 characters: keep the start of the results.
    const over = body.length - MAX_REPLY_LENGTH + TRUNCATED.length;
    body = fill(`${text.result.slice(0, Math.max(0, text.result.length - over))}${TRUNCATED}`);
  }
  return `${body}\n\n${marker}`;
}

/** Below GitHub's 65,536 characters, with room for the marker. */
const MAX_REPLY_LENGTH = 65_000;
const TRUNCATED =
  '\n\n[…] (cut: the reply would be longer than GitHub allows; narrow the command with filters)';

/** `- received `bot: …` from `login`` (chatty: with the command as the bot reads it). */
export function understoodItem(
  written: string,
  sender: string,
  level: ChatLevel,
  expanded?: string,
): string {
  const item = `- received ${codeSpan(`bot: ${written}`)} from ${codeSpan(sender)}`;
  return level === 'chatty' && expanded !== undefined && expanded !== written
    ? `${item}\n  - read as ${codeSpan(expanded)}`
    : item;
}

/** One command's outcome: a list item, its details indented beneath it (tables after a blank line). */
export function resultItem(written: string, outcome: string): string {
  const [first, ...rest] = outcome.split('\n');
  const lines = [`- ${codeSpan(`bot: ${written}`)}: ${first}`];
  for (const line of rest) {
    lines.push(line === '' || line.startsWith('|') ? line : `  ${line}`);
  }
  return lines.join('\n');
}

export function nearMissItem(written: string, suggestion: string): string {
  return `- ${codeSpan(written)} is not a command; did you mean ${codeSpan(suggestion)}? (${codeSpan('bot: help')} lists the commands)`;
}

export function refusalText(sender: string, what: string): string {
  return `- account ${codeSpan(sender)} has no permission to ${what} on this instance`;
}
