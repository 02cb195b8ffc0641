#!/usr/bin/env node
// Writes bench/RESULTS.md and the charts (bench/results/*.svg) from the result files in
// bench/results/: for each benchmark its full run (NAME.json) when there is one, else its quick
// run (NAME.quick.json, marked as such). Every bench that writes results calls it; standalone:
//   node bench/lib/report.mjs
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { abuseFigures } from "./abuse-report.mjs";
import { barChart, fmt } from "./svg.mjs";

const benchDir = fileURLToPath(new URL("..", import.meta.url));
const resultsDir = join(benchDir, "results");

/** The result of bench `name` the report uses, with `file` and `quick`, or null. */
function load(name, file = name) {
  for (const [suffix, quick] of [
    ["", false],
    [".quick", true],
  ]) {
    const path = join(resultsDir, `${file}${suffix}.json`);
    if (existsSync(path)) {
      try {
        return {
          ...JSON.parse(readFileSync(path, "utf8")),
          file: `results/${file}${suffix}.json`,
          quick,
        };
      } catch {
        return null; // being written right now, or broken: left out this time
      }
    }
  }
  return null;
}

/** A Markdown table, first column left-aligned and the rest right-aligned, padded as prettier would. */
function table(head, rows) {
  const cells = [head, ...rows].map((r) =>
    r.map((c) => (c === null || c === undefined ? "–" : String(c))),
  );
  const widths = head.map((_, i) => Math.max(3, ...cells.map((r) => [...r[i]].length)));
  const pad = (c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]));
  const line = (r) => `| ${r.map(pad).join(" | ")} |`;
  const rule = `| ${widths.map((w, i) => (i === 0 ? "-".repeat(w) : `${"-".repeat(w - 1)}:`)).join(" | ")} |`;
  return [line(cells[0]), rule, ...cells.slice(1).map(line)].join("\n");
}

function machineLine(r) {
  const m = r.machine ?? {};
  const cores = m.logicalCores ?? m.cores;
  const parts = [
    m.cpuModel ?? m.cpu,
    cores ? `${cores} cores` : null,
    m.memoryGiB ? `${m.memoryGiB} GiB` : null,
    m.node ? `Node ${m.node}` : null,
    m.platform,
    m.taskset ? `pinned: ${m.taskset}` : null,
  ].filter(Boolean);
  const date = m.date ?? r.date;
  const loadAvg = Array.isArray(r.loadAverage)
    ? ` · load average ${r.loadAverage.map((l) => l[0]).join(" → ")}`
    : r.loadAverage?.start
      ? ` · load average ${r.loadAverage.start[0]} → ${r.loadAverage.end[0]}`
      : "";
  return `Machine: ${parts.join(", ")} · date: ${date ? date.slice(0, 16).replace("T", " ") + " UTC" : "unknown"}${loadAvg}`;
}

function header(r, name) {
  const command = r.command ?? `npm run bench:${name}${r.quick ? " -- --quick" : ""}`;
  const lines = [`Command: \`${command}\` · file: \`${r.file}\``, "", machineLine(r)];
  if (r.quick)
    lines.push("", "> Quick run: a smoke test of the script, too small to be a measurement.");
  return lines.join("\n");
}

/** Goals as `[{ goal, target, value, met }]`, from the new form or the older `targets`. */
function goalsOf(r) {
  if (Array.isArray(r.goals)) return r.goals;
  return Object.entries(r.targets ?? {}).map(([k, t]) => ({
    goal: k,
    target: t.target,
    value: t.value ?? t.valueMiB ?? null,
    met: t.pass ?? null,
  }));
}

function goalsTable(r) {
  const goals = goalsOf(r);
  if (goals.length === 0) return "";
  const mark = (met) => (met === true ? "**met**" : met === false ? "**missed**" : "not judged");
  return (
    "\nGoals:\n\n" +
    table(
      ["goal", "target", "value", ""],
      goals.map((g) => [
        g.goal,
        g.target,
        typeof g.value === "number" ? fmt(g.value) : g.value,
        mark(g.met),
      ]),
    )
  );
}

function chart(file, svg) {
  writeFileSync(join(resultsDir, file), svg);
  return `![${file}](results/${file})`;
}

const mib = (x) => (x === null || x === undefined ? null : fmt(x));

function syncSection(r) {
  const order = Object.keys(r.tools);
  const d = r.dataset;
  const img = chart(
    "sync.svg",
    barChart({
      title: `Time to an identical tree on B: ${fmt(d.mib)} MiB, ${d.files.toLocaleString("en-US")} files`,
      subtitle: `median of ${r.repeats} · ${r.quick ? "quick run · " : ""}lower is better`,
      unit: "s",
      series: ["seconds"],
      groups: order.map((t) => ({ label: t, values: { seconds: r.tools[t].medianSeconds } })),
    }),
  );
  const rows = order.map((t) => {
    const x = r.tools[t];
    return [
      t,
      fmt(x.medianSeconds),
      fmt(x.mibPerSecond),
      fmt(x.filesPerSecond),
      x.sender ? `${fmt(x.sender.cpuSeconds)} / ${mib(x.sender.peakRssMiB)}` : null,
      x.receiver ? `${fmt(x.receiver.cpuSeconds)} / ${mib(x.receiver.peakRssMiB)}` : null,
      x.relay ? `${fmt(x.relay.cpuSeconds)} / ${mib(x.relay.peakRssMiB)}` : null,
      x.samplesSeconds.map(fmt).join(", "),
    ];
  });
  const ratios = Object.entries(r.ratios)
    .map(([k, v]) => `\`${k}\` = ${fmt(v)}`)
    .join(" · ");
  return [
    "## Sync: a tree on A to an identical tree on B",
    "",
    header(r, "sync"),
    "",
    `Dataset: ${d.files.toLocaleString("en-US")} files (${d.textFiles.toLocaleString("en-US")} text), ${d.directories} directories, ${fmt(d.mib)} MiB, scale ${r.scale}, seed \`${d.seed}\`.`,
    "",
    img,
    "",
    table(
      [
        "tool",
        "median s",
        "MiB/s",
        "files/s",
        "sender CPU s / peak RSS MiB",
        "receiver CPU s / MiB",
        "relay CPU s / MiB",
        "samples s",
      ],
      rows,
    ),
    "",
    `Ratios (above 1: Weft faster): ${ratios}.`,
    goalsTable(r),
  ].join("\n");
}

function syncSizesSection(r) {
  const tools = Object.keys(r.sizes[0]?.tools ?? {});
  const rows = r.sizes.map((x) => [
    `${x.fileBytes.toLocaleString("en-US")} B × ${x.files.toLocaleString("en-US")}`,
    ...tools.map((t) => {
      const v = x.tools[t];
      return v ? `${fmt(v.medianSeconds)} s (${fmt(v.sender?.cpuSeconds)} CPU-s sender)` : null;
    }),
    fmt(x.ratios.syncthingOverWeft),
  ]);
  return [
    "## Sync by file size: one tree per size",
    "",
    header(r, "sync"),
    "",
    table(["files", ...tools.map((t) => `${t} median`), "t_syncthing / t_weft"], rows),
    goalsTable(r),
  ].join("\n");
}

function latencySection(r) {
  const order = Object.keys(r.tools);
  const img = chart(
    "latency.svg",
    barChart({
      title: `Edit on A → visible on B (${r.edits} edits per tool)`,
      subtitle: `${r.quick ? "quick run · " : ""}lower is better`,
      unit: "ms",
      series: ["p50", "p99"],
      log: true,
      groups: order.map((t) => ({
        label: t,
        values: { p50: r.tools[t].p50Ms, p99: r.tools[t].p99Ms },
      })),
    }),
  );
  const rows = order.map((t) => {
    const x = r.tools[t];
    const cpu = Object.entries(x.cpuSeconds ?? {})
      .map(([k, v]) => `${k} ${fmt(v)}`)
      .join(", ");
    return [
      t,
      fmt(x.p50Ms),
      fmt(x.p90Ms),
      fmt(x.p99Ms),
      fmt(x.maxMs),
      x.fsWatcherDelayS ?? null,
      cpu,
    ];
  });
  return [
    "## Latency: one small edit on A until B has it",
    "",
    header(r, "latency"),
    "",
    `Method: ${r.method}.`,
    "",
    img,
    "",
    table(
      ["tool", "p50 ms", "p90 ms", "p99 ms", "max ms", "fsWatcherDelayS", "CPU s over the run"],
      rows,
    ),
    goalsTable(r),
  ].join("\n");
}

function deltaSection(r) {
  const tools = Object.keys(r.tools);
  const steps = ["rename", "insert 1 byte", "append", "copy"];
  const stepOf = (t, s) => r.tools[t]?.steps.find((x) => x.step === s);
  const img = chart(
    "delta.svg",
    barChart({
      title: `Bytes A sends for a change to a ${fmt(r.fileBytes / 1048576)} MiB file`,
      subtitle: `${r.quick ? "quick run · " : ""}lower is better; Weft through a counting proxy, Syncthing by its connection totals`,
      unit: "bytes",
      log: true,
      series: tools,
      groups: ["initial sync", ...steps].map((s) => ({
        label: s,
        values: Object.fromEntries(tools.map((t) => [t, stepOf(t, s)?.wireBytesSentByA ?? null])),
      })),
    }),
  );
  const rows = ["initial sync", ...steps].map((s) => {
    const w = stepOf("weft", s);
    const st = stepOf("syncthing", s);
    return [
      s,
      w ? fmt(w.wireBytesSentByA) : null,
      w ? fmt(w.sealedBytesUploadedByA) : null,
      w ? fmt(w.newChunks) : null,
      w ? fmt(w.wireBytesReceivedByB) : null,
      st ? fmt(st.wireBytesSentByA) : null,
      st ? fmt(st.wireBytesReceivedByB) : null,
      r.ratiosWeftToSyncthingSentByA?.[s] !== undefined
        ? fmt(r.ratiosWeftToSyncthingSentByA[s])
        : null,
    ];
  });
  return [
    "## Delta: bytes sent for a rename, an insertion, an append, a copy",
    "",
    header(r, "delta"),
    "",
    `File: ${fmt(r.fileBytes / 1048576)} MiB of random bytes; 1 byte inserted at offset ${r.insertAt}; ${fmt(r.appendBytes / 1024)} KiB appended. ${Object.entries(
      r.measuredHow,
    )
      .map(([k, v]) => `${k}: ${v}.`)
      .join(" ")}`,
    "",
    img,
    "",
    table(
      [
        "step",
        "Weft sent by A",
        "Weft sealed bytes",
        "Weft new chunks",
        "Weft received by B",
        "Syncthing sent by A",
        "Syncthing received by B",
        "Weft / Syncthing",
      ],
      rows,
    ),
    goalsTable(r),
  ].join("\n");
}

/** bench:relay --relays N: the three relay set-ups side by side. */
function clusterSection(r) {
  const setups = Object.values(r.setups ?? {});
  const row = (name, get) => [name, ...setups.map((s) => get(s))];
  const pair = (a, b) => `${fmt(a)} / ${fmt(b)}`;
  return [
    `## Relay scale-out: SQLite, PostgreSQL, ${r.relays} relays on PostgreSQL + NATS`,
    "",
    header(r, "relay"),
    "",
    `${fmt(r.connections)} connections, fan-out to ${fmt(r.subscribers)} subscribers × ${fmt(r.messages)} messages of ${fmt(r.messageBytes)} B; medians of ${r.repeats}. Clients round-robin over the relays, the fan-out's publisher on relay 1.`,
    "",
    table(
      ["figure", ...setups.map((s) => s.label)],
      [
        row("RSS held MiB (per relay)", (s) =>
          s.connections.rssHeldMiBPerRelay.map((x) => fmt(x)).join(" + "),
        ),
        row("RSS per connection KiB", (s) => fmt(s.connections.rssPerConnectionKiB)),
        row("connects/s", (s) => fmt(s.connections.connectsPerSecond)),
        row("fan-out deliveries/s", (s) => fmt(s.fanout.deliveriesPerSecond)),
        row("fan-out latency p50 / p99 ms (loaded)", (s) =>
          pair(s.fanout.latencyMs.p50, s.fanout.latencyMs.p99),
        ),
        row("fan-out latency p50 / p99 ms (one at a time)", (s) =>
          pair(s.fanout.serialLatencyMs.p50, s.fanout.serialLatencyMs.p99),
        ),
        row("server CPU µs per delivery", (s) => fmt(s.fanout.serverCpuUsPerDelivery)),
        row(`appends/s, one folder (${setups[0]?.appendsOneFolder.writers} writers)`, (s) =>
          fmt(s.appendsOneFolder.appendsPerSecond),
        ),
        row("append latency p50 / p99 ms (one folder)", (s) =>
          pair(s.appendsOneFolder.latencyMs.p50, s.appendsOneFolder.latencyMs.p99),
        ),
        row(`appends/s, ${setups[0]?.appendsManyFolders.folders} folders (one writer each)`, (s) =>
          fmt(s.appendsManyFolders.appendsPerSecond),
        ),
        row("append latency p50 / p99 ms (many folders)", (s) =>
          pair(s.appendsManyFolders.latencyMs.p50, s.appendsManyFolders.latencyMs.p99),
        ),
        row("server CPU µs per append (many folders)", (s) =>
          fmt(s.appendsManyFolders.serverCpuUsPerAppend),
        ),
        row("PostgreSQL CPU µs per append (one folder / many)", (s) =>
          s.appendsManyFolders.postgresCpuUsPerAppend === undefined
            ? null
            : pair(
                s.appendsOneFolder.postgresCpuUsPerAppend,
                s.appendsManyFolders.postgresCpuUsPerAppend,
              ),
        ),
      ],
    ),
  ].join("\n");
}

/** The older benches: their headline figures and targets. */
function otherSection(name, title, r, figures) {
  return [
    `## ${title}`,
    "",
    header(r, name),
    "",
    table(["figure", "value"], figures(r)),
    goalsTable(r),
  ].join("\n");
}

const others = [
  ["abuse", "abuse", "Abuse: attacks on a relay process", abuseFigures],
  [
    "fuzz",
    "fuzz",
    "Fuzz: hostile frames and requests against a relay",
    (r) => [
      ["cases (WebSocket + HTTP)", `${fmt(r.cases)} (${fmt(r.wsCases)} + ${fmt(r.httpCases)})`],
      ["crashes / hangs / internal errors", `${r.crashes} / ${r.hangs} / ${r.internalErrors}`],
      [
        "relay RSS MiB, start → end (max)",
        `${fmt(r.rssStartMiB)} → ${fmt(r.rssEndMiB)} (${fmt(r.rssMaxMiB)})`,
      ],
      ...(r.rssEvery50kMiB?.length > 1
        ? [
            [
              "relay RSS MiB every 50,000 cases: first → last (range)",
              (() => {
                const v = r.rssEvery50kMiB.map(([, mib]) => mib);
                return `${fmt(v[0])} → ${fmt(v.at(-1))} (${fmt(Math.min(...v))}–${fmt(Math.max(...v))})`;
              })(),
            ],
          ]
        : []),
      ["cases/s", fmt(r.casesPerSecond)],
      ...(r.cpuMsPerCase
        ? [
            [
              "CPU ms per case, relay + fuzzer",
              `${r.cpuMsPerCase.relay} + ${r.cpuMsPerCase.client}`,
            ],
          ]
        : []),
      ...(r.loadAverage1m
        ? [
            [
              "load average (1 min), start → end",
              `${r.loadAverage1m.start} → ${r.loadAverage1m.end}`,
            ],
          ]
        : []),
      ...(r.casesAsked && r.casesAsked !== r.cases
        ? [["cases asked (the run stopped at its --minutes)", fmt(r.casesAsked)]]
        : []),
    ],
  ],
  [
    "chaos",
    "chaos",
    "Chaos: three daemons under faults",
    (r) => [
      ["minutes", fmt(r.minutes)],
      [
        "faults survived",
        `${fmt(r.faults)} (${Object.entries(r.faultsSurvived ?? {})
          .map(([k, v]) => `${k} ${v}`)
          .join(", ")})`,
      ],
      ["files checked", fmt(r.filesChecked)],
      ["divergences", fmt(r.divergences)],
      [
        "time to converge after a fault, p50 / p99 s",
        `${fmt(r.convergeSeconds?.p50)} / ${fmt(r.convergeSeconds?.p99)}`,
      ],
      [
        "agent RSS MiB, start → end (device a, never killed)",
        `${fmt(r.agentRssMiB?.start)} → ${fmt(r.agentRssMiB?.end)}`,
      ],
    ],
  ],
  [
    "crash-loop",
    "crash-loop",
    "Crash loop: `weft sync` killed with SIGKILL",
    (r) => [
      ["kills", fmt(r.kills)],
      [
        "landed in",
        Object.entries(r.landedIn ?? {})
          .map(([k, v]) => `${k} ${v}`)
          .join(", "),
      ],
      ["convergence checks", fmt(r.checks)],
      ["files checked", fmt(r.filesChecked)],
      ["divergences", fmt(r.divergences)],
      [
        "time to converge after a kill, p50 / p99 s",
        `${fmt(r.convergeSeconds?.p50)} / ${fmt(r.convergeSeconds?.p99)}`,
      ],
    ],
  ],
  [
    "scale",
    "scale",
    "Scale: 100,000 small files",
    (r) => [
      ["files", fmt(r.dataset?.files)],
      ["scanner: first pass s", fmt(r.scan?.firstSeconds)],
      ["scanner: no-change pass s", fmt(r.scan?.rescanSeconds)],
      ["first `weft sync --once` on A s", fmt(r.firstSync?.seconds)],
      ["no-change `weft sync --once` on A s", fmt(r.rescanSync?.seconds)],
      ["`weft sync --once` to an empty device s", fmt(r.toEmptyDevice?.seconds)],
      [
        "agent peak RSS MiB (A / B)",
        `${fmt(r.firstSync?.peakRssMiB)} / ${fmt(r.toEmptyDevice?.peakRssMiB)}`,
      ],
      ["relay peak RSS MiB", fmt(r.relay?.peakRssMiB)],
    ],
  ],
  [
    "idle",
    "idle",
    "Idle: a `weft sync` daemon with nothing to do",
    (r) => [
      ["files", fmt(r.files)],
      ["minutes idle", fmt(r.idleSeconds / 60)],
      ["CPU-seconds per idle minute", fmt(r.cpuSecondsPerMinute)],
      ["% of a core", fmt(r.percentOfCore)],
      ["daemon peak RSS MiB", fmt(r.daemonPeakRssMiB)],
    ],
  ],
  [
    "chunking",
    "chunking",
    "Chunking: the content pipeline on one core",
    (r) => [
      ...Object.entries(r.stages ?? {}).map(([k, v]) => [`${k} MiB/s`, fmt(v.medianMiBps)]),
      ["pipeline in memory MiB/s", fmt(r.pipeline?.inMemory?.medianMiBps)],
      ["pipeline from a file MiB/s", fmt(r.pipeline?.file?.medianMiBps)],
      ["ceiling MiB/s", fmt(r.ceilingMiBps)],
    ],
  ],
  [
    "index",
    "index",
    "Index: a large folder index",
    (r) => [
      ["records", fmt(r.records)],
      ["build ms", fmt(r.buildMs?.median)],
      ["cold load ms", fmt(r.coldLoadMs?.median)],
      ["first tree ms", fmt(r.firstTreeMs?.median)],
      ["RSS after load MB", fmt(r.rssAfterLoadMB)],
      ["snapshot bytes / record", fmt(r.bytesPerRecord)],
    ],
  ],
  [
    "settle",
    "settle",
    "Settle: small writes over 3 replicas",
    (r) => [
      ["files", fmt(r.files)],
      ["total ms", fmt(r.totalMs)],
      ["local-only ms", fmt(r.localOnlyMs)],
      ["total / local-only", fmt(r.ratioTotalToLocalOnly)],
      ["files/s", fmt(r.filesPerSecond)],
    ],
  ],
  [
    "padding",
    "padding",
    "Padding: what Padmé costs in sealed bytes on bench:sync's tree",
    (r) => [
      ["files / chunks", `${fmt(r.files)} / ${fmt(r.chunks)}`],
      ["plaintext MiB", mib(r.plainBytes / 2 ** 20)],
      [
        "sealed MiB, unpadded → padded",
        `${mib(r.unpaddedBytes / 2 ** 20)} → ${mib(r.paddedBytes / 2 ** 20)}`,
      ],
      ["overhead (all chunks)", `${(r.overhead * 100).toFixed(2)}%`],
      ["overhead (worst chunk)", `${(r.worstChunkOverhead * 100).toFixed(2)}%`],
    ],
  ],
  [
    "remote",
    "remote",
    "Remote: `weft ls/get/put` on a folder not synced here",
    (r) => {
      const step = (name) => r.steps?.find((s) => s.step.startsWith(name));
      const MiB = 1024 * 1024;
      return [
        ["folder (files) MiB", `${fmt(r.folderBytes / MiB)} (${fmt(r.folderFiles)})`],
        ["file fetched MiB", fmt(r.fileBytes / MiB)],
        ["`weft ls` (first command) received bytes", fmt(step("ls")?.wireBytesReceived)],
        ["`weft get` received bytes", fmt(step("get (state")?.wireBytesReceived)],
        // Four decimals: the point is how little above 1 these are.
        ["`weft get` received / file bytes", r.getReceivedPerFileByte?.toFixed(4) ?? "–"],
        [
          "`weft get --no-state` received / file bytes",
          r.getNoStateReceivedPerFileByte?.toFixed(4) ?? "–",
        ],
        [
          `\`weft put\` of ${fmt(r.putBytes / MiB)} MiB: sent / size, peak RSS MiB`,
          `${(step("put")?.wireBytesSent / r.putBytes).toFixed(4)}, ${fmt(step("put")?.peakRssMiB)}`,
        ],
      ];
    },
  ],
  [
    "strong",
    "strong",
    "Strong: many files saved at once, strong vs eventual folder",
    (r) => [
      ["files", fmt(r.files)],
      [
        "first `weft sync --once`, eventual / strong ms",
        `${fmt(r.eventualMs)} / ${fmt(r.strongMs)}`,
      ],
      ["strong / eventual", fmt(r.strongOverEventual)],
      [
        "log entries appended, eventual / strong",
        `${fmt(r.eventualLogEntries)} / ${fmt(r.strongLogEntries)}`,
      ],
    ],
  ],
  [
    "relay",
    "relay",
    "Relay: one relay process vs y-websocket",
    (r) => [
      ["connections", fmt(r.connections)],
      ["relay RSS held MiB", fmt(r.weft?.connections?.rssHeldMiB)],
      ["y-websocket RSS held MiB", fmt(r.yWebsocket?.connections?.rssHeldMiB)],
      ["relay deliveries/s", fmt(r.weft?.fanout?.deliveriesPerSecond)],
      ["y-websocket deliveries/s", fmt(r.yWebsocket?.fanout?.deliveriesPerSecond)],
      [
        "relay blob PUT / GET MiB/s",
        `${fmt(r.weft?.blobs?.putMiBps)} / ${fmt(r.weft?.blobs?.getMiBps)}`,
      ],
    ],
  ],
];

/** Writes RESULTS.md and the charts; returns the Markdown. */
export function writeReport() {
  const sections = [];
  const sync = load("sync");
  const latency = load("latency");
  const delta = load("delta");
  if (sync) sections.push(syncSection(sync));
  // Figures from runs other than the full one (A/B comparisons at a smaller scale), written by
  // hand with their commands, kept in results/sync-notes.md (as results/NAME-notes.md below).
  const syncNotes = join(resultsDir, "sync-notes.md");
  if (existsSync(syncNotes)) sections.push(readFileSync(syncNotes, "utf8").trim());
  const sizes = load("sync-sizes");
  if (sizes) sections.push(syncSizesSection(sizes));
  if (latency) sections.push(latencySection(latency));
  if (delta) sections.push(deltaSection(delta));
  for (const [name, file, title, figures] of others) {
    const r = load(name, file);
    if (r) sections.push(otherSection(name, title, r, figures));
    const cluster = name === "relay" ? load("relay-cluster") : null;
    if (cluster) sections.push(clusterSection(cluster));
    // Figures from runs other than the full one (quick runs, A/B comparisons), written by hand
    // with their commands, kept in results/NAME-notes.md.
    const notes = join(resultsDir, `${name}-notes.md`);
    if (existsSync(notes)) sections.push(readFileSync(notes, "utf8").trim());
  }
  const md = [
    "# Benchmark results",
    "",
    "Generated by `node bench/lib/report.mjs` (every bench run regenerates it) from the JSON in",
    "`bench/results/`: a benchmark's full run when there is one, else its `--quick` run, marked.",
    "How each bench measures, and what it leaves out, is in [README.md](README.md).",
    "",
    sections.join("\n\n"),
    "",
  ].join("\n");
  writeFileSync(join(benchDir, "RESULTS.md"), md.replace(/\n{3,}/g, "\n\n").replace(/\n+$/, "\n"));
  return md;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeReport();
  console.log(`wrote ${join(benchDir, "RESULTS.md")}`);
}
