// Live entries reach a folder's subscribers through the relay's uWebSockets.js topic (one
// publish per entry), which a subscriber joins only once its backlog replay has caught up:
// against a real relay process, subscribers that join while entries stream in, and one that
// stops reading during a long replay (on its first subscription and when it subscribes again),
// get every entry once and in order, and a writer none of its own.
import {
  type DeviceIdentity,
  type FolderId,
  deriveFolderSubkeys,
  encodeEnvelope,
  generateDeviceIdentity,
  generateFolderKey,
  newFolderId,
  ready,
  sealEnvelope,
} from "@weft/crypto";
import {
  type Message,
  SUPPORTED_VERSIONS,
  type Transport,
  createWebSocketTransport,
  decodeMessage,
  encodeMessage,
} from "@weft/core";
import { afterAll, beforeAll, expect, test } from "vitest";
import { WebSocket } from "ws";
import { type RelayProcess, call, signUp, startRelayProcess } from "@weft/test-support";

let relay: RelayProcess;
const open: { close(): void }[] = [];

beforeAll(async () => {
  await ready();
  relay = await startRelayProcess();
}, 60_000);
afterAll(async () => {
  for (const t of open) t.close();
  await relay.dispose();
});

/** A client through hello and auth (its token also offered at the upgrade, as clients do). */
class Client {
  readonly got: Message[] = [];
  private nextId = 1;
  private readonly waiters = new Set<() => void>();

  private constructor(readonly t: Transport) {
    t.on("message", (m) => {
      this.got.push(m);
      for (const w of [...this.waiters]) w();
    });
    t.on("error", () => undefined);
  }

  static async open(token: string): Promise<Client> {
    const url = `${relay.url.replace("http", "ws")}/v1/ws`;
    const t = createWebSocketTransport(url, { WebSocket, token });
    open.push(t);
    await t.connect();
    const c = new Client(t);
    t.send({ type: "hello", versions: SUPPORTED_VERSIONS, client: { name: "t", version: "1" } });
    expect((await c.request({ type: "auth", requestId: 0, token })).type).toBe("ok");
    return c;
  }

  until<T>(value: () => T | undefined): Promise<T> {
    return new Promise((resolve) => {
      const check = (): void => {
        const v = value();
        if (v === undefined) return;
        this.waiters.delete(check);
        resolve(v);
      };
      this.waiters.add(check);
      check();
    });
  }

  request(m: Message): Promise<Message> {
    const requestId = this.nextId++;
    this.t.send({ ...m, requestId } as Message);
    return this.until(() => this.got.find((x) => "requestId" in x && x.requestId === requestId));
  }

  /** The seqs of the folder's entries it got, in order, from message `from` on. */
  seqs(folderId: FolderId, from = 0): number[] {
    return this.got
      .slice(from)
      .flatMap((m) =>
        m.type === "envelopes" && m.folderId === folderId ? m.items.map((i) => i.seq) : [],
      );
  }
}

const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

test("subscribers joining while entries stream in, or subscribing again, get each entry once and in order", async () => {
  const folderId = newFolderId();
  const [owner, editor] = [generateDeviceIdentity(), generateDeviceIdentity()];
  const ownerToken = await signUp(relay.url, "fan-owner", owner);
  const editorToken = await signUp(relay.url, "fan-editor", editor);
  expect((await call(relay.url, "POST", "/v1/folders", { folderId }, ownerToken)).status).toBe(201);
  const member = { user: "fan-editor", role: "editor" };
  const added = await call(
    relay.url,
    "POST",
    `/v1/folders/${folderId}/members`,
    member,
    ownerToken,
  );
  expect(added.status).toBe(204);
  const indexKey = deriveFolderSubkeys(generateFolderKey(), 0).index;
  let deviceSeq = 0;
  const envelope = (who: DeviceIdentity, bytes = 16) =>
    encodeEnvelope(
      sealEnvelope(
        { folderId, deviceId: who.deviceId, deviceSeq: ++deviceSeq, epoch: 0 },
        indexKey,
        who.signSecretKey,
        new Uint8Array(bytes).fill(deviceSeq % 251),
      ),
    );
  const writer = await Client.open(ownerToken);
  expect(
    (await writer.request({ type: "subscribe", requestId: 0, folderId, afterSeq: 0 })).type,
  ).toBe("subscribed");
  /** Appends `n` entries without waiting between them (one connection: stored in this order). */
  const appendMany = (n: number) =>
    Promise.all(
      range(1, n).map(() =>
        writer.request({ type: "append", requestId: 0, folderId, envelope: envelope(owner) }),
      ),
    );
  await appendMany(20);

  // Three subscribers from 0 while 20 more entries stream in: each replays the backlog and
  // moves to live entries somewhere in the stream.
  const readers = await Promise.all([1, 2, 3].map(() => Client.open(editorToken)));
  const streamed = appendMany(20);
  await Promise.all(
    readers.map((r) => r.request({ type: "subscribe", requestId: 0, folderId, afterSeq: 0 })),
  );
  await streamed;
  await appendMany(5);
  for (const r of readers) {
    await r.until(() => (r.seqs(folderId).length >= 45 ? true : undefined));
    await r.request({ type: "ping", requestId: 0 });
    expect(r.seqs(folderId)).toEqual(range(1, 45));
  }

  // A reader that does not read while it replays a backlog of 10 MiB: the relay stops the replay
  // at its high-water mark, and entries appended meanwhile must wait behind the backlog, on its
  // first subscription and when it subscribes again from 0.
  const big = (): Uint8Array => envelope(owner, 256 * 1024);
  await Promise.all(
    range(1, 40).map(() =>
      writer.request({ type: "append", requestId: 0, folderId, envelope: big() }),
    ),
  );
  const slow = await PausableReader.open(editorToken);
  await slow.subscribePaused(folderId);
  await appendMany(5);
  slow.resume();
  await slow.until(() => slow.seqs.length >= 90);
  expect(slow.seqs).toEqual(range(1, 90));
  // Caught up, it gets the next entry live; then it subscribes again from 0 and stops reading.
  await appendMany(1);
  await slow.until(() => slow.seqs.length >= 91);
  const mark = slow.seqs.length;
  await slow.subscribePaused(folderId);
  await appendMany(5);
  slow.resume();
  await slow.until(() => slow.seqs.length - mark >= 96);
  expect(slow.seqs.slice(mark)).toEqual(range(1, 96));
  // The others got every entry once; the writer none of its own.
  for (const r of readers) {
    await r.until(() => (r.seqs(folderId).length >= 96 ? true : undefined));
    await r.request({ type: "ping", requestId: 0 });
    expect(r.seqs(folderId)).toEqual(range(1, 96));
  }
  await writer.request({ type: "ping", requestId: 0 });
  expect(writer.seqs(folderId)).toEqual([]);
}, 60_000);

/** A raw client whose socket can stop reading: the relay's send buffer for it fills. */
class PausableReader {
  readonly seqs: number[] = [];
  private answers = 0;
  private readonly waiters = new Set<() => void>();

  private constructor(private readonly ws: WebSocket) {
    ws.on("message", (data: Buffer) => {
      const m = decodeMessage(new Uint8Array(data));
      if (m.type === "envelopes") this.seqs.push(...m.items.map((i) => i.seq));
      else if (m.type === "ok" || m.type === "subscribed" || m.type === "welcome") this.answers++;
      else if (m.type === "error") this.seqs.push(-1); // fails the comparison
      for (const w of [...this.waiters]) w();
    });
  }

  static async open(token: string): Promise<PausableReader> {
    const url = `${relay.url.replace("http", "ws")}/v1/ws`;
    const ws = new WebSocket(url, ["weft", `weft.bearer.${token}`]);
    open.push(ws);
    await new Promise((resolve) => ws.once("open", resolve));
    const r = new PausableReader(ws);
    const hello: Message = {
      type: "hello",
      versions: SUPPORTED_VERSIONS,
      client: { name: "t", version: "1" },
    };
    ws.send(encodeMessage(hello));
    ws.send(encodeMessage({ type: "auth", requestId: 1, token }));
    await r.until(() => r.answers >= 2);
    return r;
  }

  /** Subscribes from 0 and stops reading once the answer is in. */
  async subscribePaused(folderId: FolderId): Promise<void> {
    const before = this.answers;
    this.ws.send(encodeMessage({ type: "subscribe", requestId: 2, folderId, afterSeq: 0 }));
    await this.until(() => this.answers > before);
    this.socket().pause();
  }

  resume(): void {
    this.socket().resume();
  }

  until(done: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (!done()) return;
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
      check();
    });
  }

  private socket(): { pause(): void; resume(): void } {
    return (this.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
  }
}
