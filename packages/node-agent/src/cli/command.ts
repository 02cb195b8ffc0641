/** How a CLI command is declared and what it gets to run: parsed flags, the home, output. */
import { type ParseArgsConfig, parseArgs } from "node:util";
import { AgentError, Home } from "../home/index.js";

/** Flag definitions in node:util's parseArgs form. */
export type Flags = NonNullable<ParseArgsConfig["options"]>;

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

/** The `--help` text of a command. */
export function commandHelp(c: Command): string {
  const flagLines = Object.entries(c.flags).map(([name, f]) => {
    const value = f.type === "string" ? ` ${name.toUpperCase().replace(/-/g, "_")}` : "";
    return `  --${name}${value}`;
  });
  return [
    `usage: weft ${c.name}${c.args ? ` ${c.args}` : ""}${flagLines.length ? " [flags]" : ""}`,
    "",
    c.summary,
    ...(c.details ? ["", c.details] : []),
    "",
    "flags:",
    ...flagLines,
    "  --json          print one JSON object on stdout",
    "  --help          this text",
    "",
    "environment: WEFT_HOME (default ~/.weft), WEFT_PASSWORD, WEFT_DEVICE_PASSPHRASE",
    "",
    "example:",
    `  ${c.example}`,
    "",
  ].join("\n");
}

/** Parses `argv` for `c`. @throws AgentError USAGE with the reason */
export function parseFor(
  c: Command,
  argv: string[],
): { values: CommandContext["values"]; positionals: string[] } {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...c.flags, json: { type: "boolean" }, help: { type: "boolean" } },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new AgentError(
      "USAGE",
      `${(error as Error).message.split("\n")[0]} (see: weft ${c.name} --help)`,
    );
  }
  const names = c.args.split(" ").filter(Boolean);
  const [min, max] = c.arity ?? [names.filter((n) => !n.startsWith("[")).length, names.length];
  const n = parsed.positionals.length;
  if (!parsed.values["help"] && (n < min || n > max))
    throw new AgentError("USAGE", `usage: weft ${c.name} ${c.args} (see: weft ${c.name} --help)`);
  return { values: parsed.values, positionals: parsed.positionals };
}

/** A required string flag. @throws AgentError USAGE */
export function required(ctx: CommandContext, name: string): string {
  const v = ctx.values[name];
  if (typeof v !== "string" || v === "") throw new AgentError("USAGE", `--${name} is required`);
  return v;
}

export { Home };
