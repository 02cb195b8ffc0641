// The dashboard's HttpError and the agent's AgentError are WeftErrors (one shape), and toHttpError keeps what it maps as the cause.
import { WeftError } from "@weft/core";
import { expect, test } from "vitest";
import { AgentError } from "../src/home/index.js";
import { toHttpError } from "../src/ui/api.js";
import { HttpError } from "../src/ui/guards.js";

test("an HttpError is a WeftError with code HTTP and its status", () => {
  const e = new HttpError(404, "no such folder in this sync");
  expect(e).toBeInstanceOf(WeftError);
  expect(e).toMatchObject({ code: "HTTP", status: 404, name: "HttpError" });
});

test("toHttpError maps the engine's and the agent's errors to a status, the original as cause", () => {
  const missing = new WeftError("NOT_FOUND", "a.txt: no such file");
  expect(toHttpError(missing)).toMatchObject({ status: 404, message: "a.txt: no such file" });
  expect(toHttpError(missing).cause).toBe(missing);
  expect(toHttpError(new AgentError("BUSY", "another weft holds it")).status).toBe(409);
  expect(toHttpError(new Error("boom\nstack"))).toMatchObject({
    status: 500,
    message: "the agent failed: boom",
  });
  const own = new HttpError(413, "too large");
  expect(toHttpError(own)).toBe(own);
});

test("the agent's errors are WeftErrors too: one shape, their own code and name", () => {
  const busy = new AgentError("BUSY", "another weft holds it", { cause: "held" });
  expect(busy).toBeInstanceOf(WeftError);
  expect(busy).toMatchObject({
    name: "AgentError",
    code: "BUSY",
    message: "another weft holds it",
  });
  expect(busy.cause).toBe("held");
  // Mapped as the agent's error, not as the engine's (a WeftError BUSY would be 409 too, but
  // NOT_FOUND must stay 404 and USAGE 400).
  expect(toHttpError(new AgentError("USAGE", "bad flag")).status).toBe(400);
});
