import { describe, expect, it } from '@jest/globals';
import type { NodeType } from '../config/app-config.js';
import { parseBuildArguments, type BuildRequest } from './build-request.js';
import { closestNodeTypes, planBuild, type PlanInput } from './node-type-plan.js';

function node(
  name: string,
  cpuSubdir: string,
  extra: Partial<Omit<NodeType, 'name' | 'cpuSubdir'>> = {},
): NodeType {
  return {
    name,
    os: 'linux',
    cpuSubdir,
    slurmParams: `-p ${name}`,
    repoTargets: ['eessi.io-2023.06-software'],
    accel: [],
    ...extra,
  };
}

const NODE_TYPES: readonly NodeType[] = [
  node('zen2', 'x86_64/amd/zen2'),
  node('zen3', 'x86_64/amd/zen3', {
    repoTargets: ['eessi.io-2023.06-software', 'eessi.io-2025.06-software'],
  }),
  node('zen4', 'x86_64/amd/zen4'),
  node('zen4-h100', 'x86_64/amd/zen4', { accel: ['nvidia/cc90'] }),
  node('zen5', 'x86_64/amd/zen5'),
  node('icelake-a100', 'x86_64/intel/icelake', { accel: ['nvidia/cc80'] }),
  node('grace-gh200', 'aarch64/nvidia/grace', { accel: ['nvidia/cc90', 'nvidia/cc100'] }),
  node('graviton4', 'aarch64/neoverse_v2'),
  node('x86-generic', 'x86_64/generic'),
  node('arm-generic', 'aarch64/generic'),
  node('riscv', 'riscv64/generic'),
];

const INPUT: PlanInput = {
  nodeTypes: NODE_TYPES,
  appName: 'site-a',
  allowedExportVars: ['SKIP_TESTS=yes', 'SKIP_TESTS=no', 'EESSI_DEBUG=1'],
};

function plan(text: string, input: Partial<PlanInput> = {}, extra: Partial<BuildRequest> = {}) {
  return planBuild({ ...parseBuildArguments(text, 'alice'), ...extra }, { ...INPUT, ...input });
}

function jobsOf(text: string, input: Partial<PlanInput> = {}) {
  const result = plan(text, input);
  expect(result.problem).toBeUndefined();
  return result.jobs.map((j) => [j.nodeType, j.repoId, j.subdir]);
}

describe('planBuild: native builds', () => {
  it('builds on the CPU-only node types whose cpu_subdir equals for:arch, one job per repo target', () => {
    expect(jobsOf('for:arch=x86_64/amd/zen3')).toEqual([
      ['zen3', 'eessi.io-2023.06-software', 'x86_64/amd/zen3/eessi.io-2023.06-software'],
      ['zen3', 'eessi.io-2025.06-software', 'x86_64/amd/zen3/eessi.io-2025.06-software'],
    ]);
    const [job] = plan('for:arch=x86_64/amd/zen3').jobs;
    expect(job).toEqual({
      key: 'zen3/eessi.io-2023.06-software',
      nodeType: 'zen3',
      os: 'linux',
      onArch: 'x86_64/amd/zen3',
      onAccel: [],
      forArch: 'x86_64/amd/zen3',
      forAccel: [],
      repoId: 'eessi.io-2023.06-software',
      slurmParams: '-p zen3',
      subdir: 'x86_64/amd/zen3/eessi.io-2023.06-software',
    });
  });

  it('never uses a node type with an accelerator for a CPU build', () => {
    expect(jobsOf('for:arch=x86_64/amd/zen4')).toEqual([
      ['zen4', 'eessi.io-2023.06-software', 'x86_64/amd/zen4/eessi.io-2023.06-software'],
    ]);
  });

  it('reads - as / in architectures, as v0.9 does', () => {
    expect(jobsOf('for:arch=x86_64-amd-zen5').map((j) => j[2])).toEqual([
      'x86_64/amd/zen5/eessi.io-2023.06-software',
    ]);
  });

  it('a GPU build on the node type with that accelerator, the accelerator nested in the job dir', () => {
    const result = plan('for:arch=x86_64/amd/zen4,accel=nvidia/cc90');
    expect(result.jobs.map((j) => [j.nodeType, j.subdir, j.onAccel, j.forAccel])).toEqual([
      [
        'zen4-h100',
        'x86_64/amd/zen4/nvidia/cc90/eessi.io-2023.06-software',
        ['nvidia/cc90'],
        ['nvidia/cc90'],
      ],
    ]);
  });

  it('a native accelerator list needs a node type with every one of them', () => {
    expect(
      plan('for:arch=aarch64/nvidia/grace,accel=nvidia/cc90+nvidia/cc100').jobs.map((j) => [
        j.nodeType,
        j.subdir,
      ]),
    ).toEqual([
      ['grace-gh200', 'aarch64/nvidia/grace/nvidia/cc90+nvidia/cc100/eessi.io-2023.06-software'],
    ]);
    const missing = plan('for:arch=x86_64/intel/icelake,accel=nvidia/cc70+nvidia/cc80');
    expect(missing.jobs).toEqual([]);
    expect(missing.problem).toBe(
      'no node type with CPU subdir x86_64/intel/icelake has accelerator nvidia/cc70+nvidia/cc80: icelake-a100 (nvidia/cc80) (for:arch=x86_64/intel/icelake,accel=nvidia/cc70+nvidia/cc80)',
    );
    expect(missing.closest.map((n) => n.name)).toEqual(['icelake-a100']);
  });

  it('a CPU build where only GPU node types have the CPU subdir says so', () => {
    const result = plan('for:arch=x86_64/intel/icelake');
    expect(result.problem).toMatch(
      /^every node type with CPU subdir x86_64\/intel\/icelake has an accelerator, and none was asked for: icelake-a100 \(nvidia\/cc80\)/,
    );
  });

  it('newer targets are plain data', () => {
    expect(jobsOf('for:arch=riscv64/generic').map((j) => j[0])).toEqual(['riscv']);
    expect(jobsOf('for:arch=aarch64/neoverse_v2').map((j) => j[0])).toEqual(['graviton4']);
    expect(jobsOf('for:arch=aarch64/nvidia/grace,accel=nvidia/cc100').map((j) => j[0])).toEqual([
      'grace-gh200',
    ]);
  });

  it('does not take a tail of for:arch (it names the software subdir) but names the closest node types', () => {
    const result = plan('for:arch=zen4');
    expect(result.jobs).toEqual([]);
    expect(result.problem).toBe('for:arch=zen4 is not a whole CPU subdir such as x86_64/amd/zen4');
    expect(result.closest.map((n) => n.cpuSubdir).slice(0, 2)).toEqual([
      'x86_64/amd/zen4',
      'x86_64/amd/zen4',
    ]);
  });
});

describe('planBuild: cross builds', () => {
  it('builds for one CPU on another when on: names it', () => {
    const result = plan('for:arch=x86_64/generic on:arch=x86_64/amd/zen2');
    expect(result.jobs.map((j) => [j.nodeType, j.onArch, j.forArch, j.subdir])).toEqual([
      ['zen2', 'x86_64/amd/zen2', 'x86_64/generic', 'x86_64/generic/eessi.io-2023.06-software'],
    ]);
  });

  it('takes a tail of on:arch in whole components when it names one cpu_subdir', () => {
    expect(jobsOf('for:arch=x86_64/amd/zen3 on:arch=zen3').map((j) => j[0])).toEqual([
      'zen3',
      'zen3',
    ]);
    expect(jobsOf('for:arch=x86_64/amd/zen3 on:arch=amd/zen2').map((j) => j[0])).toEqual(['zen2']);
    // Not a part of a component: `en3` is no tail of x86_64/amd/zen3.
    expect(plan('for:arch=x86_64/amd/zen3 on:arch=en3').problem).toBe(
      'no node type has CPU subdir en3 (on:arch=en3)',
    );
  });

  it('refuses an ambiguous tail and lists what it could mean', () => {
    const result = plan('for:arch=x86_64/generic on:arch=generic');
    expect(result.jobs).toEqual([]);
    expect(result.problem).toBe(
      'generic is ambiguous: it ends x86_64/generic, aarch64/generic, riscv64/generic; give the full CPU subdir (on:arch=generic)',
    );
  });

  it('GPU code compiled on a CPU node: for:accel is the target, the CPU node type is used', () => {
    const result = plan('for:arch=x86_64/amd/zen4,accel=nvidia/cc70+nvidia/cc80 on:arch=zen4');
    expect(result.jobs.map((j) => [j.nodeType, j.onAccel, j.forAccel, j.subdir])).toEqual([
      [
        'zen4',
        [],
        ['nvidia/cc70', 'nvidia/cc80'],
        'x86_64/amd/zen4/nvidia/cc70+nvidia/cc80/eessi.io-2023.06-software',
      ],
    ]);
  });

  it('on:accel must be one the node type has', () => {
    expect(
      jobsOf('for:arch=x86_64/amd/zen4,accel=nvidia/cc80 on:arch=zen4,accel=nvidia/cc90').map(
        (j) => j[0],
      ),
    ).toEqual(['zen4-h100']);
    const result = plan('for:arch=x86_64/amd/zen4 on:arch=x86_64/amd/zen4,accel=nvidia/cc80');
    expect(result.problem).toBe(
      'no node type with CPU subdir x86_64/amd/zen4 has accelerator nvidia/cc80: zen4 (CPU only), zen4-h100 (nvidia/cc90) (on:arch=x86_64/amd/zen4,accel=nvidia/cc80)',
    );
    expect(result.closest.map((n) => n.name)).toEqual(['zen4', 'zen4-h100']);
  });

  it('a cross build for any CPU subdir, also one no node type has', () => {
    expect(jobsOf('for:arch=x86_64/intel/sapphirerapids on:arch=zen4').map((j) => j[2])).toEqual([
      'x86_64/intel/sapphirerapids/eessi.io-2023.06-software',
    ]);
  });
});

describe('planBuild: nothing matches', () => {
  it('an unknown architecture names the closest node types by cpu_subdir', () => {
    const result = plan('for:arch=x86_64/amd/zen6');
    expect(result.jobs).toEqual([]);
    expect(result.problem).toBe(
      'no node type has CPU subdir x86_64/amd/zen6 (for:arch=x86_64/amd/zen6)',
    );
    expect(result.closest.map((n) => n.cpuSubdir)).toEqual([
      'x86_64/amd/zen5',
      'x86_64/amd/zen4',
      'x86_64/amd/zen4',
    ]);
  });

  it('the last component counts first: zen4 on another ISA is nearer than a sibling', () => {
    expect(closestNodeTypes('aarch64/amd/zen4', NODE_TYPES, 1)[0].cpuSubdir).toBe(
      'x86_64/amd/zen4',
    );
  });

  it('without node types (a seed config) says there are none', () => {
    const result = plan('for:arch=x86_64/generic', { nodeTypes: [] });
    expect(result.problem).toBe(
      'no node type has CPU subdir x86_64/generic (for:arch=x86_64/generic)',
    );
    expect(result.closest).toEqual([]);
  });

  it('a node type without repo targets builds nothing and says why', () => {
    const result = plan('for:arch=x86_64/generic', {
      nodeTypes: [node('bare', 'x86_64/generic', { repoTargets: [] })],
    });
    expect(result.problem).toBe('node type bare has no repo_targets');
  });
});

describe('planBuild: filters, duplicates and export variables', () => {
  it('asks the caller’s filter about every candidate and reports what it excluded', () => {
    const seen: unknown[] = [];
    const result = plan(
      'for:arch=x86_64/amd/zen3',
      {},
      {
        accept: (job) => {
          seen.push(job);
          return job.repository.includes('2025');
        },
        filterText: 'repo:2025',
      },
    );
    expect(result.jobs.map((j) => j.repoId)).toEqual(['eessi.io-2025.06-software']);
    expect(result.skipped).toEqual([
      {
        nodeType: 'zen3',
        onArch: 'x86_64/amd/zen3',
        onAccel: [],
        forArch: 'x86_64/amd/zen3',
        forAccel: [],
        repoId: 'eessi.io-2023.06-software',
        reason: 'excluded by the filters repo:2025',
      },
    ]);
    expect(seen[0]).toEqual({
      nodeType: 'zen3',
      architecture: 'x86_64/amd/zen3',
      accelerator: [],
      repository: 'eessi.io-2023.06-software',
      instance: 'site-a',
    });

    const none = plan(
      'for:arch=x86_64/amd/zen3',
      {},
      { accept: () => false, filterText: 'inst:b' },
    );
    expect(none.jobs).toEqual([]);
    expect(none.problem).toBe('no job left: excluded by the filters inst:b');
  });

  it('two node types that would build the same thing build it once, on the first', () => {
    const result = plan('for:arch=x86_64/amd/zen2', {
      nodeTypes: [node('zen2-a', 'x86_64/amd/zen2'), node('zen2-b', 'x86_64/amd/zen2')],
    });
    expect(result.jobs.map((j) => j.nodeType)).toEqual(['zen2-a']);
    expect(result.skipped).toEqual([
      expect.objectContaining({
        nodeType: 'zen2-b',
        repoId: 'eessi.io-2023.06-software',
        reason: 'the same build runs on node type zen2-a',
      }),
    ]);
  });

  it('a repo id that cannot name a directory is skipped, not built', () => {
    const result = plan('for:arch=x86_64/generic', {
      nodeTypes: [node('x', 'x86_64/generic', { repoTargets: ['../up', 'EESSI'] })],
    });
    expect(result.jobs.map((j) => j.repoId)).toEqual(['EESSI']);
    expect(result.skipped[0].reason).toBe('repo id "../up" cannot name a job directory');
  });

  it('accepts only allow-listed NAME=value pairs, each name once', () => {
    expect(plan('for:arch=x86_64/generic exp:SKIP_TESTS=yes').jobs).toHaveLength(1);
    expect(plan('for:arch=x86_64/generic exp:SKIP_TESTS=maybe').problem).toBe(
      'exportvariable "SKIP_TESTS=maybe" is not in [buildenv] allowed_exportvars',
    );
    expect(plan('for:arch=x86_64/generic exp:SKIP_TESTS=yes exp:SKIP_TESTS=no').problem).toBe(
      'exportvariable SKIP_TESTS is given twice',
    );
  });

  it('refuses values that a caller passed without the parser', () => {
    const base = parseBuildArguments('for:arch=x86_64/generic', 'alice');
    expect(
      planBuild({ ...base, for: { arch: 'x86_64/../../etc', accel: [] } }, INPUT).problem,
    ).toBe('for:arch "x86_64/../../etc" is not a CPU subdir');
    expect(
      planBuild({ ...base, for: { arch: 'x86_64/generic', accel: ['<img src=x>'] } }, INPUT)
        .problem,
    ).toBe('for:accel "<img src=x>" is not an accelerator such as nvidia/cc90');
  });
});
