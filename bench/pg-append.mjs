#!/usr/bin/env node
// bench:pg-append — PostgreSQL appends into one folder, in turn: the one-statement append
// (PgMetaStore.append: the stored function weft_append, migration 4) and the transaction it
// replaced (BEGIN, lock, read, write, COMMIT: pg-log.ts `append`, still appendIf's path), 8
// writers at once, 1 KiB envelopes. Prints appends/s and queries sent per append per round, on
// a database of its own (made and dropped). Needs PostgreSQL (WEFT_BENCH_PG_URL, default
// postgres://postgres@127.0.0.1:5432/) and the built packages.
//
//   npm run bench:pg-append [-- APPENDS ROUNDS]   (default 2000 3)
import { openPgMetaStore, migratePgDatabase } from "../packages/relay/dist/store/pg/index.js";
import * as log from "../packages/relay/dist/store/pg/pg-log.js";
import { newFolderId, ready } from "@weft/crypto";
import pg from "pg";
await ready();
const base = process.env.WEFT_BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/";
const name = `h17_append_${process.pid}`;
const admin = new pg.Client(base + "postgres");
await admin.connect();
await admin.query(`CREATE DATABASE ${name}`);
const url = base + name;
await migratePgDatabase(url);
const store = await openPgMetaStore(url, { migrate: false });
const N = Number(process.argv[2] ?? 2000);
const W = 8;
const rounds = Number(process.argv[3] ?? 3);
const dev = (l) => "ABCD-".repeat(7) + "EFG" + l;
const acc = await store.createAccount("a", "h");
for (let w = 0; w < W; w++)
  await store.addDevice(
    acc.id,
    dev("ABCDEFGH"[w]),
    new Uint8Array(32).fill(w + 1),
    new Uint8Array(32).fill(w + 1),
  );
// Every query the store sends goes through Client.prototype.query (the pool's clients too).
const sent = { n: 0 };
const orig = pg.Client.prototype.query;
pg.Client.prototype.query = function (...a) {
  sent.n++;
  return orig.apply(this, a);
};
const results = [];
for (let r = 0; r < rounds; r++)
  for (const mode of ["tx", "one"]) {
    const folder = newFolderId();
    await store.createFolder(folder, acc.id);
    const env = new Uint8Array(1024).fill(7);
    const seq = new Array(W).fill(0);
    sent.n = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: W }, async (_, w) => {
        for (let i = 0; i < N / W; i++) {
          const ds = ++seq[w];
          if (mode === "one") await store.append(folder, dev("ABCDEFGH"[w]), ds, env);
          else
            await store.tx("append", (db) => log.append(db, folder, dev("ABCDEFGH"[w]), ds, env));
        }
      }),
    );
    const s = (performance.now() - t0) / 1000;
    const head = await store.headSeq(folder);
    results.push({
      mode,
      appendsPerSecond: Math.round(N / s),
      queriesPerAppend: +(sent.n / N).toFixed(2),
      head,
    });
    console.log(JSON.stringify(results.at(-1)));
  }
await store.close();
await admin.query(`DROP DATABASE ${name}`);
await admin.end();
