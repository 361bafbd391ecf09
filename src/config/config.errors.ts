/**
 * Everything wrong with a configuration, reported at once so an operator fixes app.cfg in one pass
 * instead of restarting once per mistake. Each problem names the file, line, section and key where
 * known, and says what to do.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    super(`Invalid configuration (${count}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.problems = Object.freeze([...problems]);
  }
}
