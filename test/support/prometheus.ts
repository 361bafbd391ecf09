import parsePrometheusTextFormat from 'parse-prometheus-text-format';

/**
 * /metrics output read as Prometheus would: parsed by an independent parser
 * (parse-prometheus-text-format, a port of the official Python client's), after a strict check
 * of the text format's rules that parser is lenient about (HELP and TYPE before a family's
 * samples, sample syntax, no series twice). Special values are read as Prometheus's Go parser
 * reads them (case-insensitive: prom-client writes `Nan`).
 */
export interface MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
  readonly metrics: ReadonlyArray<{
    readonly value?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly buckets?: Readonly<Record<string, string>>;
    readonly count?: string;
    readonly sum?: string;
  }>;
}

const parse = (text: string) => parsePrometheusTextFormat(text) as MetricFamily[];

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = `[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\["\\\\n])*"`;
const SAMPLE = new RegExp(
  `^(${NAME})(\\{(?:${LABEL}(?:,${LABEL})*)?\\})? (-?(?:[0-9.]+(?:e[+-]?[0-9]+)?|[+-]?[Ii]nf|[Nn]a[Nn]))$`,
);

export function parseMetrics(text: string): MetricFamily[] {
  const problems: string[] = [];
  const typed = new Map<string, string>();
  const helped = new Set<string>();
  const series = new Set<string>();
  for (const [i, line] of text.split('\n').entries()) {
    if (line === '') {
      continue;
    }
    const help = new RegExp(`^# HELP (${NAME}) .+$`).exec(line);
    const type = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(
      line,
    );
    if (help) {
      helped.add(help[1]);
      continue;
    }
    if (type) {
      typed.set(type[1], type[2]);
      continue;
    }
    const sample = SAMPLE.exec(line);
    if (!sample) {
      problems.push(`line ${i + 1} is not a valid sample: ${line}`);
      continue;
    }
    const family = [...typed.keys()].find(
      (name) => sample[1] === name || /^_(bucket|sum|count)$/.test(sample[1].slice(name.length)),
    );
    if (!family || !helped.has(family)) {
      problems.push(`line ${i + 1}: ${sample[1]} has no HELP and TYPE before it`);
    }
    const key = `${sample[1]}${sample[2] ?? ''}`;
    if (series.has(key)) {
      problems.push(`line ${i + 1}: series ${key} appears twice`);
    }
    series.add(key);
  }
  if (problems.length > 0) {
    throw new Error(`invalid Prometheus text:\n${problems.join('\n')}`);
  }
  return parse(text);
}

/** The value of one series (labels must match exactly), or undefined if it is absent. */
export function sampleValue(
  families: readonly MetricFamily[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const family = families.find((f) => f.name === name);
  const metric = family?.metrics.find((m) => {
    const have = m.labels ?? {};
    return (
      Object.keys(have).length === Object.keys(labels).length &&
      Object.entries(labels).every(([k, v]) => have[k] === v)
    );
  });
  return metric?.value === undefined ? undefined : Number(metric.value);
}

export function family(families: readonly MetricFamily[], name: string): MetricFamily {
  const found = families.find((f) => f.name === name);
  if (!found) {
    throw new Error(`no metric family ${name} in /metrics`);
  }
  return found;
}
