/** How a CLI command is declared and what it gets to run: parsed flags, the home, output. */
import { type FlagSpecs, UsageError, flagHelpLines, parseCommandLine } from "@weft/core/cli";
import { AgentError } from "../home/errors.js";
import type { Home } from "../home/index.js";

/**
 * Flag definitions: node:util parseArgs' form (`{ type, short?, multiple? }`) plus an optional
 * `description` (and `value` placeholder, `env` variable) shown by `--help`.
 */
export type Flags = FlagSpecs;

/** What a command's `run` receives. */
export interface CommandContext {
  home: Home;
  env: NodeJS.ProcessEnv;
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
  json: boolean;
  /** Whether stderr is a terminal (progress is shown only then, and never with --json). */
  interactive: boolean;
  /** Writes a human line to stdout (suppressed with --json). */
  say: (line: string) => void;
  /** Stops a long-running command (Ctrl-C, SIGTERM). */
  signal: AbortSignal;
}

/** One command of `weft`. */
export interface Command {
  /** e.g. "folder invite". */
  name: string;
  /** Positional arguments as shown in the usage line, e.g. "FOLDER_ID". */
  args: string;
  summary: string;
  /** More lines for `--help`. */
  details?: string;
  example: string;
  flags: Flags;
  /** How many positionals at least and at most (default exactly the names in `args`). */
  arity?: [number, number];
  /** Returns the object printed with --json. */
  run: (ctx: CommandContext) => Promise<Record<string, unknown>>;
}

/** The flags every command takes. */
export const COMMON_FLAGS: Flags = {
  json: { type: "boolean", description: "print one JSON object on stdout (errors too)" },
  help: { type: "boolean", short: "h", description: "this text" },
};

/** The `--help` text of a command. */
export function commandHelp(c: Command): string {
  return [
    `usage: ${usageLine(c)}`,
    "",
    c.summary,
    ...(c.details ? ["", c.details] : []),
    "",
    "flags:",
    ...flagHelpLines({ ...c.flags, ...COMMON_FLAGS }),
    "",
    "environment: WEFT_HOME (default ~/.weft), WEFT_PASSWORD, WEFT_DEVICE_PASSPHRASE",
    "",
    "example:",
    `  ${c.example}`,
    "",
  ].join("\n");
}

/** e.g. "weft folder invite FOLDER_ID [flags]". */
export function usageLine(c: Command): string {
  return `weft ${c.name}${c.args ? ` ${c.args}` : ""}${Object.keys(c.flags).length ? " [flags]" : ""}`;
}

/** Parses `argv` for `c`. @throws AgentError USAGE with the reason, in plain words */
export function parseFor(
  c: Command,
  argv: string[],
): { values: CommandContext["values"]; positionals: string[] } {
  let parsed;
  try {
    parsed = parseCommandLine(argv, { ...c.flags, ...COMMON_FLAGS });
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    throw new AgentError("USAGE", `${error.message} (see: weft ${c.name} --help)`);
  }
  const values = parsed.values as CommandContext["values"];
  const names = c.args.split(" ").filter(Boolean);
  const [min, max] = c.arity ?? [names.filter((n) => !n.startsWith("[")).length, names.length];
  const n = parsed.positionals.length;
  if (!values["help"] && (n < min || n > max)) {
    const what =
      n < min
        ? `missing ${names.slice(n, Math.max(n + 1, min)).join(" ") || "an argument"}`
        : `too many arguments (${max === 0 ? "it takes none" : `at most ${max}`}): ${parsed.positionals.slice(max).join(" ")}`;
    throw new AgentError("USAGE", `${what}; usage: ${usageLine(c)} (see: weft ${c.name} --help)`);
  }
  return { values, positionals: parsed.positionals };
}

/** A required string flag. @throws AgentError USAGE */
export function required(ctx: CommandContext, name: string): string {
  const v = ctx.values[name];
  if (typeof v !== "string" || v === "") throw new AgentError("USAGE", `--${name} is required`);
  return v;
}

export type { Home };
