import { describe, it, expect, beforeEach, afterEach } from '@jest/globals';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createConfigSandbox,
  readFixture,
  replaceOnce,
  type ConfigSandbox,
} from '../../test/fixtures/config/config-sandbox.js';
import { ConfigError } from './config.errors.js';
import { loadConfig, type LoadedConfig } from './load-config.js';
import { DEFAULT_TEMPLATES } from './upstream-defaults.js';

/** 1-based line of the first line of `text` that contains `needle`. */
function lineWith(text: string, needle: string): number {
  const index = text.split('\n').findIndex((line) => line.includes(needle));
  if (index === -1) {
    throw new Error(`lineWith: no line contains ${JSON.stringify(needle)}`);
  }
  return index + 1;
}

describe('loadConfig with a v0.9-format app.cfg', () => {
  let sandbox: ConfigSandbox;

  beforeEach(() => {
    sandbox = createConfigSandbox();
    sandbox.copyFixtureDir('repos');
  });

  afterEach(() => sandbox.cleanup());

  /** v09.cfg with edits (each `from` must occur), written into the sandbox. */
  function v09With(...edits: [from: string, to: string][]): { path: string; text: string } {
    let text = readFixture('v09.cfg');
    for (const [from, to] of edits) {
      text = replaceOnce(text, from, to);
    }
    return { path: sandbox.writeConfig(text), text };
  }

  function load(path: string): LoadedConfig {
    return loadConfig(path, sandbox.env);
  }

  function problemsOf(path: string): { problems: readonly string[]; warnings: readonly string[] } {
    try {
      const loaded = load(path);
      throw new Error(
        `expected a ConfigError, got a config (warnings: ${loaded.warnings.join('; ')})`,
      );
    } catch (error) {
      if (!(error instanceof ConfigError)) {
        throw error;
      }
      return { problems: error.problems, warnings: error.warnings };
    }
  }

  describe('the fixture', () => {
    it('loads every section into typed values, with no warnings', () => {
      const { config, warnings } = load(sandbox.copyFixture('v09.cfg'));
      const { dir, binDir } = sandbox;

      expect(warnings).toEqual([]);
      expect(config.generation).toBe('v09');
      expect(config.github).toMatchObject({
        appId: 424242,
        appName: 'site-a',
        installationId: 9090,
      });
      expect(config.botControl).toEqual({
        commandPermission: ['alice', 'bob', 'carol'],
        commandResponseFmt:
          '<details><summary>Reply from <code>{app_name}</code></summary>\n\n{comment_response}\n{comment_result}\n</details>',
        chatlevel: 'chatty',
      });
      expect(config.buildenv).toEqual({
        buildJobScript: 'scripts/bot-build.slurm',
        buildJobScriptRepo: 'https://github.com/EESSI/eessi-bot-software-layer.git',
        cvmfsCustomizations: {},
        httpProxy: 'http://proxy.site-a.example:3128/',
        httpsProxy: 'http://proxy.site-a.example:3128/',
        jobsBaseDir: join(dir, 'jobs'),
        loadModules: 'git/2.45',
        localTmp: '/tmp/botuser/$SLURM_JOB_ID',
        slurmParams: '--hold --account=eessi',
        submitCommand: join(binDir, 'sbatch'),
        buildPermission: ['alice', 'bob'],
        noBuildPermissionComment: '`{build_labeler}` may not start builds on site-a',
        jobName: 'site-a-builds',
        scheduler: 'slurm',
        sharedFsPath: '/shared/eessi',
        buildLogsDir: '/shared/eessi/build_logs',
        containerCachedir: '/shared/eessi/containers',
        siteConfigScript: '/shared/eessi/site_config.sh',
        jobHandoverProtocol: 'delayed_begin',
        jobDelayBeginFactor: 2.5,
        allowUpdateSubmitOpts: true,
        allowedExportVars: ['SKIP_TESTS=yes', 'SKIP_TESTS=no', 'EESSI_DEBUG=1'],
        cloneGitRepoVia: 'ssh',
      });
      expect(config.architectureTargets.archTargetMap).toEqual({});
      expect(config.nodeTypes).toEqual([
        {
          name: 'cpu_zen4',
          os: 'linux',
          cpuSubdir: 'x86_64/amd/zen4',
          slurmParams: '-p genoa --nodes 1 --ntasks-per-node 24',
          repoTargets: ['eessi.io-2023.06-software', 'eessi.io-2025.06-software'],
          accel: [],
        },
        {
          name: 'gpu_h100',
          os: 'linux',
          cpuSubdir: 'x86_64/amd/zen4',
          slurmParams: '-p gpu_h100 --gpus-per-node 1',
          repoTargets: ['eessi.io-2025.06-software'],
          accel: ['nvidia/cc90'],
        },
        {
          name: 'gpu_mixed',
          os: 'linux',
          cpuSubdir: 'x86_64/intel/icelake',
          slurmParams: '-p gpu_mixed',
          repoTargets: ['eessi.io-2023.06-software'],
          accel: ['nvidia/cc70', 'nvidia/cc80'],
        },
        {
          name: 'arm_grace',
          os: 'linux',
          cpuSubdir: 'aarch64/nvidia/grace',
          slurmParams: '',
          repoTargets: ['EESSI'],
          accel: [],
        },
      ]);
      const configMap = {
        'eessi.io.pub': '/etc/cvmfs/keys/eessi.io/eessi.io.pub',
        'default.local': '/etc/cvmfs/default.local',
      };
      expect(config.repoTargets).toEqual({
        reposCfgDir: join(dir, 'repos'),
        repos: {
          'eessi.io-2023.06-software': {
            id: 'eessi.io-2023.06-software',
            repoName: 'software.eessi.io',
            repoVersion: '2023.06',
            container: 'docker://ghcr.io/eessi/build-node:debian12',
            configMap,
          },
          'eessi.io-2025.06-software': {
            id: 'eessi.io-2025.06-software',
            repoName: 'software.eessi.io',
            repoVersion: '2025.06',
            container: 'docker://ghcr.io/eessi/build-node:debian12',
            configMap,
          },
        },
      });
      expect(config.jobManager).toMatchObject({
        scontrolCommand: join(binDir, 'scontrol'),
        // `%%` in the file is configparser's escape for `%`
        scontrolArgs: ['--clusters=%(cluster)s'],
        pollIntervalSeconds: 60,
        logPath: join(dir, 'logs', 'job_manager.log'),
      });
      expect(config.eventHandler.logPath).toBe(join(dir, 'logs', 'event_handler.log'));
      expect(config.templates.submittedJob).toEqual({
        newJobInstanceRepo: 'Job on `{app_name}` for `{repo_id}`',
        buildOnArch: 'On: `{on_arch}`{on_accelerator}',
        buildForArch: 'For: `{for_arch}`{for_accelerator}',
        jobdir: 'Directory: `{symlink}`',
        withAccelerator: '&nbsp;with `{accelerator}`',
        awaitsReleaseHoldReleaseMsg: 'job `{job_id}` is held until the job manager releases it',
        awaitsReleaseDelayedBeginMsg: 'job `{job_id}` may start in {delay_seconds} s',
      });
      expect(config.templates).toMatchObject({
        awaitsLaunch: 'queued in Slurm{extra_info}',
        runningJob: 'job `{job_id}` has started',
        jobResultUnknownFmt: ':shrug: no result file `{filename}`',
        jobTestUnknownFmt: ':shrug: no test file `{filename}`',
      });
      // never formatted upstream, so braces there are plain text
      expect(config.templates.downloadPr.git_apply_tip).toBe(
        '_Rebase the pull request {and} resolve conflicts._',
      );
      expect(config.cleanUp).toEqual({
        trashBinDir: join(dir, 'trash'),
        movedJobDirsComment: 'Moved {job_dirs} to {trash_bin_dir} after the merge',
      });
      // [deploycfg] is read by the deploy reader, not here
      expect(config.deploy).toBeUndefined();
      expect(Object.isFrozen(config.nodeTypes[2].accel)).toBe(true);
    });

    it("takes upstream's texts and defaults for the keys and sections left out", () => {
      const text = readFixture('v09.cfg')
        .replace(/\n\[submitted_job_comments\][\s\S]*?\n\[clean_up\]\n/, '\n[clean_up]\n')
        .replace(/^(chatlevel|job_delay_begin_factor|allow_update_submit_opts) = .*\n/gm, '')
        .replace(/^(allowed_exportvars = \[\n(?: {4}.*\n)*|clone_git_repo_via = .*\n)/gm, '');
      const { config } = load(sandbox.writeConfig(text));

      expect(config.templates).toEqual(DEFAULT_TEMPLATES);
      expect(config.botControl.chatlevel).toBe('basic');
      expect(config.buildenv).toMatchObject({
        jobDelayBeginFactor: 2,
        allowUpdateSubmitOpts: false,
        allowedExportVars: [],
        cloneGitRepoVia: 'https',
      });
    });
  });

  describe('which format a file is', () => {
    it('refuses a file with both arch_target_map and node_type_map, naming both lines', () => {
      const { path, text } = v09With([
        'node_type_map = {',
        'arch_target_map = {"linux/x86_64/generic": ""}\nnode_type_map = {',
      ]);

      expect(problemsOf(path).problems).toEqual([
        `${path}:${lineWith(text, '[architecturetargets]')}: [architecturetargets] sets both arch_target_map (line ${lineWith(text, 'arch_target_map =')}, seed format) and node_type_map (line ${lineWith(text, 'node_type_map =')}, v0.9 format); keep only one: node_type_map with the v0.9 keys, or arch_target_map for the seed format (see docs/configuration.md, Migration)`,
      ]);
    });

    it('refuses a file with neither, naming both keys', () => {
      const text = readFixture('v09.cfg').replace(/node_type_map = \{[\s\S]*?\}\}\n/, '');
      const path = sandbox.writeConfig(text);

      expect(problemsOf(path).problems).toEqual([
        `${path}:${lineWith(text, '[architecturetargets]')}: [architecturetargets] missing required key: set node_type_map (v0.9 format: node types × repository targets, PR comment commands) or arch_target_map (seed format: label bot:build)`,
      ]);
    });

    it('names both keys when the section is missing', () => {
      const text = readFixture('v09.cfg').replace(/\[architecturetargets\][\s\S]*?\}\}\n/, '');
      const path = sandbox.writeConfig(text);

      expect(problemsOf(path).problems).toEqual([
        expect.stringMatching(
          /: missing section \[architecturetargets\] \(it must set node_type_map .* or arch_target_map /,
        ),
      ]);
    });
  });

  describe('node_type_map', () => {
    it('reports invalid JSON at the line where it is wrong, saying what is wrong', () => {
      const { path, text } = v09With([
        '"repo_targets": ["eessi.io-2025.06-software"]\n    },',
        '"repo_targets": ["eessi.io-2025.06-software"],\n    },',
      ]);
      const line = lineWith(text, '"repo_targets": ["eessi.io-2025.06-software"],');

      expect(problemsOf(path).problems).toEqual([
        `${path}:${line}: [architecturetargets] node_type_map: invalid JSON at column 54: trailing comma before '}': JSON allows no comma after the last entry (expected something like {"cpu_zen4": {"os": "linux", "cpu_subdir": "x86_64/amd/zen4", "slurm_params": "-p genoa", "repo_targets": ["eessi.io-2023.06-software"]}})`,
      ]);
    });

    it.each([
      ['"accel": "None",', '"accel": None,', 'None is Python, not JSON'],
      [
        '"os": "linux",\n        "cpu_subdir": "aarch64',
        '\'os\': "linux",\n        "cpu_subdir": "aarch64',
        'property names need double quotes',
      ],
      [
        '"slurm_params": "-p gpu_mixed",',
        '"slurm_params": "-p gpu_mixed"',
        "missing ',' after this entry",
      ],
    ])('locates %s → %s', (from, to, message) => {
      const { path, text } = v09With([from, to]);
      const [problem] = problemsOf(path).problems;

      const line = lineWith(text, to.split('\n')[0]);
      expect(problem).toContain(
        `${path}:${line}: [architecturetargets] node_type_map: invalid JSON at column `,
      );
      expect(problem).toContain(message);
    });

    it('reports every bad field of every node type at its own line, at once', () => {
      const { path, text } = v09With(
        [
          '"cpu_subdir": "x86_64/amd/zen4",\n        "slurm_params": "-p genoa',
          '"cpu_subdir": 4,\n        "slurm_params": "-p genoa',
        ],
        ['"os": "linux",\n        "cpu_subdir": "x86_64/intel', '"cpu_subdir": "x86_64/intel'],
        ['"repo_targets": ["EESSI"]', '"repo_targets": "EESSI"'],
        ['"slurm_params": "-p gpu_h100', '"slurm_param": "-p gpu_h100'],
      );

      const { problems, warnings } = problemsOf(path);

      expect(problems).toEqual([
        `${path}:${lineWith(text, '"cpu_subdir": 4')}: [architecturetargets] node_type_map: node type "cpu_zen4": "cpu_subdir" must be a CPU subdirectory like "x86_64/amd/zen4", not 4`,
        `${path}:${lineWith(text, '"gpu_h100"')}: [architecturetargets] node_type_map: node type "gpu_h100": missing "slurm_params" (sbatch options as a string, may be "")`,
        `${path}:${lineWith(text, '"gpu_mixed"')}: [architecturetargets] node_type_map: node type "gpu_mixed": missing "os" (a word like "linux")`,
        `${path}:${lineWith(text, '"repo_targets": "EESSI"')}: [architecturetargets] node_type_map: node type "arm_grace": "repo_targets" must be a list of repository ids like ["eessi.io-2023.06-software"], not "EESSI"`,
      ]);
      expect(warnings).toEqual([
        `${path}:${lineWith(text, '"slurm_param":')}: [architecturetargets] node_type_map: node type "gpu_h100": unknown field "slurm_param" (did you mean "slurm_params"?)`,
      ]);
    });

    it.each([
      ['5', '"accel" must be "None", an accelerator like "nvidia/cc80", or a list of them, not 5'],
      ['{"vendor": "nvidia"}', 'not {"vendor":"nvidia"}'],
      ['["nvidia/cc80", 7]', 'not ["nvidia/cc80",7]'],
      ['"nvidia"', 'accelerator "nvidia" must look like vendor/model'],
      ['"nvidia/cc70+nvidia/cc80"', 'list several as ["nvidia/cc70", "nvidia/cc80"]'],
      ['"../cc80"', 'accelerator "../cc80" must look like vendor/model'],
    ])('refuses accel %s', (accel, message) => {
      const { path, text } = v09With(['"accel": "nvidia/cc90"', `"accel": ${accel}`]);
      const { problems } = problemsOf(path);

      expect(problems).toHaveLength(1);
      expect(problems[0]).toContain(
        `${path}:${lineWith(text, `"accel": ${accel}`)}: [architecturetargets] node_type_map: node type "gpu_h100": `,
      );
      expect(problems[0]).toContain(message);
    });

    it('reads accel null, "" and absent as CPU only', () => {
      const { path } = v09With(
        ['"accel": "nvidia/cc90"', '"accel": null'],
        ['"accel": "None"', '"accel": ""'],
      );

      const { config } = load(path);

      expect(config.nodeTypes.map((nodeType) => nodeType.accel)).toEqual([
        [],
        [],
        ['nvidia/cc70', 'nvidia/cc80'],
        [],
      ]);
    });

    it.each([
      [
        '"cpu_subdir": "x86_64/amd/zen4",\n        "slurm_params": "-p genoa',
        '"cpu_subdir": "x86_64/../../etc",\n        "slurm_params": "-p genoa',
        'may not contain . or .. parts',
      ],
      [
        '"repo_targets": ["EESSI"]',
        '"repo_targets": ["../EESSI"]',
        'repository id "../EESSI" may only contain',
      ],
      [
        '"os": "linux",\n        "cpu_subdir": "x86_64/intel',
        '"os": "linux/x",\n        "cpu_subdir": "x86_64/intel',
        '"os" must be a word like "linux"',
      ],
    ])('keeps job directories inside jobs_base_dir: %s', (from, to, message) => {
      const { path } = v09With([from, to]);

      expect(problemsOf(path).problems).toEqual([expect.stringContaining(message)]);
    });

    it('warns about a node type without repository targets', () => {
      const { path, text } = v09With([',\n        "repo_targets": ["EESSI"]', '']);

      expect(load(path).warnings).toEqual([
        `${path}:${lineWith(text, '"arm_grace"')}: [architecturetargets] node_type_map: node type "arm_grace": no repo_targets, so no job is ever submitted to it`,
      ]);
    });
  });

  describe('repos_cfg_dir', () => {
    it('refuses a directory without repos.cfg', () => {
      rmSync(join(sandbox.dir, 'repos', 'repos.cfg'));
      const path = sandbox.copyFixture('v09.cfg');
      const text = readFixture('v09.cfg');

      expect(problemsOf(path).problems).toEqual([
        `${path}:${lineWith(text, 'repos_cfg_dir')}: [repo_targets] repos_cfg_dir: ${join(sandbox.dir, 'repos', 'repos.cfg')} does not exist; the directory must hold a repos.cfg with one [repo id] section per repository`,
      ]);
    });

    it('refuses a directory that does not exist', () => {
      const { path } = v09With([
        'repos_cfg_dir = ${SANDBOX}/repos',
        'repos_cfg_dir = ${SANDBOX}/nope',
      ]);

      expect(problemsOf(path).problems).toEqual([
        expect.stringContaining(
          `[repo_targets] repos_cfg_dir: ${join(sandbox.dir, 'nope')} does not exist`,
        ),
      ]);
    });

    it('reports problems inside repos.cfg with its own file name and line', () => {
      const reposCfg = join(sandbox.dir, 'repos', 'repos.cfg');
      writeFileSync(
        reposCfg,
        '[eessi.io-2023.06-software]\nrepo_name = software.eessi.io\nrepo_versoin = 2023.06\n' +
          'config_map = {"/etc/passwd": "relative/path"}\n' +
          '[eessi.io-2025.06-software]\nrepo_name = software.eessi.io\nrepo_version = 2025.06\n',
      );

      const { problems, warnings } = problemsOf(sandbox.copyFixture('v09.cfg'));

      expect(problems).toEqual([
        `${reposCfg}:1: [eessi.io-2023.06-software] missing required key 'repo_version' (the version to build for, e.g. 2023.06)`,
        `${reposCfg}:4: [eessi.io-2023.06-software] config_map: "/etc/passwd" must be a file inside repos_cfg_dir, given relative to it`,
        `${reposCfg}:4: [eessi.io-2023.06-software] config_map: "relative/path" (for "/etc/passwd") must be an absolute path in the build container`,
      ]);
      expect(warnings).toEqual([
        `${reposCfg}:3: [eessi.io-2023.06-software] repo_versoin: unknown key (did you mean 'repo_version'?)`,
      ]);
    });

    it('warns about a repository id that repos.cfg does not define, suggesting the nearest', () => {
      const { path, text } = v09With([
        '"repo_targets": ["eessi.io-2023.06-software"]\n    },\n    "arm_grace"',
        '"repo_targets": ["eessi.io-2023.06-sofware"]\n    },\n    "arm_grace"',
      ]);

      expect(load(path).warnings).toEqual([
        `${path}:${lineWith(text, 'node_type_map =')}: [architecturetargets] node_type_map: repository "eessi.io-2023.06-sofware" of node type "gpu_mixed": ${join(sandbox.dir, 'repos', 'repos.cfg')} has no [eessi.io-2023.06-sofware] section (did you mean 'eessi.io-2023.06-software'?); its jobs use the build container's default repository`,
      ]);
    });

    it('warns about repo_target_map, which v0.9 replaced by repo_targets per node type', () => {
      const { path, text } = v09With([
        'repos_cfg_dir =',
        'repo_target_map = {"linux/x86_64/amd/zen2": ["EESSI"]}\nrepos_cfg_dir =',
      ]);

      expect(load(path).warnings).toEqual([
        `${path}:${lineWith(text, 'repo_target_map')}: [repo_targets] repo_target_map: is no longer used with node_type_map (v0.9 format): list each node type's repositories in its "repo_targets"`,
      ]);
    });
  });

  describe('[buildenv] and [bot_control] values', () => {
    it.each([
      [
        'job_handover_protocol = delayed_begin',
        'job_handover_protocol = hold',
        'job_handover_protocol',
        '"hold" is not one of hold_release, delayed_begin',
      ],
      [
        'job_handover_protocol = delayed_begin',
        '',
        'job_handover_protocol',
        "missing required key 'job_handover_protocol'",
      ],
      [
        'chatlevel = Chatty',
        'chatlevel = loud',
        'chatlevel',
        '"loud" is not one of incognito, minimal, basic, chatty',
      ],
      [
        'job_delay_begin_factor = 2.5',
        'job_delay_begin_factor = 0',
        'job_delay_begin_factor',
        '"0" is not a number > 0',
      ],
      [
        'job_delay_begin_factor = 2.5',
        'job_delay_begin_factor = two',
        'job_delay_begin_factor',
        '"two" is not a number > 0',
      ],
      [
        'allow_update_submit_opts = yes',
        'allow_update_submit_opts = maybe',
        'allow_update_submit_opts',
        '"maybe" is not a boolean',
      ],
      [
        'clone_git_repo_via = ssh',
        'clone_git_repo_via = ftp',
        'clone_git_repo_via',
        '"ftp" is not one of https, ssh',
      ],
      [
        'allowed_exportvars = [',
        'allowed_exportvars = {"SKIP_TESTS": "yes"}\nx = [',
        'allowed_exportvars',
        'must be a JSON list of "NAME=value" strings',
      ],
      [
        '"EESSI_DEBUG=1" ]',
        '"1BAD=1" ]',
        'allowed_exportvars',
        '"1BAD=1" is not a "NAME=value" string',
      ],
      [
        '"SKIP_TESTS=no",',
        '"SKIP_TESTS",',
        'allowed_exportvars',
        '"SKIP_TESTS" is not a "NAME=value" string',
      ],
      ['"SKIP_TESTS=no",', '7,', 'allowed_exportvars', '7 is not a "NAME=value" string'],
      [
        '"SKIP_TESTS=no",',
        '"A=b\\nc",',
        'allowed_exportvars',
        'contains a line break or control character',
      ],
      [
        'build_job_script = scripts/',
        'build_job_script = /abs/',
        'build_job_script',
        '"/abs/bot-build.slurm" must be a relative path inside the repository',
      ],
      [
        'build_job_script = scripts/bot-build.slurm@https',
        'build_job_script = scripts/bot-build.slurm@-uhttps',
        'build_job_script',
        'is neither an existing file nor a git repository URL',
      ],
      [
        'scontrol_command = scontrol --clusters=%%(cluster)s',
        'scontrol_command = scontrol --clusters=%%(clustr)s',
        'scontrol_command',
        'unknown placeholder %(clustr)s; it may use %(jobid)s %(cluster)s',
      ],
    ])('%s → %s is a problem of %s', (from, to, key, message) => {
      const { path, text } = v09With([from, to]);
      const { problems } = problemsOf(path);

      expect(problems).toHaveLength(1);
      const at = to === '' ? lineWith(text, '[buildenv]') : lineWith(text, to.split('\n')[0]);
      expect(problems[0]).toMatch(
        new RegExp(`^${path}:${at}: \\[(buildenv|bot_control|job_manager)\\] `),
      );
      expect(problems[0]).toContain(key);
      expect(problems[0]).toContain(message);
    });

    it('reports every problem of a file at once', () => {
      const { path } = v09With(
        ['chatlevel = Chatty', 'chatlevel = loud'],
        ['job_handover_protocol = delayed_begin', 'job_handover_protocol = hold'],
        ['running_job = job `{job_id}` has started', 'running_job = job {jobid}'],
        ['"accel": "nvidia/cc90"', '"accel": 5'],
      );

      expect(problemsOf(path).problems.map((problem) => problem.replace(/^[^ ]* /, ''))).toEqual([
        expect.stringMatching(/^\[bot_control\] chatlevel: /),
        expect.stringMatching(/^\[buildenv\] job_handover_protocol: /),
        expect.stringMatching(
          /^\[architecturetargets\] node_type_map: node type "gpu_h100": "accel"/,
        ),
        expect.stringMatching(
          /^\[running_job_comments\] running_job: unknown placeholder \{jobid\}/,
        ),
      ]);
    });

    it('warns that empty permissions mean nobody, under the v0.9 format only', () => {
      const { path, text } = v09With(
        ['command_permission = alice bob carol', 'command_permission ='],
        ['build_permission = alice bob', 'build_permission ='],
      );

      expect(load(path).warnings).toEqual([
        `${path}:${lineWith(text, 'command_permission =')}: [bot_control] command_permission: is empty: with node_type_map (v0.9 format) that means nobody may send commands (bot: …) to this instance; list the GitHub logins allowed to, separated by blanks`,
        `${path}:${lineWith(text, 'build_permission =')}: [buildenv] build_permission: is empty: with node_type_map (v0.9 format) that means nobody may start builds; list the GitHub logins allowed to, separated by blanks`,
      ]);
      const seed = sandbox.writeConfig(
        replaceOnce(
          readFixture('valid.cfg'),
          'build_permission = alice  bob',
          'build_permission =',
        ),
        'seed.cfg',
      );
      expect(loadConfig(seed, sandbox.env).warnings).toEqual([]);
    });

    it('warns about permission entries that cannot be GitHub logins', () => {
      const { path, text } = v09With([
        'build_permission = alice bob',
        'build_permission = alice, @bob',
      ]);

      expect(load(path).warnings).toEqual([
        `${path}:${lineWith(text, 'build_permission =')}: [buildenv] build_permission: "alice,", "@bob" are not GitHub logins and will match nobody; separate logins by blanks, without commas or @`,
      ]);
    });

    it('warns about an unknown key, suggesting the nearest known one', () => {
      const { path, text } = v09With([
        'chatlevel = Chatty',
        'chatlevel = Chatty\nchat_level = basic',
      ]);

      expect(load(path).warnings).toEqual([
        `${path}:${lineWith(text, 'chat_level')}: [bot_control] unknown key 'chat_level' (did you mean 'chatlevel'?)`,
      ]);
    });

    it('takes a local build_job_script whose name holds an @ as a file', () => {
      const script = join(sandbox.dir, 'bot@site.slurm');
      writeFileSync(script, '#!/bin/bash\n');
      const { path } = v09With([
        'build_job_script = scripts/bot-build.slurm@https://github.com/EESSI/eessi-bot-software-layer.git',
        'build_job_script = ${SANDBOX}/bot@site.slurm',
      ]);

      expect(load(path).config.buildenv).toMatchObject({ buildJobScript: script });
      expect(load(path).config.buildenv.buildJobScriptRepo).toBeUndefined();
    });
  });

  describe('comment templates', () => {
    it.each([
      [
        'submitted_job_comments',
        'jobdir = Directory: `{symlink}`',
        'jobdir = Directory: `{job_dir}`',
        'unknown placeholder {job_dir}; this text may use {app_name} {repo_id} {on_arch} {for_arch} {on_accelerator} {for_accelerator} {symlink} {job_id} {delay_seconds}',
      ],
      [
        'submitted_job_comments',
        'with_accelerator = &nbsp;with `{accelerator}`',
        'with_accelerator = with {on_accelerator}',
        'unknown placeholder {on_accelerator}; this text may use {accelerator}',
      ],
      [
        'new_job_comments',
        'awaits_launch = queued in Slurm{extra_info}',
        'awaits_launch = queued{job_id}',
        'unknown placeholder {job_id}; this text may use {extra_info}',
      ],
      [
        'finished_job_comments',
        'job_test_unknown_fmt = :shrug: no test file `{filename}`',
        'job_test_unknown_fmt = {file_name}',
        'unknown placeholder {file_name}; this text may use {filename}',
      ],
      [
        'bot_control',
        '{comment_result}',
        '{comment_results}',
        'unknown placeholder {comment_results}; this text may use {app_name} {comment_response} {comment_result}',
      ],
      [
        'buildenv',
        'no_build_permission_comment = `{build_labeler}`',
        'no_build_permission_comment = `{labeler}`',
        'unknown placeholder {labeler}; this text may use {build_labeler} {build_permission_users}',
      ],
      [
        'clean_up',
        'moved_job_dirs_comment = Moved {job_dirs}',
        'moved_job_dirs_comment = Moved {dirs}',
        'unknown placeholder {dirs}; this text may use {job_dirs} {trash_bin_dir}',
      ],
      [
        'running_job_comments',
        'running_job = job `{job_id}` has started',
        'running_job = job {job_id!r}',
        '{job_id!r} at character 5: only plain {name} placeholders are supported',
      ],
      [
        'running_job_comments',
        'running_job = job `{job_id}` has started',
        'running_job = {} started',
        '{} at character 1: positional placeholders are not supported',
      ],
      [
        'running_job_comments',
        'running_job = job `{job_id}` has started',
        'running_job = a } b',
        "} at character 3: a single '}'; write '}}' for a literal }",
      ],
    ])('[%s]: %s → %s is refused at load time', (section, from, to, message) => {
      const { path, text } = v09With([from, to]);
      const key = to.includes(' = ') ? to.split(' = ')[0] : 'command_response_fmt';
      const line = lineWith(text, key === 'command_response_fmt' ? 'command_response_fmt' : to);

      expect(problemsOf(path).problems).toEqual([
        expect.stringContaining(`${path}:${line}: [${section}] ${key}: ${message}`),
      ]);
    });

    it('accepts {{ and }} as literal braces', () => {
      const { path } = v09With([
        'running_job = job `{job_id}` has started',
        'running_job = {{"job": {job_id}}}',
      ]);

      expect(load(path).config.templates.runningJob).toBe('{{"job": {job_id}}}');
    });

    it('warns under v0.9 about initial_comment, which v0.9 split into four keys', () => {
      const { path, text } = v09With([
        '[submitted_job_comments]',
        '[submitted_job_comments]\ninitial_comment = New job {arch_name}',
      ]);

      expect(load(path).warnings).toEqual([
        `${path}:${lineWith(text, 'initial_comment')}: [submitted_job_comments] initial_comment: is no longer used with node_type_map (v0.9 format); its text is now new_job_instance_repo, build_on_arch, build_for_arch and jobdir`,
      ]);
    });
  });

  describe('app.cfg.example', () => {
    it('loads in the v0.9 format once node_type_map is uncommented and arch_target_map removed', () => {
      const example = readFileSync(new URL('../../app.cfg.example', import.meta.url), 'utf8');
      const text = example
        .replace(/^arch_target_map = \{\n(?: {4}.*\n)*/m, '')
        .replace(
          /^#(node_type_map = \{\n)((?:# {4}.*\n)*)/m,
          (_, first: string, rest: string) => first + rest.replace(/^#/gm, ''),
        )
        .replace(/^#repos_cfg_dir = .*$/m, 'repos_cfg_dir = ${SANDBOX}/repos');
      mkdirSync(join(sandbox.home, '.eessi-bot'));
      // copyFileSync keeps the key's 0600, so no warning about its mode
      copyFileSync(sandbox.keyPath, join(sandbox.home, '.eessi-bot', 'app-private-key.pem'));
      mkdirSync(join(sandbox.home, 'eessi-bot', 'scripts'), { recursive: true });
      writeFileSync(join(sandbox.home, 'eessi-bot', 'scripts', 'bot-build.slurm'), '#!/bin/bash\n');

      const { config, warnings } = loadConfig(sandbox.writeConfig(text), sandbox.env);

      expect(config.generation).toBe('v09');
      expect(config.nodeTypes.length).toBeGreaterThan(1);
      expect(warnings.filter((warning) => !/permission: is empty/.test(warning))).toEqual([]);
    });
  });
});
