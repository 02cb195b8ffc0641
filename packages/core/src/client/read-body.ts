/** Reading a relay's HTTP answers without trusting their size. */
import { ProtocolError } from "../protocol/errors.js";

/**
 * A response body, read as it streams and refused as soon as it passes `limit` bytes, so a
 * relay that sends too much cannot make the client buffer it.
 * @throws ProtocolError `bad_frame` over the limit
 */
export async function readBody(response: Response, limit: number): Promise<Uint8Array> {
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > limit) {
    await discard(response);
    throw new ProtocolError(
      "bad_frame",
      `the relay sent ${declared} bytes where at most ${limit} were expected`,
    );
  }
  if (response.body === null) return new Uint8Array(0);
  const reader = response.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = (await reader.read()) as { done: boolean; value?: Uint8Array };
    if (done || value === undefined) break;
    total += value.length;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      throw new ProtocolError("bad_frame", `the relay sent more than the ${limit} bytes expected`);
    }
    parts.push(value);
  }
  // Always a fresh, plain Uint8Array: the stream's chunks may be views into a shared pool.
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Drops a body not needed, so the connection can be reused. */
/** Drops a body not needed, so the connection can be reused. */
export async function discard(response: Response): Promise<void> {
  await response.body?.cancel().catch(() => undefined);
}
