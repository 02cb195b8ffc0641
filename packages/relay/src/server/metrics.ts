/** `/metrics`: the relay's Prometheus metrics (prom-client), with the process and Node metrics beside them. */
import { statfs } from "node:fs/promises";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** What the relay reads when scraped: each is cheap (a counter in memory, one query, one statfs). */
export interface MetricSources {
  /** Open WebSocket connections. */
  openSockets(): number;
  /** The most bytes waiting in one WebSocket's send buffer (a reader falling behind the fan-out). */
  maxBufferedBytes(): number;
  /** What the memory guard reads: resident memory plus HTTP bodies admitted and still arriving. */
  heldBytes(): number;
  /** Worst cases reserved per holder (frame limits, declared bodies) plus replies queued. */
  reservedBytes(): number;
  /** Chunks and their bytes over every folder's store. */
  chunks(): Promise<{ chunks: number; bytes: number }>;
  /** Folders, and envelopes held in the folder logs (appended and not yet pruned). */
  meta(): Promise<{ folders: number; logEntries: number }>;
  /** The data directory, whose filesystem's free space is reported (disk filling). */
  dataDir: string;
  /** The relay's version, for `weft_relay_info`. */
  version: string;
}

/**
 * prom-client's default collectors (CPU, memory, event-loop lag, GC, handles) describe the
 * process, not one relay, and cannot be stopped once started (each call leaves a GC observer and
 * an event-loop monitor running). So one registry per process, made on first use and merged into
 * every relay's scrape: a process that starts relays many times (the tests) starts them once.
 */
let processRegistry: Registry | undefined;
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
    // Gauges named like counters (prom-client keeps the names for compatibility), which
    // `promtool check metrics` rejects; the same counts stay, by type, in nodejs_active_handles
    // and friends.
    for (const name of [
      "nodejs_active_handles_total",
      "nodejs_active_requests_total",
      "nodejs_active_resources_total",
    ])
      processRegistry.removeSingleMetric(name);
  }
  return processRegistry;
}

/** The relay's metrics. Label values are route patterns, status codes and message types: never a raw URL, id or token. */
export class RelayMetrics {
  private readonly registry = new Registry();
  /** HTTP requests answered, by route pattern and status. */
  readonly httpRequests: Counter<"route" | "status">;
  /** HTTP request latency, by route pattern. */
  readonly httpDuration: Histogram<"route">;
  /** Bytes received: HTTP bodies and WebSocket frames. */
  readonly receivedBytes: Counter<"transport">;
  /** Bytes sent: HTTP bodies and WebSocket frames. */
  readonly sentBytes: Counter<"transport">;
  /** WebSocket messages received, by message type (`bad_frame` for one that did not decode). */
  readonly messages: Counter<"type">;
  /** WebSocket connections accepted. */
  readonly connections: Counter;
  /** Envelopes appended to folder logs. */
  readonly envelopesAppended: Counter;
  /** Requests and connections refused by a rate limit. */
  readonly rateLimited: Counter;
  /** WebSockets closed because they fell too far behind the fan-out. */
  readonly slowConsumersClosed: Counter;
  /** Failures by kind: `http_5xx`, `bad_frame`, `signature`. */
  readonly errors: Counter<"kind">;

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    this.httpRequests = new Counter({
      name: "weft_relay_http_requests_total",
      help: "HTTP requests answered, by route pattern and status",
      labelNames: ["route", "status"],
      registers,
    });
    this.httpDuration = new Histogram({
      name: "weft_relay_http_request_duration_seconds",
      help: "HTTP request latency by route pattern",
      labelNames: ["route"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.receivedBytes = new Counter({
      name: "weft_relay_received_bytes_total",
      help: "bytes received: HTTP request bodies and WebSocket frames",
      labelNames: ["transport"],
      registers,
    });
    this.sentBytes = new Counter({
      name: "weft_relay_sent_bytes_total",
      help: "bytes sent: HTTP response bodies and WebSocket frames",
      labelNames: ["transport"],
      registers,
    });
    // Zero series exist from the start, so rate() works from the first scrape.
    for (const t of ["http", "websocket"]) {
      this.receivedBytes.inc({ transport: t }, 0);
      this.sentBytes.inc({ transport: t }, 0);
    }
    this.messages = new Counter({
      name: "weft_relay_websocket_messages_received_total",
      help: "WebSocket messages received, by message type (bad_frame: did not decode)",
      labelNames: ["type"],
      registers,
    });
    this.connections = new Counter({
      name: "weft_relay_websocket_connections_total",
      help: "WebSocket connections accepted",
      registers,
    });
    this.envelopesAppended = new Counter({
      name: "weft_relay_envelopes_appended_total",
      help: "envelopes appended to folder logs",
      registers,
    });
    this.rateLimited = new Counter({
      name: "weft_relay_rate_limited_total",
      help: "requests and connections refused by a rate limit",
      registers,
    });
    this.slowConsumersClosed = new Counter({
      name: "weft_relay_slow_consumer_closed_total",
      help: "WebSockets closed because they fell too far behind (a frame would have been dropped)",
      registers,
    });
    this.errors = new Counter({
      name: "weft_relay_errors_total",
      help: "failures by kind: http_5xx (a request failed inside the relay), bad_frame (an undecodable WebSocket frame), signature (an envelope whose signature did not verify)",
      labelNames: ["kind"],
      registers,
    });
    for (const kind of ["http_5xx", "bad_frame", "signature"]) this.errors.inc({ kind }, 0);

    new Gauge({
      name: "weft_relay_info",
      help: "always 1; the relay's version as a label",
      labelNames: ["version"],
      registers,
    }).set({ version: sources.version }, 1);
    new Gauge({
      name: "weft_relay_websocket_connections",
      help: "open WebSocket connections",
      registers,
      collect() {
        this.set(sources.openSockets());
      },
    });
    new Gauge({
      name: "weft_relay_websocket_max_buffered_bytes",
      help: "the most bytes waiting in one WebSocket's send buffer: how far the slowest reader is behind the fan-out",
      registers,
      collect() {
        this.set(sources.maxBufferedBytes());
      },
    });
    new Gauge({
      name: "weft_relay_held_bytes",
      help: "what the memory guard reads: the relay's resident memory plus HTTP bodies admitted and still being read; new sockets and large bodies are refused (503) above WEFT_RELAY_BUFFER_MIB",
      registers,
      collect() {
        this.set(sources.heldBytes());
      },
    });
    new Gauge({
      name: "weft_relay_reserved_bytes",
      help: "worst cases reserved against the per-address and per-account budgets: each socket's frame limit, each large HTTP body's declared length, and replies queued unsent",
      registers,
      collect() {
        this.set(sources.reservedBytes());
      },
    });
    // One query for the two database gauges, one walk of the open chunk stores for the three
    // chunk gauges, one statfs for the disk: read once per scrape, shared by the gauges.
    let metaOnce: Promise<{ folders: number; logEntries: number }> | undefined;
    const meta = () => (metaOnce ??= sources.meta());
    let chunksOnce: Promise<{ chunks: number; bytes: number }> | undefined;
    const chunks = () => (chunksOnce ??= sources.chunks());
    let diskOnce: Promise<{ avail: number; size: number }> | undefined;
    const disk = () =>
      (diskOnce ??= statfs(sources.dataDir).then((s) => ({
        avail: s.bavail * s.bsize,
        size: s.blocks * s.bsize,
      })));
    this.beforeScrape = () => {
      metaOnce = undefined;
      chunksOnce = undefined;
      diskOnce = undefined;
    };
    const gauge = (name: string, help: string, read: () => Promise<number> | number) =>
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          this.set(await read());
        },
      });
    gauge("weft_relay_folders", "folders on the relay", async () => meta().then((m) => m.folders));
    gauge(
      "weft_relay_log_entries",
      "envelopes held in folder logs (appended and not yet pruned)",
      async () => meta().then((m) => m.logEntries),
    );
    gauge("weft_relay_stored_chunks", "chunks stored, over every folder", async () =>
      chunks().then((c) => c.chunks),
    );
    gauge("weft_relay_stored_chunk_bytes", "bytes of chunks stored, over every folder", async () =>
      chunks().then((c) => c.bytes),
    );
    gauge(
      "weft_relay_data_filesystem_avail_bytes",
      "bytes free to the relay on the filesystem of its data directory",
      async () => disk().then((d) => d.avail),
    );
    gauge(
      "weft_relay_data_filesystem_size_bytes",
      "size of the filesystem of the relay's data directory",
      async () => disk().then((d) => d.size),
    );
  }

  private readonly beforeScrape: () => void;

  /** The text exposition format: this relay's metrics, then the process's. */
  async render(): Promise<{ contentType: string; body: string }> {
    this.beforeScrape();
    const merged = Registry.merge([this.registry, processMetrics()]);
    return { contentType: merged.contentType, body: await merged.metrics() };
  }
}
