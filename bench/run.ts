/**
 * `npm run bench`: every benchmark, each as a ratio against a baseline measured in the same run.
 * Figures only; no pass/fail thresholds are asserted here (the targets are printed beside them).
 */
import { Logger } from '@nestjs/common';
import { benchBuilds } from './builds.bench.js';
import { benchCommands } from './commands.bench.js';
import { benchIntake } from './intake.bench.js';
import { benchJobManager } from './job-manager.bench.js';

type Table = Record<string, number | string> | Record<string, number | string>[];

const benches: [string, () => Promise<Table>][] = [
  ['webhook intake (issues #2, #16)', benchIntake],
  ['job manager tick (issue #4)', benchJobManager],
  ['builds: labeled delivery to jobs (issue #3)', benchBuilds],
  ['commands: bot: build comment to first reply (issue #13)', benchCommands],
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
