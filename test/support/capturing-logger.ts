import type { LoggerService } from '@nestjs/common';

/**
 * Keeps what the code under test logs (`LOG …`, `WARN …`, `ERROR …`, `DEBUG …`), so that a spec can check
 * the lines an operator sees and a passing run prints nothing. Install with
 * `Logger.overrideLogger(logs)`.
 */
export class CapturingLogger implements LoggerService {
  readonly lines: string[] = [];
  log(message: unknown): void {
    this.lines.push(`LOG ${String(message)}`);
  }
  warn(message: unknown): void {
    this.lines.push(`WARN ${String(message)}`);
  }
  error(message: unknown): void {
    this.lines.push(`ERROR ${String(message)}`);
  }
  debug(message: unknown): void {
    this.lines.push(`DEBUG ${String(message)}`);
  }
}
