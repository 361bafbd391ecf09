import { describe, expect, it } from '@jest/globals';
import { DEFAULT_PORT, parseArgs, UsageError } from './parse-args.js';

describe('parseArgs', () => {
  it('defaults to serve on port 3000 with ./app.cfg and the job manager on', () => {
    expect(parseArgs([])).toEqual({
      kind: 'serve',
      config: 'app.cfg',
      port: DEFAULT_PORT,
      jobManager: true,
      smeeUrl: undefined,
    });
  });

  it('reads serve options in both spellings', () => {
    expect(
      parseArgs(['serve', '--port', '3030', '--config=/etc/bot.cfg', '--no-job-manager']),
    ).toEqual({
      kind: 'serve',
      config: '/etc/bot.cfg',
      port: 3030,
      jobManager: false,
      smeeUrl: undefined,
    });
    expect(parseArgs(['-p', '0', '-c', 'x.cfg'])).toMatchObject({ port: 0, config: 'x.cfg' });
  });

  it('accepts the seed job manager flags, negative iterations included', () => {
    expect(parseArgs(['job-manager', '-i', '-1'])).toMatchObject({
      kind: 'job-manager',
      iterations: -1,
    });
    expect(parseArgs(['job-manager', '--max-manager-iterations=3', '-j', '12,13'])).toEqual({
      kind: 'job-manager',
      config: 'app.cfg',
      iterations: 3,
      jobIds: ['12', '13'],
    });
    expect(parseArgs(['job-manager'])).toMatchObject({ iterations: -1, jobIds: undefined });
  });

  it('parses check-config --online and simulate', () => {
    expect(parseArgs(['check-config', '--online'])).toEqual({
      kind: 'check-config',
      config: 'app.cfg',
      online: true,
    });
    expect(parseArgs(['simulate', '--event', 'e.json', '--repo', '/tmp/r'])).toEqual({
      kind: 'simulate',
      config: 'app.cfg',
      event: 'e.json',
      repo: '/tmp/r',
    });
    expect(
      parseArgs([
        'simulate',
        '--event',
        'e.json',
        '--build',
        'for:arch=x86_64/generic on:arch=zen4',
      ]),
    ).toEqual({
      kind: 'simulate',
      config: 'app.cfg',
      event: 'e.json',
      build: 'for:arch=x86_64/generic on:arch=zen4',
    });
  });

  it('parses hash-password USER', () => {
    expect(parseArgs(['hash-password', 'ops'])).toEqual({ kind: 'hash-password', user: 'ops' });
    expect(parseArgs(['hash-password', '--help'])).toEqual({
      kind: 'help',
      topic: 'hash-password',
    });
  });

  it('answers --help and --version before anything else', () => {
    expect(parseArgs(['--help'])).toEqual({ kind: 'help', topic: 'serve' });
    expect(parseArgs(['job-manager', '-h'])).toEqual({ kind: 'help', topic: 'job-manager' });
    expect(parseArgs(['-V'])).toEqual({ kind: 'version' });
  });

  it.each([
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['--port'], /--port needs a value/],
    [['--port', 'abc'], /--port takes a whole number, got 'abc'/],
    [['--port', '70000'], /--port must be 0..65535/],
    [['--bogus'], /unknown option '--bogus'/],
    [['check-config', '--port', '1'], /--port does not apply to 'check-config'/],
    [['job-manager', '-j', '12;rm -rf /'], /-j\/--jobs takes job ids/],
    [['job-manager', '-i', '1.5'], /-i takes a whole number/],
    [['simulate'], /simulate needs --event/],
    [['serve', '--smee-url', 'ftp://x'], /--smee-url must be an http\(s\) URL/],
    [['serve', '--online=yes'], /takes no value/],
    [['hash-password'], /hash-password needs the user name/],
    [['hash-password', 'a:b'], /may not contain ':'/],
    [['hash-password', 'ops', 'extra'], /unexpected argument 'extra'/],
  ])('rejects %j with a message saying what is wrong', (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(UsageError);
    expect(() => parseArgs(argv)).toThrow(message);
  });
});
