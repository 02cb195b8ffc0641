/** `/metrics` in the Prometheus text format: counters, gauges and latency histograms, kept in memory with no dependency. */

/** Upper bounds of the latency buckets, in seconds. */
const BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

type Labels = Record<string, string>;

const key = (labels: Labels): string =>
  Object.entries(labels)
    .map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, "_")}"`)
    .join(",");

/** The relay's metrics. Label values are route patterns and status codes, never raw URLs. */
export class Metrics {
  private readonly counters = new Map<string, Map<string, number>>();
  private readonly histograms = new Map<string, { counts: number[]; sum: number; count: number }>();
  private readonly gauges = new Map<string, () => number>();
  private readonly help = new Map<string, string>();

  constructor() {
    this.describe("weft_relay_http_requests_total", "HTTP requests by route and status");
    this.describe("weft_relay_http_request_seconds", "HTTP request latency by route");
    this.describe("weft_relay_bytes_in_total", "bytes received (HTTP bodies and WebSocket frames)");
    this.describe("weft_relay_bytes_out_total", "bytes sent in WebSocket frames");
    this.describe("weft_relay_envelopes_appended_total", "envelopes appended to folder logs");
    this.describe("weft_relay_blob_bytes_written_total", "chunk bytes stored");
    this.describe("weft_relay_rate_limited_total", "requests refused by a rate limit");
    this.describe(
      "weft_relay_slow_consumer_closed_total",
      "WebSockets closed because they fell too far behind (a frame would have been dropped)",
    );
    this.describe("weft_relay_open_sockets", "open WebSocket connections");
  }

  /** Adds `by` to a counter. */
  inc(name: string, labels: Labels = {}, by = 1): void {
    let series = this.counters.get(name);
    if (!series) {
      series = new Map<string, number>();
      this.counters.set(name, series);
    }
    const k = key(labels);
    series.set(k, (series.get(k) ?? 0) + by);
  }

  /** Records one observation (seconds) in a histogram. */
  observe(name: string, labels: Labels, seconds: number): void {
    const k = `${name}{${key(labels)}}`;
    let h = this.histograms.get(k);
    if (!h) this.histograms.set(k, (h = { counts: BUCKETS.map(() => 0), sum: 0, count: 0 }));
    for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]!) h.counts[i]!++;
    h.sum += seconds;
    h.count++;
  }

  /** A gauge read when scraped. */
  gauge(name: string, read: () => number): void {
    this.gauges.set(name, read);
  }

  /** The text exposition format, version 0.0.4. */
  render(): string {
    const out: string[] = [];
    for (const [name, series] of this.counters) {
      this.header(out, name, "counter");
      for (const [labels, v] of series) out.push(`${name}${labels ? `{${labels}}` : ""} ${v}`);
    }
    const seen = new Set<string>();
    for (const [k, h] of this.histograms) {
      const name = k.slice(0, k.indexOf("{"));
      const labels = k.slice(k.indexOf("{") + 1, -1);
      if (!seen.has(name)) this.header(out, name, "histogram");
      seen.add(name);
      const sep = labels ? "," : "";
      BUCKETS.forEach((b, i) =>
        out.push(`${name}_bucket{${labels}${sep}le="${b}"} ${h.counts[i]}`),
      );
      out.push(`${name}_bucket{${labels}${sep}le="+Inf"} ${h.count}`);
      out.push(`${name}_sum{${labels}} ${h.sum}`, `${name}_count{${labels}} ${h.count}`);
    }
    for (const [name, read] of this.gauges) {
      this.header(out, name, "gauge");
      out.push(`${name} ${read()}`);
    }
    return `${out.join("\n")}\n`;
  }

  private describe(name: string, text: string): void {
    this.help.set(name, text);
  }

  private header(out: string[], name: string, type: string): void {
    const help = this.help.get(name);
    if (help) out.push(`# HELP ${name} ${help}`);
    out.push(`# TYPE ${name} ${type}`);
  }
}
