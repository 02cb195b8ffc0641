// WeftProvider must be a drop-in for y-websocket's WebsocketProvider in app code: same members,
// same member kinds, same event names and payloads. y-websocket is only a devDependency.
import { afterEach, describe, expect, it } from "vitest";
import { WebsocketProvider } from "y-websocket";
import type { Awareness } from "y-protocols/awareness";
import * as Y from "yjs";
import { WeftProvider } from "../src/docs/provider.js";
import { MemoryDocHub } from "./helpers/memory-doc-channels.js";

type WsOptions = NonNullable<ConstructorParameters<typeof WebsocketProvider>[3]>;

/** A WebsocketProvider that opens no socket: `connect: false` and a socket class never used. */
function offlineWebsocketProvider(doc: Y.Doc): WebsocketProvider {
  const NoSocket = class {} as unknown as NonNullable<WsOptions["WebSocketPolyfill"]>;
  return new WebsocketProvider("ws://localhost:1", "room", doc, {
    connect: false,
    WebSocketPolyfill: NoSocket,
    disableBc: true,
  });
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** What typical app code touches on a y-websocket provider. */
const MEMBERS = [
  "doc",
  "awareness",
  "synced",
  "wsconnected",
  "wsconnecting",
  "shouldConnect",
  "bcconnected",
  "roomname",
  "url",
  "connect",
  "disconnect",
  "destroy",
  "on",
  "off",
  "once",
  "emit",
] as const;

describe("WeftProvider has WebsocketProvider's shape", () => {
  it.each(MEMBERS)("%s exists on both with the same typeof", (member) => {
    const ws = offlineWebsocketProvider(new Y.Doc());
    const hub = new MemoryDocHub();
    const weft = new WeftProvider(hub.opener("A"), "room", new Y.Doc(), { connect: false });
    cleanups.push(
      () => ws.destroy(),
      () => weft.destroy(),
    );
    expect(member in ws).toBe(true);
    expect(member in weft).toBe(true);
    expect(typeof weft[member]).toBe(typeof ws[member]);
  });

  it("has the same connection flags before connecting", () => {
    const ws = offlineWebsocketProvider(new Y.Doc());
    const weft = new WeftProvider(new MemoryDocHub().opener("A"), "room", new Y.Doc(), {
      connect: false,
    });
    cleanups.push(
      () => ws.destroy(),
      () => weft.destroy(),
    );
    for (const flag of ["synced", "wsconnected", "wsconnecting", "shouldConnect"] as const) {
      expect([flag, weft[flag]]).toEqual([flag, ws[flag]]);
    }
    expect(weft.url).toBe("weft://folder-1/room");
  });

  it("emits status, sync and synced with y-websocket's payloads", async () => {
    const hub = new MemoryDocHub();
    hub.setSynced("A", false);
    const weft = new WeftProvider(hub.opener("A"), "room", new Y.Doc(), { connect: false });
    cleanups.push(() => weft.destroy());
    const events: unknown[][] = [];
    weft.on("status", (e) => events.push(["status", e]));
    weft.on("sync", (s) => events.push(["sync", s]));
    weft.on("synced", (s) => events.push(["synced", s]));
    const once: boolean[] = [];
    weft.once("sync", (s) => once.push(s));
    weft.connect();
    await hub.settle();
    hub.setSynced("A", true);
    expect(events).toEqual([
      ["status", { status: "connecting" }],
      ["status", { status: "connected" }],
      ["synced", true],
      ["sync", true],
    ]);
    expect(weft.synced).toBe(true);
    expect(once).toEqual([true]);

    const closes: unknown[] = [];
    weft.on("connection-close", (event, provider) => closes.push([event, provider === weft]));
    weft.disconnect();
    expect(closes).toEqual([[null, true]]);
    expect(events.slice(4)).toEqual([
      ["synced", false],
      ["sync", false],
      ["status", { status: "disconnected" }],
    ]);
    expect(once).toEqual([true]);
  });

  it("off() removes a listener, as on ObservableV2", async () => {
    const hub = new MemoryDocHub();
    const weft = new WeftProvider(hub.opener("A"), "room", new Y.Doc(), { connect: false });
    cleanups.push(() => weft.destroy());
    const seen: string[] = [];
    const listener = weft.on("status", ({ status }) => seen.push(status));
    weft.off("status", listener);
    weft.connect();
    await hub.settle();
    expect(seen).toEqual([]);
  });

  it("is accepted wherever app code expects a y-websocket provider (compile-time)", () => {
    /** The slice of WebsocketProvider an editor binding (y-prosemirror, y-codemirror…) uses. */
    interface YjsProviderLike {
      doc: Y.Doc;
      awareness: Awareness;
      roomname: string;
      synced: boolean;
      wsconnected: boolean;
      wsconnecting: boolean;
      shouldConnect: boolean;
      readonly url: string;
      connect(): void;
      disconnect(): void;
      destroy(): void;
      on(event: "sync", f: (isSynced: boolean) => void): unknown;
      on(
        event: "status",
        f: (e: { status: "connected" | "disconnected" | "connecting" }) => void,
      ): unknown;
      off(event: "sync", f: (isSynced: boolean) => void): void;
      once(event: "sync", f: (isSynced: boolean) => void): void;
    }
    const describeProvider = (p: YjsProviderLike): string =>
      `${p.roomname}:${p.wsconnected}:${p.synced}`;

    const ws = offlineWebsocketProvider(new Y.Doc());
    const weft = new WeftProvider(new MemoryDocHub().opener("A"), "room", new Y.Doc(), {
      connect: false,
    });
    cleanups.push(
      () => ws.destroy(),
      () => weft.destroy(),
    );
    expect(describeProvider(ws)).toBe("room:false:false");
    expect(describeProvider(weft)).toBe("room:false:false");
  });
});
