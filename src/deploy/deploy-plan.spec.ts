import { describe, expect, it } from '@jest/globals';
import { parseArtefactName, planArtefacts, type Candidate } from './deploy-plan.js';

const ZEN2 = 'eessi-2023.06-software-linux-x86_64-amd-zen2';
const ZEN3 = 'eessi-2023.06-software-linux-x86_64-amd-zen3';

describe('parseArtefactName', () => {
  it('splits payload and timestamp for any .tar.* compression', () => {
    expect(parseArtefactName(`${ZEN2}-1700000000.tar.gz`)).toEqual({
      payload: ZEN2,
      timestamp: 1700000000,
    });
    expect(
      parseArtefactName(
        'eessi-2025.06-software-linux-x86_64-amd-zen4-accel-nvidia-cc90-17651234567.tar.zst',
      ),
    ).toEqual({
      payload: 'eessi-2025.06-software-linux-x86_64-amd-zen4-accel-nvidia-cc90',
      timestamp: 17651234567,
    });
    expect(parseArtefactName('layer.tar.xz')).toEqual({ payload: 'layer', timestamp: 0 });
  });

  it('refuses names that are no plain .tar.* file names', () => {
    for (const name of ['x.zip', 'dir/x-1.tar.gz', '../x-1.tar.gz', '.hidden-1.tar.gz', 'x.tar']) {
      expect(parseArtefactName(name)).toBeUndefined();
    }
  });
});

describe('planArtefacts', () => {
  const candidates: Candidate[] = [
    { jobId: '1', name: `${ZEN2}-1700000900.tar.gz` },
    { jobId: '2', name: `${ZEN2}-1700000000.tar.gz` },
    { jobId: '3', name: `${ZEN3}-1700000100.tar.gz` },
    { jobId: '3', name: 'build.log' },
  ];
  const skips = (
    policy: Parameters<typeof planArtefacts>[1],
    uploaded = new Map<string, string>(),
  ) => planArtefacts(candidates, policy, uploaded).map((p) => p.skip ?? 'upload');

  it('all: every .tar.* artefact', () => {
    expect(skips('all')).toEqual([
      'upload',
      'upload',
      'upload',
      'not a `.tar.*` file name in the job directory',
    ]);
  });

  it('latest: only the newest per payload, whichever job built it', () => {
    expect(skips('latest')).toEqual([
      'upload',
      `superseded by \`${ZEN2}-1700000900.tar.gz\` of job \`1\` (upload_policy \`latest\`)`,
      'upload',
      expect.any(String),
    ]);
  });

  it('latest: equal timestamps go to the later job', () => {
    const twins: Candidate[] = [
      { jobId: '7', name: `${ZEN2}-5.tar.gz` },
      { jobId: '8', name: `${ZEN2}-5.tar.gz` },
    ];
    expect(planArtefacts(twins, 'latest', new Map()).map((p) => p.skip === undefined)).toEqual([
      false,
      true,
    ]);
  });

  it('once: a payload in uploaded.txt is skipped altogether, the others as latest', () => {
    const uploaded = new Map([[ZEN3, `9/${ZEN3}-1600000000.tar.gz`]]);
    expect(skips('once', uploaded)).toEqual([
      'upload',
      expect.stringContaining('superseded by'),
      `payload already uploaded for this PR as \`9/${ZEN3}-1600000000.tar.gz\` (upload_policy \`once\`)`,
      expect.any(String),
    ]);
  });

  it('once: a longer payload with the same start is a different payload (upstream matched it)', () => {
    const uploaded = new Map([[`${ZEN2}-extra`, `9/${ZEN2}-extra-1.tar.gz`]]);
    expect(skips('once', uploaded)[0]).toBe('upload');
  });
});
