/**
 * Everything wrong with a configuration, reported at once so an operator fixes app.cfg in one pass
 * instead of restarting once per mistake. Each problem names the file, line, section and key where
 * known, and says what to do.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly problems: readonly string[];
  /**
   * Warnings found along the way. They travel with the error because they often explain it: a
   * "missing section [github]" next to "unknown section [GitHub] (did you mean [github]?)".
   */
  readonly warnings: readonly string[];

  constructor(problems: readonly string[], warnings: readonly string[] = []) {
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    const lines = [`Invalid configuration (${count}):`, ...problems.map((p) => `  - ${p}`)];
    if (warnings.length > 0) {
      lines.push('Warnings:', ...warnings.map((w) => `  - ${w}`));
    }
    super(lines.join('\n'));
    this.problems = Object.freeze([...problems]);
    this.warnings = Object.freeze([...warnings]);
  }
}
