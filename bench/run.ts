/**
 * `npm run bench`: every benchmark, each as a ratio against a baseline measured in the same run.
 * Figures only; no pass/fail thresholds are asserted here (the targets are printed beside them).
 */
import { Logger } from '@nestjs/common';
import { benchBuilds } from './builds.bench.js';
import { benchIntake } from './intake.bench.js';
import { benchJobManager } from './job-manager.bench.js';

const benches: [string, () => Promise<Record<string, number | string>>][] = [
  ['webhook intake (issue #2)', benchIntake],
  ['job manager tick (issue #4)', benchJobManager],
  ['builds: labeled delivery to jobs (issue #3)', benchBuilds],
];

async function main(): Promise<void> {
  Logger.overrideLogger(['error']);
  const only = process.argv[2];
  for (const [name, bench] of benches) {
    if (only && !name.includes(only)) {
      continue;
    }
    console.log(`\n## ${name}`);
    console.table(await bench());
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
