/**
 * What most specs need besides the code under test: a webhook delivery signed and shaped as GitHub
 * sends it, temporary directories that are removed again, a quiet Nest logger, and a cleanup
 * registry that undoes whatever a test set up, in reverse order, even when the test failed.
 */
import { mkdtempSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { CapturingLogger } from './capturing-logger.js';
import { removeTree } from './job-dir.js';

export { postDelivery, signBody, signedDelivery, type SignedDelivery } from './signed-delivery.js';

/**
 * Undo steps registered while a test sets things up (directories, servers, apps, environment),
 * run last-registered first so that what was built on something goes before it.
 */
export class Cleanup {
  private readonly tasks: Array<() => unknown> = [];

  /** Runs `task` at cleanup time. */
  defer(task: () => unknown): void {
    this.tasks.push(task);
  }

  /**
   * A fresh directory in the system's temp dir, removed with its contents at cleanup time, even
   * where a build left read-only directories in it.
   */
  async tempDir(prefix: string): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    this.defer(() => removeTree(dir));
    return dir;
  }

  /** `tempDir` for set-up code that cannot wait. */
  tempDirSync(prefix: string): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.defer(() => removeTree(dir));
    return dir;
  }

  /** Runs every task, even after one fails, then throws what failed. */
  async run(): Promise<void> {
    const errors: unknown[] = [];
    for (let task = this.tasks.pop(); task; task = this.tasks.pop()) {
      try {
        await task();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length === 1) {
      throw errors[0];
    }
    if (errors.length > 1) {
      throw new AggregateError(errors, `${errors.length} cleanup steps failed`);
    }
  }
}

/** A cleanup registry run after each test of the calling file or `describe` block. */
export function cleanupAfterEach(): Cleanup {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());
  return cleanup;
}

/** A cleanup registry run once the tests of the calling file or `describe` block are done. */
export function cleanupAfterAll(): Cleanup {
  const cleanup = new Cleanup();
  afterAll(() => cleanup.run());
  return cleanup;
}

/**
 * Silences Nest's Logger from the calling file's (or `describe` block's) first test on, for code
 * under test that logs warnings and errors on purpose: a passing run prints nothing. Not restored
 * afterwards: each spec file has its own copy of Nest, and work a test left running may still log
 * after the last hook.
 */
export function quietNestLogger(): void {
  beforeAll(() => {
    Logger.overrideLogger(false);
  });
}

/**
 * Keeps what Nest's Logger logs from now on, for a test that checks the lines an operator sees
 * (and prints nothing). Call it after compiling a testing module: `compile()` installs Nest's
 * TestingLogger, which prints errors.
 */
export function captureNestLogs(): CapturingLogger {
  const logs = new CapturingLogger();
  Logger.overrideLogger(logs);
  return logs;
}
