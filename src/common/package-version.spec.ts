import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { botVersion } from './package-version.js';

describe('botVersion', () => {
  it("is the version in this package's package.json", () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };

    expect(botVersion()).toBe(pkg.version);
    expect(botVersion()).not.toBe('unknown');
  });
});
