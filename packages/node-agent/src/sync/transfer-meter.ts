/** Transfer rates and ETAs from a replica's progress events, for `weft status` and the progress line. */
import type { TransferProgress } from "@weft/core";
import type { MaterializePlan } from "../materialize/index.js";

/** One direction's transfer as people read it. */
export interface TransferView {
  /**
   * Done and queued in the current run (0/0 when idle): chunks for uploads, files for downloads
   * (the agent fetches content as it writes each file).
   */
  done: number;
  total: number;
  /** Bytes moved in the current run. */
  bytes: number;
  /** Bytes per second over the last few seconds. */
  rate: number;
  /** Seconds left at that rate, from the chunks left and the average chunk so far; null if unknown. */
  eta: number | null;
}

const WINDOW_MS = 5000;

/** Keeps the last few seconds of progress per direction. */
export class TransferMeter {
  private readonly runs = new Map<
    string,
    { last: TransferProgress; samples: [number, number][] }
  >();

  constructor(private readonly now: () => number = Date.now) {}

  /** Feeds one progress event. */
  record(p: TransferProgress): void {
    let run = this.runs.get(p.direction);
    // A new run of the queue starts its counters again.
    if (!run || p.bytes < run.last.bytes || p.done < run.last.done) {
      run = { last: p, samples: [] };
      this.runs.set(p.direction, run);
    }
    run.last = p;
    const t = this.now();
    run.samples.push([t, p.bytes]);
    while (run.samples.length > 2 && run.samples[0]![0] < t - WINDOW_MS) run.samples.shift();
  }

  /** The current view of one direction. */
  view(direction: TransferProgress["direction"]): TransferView {
    const run = this.runs.get(direction);
    if (!run || run.last.done >= run.last.total)
      return {
        done: run?.last.done ?? 0,
        total: run?.last.total ?? 0,
        bytes: run?.last.bytes ?? 0,
        rate: 0,
        eta: null,
      };
    const { done, total, bytes } = run.last;
    const first = run.samples[0]!;
    const last = run.samples[run.samples.length - 1]!;
    const seconds = Math.max((this.now() - first[0]) / 1000, 0.001);
    const rate = last[0] === first[0] ? 0 : (last[1] - first[1]) / seconds;
    const perChunk = done > 0 ? bytes / done : 0;
    const eta = rate > 0 && perChunk > 0 ? Math.ceil(((total - done) * perChunk) / rate) : null;
    return { done, total, bytes, rate: Math.round(rate), eta };
  }
}

/**
 * Download progress for `weft status` and the dashboard, counted in files written: content is
 * fetched as each file is written (no queue of chunks runs ahead of the writes), so the files
 * of an apply pass (`plan`) are the work to show. `end` closes the run, whatever failed.
 */
export function downloadRun(
  meter: TransferMeter,
  plan: MaterializePlan,
): { placed(path: string): void; end(): void } {
  const sizes = new Map<string, number>();
  for (const a of plan.files) if (a.do === "write") sizes.set(a.path, a.size);
  const run = { direction: "download" as const, done: 0, total: sizes.size, bytes: 0 };
  if (run.total > 0) meter.record({ ...run });
  return {
    placed: (path) => {
      const size = sizes.get(path);
      if (size === undefined) return;
      sizes.delete(path);
      run.done++;
      run.bytes += size;
      meter.record({ ...run });
    },
    end: () => {
      if (run.total > 0 && run.done < run.total) meter.record({ ...run, done: run.total });
    },
  };
}
