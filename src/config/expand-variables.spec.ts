import { describe, it, expect } from '@jest/globals';
import { expandVariables } from './expand-variables.js';

const env = { HOME: '/home/bot', USER: 'bot', SCRATCH: '/scratch/bot', EMPTY: '' };

describe('expandVariables', () => {
  it('expands $NAME and ${NAME}', () => {
    expect(expandVariables('$HOME/jobs/${USER}_x/$SCRATCH', env)).toEqual({
      value: '/home/bot/jobs/bot_x//scratch/bot',
      errors: [],
    });
  });

  it('ends a bare name at the first character that cannot be part of it', () => {
    expect(expandVariables('/tmp/$USER-EESSI/$USER.log', env).value).toBe('/tmp/bot-EESSI/bot.log');
  });

  it('expands ~ and ~/ at the start only', () => {
    expect(expandVariables('~', env).value).toBe('/home/bot');
    expect(expandVariables('~/keys/app.pem', env).value).toBe('/home/bot/keys/app.pem');
    expect(expandVariables('/data/~/x', env).value).toBe('/data/~/x');
  });

  it('turns \\$ into a literal $ that is not expanded', () => {
    expect(expandVariables('/tmp/$USER/\\$SLURM_JOB_ID/\\${X}', env)).toEqual({
      value: '/tmp/bot/$SLURM_JOB_ID/${X}',
      errors: [],
    });
  });

  it('keeps other backslashes and a $ that starts no name', () => {
    expect(expandVariables('C:\\dir\\x', env).value).toBe('C:\\dir\\x');
    expect(expandVariables('a\\$', env).value).toBe('a$');
    expect(expandVariables('cost$5', env).value).toBe('cost$5');
  });

  it('expands a variable set to the empty string to nothing', () => {
    expect(expandVariables('/a$EMPTY/b', env)).toEqual({ value: '/a/b', errors: [] });
  });

  it('names every undefined variable', () => {
    const result = expandVariables('$NOPE/${ALSO_NOPE}/$HOME', env);

    expect(result.errors).toEqual([
      expect.stringContaining('environment variable NOPE is not set'),
      expect.stringContaining('environment variable ALSO_NOPE is not set'),
    ]);
  });

  it('uses the fallback for variables missing from the environment', () => {
    const result = expandVariables('/tmp/$USER', {}, (name) =>
      name === 'USER' ? 'pw-user' : undefined,
    );

    expect(result).toEqual({ value: '/tmp/pw-user', errors: [] });
  });

  it('prefers the environment over the fallback', () => {
    expect(expandVariables('$USER', env, () => 'fallback').value).toBe('bot');
  });

  it('reports malformed ${...} references and ~user', () => {
    expect(expandVariables('${HOME', env).errors).toEqual([
      expect.stringContaining("malformed variable reference '${HOME'"),
    ]);
    expect(expandVariables('${1X}/a', env).errors).toEqual([
      expect.stringContaining("malformed variable reference '${1X}'"),
    ]);
    expect(expandVariables('~alice/x', env).errors).toEqual([
      expect.stringContaining("'~user' paths are not supported"),
    ]);
  });
});
