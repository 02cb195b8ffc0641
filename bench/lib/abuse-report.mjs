// bench:abuse's figures for RESULTS.md (report.mjs): per attack, the relay's RSS, /health p99
// (and the control server's, the machine's share), the relay's event-loop delay p99 and the
// legitimate sync, quiet → during; then what attacks 5 and 6 checked.
import { fmt } from "./svg.mjs";

const arrow = (p, key) => `${fmt(p.quiet[key])} → ${fmt(p.during[key])}`;

/** The rows of the abuse section: [figure, value]. */
export function abuseFigures(r) {
  const rows = [];
  for (const [name, p] of Object.entries(r.phases ?? {})) {
    rows.push([`${name}: relay RSS max MiB, quiet → during`, arrow(p, "rssMaxMiB")]);
    rows.push([
      `${name}: /health p99 ms (control server's), quiet → during`,
      `${arrow(p, "healthP99Ms")} (${arrow(p, "controlHealthP99Ms")})`,
    ]);
    if (p.quiet.relayLoopDelayP99Ms !== undefined)
      rows.push([`${name}: relay event-loop delay p99 ms`, arrow(p, "relayLoopDelayP99Ms")]);
    rows.push([
      `${name}: legitimate sync ms, quiet → during`,
      `${arrow(p, "syncMs")} (${p.syncRatio}×)`,
    ]);
  }
  const gc = r.phases?.gc?.attack;
  if (gc)
    rows.push([
      "gc: chunks intact after the owner's deletes (missing at the has-check)",
      `${gc.intactAfter} of ${gc.chunks} (${gc.missingAtHasCheck})`,
    ]);
  const nested = r.phases?.nestedJson?.attack;
  if (nested)
    rows.push([
      "nestedJson: answers by status",
      Object.entries(nested.statuses)
        .map(([s, n]) => `${s}: ${fmt(n)}`)
        .join(", "),
    ]);
  const silent = r.silentDevice;
  if (silent)
    rows.push([
      `silentDevice: log entries kept, device recent → silent ${silent.silentSeconds} s`,
      `${silent.keptWhileRecent} → ${silent.keptAfterSilence}`,
    ]);
  rows.push([
    "relay RSS MiB, baseline / peak",
    `${fmt(r.relay?.baselineRssMiB)} / ${fmt(r.relay?.peakRssMiB)}`,
  ]);
  return rows;
}
