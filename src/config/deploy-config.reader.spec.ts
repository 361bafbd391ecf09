import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createConfigSandbox,
  readFixture,
  type ConfigSandbox,
} from '../../test/fixtures/config/config-sandbox.js';
import { ConfigError } from './config.errors.js';
import {
  DEFAULT_DEPLOY_LABEL,
  DEFAULT_NO_DEPLOY_PERMISSION_COMMENT,
} from './deploy-config.reader.js';
import { loadConfig } from './load-config.js';

describe('[deploycfg] through loadConfig', () => {
  let sandbox: ConfigSandbox;

  beforeEach(() => {
    sandbox = createConfigSandbox();
    writeFileSync(join(sandbox.home, 'sign.key'), 'private key');
    for (const name of ['upload.sh', 'apptainer']) {
      writeFileSync(join(sandbox.binDir, name), '#!/bin/sh\n');
      chmodSync(join(sandbox.binDir, name), 0o755);
    }
  });

  afterEach(() => sandbox.cleanup());

  /** valid.cfg plus a [deploycfg] section made of `lines`; returns the path. */
  function withDeploy(...lines: string[]): string {
    return sandbox.writeConfig(`${readFixture('valid.cfg')}\n[deploycfg]\n${lines.join('\n')}\n`);
  }

  /** Line number (1-based) of the first line of the written file containing `text`. */
  function lineOf(path: string, text: string): number {
    return (
      readFileSync(path, 'utf8')
        .split('\n')
        .findIndex((l) => l.includes(text)) + 1
    );
  }

  function problemsOf(path: string): readonly string[] {
    try {
      loadConfig(path, sandbox.env);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as ConfigError).problems;
    }
    throw new Error('expected a ConfigError');
  }

  it('is absent without a [deploycfg] section: the instance does not deploy', () => {
    expect(loadConfig(sandbox.copyFixture('valid.cfg'), sandbox.env).config.deploy).toBeUndefined();
  });

  it('reads every key, per-repo maps and signing included', () => {
    const path = withDeploy(
      'deploy_label = ship-it',
      'endpoint_url = http://127.0.0.1:9000/',
      'bucket_name = {',
      '    "eessi.io-2023.06-software": "staging-2023",',
      '    "eessi.io-2025.06-software": "staging-2025" }',
      'upload_policy = Latest',
      'deploy_permission = alice  bob[bot]',
      'no_deploy_permission_comment = No deploy for {deploy_labeler}',
      'metadata_prefix = meta/${github_repository}/$pull_request_number',
      'artefact_prefix = {"eessi.io-2023.06-software": ""}',
      'signing =',
      '    {',
      '        "eessi.io-2023.06-software": {',
      '            "key": "$HOME/sign.key",',
      '            "container_runtime": "apptainer"',
      '        }',
      '    }',
    );
    const { config, warnings } = loadConfig(path, sandbox.env);

    expect(warnings).toEqual([]);
    expect(config.deploy).toEqual({
      label: 'ship-it',
      endpointUrl: 'http://127.0.0.1:9000',
      bucketName: {
        kind: 'map',
        byRepo: {
          'eessi.io-2023.06-software': 'staging-2023',
          'eessi.io-2025.06-software': 'staging-2025',
        },
      },
      uploadPolicy: 'latest',
      deployPermission: ['alice', 'bob[bot]'],
      noDeployPermissionComment: 'No deploy for {deploy_labeler}',
      metadataPrefix: { kind: 'single', value: 'meta/${github_repository}/$pull_request_number' },
      artefactPrefix: { kind: 'map', byRepo: { 'eessi.io-2023.06-software': '' } },
      signing: {
        'eessi.io-2023.06-software': {
          script: '',
          key: join(sandbox.home, 'sign.key'),
          containerRuntime: join(sandbox.binDir, 'apptainer'),
        },
      },
    });
  });

  it('fills in upstream defaults and takes the upload script from PATH', () => {
    const { config } = loadConfig(withDeploy('artefact_upload_script = upload.sh'), sandbox.env);

    expect(config.deploy).toEqual({
      label: DEFAULT_DEPLOY_LABEL,
      artefactUploadScript: join(sandbox.binDir, 'upload.sh'),
      bucketName: { kind: 'single', value: '' },
      uploadPolicy: 'once',
      deployPermission: [],
      noDeployPermissionComment: DEFAULT_NO_DEPLOY_PERMISSION_COMMENT,
      metadataPrefix: { kind: 'single', value: '' },
      artefactPrefix: { kind: 'single', value: '' },
      signing: {},
    });
  });

  it('reports every problem at once, naming the key and the line of the map entry at fault', () => {
    const path = withDeploy(
      'deploy_label = bot:build',
      'artefact_upload_script = /nowhere/upload.sh',
      'endpoint_url = s3.example.org',
      'bucket_name = {',
      '    "good": "staging",',
      '    "bad": "no spaces allowed" }',
      'upload_policy = sometimes',
      'deploy_permission = alice bob;rm',
      'no_deploy_permission_comment = {deploy_labeler} is not {allowed}',
      'metadata_prefix = ../${HOME}',
      'signing = {',
      '    "repo-a": {"key": "/missing.key", "script": "sign.sh", "colour": "blue"},',
      '    "repo-b": "sign.sh" }',
    );
    const problems = problemsOf(path);

    expect(problems).toEqual([
      `${path}:${lineOf(path, 'deploy_label')}: [deploycfg] deploy_label: must differ from the build label \`bot:build\``,
      `${path}:${lineOf(path, 'artefact_upload_script')}: [deploycfg] artefact_upload_script: /nowhere/upload.sh does not exist`,
      `${path}:${lineOf(path, 'endpoint_url')}: [deploycfg] endpoint_url: "s3.example.org" is not an http:// or https:// URL`,
      `${path}:${lineOf(path, '"bad"')}: [deploycfg] bucket_name: repository "bad": "no spaces allowed" is not a bucket name (3-63 letters, digits, '.', '_' or '-')`,
      `${path}:${lineOf(path, 'metadata_prefix')}: [deploycfg] metadata_prefix: uses unknown variable "\${HOME}"; only \${github_repository}, \${pull_request_number}, \${legacy_aws_path} are filled in`,
      `${path}:${lineOf(path, 'upload_policy')}: [deploycfg] upload_policy: "sometimes" is not one of all, latest, once, none`,
      `${path}:${lineOf(path, 'deploy_permission')}: [deploycfg] deploy_permission: "bob;rm" is not a GitHub login (logins are separated by spaces)`,
      `${path}:${lineOf(path, 'no_deploy_permission_comment')}: [deploycfg] no_deploy_permission_comment: unknown placeholder {allowed}; only {deploy_labeler} is filled in`,
      `${path}:${lineOf(path, '"repo-a"')}: [deploycfg] signing: repository "repo-a": unknown field "colour" (known: script, key, container_runtime)`,
      `${path}:${lineOf(path, '"repo-a"')}: [deploycfg] signing: repository "repo-a": "key": /missing.key does not exist`,
      `${path}:${lineOf(path, '"repo-b"')}: [deploycfg] signing: repository "repo-b": must be an object like {"eessi.io-2023.06-software": {"key": "/path/to/signing.key"}}`,
    ]);
  });

  it('points a JSON syntax error at its line inside a multi-line value', () => {
    const path = withDeploy(
      'bucket_name = staging',
      'signing =',
      '    # comment lines inside the value are skipped',
      '    {',
      '        "repo-a": {"key": "$HOME/sign.key"},',
      '    }',
    );

    expect(problemsOf(path)).toEqual([
      expect.stringMatching(
        new RegExp(`^${path}:${lineOf(path, '    }')}: \\[deploycfg\\] signing: invalid JSON \\(`),
      ),
    ]);
  });

  it('needs a bucket for the built-in uploader, and a sign script for an upload script', () => {
    const builtIn = withDeploy('upload_policy = all');
    expect(problemsOf(builtIn)).toEqual([
      `${builtIn}:${lineOf(builtIn, '[deploycfg]')}: [deploycfg] bucket_name: missing; the built-in uploader needs the bucket to upload to (or set artefact_upload_script)`,
    ]);

    const scripted = withDeploy(
      'artefact_upload_script = upload.sh',
      'signing = {"repo-a": {"key": "$HOME/sign.key"}}',
    );
    expect(problemsOf(scripted)).toEqual([
      `${scripted}:${lineOf(scripted, 'signing')}: [deploycfg] signing: repository "repo-a": "script" is missing; artefact_upload_script signs through it (--sign-script)`,
    ]);
  });

  it('warns about keys it does not know in [deploycfg]', () => {
    const { warnings } = loadConfig(
      withDeploy('bucket_name = staging', 'upload_polcy = all'),
      sandbox.env,
    );

    expect(warnings).toEqual([
      expect.stringMatching(
        /\[deploycfg\] unknown key 'upload_polcy' \(did you mean 'upload_policy'\?\)/,
      ),
    ]);
  });
});
