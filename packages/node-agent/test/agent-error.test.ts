// The agent's errors have core's one shape: a WeftError with a code, a message and a cause.
import { expect, test } from "vitest";
import { WeftError } from "@weft/core";
import { AgentError } from "../src/home/index.js";

test("an AgentError is a WeftError and keeps its code, message and cause", () => {
  const cause = new Error("EACCES");
  const error = new AgentError("STATE", "cannot read folders.json", { cause });
  expect(error).toBeInstanceOf(WeftError);
  expect(error).toBeInstanceOf(AgentError);
  expect(error).toMatchObject({ name: "AgentError", code: "STATE", cause });
  expect(error.message).toBe("cannot read folders.json");
});
