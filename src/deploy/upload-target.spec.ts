import { describe, expect, it } from '@jest/globals';
import type { DeployConfig } from '../config/app-config.js';
import { expandPrefix, legacyAwsPath, objectKeys, uploadTargetFor } from './upload-target.js';

const NAME = 'eessi-2023.06-software-linux-x86_64-amd-zen2-1700000000.tar.gz';
const VARS = { githubRepository: 'EESSI/software-layer', pullRequestNumber: 42 };

function deploy(overrides: Partial<DeployConfig>): DeployConfig {
  return {
    label: 'bot:deploy',
    bucketName: { kind: 'single', value: 'staging' },
    uploadPolicy: 'once',
    deployPermission: [],
    noDeployPermissionComment: '',
    metadataPrefix: { kind: 'single', value: '' },
    artefactPrefix: { kind: 'single', value: '' },
    signing: {},
    ...overrides,
  };
}

describe('upload targets', () => {
  it('derives upstream’s legacy path from the file name', () => {
    expect(legacyAwsPath(NAME)).toBe('2023.06/software/linux/x86_64/amd/zen2/1700000000');
    expect(legacyAwsPath('eessi-2025.06-software-linux-riscv64-1.tar.zst')).toBe(
      '2025.06/software/linux/riscv64/1',
    );
  });

  it('fills in upstream’s three prefix variables, both spellings', () => {
    expect(expandPrefix('new/${github_repository}/$pull_request_number/', NAME, VARS)).toBe(
      'new/EESSI/software-layer/42',
    );
    expect(expandPrefix('x/${legacy_aws_path}', NAME, VARS)).toBe(`x/${legacyAwsPath(NAME)}`);
    expect(expandPrefix('', NAME, VARS)).toBe(legacyAwsPath(NAME));
  });

  it('names the objects as eessi-upload-to-staging does', () => {
    const target = {
      bucket: 'b',
      artefactPrefix: 'art',
      metadataPrefix: 'meta/${pull_request_number}',
    };
    expect(objectKeys(target, NAME, VARS)).toEqual({
      artefact: `art/${NAME}`,
      artefactSignature: `art/${NAME}.sig`,
      metadata: `meta/42/${NAME}.meta.txt`,
      metadataSignature: `meta/42/${NAME}.meta.txt.sig`,
    });
  });

  it('picks per-repository values and names what is missing', () => {
    const config = deploy({
      bucketName: { kind: 'map', byRepo: { 'repo-a': 'bucket-a' } },
      artefactPrefix: { kind: 'map', byRepo: { 'repo-a': 'p-a', 'repo-b': 'p-b' } },
    });
    expect(uploadTargetFor(config, 'repo-a')).toEqual({
      bucket: 'bucket-a',
      artefactPrefix: 'p-a',
      metadataPrefix: '',
    });
    expect(() => uploadTargetFor(config, 'repo-b')).toThrow(
      'no `bucket_name` is configured for repository `repo-b`',
    );
    expect(() => uploadTargetFor(config, undefined)).toThrow(
      "`bucket_name` is set per repository, but the job's `cfg/job.cfg` names no repository id",
    );
    expect(() => uploadTargetFor(config, '__proto__')).toThrow('repository `__proto__`');
  });
});
