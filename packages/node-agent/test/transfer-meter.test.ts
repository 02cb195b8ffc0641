// The progress line's numbers: rate over the last seconds, ETA from the chunks left.
import { expect, test } from "vitest";
import { TransferMeter, downloadRun } from "../src/sync/transfer-meter.js";

test("rate comes from the recent window and the ETA from the chunks left", () => {
  let t = 0;
  const meter = new TransferMeter(() => t);
  meter.record({ direction: "upload", done: 0, total: 10, bytes: 0 });
  t = 1000;
  meter.record({ direction: "upload", done: 2, total: 10, bytes: 2_000_000 });
  t = 2000;
  meter.record({ direction: "upload", done: 4, total: 10, bytes: 4_000_000 });
  const v = meter.view("upload");
  expect(v).toMatchObject({ done: 4, total: 10, bytes: 4_000_000, rate: 2_000_000 });
  expect(v.eta).toBe(3); // 6 chunks of 1 MB at 2 MB/s
  expect(meter.view("download")).toEqual({ done: 0, total: 0, bytes: 0, rate: 0, eta: null });
});

test("a finished run shows no rate; a new run starts its counters again", () => {
  let t = 0;
  const meter = new TransferMeter(() => t);
  meter.record({ direction: "download", done: 5, total: 5, bytes: 500 });
  expect(meter.view("download")).toMatchObject({ done: 5, total: 5, rate: 0, eta: null });
  t = 10_000;
  meter.record({ direction: "download", done: 0, total: 3, bytes: 0 });
  t = 11_000;
  meter.record({ direction: "download", done: 1, total: 3, bytes: 100 });
  expect(meter.view("download")).toMatchObject({ done: 1, total: 3, rate: 100, eta: 2 });
});

test("downloads are counted in files as an apply pass writes them, and end with the pass", () => {
  let t = 0;
  const meter = new TransferMeter(() => t);
  const write = (path: string, size: number) =>
    ({ do: "write", path, size, contentHash: "h", mode: 0o644, mtimeMs: 0 }) as const;
  const plan = {
    clashes: [],
    unportable: [],
    stale: [],
    dirs: [],
    files: [
      write("a.bin", 3_000_000),
      write("b.bin", 1_000_000),
      write("c.bin", 1_000_000),
      { do: "chmod", path: "d.sh", mode: 0o755 },
    ],
  } as unknown as Parameters<typeof downloadRun>[1];
  const run = downloadRun(meter, plan);
  expect(meter.view("download")).toMatchObject({ done: 0, total: 3, bytes: 0 });
  t = 1000;
  run.placed("a.bin");
  run.placed("d.sh"); // not a download
  run.placed("a.bin"); // counted once
  expect(meter.view("download")).toMatchObject({ done: 1, total: 3, bytes: 3_000_000 });
  expect(meter.view("download").rate).toBe(3_000_000);
  // c.bin failed: the pass ends anyway, and the status no longer shows a download running.
  run.placed("b.bin");
  run.end();
  expect(meter.view("download")).toMatchObject({ done: 3, total: 3, rate: 0, eta: null });
});
