// Hand-written SVG bar charts for RESULTS.md: horizontal bars in groups, one colour per series,
// the value written at the end of each bar, a linear or logarithmic axis. No dependency.

const COLOURS = ["#2f6fdf", "#e8833a", "#3aa55d", "#a05ccf", "#c9465c", "#6b7785"];
const esc = (s) =>
  String(s).replace(
    /[&<>"]/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c],
  );

/** A number as people read it on a chart: 3 significant digits, thousands separated. */
export function fmt(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return "–";
  if (x === 0) return "0";
  const digits = Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : Math.abs(x) >= 1 ? 2 : 3;
  return x.toLocaleString("en-US", { maximumFractionDigits: digits });
}

/** The smallest of 1, 2, 2.5, 4, 5, 8 or 10 × a power of ten at or above `x`: round axis ticks. */
function niceCeil(x) {
  const p = 10 ** Math.floor(Math.log10(x));
  return [1, 2, 2.5, 4, 5, 8, 10].map((m) => m * p).find((v) => v >= x * 0.999) ?? 10 * p;
}

/**
 * An SVG document: `groups` is `[{ label, values: { series: number | null } }]`, `series` the
 * series names in legend order; `log` draws a log10 axis (for values spanning decades; zeros
 * are drawn as an empty bar labelled 0). `unit` follows each value label.
 */
export function barChart({ title, subtitle = "", unit = "", groups, series, log = false }) {
  const width = 760;
  const labelW = 170;
  const valueW = 110;
  const plotW = width - labelW - valueW - 20;
  const barH = 16;
  const gap = 4;
  const groupGap = 12;
  const top = subtitle ? 58 : 42;
  const legendH = series.length > 1 ? 24 : 0;
  const all = groups.flatMap((g) => series.map((s) => g.values[s])).filter((v) => v > 0);
  const max = Math.max(...all, 1e-9);
  const min = Math.min(...all, max);
  const lo = log ? Math.floor(Math.log10(min)) : 0;
  const hi = log ? Math.max(lo + 1, Math.ceil(Math.log10(max))) : niceCeil(max);
  const scale = (v) => {
    if (!(v > 0)) return 0;
    return log
      ? Math.max(2, ((Math.log10(v) - lo) / (hi - lo)) * plotW)
      : Math.max(1, (v / hi) * plotW);
  };
  const rows = [];
  let y = top + legendH;
  for (const g of groups) {
    const present = series.filter((s) => g.values[s] !== undefined);
    const h = present.length * (barH + gap) - gap;
    rows.push(
      `<text x="${labelW - 8}" y="${y + h / 2 + 4}" text-anchor="end" class="label">${esc(g.label)}</text>`,
    );
    present.forEach((s) => {
      const v = g.values[s];
      const w = scale(v);
      const colour = COLOURS[series.indexOf(s) % COLOURS.length];
      rows.push(
        `<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${colour}"><title>${esc(`${g.label} · ${s}: ${fmt(v)} ${unit}`)}</title></rect>`,
        `<text x="${labelW + w + 6}" y="${y + barH - 4}" class="value">${esc(`${fmt(v)} ${unit}`.trim())}</text>`,
      );
      y += barH + gap;
    });
    y += groupGap - gap;
  }
  const height = y + 28;
  const ticks = [];
  if (log)
    for (let e = lo; e <= hi; e++)
      ticks.push({ x: labelW + ((e - lo) / (hi - lo)) * plotW, t: fmt(10 ** e) });
  else
    for (let i = 0; i <= 4; i++) ticks.push({ x: labelW + (i / 4) * plotW, t: fmt((hi * i) / 4) });
  const axisY = y + 2;
  const grid = ticks
    .map(
      (k) =>
        `<line x1="${k.x.toFixed(1)}" y1="${top + legendH - 4}" x2="${k.x.toFixed(1)}" y2="${axisY}" class="grid"/>` +
        `<text x="${k.x.toFixed(1)}" y="${axisY + 14}" text-anchor="middle" class="tick">${esc(k.t)}</text>`,
    )
    .join("\n");
  const legend =
    series.length > 1
      ? series
          .map((s, i) => {
            const x = labelW + i * 150;
            return `<rect x="${x}" y="${top}" width="12" height="12" fill="${COLOURS[i % COLOURS.length]}"/><text x="${x + 17}" y="${top + 11}" class="label">${esc(s)}</text>`;
          })
          .join("\n")
      : "";
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, sans-serif">
<style>
.title { font-size: 15px; font-weight: 600; fill: #1d2330; }
.sub { font-size: 11px; fill: #5b6372; }
.label { font-size: 12px; fill: #1d2330; }
.value { font-size: 11px; fill: #1d2330; }
.tick { font-size: 10px; fill: #5b6372; }
.grid { stroke: #e3e6ec; stroke-width: 1; }
</style>
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="12" y="22" class="title">${esc(title)}</text>
${subtitle ? `<text x="12" y="40" class="sub">${esc(subtitle)}</text>` : ""}
${grid}
${legend}
${rows.join("\n")}
<text x="${width - 12}" y="${height - 6}" text-anchor="end" class="tick">${esc(log ? `${unit} (log scale)` : unit)}</text>
</svg>
`;
}
