/** metrics: the sync daemon's Prometheus endpoint (`weft sync --metrics-port P`), read from each folder's status at scrape time. */
import { type Server, createServer } from "node:http";
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import { AgentError } from "../home/index.js";
import { agentVersion } from "../log/index.js";
import type { FolderSync } from "../sync/folder-sync.js";
import { folderStatus } from "../sync/status.js";

type Status = ReturnType<typeof folderStatus>;
type Labels = { folder_id: string; path: string };

/** A running metrics endpoint. */
export interface MetricsServer {
  /** `http://127.0.0.1:PORT/metrics`. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * The daemon's metrics for `syncs`. Nothing is counted here: every value is read from the
 * folders' status when Prometheus scrapes, so the endpoint cannot drift from `weft status`.
 * Folder labels are the folder id and its local path: the endpoint is on 127.0.0.1 only.
 */
export function agentRegistry(syncs: readonly FolderSync[]): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // Gauges named like counters, which `promtool check metrics` rejects (see the relay's metrics).
  for (const name of [
    "nodejs_active_handles_total",
    "nodejs_active_requests_total",
    "nodejs_active_resources_total",
  ])
    registry.removeSingleMetric(name);
  const registers = [registry];
  const labelNames = ["folder_id", "path"] as const;
  /** Calls `set` with each folder's labels and the value `read` takes from its status. */
  const eachFolder = (read: (s: Status) => number, set: (l: Labels, v: number) => void): void => {
    for (const sync of syncs) {
      const status = folderStatus(sync);
      set({ folder_id: status.folderId, path: status.path }, read(status));
    }
  };
  const gauge = (name: string, help: string, read: (s: Status) => number) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers,
      collect() {
        this.reset();
        eachFolder(read, (labels, value) => this.set(labels, value));
      },
    });
  // The folders keep running totals since the daemon started: exposed as counters by setting
  // each to the folder's total (a restart starts them at 0, which rate() understands).
  const counter = (name: string, help: string, read: (s: Status) => number) =>
    new Counter({
      name,
      help,
      labelNames,
      registers,
      collect() {
        this.reset();
        eachFolder(read, (labels, value) => this.inc(labels, value));
      },
    });
  new Gauge({
    name: "weft_agent_info",
    help: "always 1; the agent's version as a label",
    labelNames: ["version"],
    registers,
  }).set({ version: agentVersion() }, 1);
  gauge("weft_agent_files", "files in the folder", (s) => s.files);
  gauge(
    "weft_agent_conflicts",
    "files with concurrent versions (conflict copies)",
    (s) => s.conflicts,
  );
  gauge(
    "weft_agent_pending_changes",
    "local changes not yet sent to the relay",
    (s) => s.pendingOut,
  );
  gauge(
    "weft_agent_pending_chunks",
    "chunks waiting to be uploaded or downloaded",
    (s) => s.pendingChunks,
  );
  gauge(
    "weft_agent_problems",
    "recent problems held for weft status (at most 20)",
    (s) => s.errors.length,
  );
  gauge("weft_agent_connected", "1 while connected to the relay, else 0", (s) =>
    s.connection === "online" ? 1 : 0,
  );
  gauge(
    "weft_agent_last_sync_timestamp_seconds",
    "when the folder was last seen in sync (0: not yet)",
    (s) => (s.lastSync === null ? 0 : s.lastSync / 1000),
  );
  counter(
    "weft_agent_uploaded_bytes_total",
    "chunk bytes uploaded since the daemon started",
    (s) => s.bytesUploaded,
  );
  counter(
    "weft_agent_downloaded_bytes_total",
    "chunk bytes downloaded since the daemon started",
    (s) => s.bytesDownloaded,
  );
  return registry;
}

/**
 * Serves `GET /metrics` on 127.0.0.1:`port` (0: a free one).
 * @throws AgentError USAGE when the port is taken
 */
export async function startMetricsServer(
  syncs: readonly FolderSync[],
  port: number,
): Promise<MetricsServer> {
  const registry = agentRegistry(syncs);
  const server: Server = createServer((req, res) => {
    if (req.method !== "GET" || req.url !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("only GET /metrics\n");
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { "content-type": registry.contentType }).end(body),
      (error: unknown) =>
        res.writeHead(500, { "content-type": "text/plain" }).end(`${(error as Error).message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        new AgentError(
          "USAGE",
          `cannot serve metrics on 127.0.0.1:${port} (${error.code ?? error.message})`,
        ),
      ),
    );
    server.listen(port, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  const bound = typeof address === "object" && address ? address.port : port;
  return {
    url: `http://127.0.0.1:${bound}/metrics`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
