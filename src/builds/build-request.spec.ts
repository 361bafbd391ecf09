import { describe, expect, it } from '@jest/globals';
import {
  BuildRequestError,
  parseBuildArguments,
  parseExportVar,
  parseTargetSpec,
} from './build-request.js';

describe('parseTargetSpec', () => {
  it('reads arch and an accelerator list, keys abbreviated as v0.9 allows', () => {
    expect(parseTargetSpec('arch=x86_64/amd/zen4', 'for')).toEqual({
      arch: 'x86_64/amd/zen4',
      accel: [],
    });
    expect(
      parseTargetSpec('architecture=x86_64-amd-zen4,acc=nvidia/cc70+nvidia=cc80', 'for'),
    ).toEqual({ arch: 'x86_64/amd/zen4', accel: ['nvidia/cc70', 'nvidia/cc80'] });
  });

  it.each([
    ['', 'for:: "" is not KEY=VALUE (keys: arch, accel)'],
    ['accel=nvidia/cc90', 'for:accel=nvidia/cc90: arch=… is required'],
    ['arch=a,arch=b', 'for:arch=a,arch=b: arch given twice'],
    [
      'arch=x86_64/../etc',
      'for:arch=x86_64/../etc: "x86_64/../etc" is not a CPU subdir such as x86_64/amd/zen4',
    ],
    ['arch=$(id)', 'for:arch=$(id): "$(id)" is not a CPU subdir such as x86_64/amd/zen4'],
    [
      'arch=x,accel=cc90',
      'for:arch=x,accel=cc90: "cc90" is not an accelerator such as nvidia/cc90',
    ],
    [
      'arch=x,accel=nvidia/cc90+nvidia/cc90',
      'for:arch=x,accel=nvidia/cc90+nvidia/cc90: an accelerator is listed twice',
    ],
    ['arch=x,gpu=1', 'for:arch=x,gpu=1: unknown key "gpu" (keys: arch, accel)'],
    ['ar=x', 'for:ar=x: unknown key "ar" (keys: arch, accel)'],
  ])('%j is refused with the token at fault', (text, message) => {
    expect(() => parseTargetSpec(text, 'for')).toThrow(new BuildRequestError(message));
  });
});

describe('parseBuildArguments', () => {
  it('reads for:, on: and export variables', () => {
    expect(
      parseBuildArguments(
        '  for:arch=x86_64/amd/zen4,accel=nvidia/cc90   on:arch=zen4 exp:SKIP_TESTS=yes exportvariable:A=b=c ',
        'alice',
      ),
    ).toEqual({
      for: { arch: 'x86_64/amd/zen4', accel: ['nvidia/cc90'] },
      on: { arch: 'zen4', accel: [] },
      exportVars: [
        { name: 'SKIP_TESTS', value: 'yes' },
        { name: 'A', value: 'b=c' },
      ],
      requester: 'alice',
    });
  });

  it.each([
    ['on:arch=zen4', 'for:arch=… is required'],
    ['for:arch=a/b for:arch=c/d', 'for: given twice'],
    [
      'for:arch=a/b repo:x',
      '"repo:x": expected for:arch=…[,accel=…], on:arch=…[,accel=…] or exp:NAME=value',
    ],
    [
      'for:arch=a/b exp:1X=y',
      'exportvariable "1X=y": expected NAME=value with NAME a shell variable name',
    ],
  ])('%j is refused: %s', (text, message) => {
    expect(() => parseBuildArguments(text, 'alice')).toThrow(new BuildRequestError(message));
  });

  it('keeps an export value as written (it must match the allow-list exactly)', () => {
    expect(parseExportVar("X=$(id)'`")).toEqual({ name: 'X', value: "$(id)'`" });
  });
});
