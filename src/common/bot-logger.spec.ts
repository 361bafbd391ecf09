import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { BotLogger } from './bot-logger.js';

const LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (LOG|WARN|ERROR|DEBUG|FATAL) \[[^\]]+\] /;

describe('BotLogger', () => {
  let dir: string;
  let stdout: string[];
  let stderr: string[];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bot-logger-'));
    stdout = [];
    stderr = [];
    // The console streams are the process's, not ours: capture what reaches them.
    jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      stdout.push(String(chunk));
      return true;
    });
    jest.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      stderr.push(String(chunk));
      return true;
    });
  });

  afterEach(() => {
    jest.restoreAllMocks();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes one line per record to the console and the log file, in order', async () => {
    const path = join(dir, 'logs', 'bot.log');
    const logger = new BotLogger('eessi-bot', path);
    logger.log('delivery 1 done', 'EventDispatcher');
    logger.warn('slow disk');
    logger.error('could not store', 'Error: ENOSPC\n    at write', 'WebhookController');
    logger.log('after the error', 'EventDispatcher');
    await logger.close();

    const lines = readFileSync(path, 'utf8').split('\n');
    expect(lines.filter((line) => LINE.test(line))).toHaveLength(4);
    expect(lines[0]).toMatch(/ LOG \[EventDispatcher\] delivery 1 done$/);
    expect(lines[1]).toMatch(/ WARN \[eessi-bot\] slow disk$/);
    expect(lines[2]).toMatch(/ ERROR \[WebhookController\] could not store$/);
    expect(lines[3]).toBe('Error: ENOSPC');
    expect(lines[5]).toMatch(/ LOG \[EventDispatcher\] after the error$/);
    expect(stdout.join('')).toMatch(/delivery 1 done\n.* slow disk\n.* after the error\n$/);
    expect(stderr.join('')).toMatch(
      / ERROR \[WebhookController\] could not store\nError: ENOSPC\n {4}at write\n/,
    );
  });

  it('writes the lines of one tick to stdout in one write, and an error at once after them', async () => {
    const logger = new BotLogger('eessi-bot');
    for (let i = 0; i < 100; i += 1) {
      logger.log(`delivery ${i} done`);
    }
    expect(stdout).toHaveLength(0);
    await new Promise((resolve) => setImmediate(resolve));
    expect(stdout).toHaveLength(1);
    expect(stdout[0].split('\n')).toHaveLength(101);

    logger.log('before the error');
    logger.error('disk full');
    expect(stdout).toHaveLength(2);
    expect(stdout[1]).toMatch(/ LOG \[eessi-bot\] before the error\n$/);
    expect(stderr.join('')).toMatch(/ ERROR \[eessi-bot\] disk full\n$/);
    await logger.close();
  });

  it('serves as Nest’s logger, leaving out the levels not enabled', async () => {
    const path = join(dir, 'bot.log');
    const logger = new BotLogger('simulate', path, ['warn', 'error']);
    Logger.overrideLogger(logger);
    try {
      new Logger('Inbox').log('not shown');
      new Logger('Inbox').debug('not shown either');
      new Logger('Inbox').warn({ pending: 3 });
    } finally {
      Logger.overrideLogger(false);
    }
    await logger.close();

    expect(readFileSync(path, 'utf8')).toMatch(/^\S+ WARN \[Inbox\] \{"pending":3\}\n$/);
    expect(stdout.join('')).not.toContain('not shown');
  });

  it('keeps logging to the console when the log file cannot be written', async () => {
    // A directory where the file should be: opening it fails after start-up.
    const logger = new BotLogger('eessi-bot', dir);
    await new Promise((resolve) => setTimeout(resolve, 50));
    logger.log('still here');
    await logger.close();

    expect(stderr.join('')).toMatch(/ERROR \[BotLogger\] cannot write log file /);
    expect(stdout.join('')).toMatch(/LOG \[eessi-bot\] still here\n$/);
  });
});
