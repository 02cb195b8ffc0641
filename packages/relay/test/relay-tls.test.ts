// The relay with a certificate serves HTTPS and WSS (uWebSockets.js SSLApp): /health over TLS,
// a WebSocket hello over wss, and plain HTTP on the same port is not served.
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { WebSocket } from "ws";
import { type RelayProcess, startRelayProcess } from "@weft/test-support";

let dir: string;
let cert: Buffer;
let relay: RelayProcess;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "weft-tls-"));
  // A self-signed certificate for 127.0.0.1, made by the system's openssl.
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      join(dir, "cert.pem"),
    ],
    { stdio: "ignore" },
  );
  cert = await readFile(join(dir, "cert.pem"));
  relay = await startRelayProcess({
    WEFT_RELAY_TLS_CERT: join(dir, "cert.pem"),
    WEFT_RELAY_TLS_KEY: join(dir, "key.pem"),
  });
}, 30_000);

afterAll(async () => {
  await relay?.dispose();
  await rm(dir, { recursive: true, force: true });
});

function httpsGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: cert }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

test("it announces an https URL and answers /health over TLS", async () => {
  expect(relay.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  const res = await httpsGet(`${relay.url}/health`);
  expect(res.status).toBe(200);
  expect(JSON.parse(res.body)).toMatchObject({ status: "ok" });
});

test("the WebSocket endpoint speaks wss, and plain http is not served", async () => {
  const ws = new WebSocket(`${relay.url.replace("https", "wss")}/v1/ws`, { ca: cert });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  ws.close();
  const plain = await fetch(relay.url.replace("https", "http") + "/health").then(
    (r) => r.status,
    () => "refused",
  );
  expect(plain).toBe("refused");
});
