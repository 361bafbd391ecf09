import { describe, it, expect, beforeEach, afterEach } from '@jest/globals';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createConfigSandbox,
  readFixture,
  replaceOnce,
  testPrivateKeyPem,
  type ConfigSandbox,
} from '../../test/fixtures/config/config-sandbox.js';
import { hashPassword } from '../common/password-hash.js';
import { ConfigError } from './config.errors.js';
import {
  DEFAULT_NO_BUILD_PERMISSION_COMMENT,
  loadConfig,
  requireWebhookSecret,
  type LoadedConfig,
} from './load-config.js';

/** 1-based line of the first line of `text` starting with `prefix`. */
function lineOf(text: string, prefix: string): number {
  const index = text.split('\n').findIndex((line) => line.startsWith(prefix));
  if (index === -1) {
    throw new Error(`lineOf: no line starts with ${JSON.stringify(prefix)}`);
  }
  return index + 1;
}

/** The ConfigError loadConfig throws; fails the test if it returns instead. */
function loadProblems(path: string, env: NodeJS.ProcessEnv): readonly string[] {
  let loaded: LoadedConfig | undefined;
  try {
    loaded = loadConfig(path, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error(`expected a ConfigError, got a config (warnings: ${loaded.warnings.join('; ')})`);
}

describe('loadConfig', () => {
  let sandbox: ConfigSandbox;

  beforeEach(() => {
    sandbox = createConfigSandbox();
  });

  afterEach(() => sandbox.cleanup());

  /** valid.cfg with one edit, written into the sandbox; returns the path and the text. */
  function validWith(from: string, to: string): { path: string; text: string } {
    const text = replaceOnce(readFixture('valid.cfg'), from, to);
    return { path: sandbox.writeConfig(text), text };
  }

  describe('a valid file', () => {
    it('reads every key into the typed config', () => {
      const path = sandbox.copyFixture('valid.cfg');
      const { config, warnings } = loadConfig(path, sandbox.env);
      const { dir, binDir } = sandbox;

      expect(warnings).toEqual([]);
      expect(config.configPath).toBe(path);
      expect(config.github).toEqual({
        appId: 123456,
        appName: 'test-bot',
        installationId: 7654321,
        privateKeyPath: sandbox.keyPath,
        privateKey: testPrivateKeyPem(),
        apiUrl: 'https://ghe.example.org/api/v3',
        checkRuns: false,
      });
      expect(config.buildenv).toEqual({
        buildJobScript: sandbox.jobScript,
        cvmfsCustomizations: {
          '/etc/cvmfs/default.local': 'CVMFS_HTTP_PROXY="http://proxy.example.org:3128|DIRECT"',
        },
        httpProxy: 'http://proxy.example.org:3128/',
        httpsProxy: 'http://proxy.example.org:3129/',
        jobsBaseDir: join(dir, 'jobs'),
        loadModules: 'Python/3.11.3,git',
        localTmp: '/tmp/$USER/EESSI',
        slurmParams: '--hold --time=01:00:00',
        submitCommand: join(binDir, 'sbatch'),
        buildPermission: ['alice', 'bob'],
        noBuildPermissionComment: 'User `{build_labeler}` may not build here',
        jobName: 'test-bot-jobs',
        scheduler: 'slurm',
        jobHandoverProtocol: 'hold_release',
        jobDelayBeginFactor: 2,
        allowUpdateSubmitOpts: false,
        cancelOnPush: false,
        allowedExportVars: [],
        cloneGitRepoVia: 'https',
      });
      expect(config.architectureTargets.archTargetMap).toEqual({
        'linux/x86_64/generic': '--constraint shape=c4.2xlarge',
        'linux/x86_64/amd/zen2': '--constraint shape=c5a.2xlarge',
      });
      expect(config.jobManager).toEqual({
        jobIdsDir: join(dir, 'jobs', 'ids'),
        pollCommand: join(binDir, 'squeue'),
        pollIntervalSeconds: 30,
        scontrolCommand: join(binDir, 'scontrol'),
        scancelCommand: join(binDir, 'scancel'),
        commandTimeoutSeconds: 20,
        logPath: join(dir, 'logs', 'job_manager.log'),
      });
      expect(config.eventHandler).toEqual({
        stateDir: join(dir, 'state'),
        logPath: join(dir, 'logs', 'event_handler.log'),
        smeeUrl: 'https://smee.io/abc123',
        redeliverIntervalSeconds: 600,
        statusBind: ['127.0.0.1'],
      });
    });

    it('fills in defaults for every optional key', () => {
      const { config, warnings } = loadConfig(sandbox.copyFixture('minimal.cfg'), sandbox.env);

      expect(warnings).toEqual([]);
      expect(config.github.apiUrl).toBe('https://api.github.com');
      expect(config.github.webhookSecret).toBeUndefined();
      expect(config.buildenv).toMatchObject({
        cvmfsCustomizations: {},
        httpProxy: '',
        httpsProxy: '',
        loadModules: '',
        slurmParams: '',
        buildPermission: [],
        noBuildPermissionComment: DEFAULT_NO_BUILD_PERMISSION_COMMENT,
        // app_name "MY bot!" reduced to characters safe in a Slurm job name
        jobName: 'eessi-bot-MY-bot',
        scheduler: 'slurm',
      });
      expect(DEFAULT_NO_BUILD_PERMISSION_COMMENT).toContain('{build_labeler}');
      expect(config.architectureTargets.archTargetMap).toEqual({ 'linux/aarch64/generic': '' });
      // scancel defaults to the directory of scontrol_command
      expect(config.jobManager.scancelCommand).toBe(join(sandbox.binDir, 'scancel'));
      expect(config.jobManager.commandTimeoutSeconds).toBe(60);
      expect(config.jobManager.logPath).toBeUndefined();
      expect(config.eventHandler).toEqual({
        stateDir: join(sandbox.home, 'jobs', '.eessi-bot-state'),
        redeliverIntervalSeconds: 600,
        statusBind: ['127.0.0.1'],
      });
    });

    it('does not check a defaulted scancel_command', () => {
      rmSync(join(sandbox.binDir, 'scancel'));

      const { config } = loadConfig(sandbox.copyFixture('minimal.cfg'), sandbox.env);

      expect(config.jobManager.scancelCommand).toBe(join(sandbox.binDir, 'scancel'));
    });

    it('loads app.cfg.example once the files it names exist', () => {
      const example = readFileSync(new URL('../../app.cfg.example', import.meta.url), 'utf8');
      mkdirSync(join(sandbox.home, '.eessi-bot'));
      copyFileSync(sandbox.keyPath, join(sandbox.home, '.eessi-bot', 'app-private-key.pem'));
      mkdirSync(join(sandbox.home, 'eessi-bot', 'scripts'), { recursive: true });
      copyFileSync(
        sandbox.jobScript,
        join(sandbox.home, 'eessi-bot', 'scripts', 'bot-build.slurm'),
      );

      const { config, warnings } = loadConfig(sandbox.writeConfig(example), sandbox.env);

      expect(warnings).toEqual([]);
      expect(config.buildenv.jobsBaseDir).toBe(join(sandbox.home, 'eessi-bot', 'jobs'));
      expect(config.buildenv.slurmParams).toBe('--hold');
      expect(config.buildenv.jobName).toBe('eessi-bot-my-cluster-bot');
      expect(Object.keys(config.architectureTargets.archTargetMap)).toHaveLength(2);
    });

    it('returns a deeply frozen config', () => {
      const { config, warnings } = loadConfig(sandbox.copyFixture('valid.cfg'), sandbox.env);

      expect(Object.isFrozen(config)).toBe(true);
      expect(Object.isFrozen(config.github)).toBe(true);
      expect(Object.isFrozen(config.buildenv.buildPermission)).toBe(true);
      expect(Object.isFrozen(config.buildenv.cvmfsCustomizations)).toBe(true);
      expect(Object.isFrozen(config.architectureTargets.archTargetMap)).toBe(true);
      expect(Object.isFrozen(warnings)).toBe(true);
      expect(() => {
        (config.jobManager as { pollIntervalSeconds: number }).pollIntervalSeconds = 1;
      }).toThrow(TypeError);
      expect(() => (config.buildenv.buildPermission as string[]).push('mallory')).toThrow(
        TypeError,
      );
      expect(config.jobManager.pollIntervalSeconds).toBe(30);
    });
  });

  describe('scheduler = local', () => {
    it('does not demand Slurm commands that a local scheduler never runs', () => {
      const withMissing = replaceOnce(
        readFixture('valid.cfg'),
        'submit_command = sbatch',
        'submit_command = sbatch-nowhere',
      );
      const slurmPath = sandbox.writeConfig(withMissing, 'slurm.cfg');
      expect(() => loadConfig(slurmPath, sandbox.env)).toThrow(/submit_command/);

      const localPath = sandbox.writeConfig(
        replaceOnce(withMissing, 'scheduler = slurm', 'scheduler = local'),
        'local.cfg',
      );
      const { config } = loadConfig(localPath, sandbox.env);
      expect(config.buildenv.scheduler).toBe('local');
      expect(config.buildenv.submitCommand).toBe('sbatch-nowhere');
    });
  });

  describe('[event_handler] catch-up and status page keys', () => {
    const smee = 'smee_url = https://smee.io/abc123';

    it('reads redeliver_interval, status_bind (spaces or commas) and status_auth', async () => {
      const hash = await hashPassword('correct horse');
      const { path } = validWith(
        smee,
        `${smee}\nredeliver_interval = 0\nstatus_bind = 127.0.0.1, 10.1.0.0/16 ::1\nstatus_auth = ops:${hash}`,
      );

      const { config } = loadConfig(path, sandbox.env);

      expect(config.eventHandler.redeliverIntervalSeconds).toBe(0);
      expect(config.eventHandler.statusBind).toEqual(['127.0.0.1', '10.1.0.0/16', '::1']);
      expect(config.eventHandler.statusAuth).toEqual({ user: 'ops', passwordHash: hash });
    });

    it('reports a bad interval, address and password hash without quoting the hash', () => {
      const { path, text } = validWith(
        smee,
        `${smee}\nredeliver_interval = ten minutes\nstatus_bind = 127.0.0.1 example.org 10.0.0.0/33\nstatus_auth = ops:plain-secret-password`,
      );

      const problems = loadProblems(path, sandbox.env);

      const line = (key: string) => `${path}:${lineOf(text, key)}: [event_handler]`;
      expect(problems).toEqual([
        `${line('redeliver_interval')} redeliver_interval: "ten minutes" is not a number of seconds (0 turns missed-webhook catch-up off)`,
        `${line('status_bind')} status_bind: "example.org" is not an IP address or CIDR range (e.g. 127.0.0.1, 10.0.0.0/8, 0.0.0.0 for every client)`,
        `${line('status_bind')} status_bind: "10.0.0.0/33" is not an IP address or CIDR range (e.g. 127.0.0.1, 10.0.0.0/8, 0.0.0.0 for every client)`,
        `${line('status_auth')} status_auth: expected scrypt:<salt>:<hash> as printed by \`eessi-bot hash-password USER\``,
      ]);
      expect(problems.join('\n')).not.toContain('plain-secret-password');
    });
  });

  describe('environment overrides', () => {
    it('takes the webhook secret from GITHUB_APP_SECRET_TOKEN', () => {
      const env = { ...sandbox.env, GITHUB_APP_SECRET_TOKEN: 's3cret' };

      const { config } = loadConfig(sandbox.copyFixture('valid.cfg'), env);

      expect(config.github.webhookSecret).toBe('s3cret');
      expect(requireWebhookSecret(config)).toBe('s3cret');
    });

    it('lets GITHUB_API_URL override api_url', () => {
      const env = { ...sandbox.env, GITHUB_API_URL: 'http://127.0.0.1:4567/' };

      const { config } = loadConfig(sandbox.copyFixture('valid.cfg'), env);

      expect(config.github.apiUrl).toBe('http://127.0.0.1:4567');
    });

    it('names GITHUB_API_URL when its value is not a URL', () => {
      const env = { ...sandbox.env, GITHUB_API_URL: 'ftp://example.org' };

      const problems = loadProblems(sandbox.copyFixture('valid.cfg'), env);

      expect(problems).toEqual([
        'environment variable GITHUB_API_URL: "ftp://example.org" is not an http:// or https:// URL',
      ]);
    });
  });

  describe('requireWebhookSecret', () => {
    it('throws a ConfigError telling to set GITHUB_APP_SECRET_TOKEN when it is missing', () => {
      const { config } = loadConfig(sandbox.copyFixture('valid.cfg'), sandbox.env);

      expect(() => requireWebhookSecret(config)).toThrow(ConfigError);
      expect(() => requireWebhookSecret(config)).toThrow(
        /set GITHUB_APP_SECRET_TOKEN|GITHUB_APP_SECRET_TOKEN is not set/,
      );
    });
  });

  describe('configparser semantics through loadConfig', () => {
    it('loads a real upstream-style EESSI app.cfg without warnings', () => {
      // What its [deploycfg] points at, as on the site's host.
      const scripts = join(sandbox.home, 'eessi-bot-software-layer', 'scripts');
      mkdirSync(scripts, { recursive: true });
      for (const command of [
        join(scripts, 'eessi-upload-to-staging'),
        join(sandbox.binDir, 'apptainer'),
      ]) {
        writeFileSync(command, '#!/bin/sh\n');
        chmodSync(command, 0o755);
      }
      writeFileSync(join(sandbox.home, '.eessi', 'user-site-system.key'), 'key');
      const { config, warnings } = loadConfig(
        sandbox.copyFixture('eessi-upstream.cfg'),
        sandbox.env,
      );

      expect(warnings).toEqual([]);
      expect(config.github.appName).toBe('eessi-bot-demo');
      expect(config.buildenv.cvmfsCustomizations).toEqual({
        '/etc/cvmfs/default.local':
          'CVMFS_HTTP_PROXY="http://squid.example.org:3128|http://10.0.0.5:3128"',
      });
      // `%%` unescaped as configparser does; `;` and `#` kept: there are no inline comments
      expect(config.buildenv.slurmParams).toBe('--hold --output=slurm-%j.out; --comment=#eessi');
      expect(config.buildenv.noBuildPermissionComment).toBe(
        'Label `bot:build` has been set by user `{build_labeler}`, but this person does not have permission to trigger builds',
      );
      expect(config.buildenv.localTmp).toBe('/tmp/botuser/EESSI');
      expect(config.buildenv.jobName).toBe('prod');
      expect(config.buildenv.buildPermission).toEqual(['boegel', 'trz42']);
      expect(Object.keys(config.architectureTargets.archTargetMap)).toEqual([
        'linux/x86_64/generic',
        'linux/x86_64/amd/zen2',
      ]);
      expect(config.jobManager.jobIdsDir).toBe(join(sandbox.home, 'jobs', 'ids'));
      expect(config.eventHandler.logPath).toBe(
        '/project/def-eessi/logs/eessi_bot_event_handler.log',
      );
    });

    it('accepts keys in any case and `:` as separator', () => {
      const { path } = validWith('poll_interval = 30', 'Poll_Interval: 45');

      expect(loadConfig(path, sandbox.env).config.jobManager.pollIntervalSeconds).toBe(45);
    });

    it('reports configparser interpolation it cannot honour', () => {
      const { path, text } = validWith('load_modules = Python/3.11.3,git', 'load_modules = %(x)s');

      expect(loadProblems(path, sandbox.env)).toEqual([
        expect.stringMatching(
          new RegExp(
            `^${path}:${lineOf(text, 'load_modules')}: \\[buildenv\\] load_modules: uses configparser interpolation`,
          ),
        ),
      ]);
    });
  });

  describe('expansion', () => {
    it('expands $VAR, ${VAR} and ~ in paths, keeps \\$ for the job and resolves relative paths', () => {
      const { config } = loadConfig(sandbox.copyFixture('expansion.cfg'), sandbox.env);
      const { dir, home } = sandbox;

      expect(config.github.privateKeyPath).toBe(sandbox.keyPath);
      expect(config.buildenv.buildJobScript).toBe(sandbox.jobScript);
      expect(config.buildenv.jobsBaseDir).toBe(join(home, 'jobs-of-botuser'));
      expect(config.buildenv.localTmp).toBe('/tmp/botuser/$SLURM_JOB_ID/EESSI');
      expect(config.buildenv.submitCommand).toBe(join(sandbox.binDir, 'sbatch'));
      // not a path: sbatch parameters are passed on verbatim
      expect(config.buildenv.slurmParams).toBe('--chdir=$HOME');
      expect(config.jobManager.jobIdsDir).toBe(join(home, 'ids'));
      expect(config.jobManager.logPath).toBe(join(dir, 'logs', 'job_manager.log'));
      expect(config.eventHandler.stateDir).toBe(join(dir, 'state-dir'));
      expect(config.eventHandler.logPath).toBe(home);
    });

    it('resolves relative paths against the directory of the config file, not the cwd', () => {
      mkdirSync(join(sandbox.dir, 'etc'));
      const text = replaceOnce(
        readFixture('expansion.cfg'),
        'build_job_script = home/',
        'build_job_script = ../home/',
      );
      const path = sandbox.writeConfig(text, join('etc', 'app.cfg'));

      const { config } = loadConfig(path, sandbox.env);

      expect(config.buildenv.buildJobScript).toBe(sandbox.jobScript);
      expect(config.jobManager.logPath).toBe(join(sandbox.dir, 'etc', 'logs', 'job_manager.log'));
    });

    it('names an undefined variable with file, line, section and key', () => {
      const { path, text } = validWith(
        'jobs_base_dir = ${SANDBOX}/jobs',
        'jobs_base_dir = $NOT_SET_HERE/jobs',
      );

      expect(loadProblems(path, sandbox.env)).toEqual([
        `${path}:${lineOf(text, 'jobs_base_dir')}: [buildenv] jobs_base_dir: environment variable NOT_SET_HERE is not set (set it, or write the path out)`,
      ]);
    });
  });

  describe('problems', () => {
    it('reports a missing file and says to copy app.cfg.example', () => {
      const path = join(sandbox.dir, 'nope.cfg');

      expect(loadProblems(path, sandbox.env)).toEqual([
        expect.stringMatching(
          new RegExp(`^${path}: configuration file not found.*copy app\\.cfg\\.example to ${path}`),
        ),
      ]);
    });

    it('reports missing sections and missing required keys, naming file, section and key', () => {
      const path = sandbox.copyFixture('missing-keys.cfg');

      expect(loadProblems(path, sandbox.env)).toEqual([
        expect.stringMatching(
          new RegExp(`^${path}:2: \\[github\\] missing required key 'app_id' \\(`),
        ),
        expect.stringMatching(
          new RegExp(`^${path}:2: \\[github\\] missing required key 'installation_id' \\(`),
        ),
        `${path}: missing section [job_manager] (it must set job_ids_dir, poll_command, poll_interval, scontrol_command; see app.cfg.example)`,
      ]);
    });

    it('reports all problems at once: three errors give three problems', () => {
      const path = sandbox.copyFixture('three-errors.cfg');
      const invalidJson = '{"linux/x86_64/generic": "--partition x86",}';
      let parserMessage = '';
      try {
        JSON.parse(invalidJson);
      } catch (error) {
        parserMessage = (error as Error).message;
      }

      let thrown: unknown;
      try {
        loadConfig(path, sandbox.env);
      } catch (error) {
        thrown = error;
      }

      expect(thrown).toBeInstanceOf(ConfigError);
      const problems = (thrown as ConfigError).problems;
      expect(problems).toEqual([
        expect.stringMatching(
          new RegExp(`^${path}:2: \\[github\\] missing required key 'installation_id'`),
        ),
        expect.stringContaining(
          `${path}:14: [architecturetargets] arch_target_map: invalid JSON (${parserMessage})`,
        ),
        expect.stringContaining(
          `${path}:19: [job_manager] poll_interval: "often" is not an integer > 0`,
        ),
      ]);
      // The message an operator reads lists every one of them.
      for (const problem of problems) {
        expect((thrown as Error).message).toContain(problem);
      }
      expect((thrown as Error).message).toMatch(/^Invalid configuration \(3 problems\):/);
    });

    it('passes syntax errors on with file and line, along with other problems', () => {
      const path = sandbox.copyFixture('malformed.cfg');

      expect(loadProblems(path, sandbox.env)).toEqual([
        expect.stringMatching(new RegExp(`^${path}:1: "app_id = 1" is outside any section`)),
        expect.stringMatching(
          new RegExp(`^${path}:7: \\[github\\] cannot parse "this line has no separator"`),
        ),
        expect.stringMatching(
          new RegExp(`^${path}:8: \\[github\\] key 'app_name' already set on line 4`),
        ),
      ]);
    });

    it.each([
      ['app_id = 123456', 'app_id = 12x', 'app_id', 'github', '"12x" is not an integer > 0'],
      [
        'poll_interval = 30',
        'poll_interval = 0',
        'poll_interval',
        'job_manager',
        '"0" is not an integer > 0',
      ],
      [
        'command_timeout = 20',
        'command_timeout = -5',
        'command_timeout',
        'job_manager',
        '"-5" is not an integer > 0',
      ],
      ['app_name = test-bot', 'app_name =', 'app_name', 'github', 'is empty; set it to'],
      ['app_name = test-bot', 'app_name = <b>bot</b>', 'app_name', 'github', 'without < or >'],
      [
        'job_name = test-bot-jobs',
        'job_name = my jobs',
        'job_name',
        'buildenv',
        "may only contain letters, digits, '.', '_' and '-'",
      ],
      ['scheduler = slurm', 'scheduler = pbs', 'scheduler', 'buildenv', "use 'slurm' or 'local'"],
      [
        'smee_url = https://smee.io/abc123',
        'smee_url = smee.io/abc',
        'smee_url',
        'event_handler',
        'is not an http:// or https:// URL',
      ],
      [
        'api_url = https://ghe.example.org/api/v3/',
        'api_url = not a url',
        'api_url',
        'github',
        'is not an http:// or https:// URL',
      ],
      [
        'cvmfs_customizations = {',
        'cvmfs_customizations = ["a", {',
        'cvmfs_customizations',
        'buildenv',
        'invalid JSON (',
      ],
      [
        'submit_command = sbatch',
        'submit_command = sbatch-nowhere',
        'submit_command',
        'buildenv',
        "'sbatch-nowhere' was not found as an executable on PATH",
      ],
      [
        'poll_command = squeue',
        'poll_command = /usr/bin/definitely-not-squeue',
        'poll_command',
        'job_manager',
        '/usr/bin/definitely-not-squeue does not exist',
      ],
      [
        'scancel_command = scancel',
        'scancel_command = nope-scancel',
        'scancel_command',
        'job_manager',
        "'nope-scancel' was not found",
      ],
      [
        'build_job_script = ${SANDBOX}/home/eessi-bot-software-layer/scripts/bot-build.slurm',
        'build_job_script = ${SANDBOX}/missing.slurm',
        'build_job_script',
        'buildenv',
        'missing.slurm does not exist',
      ],
      [
        'build_job_script = ${SANDBOX}/home/eessi-bot-software-layer/scripts/bot-build.slurm',
        'build_job_script = ${SANDBOX}/bin',
        'build_job_script',
        'buildenv',
        'is not a regular file',
      ],
    ])('reports %s → %s as a problem of key %s in [%s]', (from, to, key, section, message) => {
      const { path, text } = validWith(from, to);

      const problems = loadProblems(path, sandbox.env);

      expect(problems).toHaveLength(1);
      expect(problems[0]).toContain(
        `${path}:${lineOf(text, to.split(' ')[0])}: [${section}] ${key}: `,
      );
      expect(problems[0]).toContain(message);
    });

    it('reports a command that is not executable', () => {
      chmodSync(join(sandbox.binDir, 'scontrol'), 0o644);
      const path = sandbox.copyFixture('valid.cfg');

      expect(loadProblems(path, sandbox.env)).toEqual([
        expect.stringContaining(
          `[job_manager] scontrol_command: ${join(sandbox.binDir, 'scontrol')} is not executable by this user`,
        ),
      ]);
    });

    it.each([
      ['{}', 'has no targets'],
      ['["linux/x86_64/generic"]', 'must be a JSON object'],
      ['{"linux/x86_64/generic": 5}', 'the value for "linux/x86_64/generic" must be a string'],
      ['{"linux/../../etc": ""}', 'target "linux/../../etc" must look like os/arch'],
      ['{"linux//x86_64": ""}', 'target "linux//x86_64" must look like os/arch'],
      ['{"x86_64": ""}', 'target "x86_64" must look like os/arch'],
      ['{"linux/x86 64": ""}', 'target "linux/x86 64" must look like os/arch'],
      ['{"linux/x86_64/": ""}', 'target "linux/x86_64/" must look like os/arch'],
    ])('rejects arch_target_map = %s', (map, message) => {
      const text = readFixture('valid.cfg').replace(
        /arch_target_map = \{\n.*\n.*\}/,
        `arch_target_map = ${map}`,
      );
      const path = sandbox.writeConfig(text);

      expect(loadProblems(path, sandbox.env)).toEqual([
        expect.stringContaining(
          `${path}:${lineOf(text, 'arch_target_map')}: [architecturetargets] arch_target_map: ${message}`,
        ),
      ]);
    });
  });

  describe('private key', () => {
    it('reports a key file that does not exist', () => {
      const { path, text } = validWith(
        'private_key = ${SANDBOX}/home/.eessi/app.pem',
        'private_key = ~/gone.pem',
      );

      expect(loadProblems(path, sandbox.env)).toEqual([
        expect.stringMatching(
          new RegExp(
            `^${path}:${lineOf(text, 'private_key')}: \\[github\\] private_key: ${sandbox.home}/gone.pem does not exist`,
          ),
        ),
      ]);
    });

    it('reports a key path that cannot be read', () => {
      // A directory: unreadable as a file even for root, unlike a chmod 000 file.
      const { path } = validWith(
        'private_key = ${SANDBOX}/home/.eessi/app.pem',
        'private_key = ~/.eessi',
      );

      expect(loadProblems(path, sandbox.env)).toEqual([
        expect.stringContaining(
          `[github] private_key: cannot read ${sandbox.home}/.eessi (EISDIR)`,
        ),
      ]);
    });

    it('reports a file without a PEM private key, without quoting its content', () => {
      writeFileSync(sandbox.keyPath, 'ghp_notakeyButSecretLooking\n');

      const problems = loadProblems(sandbox.copyFixture('valid.cfg'), sandbox.env);

      expect(problems).toEqual([
        expect.stringContaining(
          `[github] private_key: ${sandbox.keyPath} does not contain a PEM private key`,
        ),
      ]);
      expect(problems[0]).not.toContain('ghp_notakey');
    });

    it('reports a PEM block that does not hold a usable key', () => {
      writeFileSync(
        sandbox.keyPath,
        '-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n-----END RSA PRIVATE KEY-----\n',
      );

      expect(loadProblems(sandbox.copyFixture('valid.cfg'), sandbox.env)).toEqual([
        expect.stringContaining(
          `[github] private_key: ${sandbox.keyPath} holds a PEM block that is not a usable private key`,
        ),
      ]);
    });

    it('warns when the key is readable by group or others', () => {
      const loose = createConfigSandbox({ keyMode: 0o644 });
      try {
        const text = readFixture('valid.cfg');
        const path = loose.writeConfig(text);

        const { config, warnings } = loadConfig(path, loose.env);

        expect(config.github.privateKey).toBe(testPrivateKeyPem());
        expect(warnings).toEqual([
          `${path}:${lineOf(text, 'private_key')}: [github] private_key: ${loose.keyPath} is accessible by group or others (mode 0644); run chmod 600 ${loose.keyPath}`,
        ]);
      } finally {
        loose.cleanup();
      }
    });
  });

  describe('unknown sections and keys', () => {
    it('warns with a did-you-mean suggestion and still loads', () => {
      const path = sandbox.copyFixture('typos.cfg');

      const { config, warnings } = loadConfig(path, sandbox.env);

      expect(warnings).toEqual([
        `${path}:4: [github] unknown key 'app_nmae' (did you mean 'app_name'?)`,
        `${path}:13: [buildenv] unknown key 'frobnicate' (ignored)`,
        `${path}:18: unknown section [job_manger] (did you mean [job_manager]?)`,
      ]);
      // the misspelt section's value did not leak into the real one
      expect(config.jobManager.pollIntervalSeconds).toBe(60);
    });

    it('suggests the right section when only its case differs, and still demands the real one', () => {
      const { path, text } = validWith('[github]', '[GitHub]');

      let thrown: unknown;
      try {
        loadConfig(path, sandbox.env);
      } catch (error) {
        thrown = error;
      }

      expect((thrown as ConfigError).problems).toEqual([
        expect.stringContaining(`${path}: missing section [github]`),
      ]);
      const hint = `${path}:${lineOf(text, '[GitHub]')}: unknown section [GitHub] (did you mean [github]?)`;
      expect((thrown as ConfigError).warnings).toEqual([hint]);
      expect((thrown as Error).message).toContain(`Warnings:\n  - ${hint}`);
    });
  });
});
