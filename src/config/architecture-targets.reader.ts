import type { ArchitectureTargetsConfig, ConfigGeneration } from './app-config.js';
import type { ConfigReadContext, ConfigSectionReader } from './config-section.reader.js';

/**
 * Which generation of app.cfg a file is follows from `[architecturetargets]`: `arch_target_map`
 * is the seed format (label `bot:build`, one job per target), `node_type_map` the v0.9 format
 * (node types × repository targets, PR comment commands). A file with both, or with neither, is
 * an error; the rest of the file is then still checked as the more likely of the two.
 */
export function detectGeneration(context: ConfigReadContext): ConfigGeneration {
  const section = context.parsed.sections.get('architecturetargets');
  const seed = section?.entries.get('arch_target_map');
  const v09 = section?.entries.get('node_type_map');
  const where = `${context.fileName}:${section?.line ?? 0}: [architecturetargets]`;
  const keys =
    'node_type_map (v0.9 format: node types × repository targets, PR comment commands) or arch_target_map (seed format: label bot:build)';
  if (!section) {
    context.problems.push(
      `${context.fileName}: missing section [architecturetargets] (it must set ${keys}; see docs/configuration.md)`,
    );
  } else if (seed && v09) {
    context.problems.push(
      `${where} sets both arch_target_map (line ${seed.line}, seed format) and node_type_map (line ${v09.line}, v0.9 format); keep only one: node_type_map with the v0.9 keys, or arch_target_map for the seed format (see docs/configuration.md, Migration)`,
    );
  } else if (!seed && !v09) {
    context.problems.push(`${where} missing required key: set ${keys}`);
  }
  if (v09) {
    return 'v09';
  }
  if (seed) {
    return 'seed';
  }
  return context.parsed.sections.has('bot_control') ? 'v09' : 'seed';
}

const TARGET_SEGMENTS = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)+$/;

/** The seed format's `arch_target_map`: target → sbatch parameters. */
export function readArchTargetMap(section: ConfigSectionReader): ArchitectureTargetsConfig {
  const example = '{"linux/x86_64/generic": "--constraint shape=c4.2xlarge"}';
  const entry = section.required(
    'arch_target_map',
    `a JSON object mapping build targets to sbatch parameters, e.g. ${example}`,
  );
  const map = entry ? section.jsonStringMap('arch_target_map', entry, example) : undefined;
  if (!entry || !map) {
    return { archTargetMap: {} };
  }
  const targets = Object.keys(map);
  if (targets.length === 0) {
    section.problem('arch_target_map', entry, `has no targets; add at least one, e.g. ${example}`);
  }
  for (const target of targets) {
    // Targets become directory names under each job dir, so nothing may climb out of it.
    const segments = target.split('/');
    if (!TARGET_SEGMENTS.test(target) || segments.some((s) => s === '.' || s === '..')) {
      section.problem(
        'arch_target_map',
        entry,
        `target ${JSON.stringify(target)} must look like os/arch[/vendor/cpu] with only letters, digits, '.', '_' and '-' in each part`,
      );
    }
  }
  return { archTargetMap: map };
}
