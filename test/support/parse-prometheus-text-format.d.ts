// The package ships no types; this is the part test/support/prometheus.ts uses.
declare module 'parse-prometheus-text-format' {
  export default function parsePrometheusTextFormat(text: string): unknown[];
}
