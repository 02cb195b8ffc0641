// jsonBody, the relay's one reader of JSON bodies: nesting past 8 levels is refused from the
// bytes, before JSON.parse builds anything (64 KiB of `[` used to cost the event loop ~100 ms
// per request, which bench:abuse's nested-JSON attack repeats), and strings do not count.
import { afterEach, expect, test, vi } from "vitest";
import { jsonBody } from "../src/server/http.js";

const bytes = (text: string) => new TextEncoder().encode(text);

afterEach(() => {
  vi.restoreAllMocks();
});

test("64 KiB of nested `[` is refused as too deep without being parsed", () => {
  const parse = vi.spyOn(JSON, "parse");
  expect(() => jsonBody(bytes("[".repeat(64 * 1024)))).toThrow(/nested deeper than 8/);
  expect(parse).not.toHaveBeenCalled();
});

test("brackets and escaped quotes inside strings are not nesting; eight levels pass, nine do not", () => {
  const eight = `{"a":${"[".repeat(7)}"[[[\\"{{{{{{{{{"${"]".repeat(7)}}`;
  expect(jsonBody(bytes(eight))).toHaveProperty("a");
  const nine = `{"a":${"[".repeat(8)}1${"]".repeat(8)}}`;
  expect(() => jsonBody(bytes(nine))).toThrow(/nested deeper than 8/);
  expect(() => jsonBody(bytes('{"a": "unterminated'))).toThrow(/not JSON/);
});
