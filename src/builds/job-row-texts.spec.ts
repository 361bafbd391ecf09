import { describe, expect, it } from '@jest/globals';
import { makeConfig } from '../../test/support/make-config.js';
import { DEFAULT_TEMPLATES } from '../config/upstream-defaults.js';
import { fillTemplate, jobRowTexts, RELEASED_TEXT, RUNNING_TEXT } from './job-row-texts.js';

const seed = makeConfig({ root: '/tmp/x' });
const v09 = (templates: Partial<typeof DEFAULT_TEMPLATES> = {}) =>
  makeConfig({
    root: '/tmp/x',
    rest: { generation: 'v09', templates: { ...DEFAULT_TEMPLATES, ...templates } },
  });

describe('jobRowTexts', () => {
  it("keeps the seed's texts for seed-format configs", () => {
    const texts = jobRowTexts(seed);

    expect(texts.released()).toBe(RELEASED_TEXT);
    expect(texts.running('1234')).toBe(RUNNING_TEXT);
  });

  it("fills upstream's default templates for v0.9 configs", () => {
    const texts = jobRowTexts(v09());

    expect(texts.released()).toBe('job awaits launch by Slurm scheduler');
    expect(texts.received('2026-06-02T14:03:20')).toBe(
      'job awaits launch by Slurm scheduler (eligible to start from 2026-06-02T14:03:20)',
    );
    expect(texts.received(undefined)).toBe('job awaits launch by Slurm scheduler');
    expect(texts.running('8123456')).toBe('job `8123456` is running');
  });

  it("uses the operator's templates, and leaves a strange eligible time out", () => {
    const texts = jobRowTexts(
      v09({ awaitsLaunch: 'queued{extra_info}, {{literal}}', runningJob: 'läuft: {job_id}!' }),
    );

    expect(texts.released()).toBe('queued, {literal}');
    expect(texts.received('<img src=x onerror=alert(1)>')).toBe('queued, {literal}');
    expect(texts.received('2026-06-02T14:03:20|x')).toBe('queued, {literal}');
    expect(texts.running('7')).toBe('läuft: 7!');
  });
});

describe('fillTemplate', () => {
  it('fills by name only, never evaluates, and does not re-read inserted values', () => {
    expect(fillTemplate('{a}-{b}-{c}', { a: '{b}', b: '$(id)' })).toBe('{b}-$(id)-{c}');
    expect(fillTemplate('{{a}} {a.b} {0}', { a: 'x' })).toBe('{a} {a.b} {0}');
  });

  it('turns a backticked placeholder into a code span that survives backticks in the value', () => {
    expect(fillTemplate('file `{filename}` missing', { filename: 'a`b' })).toBe(
      'file ``a`b`` missing',
    );
  });
});
