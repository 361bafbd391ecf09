import type { ConfigSectionReader } from './config-section.reader.js';

/*
 * A required key holding a path or a command: reported missing with what it means, otherwise
 * resolved; undefined (with a problem recorded) when either fails.
 */

export function requiredPath(
  section: ConfigSectionReader,
  key: string,
  meaning: string,
): string | undefined {
  const entry = section.required(key, meaning);
  return entry ? section.path(key, entry) : undefined;
}

export function requiredCommand(
  section: ConfigSectionReader,
  key: string,
  meaning: string,
): string | undefined {
  const entry = section.required(key, meaning);
  return entry ? section.command(key, entry) : undefined;
}
