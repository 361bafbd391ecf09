/**
 * Fills `{name}` placeholders of an app.cfg comment template by name, as Python's str.format
 * reads them (`{{` and `}}` are literal braces), but never evaluates anything: `{a.b}`, `{a[0]}`
 * or `{a!r}` are left as written, and so is a name not in `values` (config validation reports
 * those at start).
 *
 * TODO(i12-config): replace with the config module's fillTemplate once that branch is merged.
 */
export function fillTemplate(
  template: string,
  values: Readonly<Record<string, string | number>>,
): string {
  return template.replace(/\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (match, name?: string) => {
    if (match === '{{') return '{';
    if (match === '}}') return '}';
    return name !== undefined && Object.hasOwn(values, name) ? String(values[name]) : match;
  });
}
