import { ConsoleLogger, type LogLevel } from '@nestjs/common';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Nest's console logger, mirrored as plain one-line records to the operator's log_path
 * (`[event_handler] log_path` / `[job_manager] log_path`), the file the seed's operators tail.
 */
export class BotLogger extends ConsoleLogger {
  private file?: WriteStream;

  constructor(
    context: string,
    logPath?: string,
    levels: LogLevel[] = ['log', 'error', 'warn', 'fatal'],
  ) {
    super(context, { logLevels: levels });
    if (logPath) {
      mkdirSync(dirname(logPath), { recursive: true });
      this.file = createWriteStream(logPath, { flags: 'a', mode: 0o640 });
      // A full disk or a removed directory must not take the bot down: keep logging to stdout.
      this.file.on('error', (error) => {
        super.error(`cannot write log file ${logPath}: ${error.message}`, undefined, 'BotLogger');
        this.file = undefined;
      });
    }
  }

  override log(message: unknown, ...rest: unknown[]): void {
    super.log(message, ...rest);
    this.mirror('log', message, rest);
  }
  override error(message: unknown, ...rest: unknown[]): void {
    super.error(message, ...rest);
    this.mirror('error', message, rest);
  }
  override warn(message: unknown, ...rest: unknown[]): void {
    super.warn(message, ...rest);
    this.mirror('warn', message, rest);
  }
  override debug(message: unknown, ...rest: unknown[]): void {
    super.debug(message, ...rest);
    this.mirror('debug', message, rest);
  }
  override fatal(message: unknown, ...rest: unknown[]): void {
    super.fatal(message, ...rest);
    this.mirror('fatal', message, rest);
  }

  private mirror(level: LogLevel, message: unknown, rest: unknown[]): void {
    if (!this.file || !this.isLevelEnabled(level)) {
      return;
    }
    const context =
      typeof rest[rest.length - 1] === 'string' ? (rest[rest.length - 1] as string) : this.context;
    const text = message instanceof Error ? (message.stack ?? message.message) : String(message);
    const extra =
      level === 'error' && rest.length > 1 && typeof rest[0] === 'string' ? `\n${rest[0]}` : '';
    this.file.write(
      `${new Date().toISOString()} ${level.toUpperCase()} [${context ?? '-'}] ${text}${extra}\n`,
    );
  }

  async close(): Promise<void> {
    const file = this.file;
    this.file = undefined;
    if (file) {
      await new Promise<void>((resolve) => file.end(resolve));
    }
  }
}
