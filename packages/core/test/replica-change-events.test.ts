// The "change" event a Replica emits with origin "remote" means another device changed
// something here: an app or agent that hears it reads its files again (the Node agent walks its
// whole tree against the disk). A device's own entry, stored by the relay and placed back in
// its log, changes nothing and is not announced.
import { afterEach, describe, expect, it } from "vitest";
import { createTestNetwork, type TestNetwork } from "../src/testing/index.js";

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

let net: TestNetwork | undefined;
afterEach(async () => {
  await net?.close();
  net = undefined;
});

describe("remote change events", () => {
  it("come for other devices' writes, never for this device's own entries", async () => {
    net = await createTestNetwork({ devices: 2, seed: 11 });
    const [a, b] = [net.replicas[0]!, net.replicas[1]!];
    await net.settle();
    const remote = { a: 0, b: 0 };
    a.on("change", ({ origin }) => origin === "remote" && remote.a++);
    b.on("change", ({ origin }) => origin === "remote" && remote.b++);

    for (let i = 0; i < 5; i++) await a.writeFile(`from-a-${i}.txt`, text(`a ${i}`));
    await net.settle();
    expect(b.list().filter((e) => e.path.startsWith("from-a-"))).toHaveLength(5);
    expect(a.stats().appliedSeq).toBe(b.stats().appliedSeq);
    expect(remote.a).toBe(0);
    expect(remote.b).toBeGreaterThan(0);

    await b.writeFile("from-b.txt", text("b"));
    await net.settle();
    expect(remote.a).toBeGreaterThan(0);
  });
});
