import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/**
 * This package's version (`--version`, the startup line, `/health`, the GitHub User-Agent), read
 * once from its package.json. Found by walking up from this file, so that it works the same from
 * src/ (tests), dist/ (the installed bot) and dist-bench/src/ (benchmarks); 'unknown' when no
 * eessi-bot package.json is found.
 */
export function botVersion(): string {
  if (cached) {
    return cached;
  }
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: unknown;
        version?: unknown;
      };
      if (pkg.name === 'eessi-bot' && typeof pkg.version === 'string') {
        return (cached = pkg.version);
      }
    } catch {
      // no readable package.json at this level: keep walking up
    }
    dir = dirname(dir);
  }
  return (cached = 'unknown');
}
