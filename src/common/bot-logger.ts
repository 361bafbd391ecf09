import type { LoggerService, LogLevel } from '@nestjs/common';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';

const LABELS: Record<LogLevel, string> = {
  log: 'LOG',
  error: 'ERROR',
  warn: 'WARN',
  debug: 'DEBUG',
  verbose: 'VERBOSE',
  fatal: 'FATAL',
};

/**
 * The bot's logger: one plain line per record, `<ISO time> <LEVEL> [<context>] <message>`, on
 * stdout (errors on stderr) and appended to the operator's log_path (`[event_handler] log_path` /
 * `[job_manager] log_path`, the file the seed's operators tail).
 *
 * Not Nest's ConsoleLogger: its colours, locale-formatted time and per-call options cost about
 * 30 µs a line, and the intake writes a line per delivery. Lines are gathered for the rest of the
 * tick and written together, to stdout and to the file, so a flood of deliveries makes one write
 * per tick rather than one system call per line (stdout is synchronous on Linux, and under
 * systemd each write wakes journald); errors go out at once, with whatever was gathered before
 * them, and what is gathered is written if the process exits before the tick ends.
 */
export class BotLogger implements LoggerService {
  private file?: WriteStream;
  private enabled: Set<LogLevel>;
  /** Lines not written yet (written at the end of the tick). */
  private gathered = '';
  private flushScheduled = false;
  private readonly flushAtExit = (): void => this.flush();

  constructor(
    private readonly context: string,
    logPath?: string,
    levels: LogLevel[] = ['log', 'error', 'warn', 'fatal'],
  ) {
    this.enabled = new Set(levels);
    process.once('exit', this.flushAtExit);
    if (logPath) {
      mkdirSync(dirname(logPath), { recursive: true });
      this.file = createWriteStream(logPath, { flags: 'a', mode: 0o640 });
      // A full disk or a removed directory must not take the bot down: keep logging to stdout.
      this.file.on('error', (error) => {
        this.file = undefined;
        this.error(`cannot write log file ${logPath}: ${error.message}`, 'BotLogger');
      });
    }
  }

  log(message: unknown, ...rest: unknown[]): void {
    this.write('log', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.write('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.write('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.write('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.write('verbose', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.write('fatal', message, rest);
  }

  setLogLevels(levels: LogLevel[]): void {
    this.enabled = new Set(levels);
  }

  isLevelEnabled(level: LogLevel): boolean {
    return this.enabled.has(level);
  }

  /** Writes what is gathered and closes the log file. */
  async close(): Promise<void> {
    this.flush();
    process.off('exit', this.flushAtExit);
    const file = this.file;
    this.file = undefined;
    if (file) {
      await new Promise<void>((resolve) => file.end(resolve));
    }
  }

  /**
   * Nest calls `logger.error(message, stack?, context?)` and the other levels with
   * `(message, context?)`: the context is the last string argument.
   */
  private write(level: LogLevel, message: unknown, rest: unknown[]): void {
    if (!this.enabled.has(level)) {
      return;
    }
    const last = rest[rest.length - 1];
    const context = typeof last === 'string' ? last : this.context;
    const stack =
      (level === 'error' || level === 'fatal') && rest.length > 1 && typeof rest[0] === 'string'
        ? `\n${rest[0]}`
        : '';
    const line = `${new Date().toISOString()} ${LABELS[level]} [${context}] ${text(message)}${stack}\n`;
    if (level === 'error' || level === 'fatal') {
      // What came before goes out first, so stdout and stderr read in order when interleaved.
      this.flush();
      process.stderr.write(line);
      this.file?.write(line);
      return;
    }
    this.gathered += line;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.gathered) {
      process.stdout.write(this.gathered);
      this.file?.write(this.gathered);
    }
    this.gathered = '';
  }
}

function text(message: unknown): string {
  if (typeof message === 'string') {
    return message;
  }
  if (message instanceof Error) {
    return message.stack ?? message.message;
  }
  if (typeof message === 'object' && message !== null) {
    try {
      return JSON.stringify(message);
    } catch {
      return Object.prototype.toString.call(message);
    }
  }
  return String(message);
}
