/**
 * Writes an INI file byte for byte as Python's `configparser.ConfigParser.write()` does, because
 * v0.9's job scripts, job manager and deploy tools read the files the bot leaves in job dirs
 * (cfg/job.cfg, `_bot_job<ID>.metadata`) and sites compare them with what upstream wrote:
 *
 *   [section]
 *   key = value          (an empty value keeps the space: `key = `)
 *   multi = first line
 *   \tcontinuation
 *                        (a blank line after every section, the last one included)
 */
export type IniSection = readonly [name: string, entries: readonly (readonly [string, string])[]];

export function formatConfigparser(sections: readonly IniSection[]): string {
  let text = '';
  for (const [name, entries] of sections) {
    assertName(name, 'section');
    text += `[${name}]\n`;
    for (const [key, value] of entries) {
      assertName(key, 'key');
      // configparser indents continuation lines with a tab; a CR would end the line for readers.
      text += `${key} = ${value.replace(/\r\n?|\n/g, '\n\t')}\n`;
    }
    text += '\n';
  }
  return text;
}

function assertName(name: string, what: string): void {
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) {
    throw new Error(`cannot write INI ${what} ${JSON.stringify(name)}`);
  }
}
