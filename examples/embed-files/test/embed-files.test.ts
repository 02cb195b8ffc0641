// Smoke test: the attachments example against a real relay process (port 0). Two devices with
// separate replicas and in-memory stores: attachments written on one read back byte for byte
// on the other, content hashes agree, a relay serving a changed chunk is refused, and the
// command line's two halves (create + invite, join + verify) tell that story.
import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, expect, test } from "vitest";
import { type RelayProcess, startRelayProcess } from "@weft/test-support";
import { type Attachments, main, openAttachments } from "../index.mjs";

let relay: RelayProcess;
const open: Attachments[] = [];

beforeAll(async () => {
  relay = await startRelayProcess();
}, 30_000);
afterAll(async () => {
  await relay.dispose();
});
afterEach(async () => {
  for (const store of open.splice(0)) await store.close();
});

let n = 0;
async function device(user: string, invite?: string): Promise<Attachments> {
  const store = await openAttachments({
    relay: relay.url,
    user: `${user}-${++n}`,
    password: `${user}-correct-horse`,
    ...(invite ? { invite } : {}),
    onError: () => undefined,
  });
  open.push(store);
  return store;
}

test("attachments written on one device read back equal and verified on the other", async () => {
  const laptop = await device("ana");
  const photo = new Uint8Array(randomBytes(2_500_000)); // several chunks
  const note = new TextEncoder().encode("meet at 10\n");
  const sent = [await laptop.attach("photo.jpg", photo), await laptop.attach("note.txt", note)];
  const phone = await device("ben", await laptop.invite());

  const listed = await phone.list();
  expect(listed.map((a) => a.name)).toEqual(["note.txt", "photo.jpg"]);
  expect(listed).toEqual([...sent].sort((a, b) => (a.name < b.name ? -1 : 1)));

  const refused = await phone.readFromTamperingRelay("photo.jpg").then(
    () => undefined,
    (error: { code?: string }) => error,
  );
  expect(refused?.code).toBe("INTEGRITY");
  expect(Buffer.from(await phone.read("photo.jpg")).equals(Buffer.from(photo))).toBe(true);
  expect(new TextDecoder().decode(await phone.read("note.txt"))).toBe("meet at 10\n");

  // And back: the phone attaches a reply the laptop reads.
  const reply = new Uint8Array(randomBytes(300_000));
  await phone.attach("reply.bin", reply);
  expect((await laptop.list()).map((a) => a.name)).toContain("reply.bin");
  expect(Buffer.from(await laptop.read("reply.bin")).equals(Buffer.from(reply))).toBe(true);
});

test("the command line: one run attaches and prints an invite, another joins and verifies", async () => {
  const logs: string[] = [];
  const log = (line: string) => logs.push(line);
  const created = await main(
    ["--relay", relay.url, "--user", `ana-${++n}`],
    { WEFT_PASSWORD: "ana-correct-horse" },
    log,
  );
  if (!("invite" in created)) throw new Error("the first run must create and invite");
  expect(created.attached.map((a) => a.name)).toEqual(["photo.bin", "receipt.txt"]);

  const joined = await main(
    ["--relay", relay.url, "--user", `ben-${++n}`],
    { WEFT_PASSWORD: "ben-correct-horse", WEFT_INVITE: created.invite },
    log,
  );
  if (!("attachments" in joined)) throw new Error("the second run must join");
  expect(joined.tampering).toMatch(/^refused: INTEGRITY/);
  expect(
    joined.attachments.map(({ name, size, contentHash }) => ({ name, size, contentHash })),
  ).toEqual(created.attached);
  expect(new TextDecoder().decode(joined.attachments[1]!.bytes)).toBe("1 coffee, 2.40 EUR\n");
  expect(joined.attachments[0]!.bytes.length).toBe(3 * 1024 * 1024);
  expect(logs.filter((l) => l.startsWith("read "))).toHaveLength(2);
});
