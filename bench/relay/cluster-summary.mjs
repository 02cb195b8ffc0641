// The table bench:relay --relays N prints to stderr at the end of a run.

/** Prints the set-ups of a relay-cluster result side by side. */
export function printClusterSummary(r) {
  const setups = Object.values(r.setups);
  const row = (name, get, unit = "") =>
    `  ${name.padEnd(36)} ${setups.map((s) => String(get(s)).padStart(14)).join(" ")} ${unit}`;
  console.error(
    [
      "",
      `bench:relay --relays ${r.relays}${r.quick ? " (quick: a smoke test, not a measurement)" : ""} — medians of ${r.repeats}`,
      row("", (s) => s.label),
      row(`RSS with ${r.connections} connections`, (s) => s.connections.rssHeldMiBTotal, "MiB"),
      row("RSS per connection", (s) => s.connections.rssPerConnectionKiB, "KiB"),
      row("connects/s", (s) => s.connections.connectsPerSecond),
      row(`fan-out ${r.subscribers} subs: deliveries/s`, (s) => s.fanout.deliveriesPerSecond),
      row(
        "  latency p50 / p99 (loaded)",
        (s) => `${s.fanout.latencyMs.p50}/${s.fanout.latencyMs.p99}`,
        "ms",
      ),
      row(
        "  latency p50 / p99 (one at a time)",
        (s) => `${s.fanout.serialLatencyMs.p50}/${s.fanout.serialLatencyMs.p99}`,
        "ms",
      ),
      row("  server CPU per delivery", (s) => s.fanout.serverCpuUsPerDelivery, "µs"),
      row("appends/s, one folder", (s) => s.appendsOneFolder.appendsPerSecond),
      row(
        "  latency p50 / p99",
        (s) => `${s.appendsOneFolder.latencyMs.p50}/${s.appendsOneFolder.latencyMs.p99}`,
        "ms",
      ),
      row(
        `appends/s, ${setups[0].appendsManyFolders.folders} folders`,
        (s) => s.appendsManyFolders.appendsPerSecond,
      ),
      row(
        "  latency p50 / p99",
        (s) => `${s.appendsManyFolders.latencyMs.p50}/${s.appendsManyFolders.latencyMs.p99}`,
        "ms",
      ),
      row("  server CPU per append", (s) => s.appendsManyFolders.serverCpuUsPerAppend, "µs"),
      row(
        "  PostgreSQL CPU per append (one/many)",
        (s) =>
          `${s.appendsOneFolder.postgresCpuUsPerAppend ?? "–"}/${s.appendsManyFolders.postgresCpuUsPerAppend ?? "–"}`,
        "µs",
      ),
      "",
    ].join("\n"),
  );
}
