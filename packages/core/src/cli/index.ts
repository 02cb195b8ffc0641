/** Command-line flags for the agent and the relay: one parser, one help layout, usage errors in plain words. */
import { parseArgs } from "node:util";

/** One flag: its kind and what `--help` says about it. */
export interface FlagSpec {
  type: "string" | "boolean";
  /** A one-letter alias, e.g. "h" for `-h`. */
  short?: string;
  /** Whether the flag may be given more than once (values then come as an array). */
  multiple?: boolean;
  /** What the flag does, one line for `--help`. */
  description?: string;
  /** The value's placeholder in `--help`, e.g. "SECONDS" (default: the flag's name in capitals). */
  value?: string;
  /** The environment variable that sets the same thing (shown in `--help`). */
  env?: string;
}

/** Flags by name (without the leading `--`). */
export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

/** Parsed flags and the arguments that are not flags. */
export interface ParsedCommandLine {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

/** A command line that cannot be understood; the message is for the person who typed it. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * Parses `argv` against `flags` (node:util's parseArgs, strict), turning its errors into plain
 * words that name the flag: "unknown flag --x", "--relay needs a value". `--flag=value` and
 * `--flag value` both work; `--` ends the flags.
 * @throws UsageError
 */
export function parseCommandLine(
  argv: readonly string[],
  flags: FlagSpecs,
  options: { positionals?: boolean } = {},
): ParsedCommandLine {
  const config: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> =
    {};
  for (const [name, f] of Object.entries(flags))
    config[name] = {
      type: f.type,
      ...(f.short ? { short: f.short } : {}),
      ...(f.multiple ? { multiple: true } : {}),
    };
  try {
    const parsed = parseArgs({
      args: [...argv],
      options: config,
      allowPositionals: options.positionals ?? true,
      strict: true,
    });
    return { values: { ...parsed.values }, positionals: parsed.positionals };
  } catch (error) {
    throw new UsageError(inPlainWords(error, flags));
  }
}

/** parseArgs' error, said for a person. */
function inPlainWords(error: unknown, flags: FlagSpecs): string {
  const { code, message } = error as { code?: string; message: string };
  const quoted = /'([^']+)'/.exec(message)?.[1] ?? "";
  const flag = quoted.split(" ")[0]!;
  switch (code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION": {
      const near = closest(flag.replace(/^-+/, ""), Object.keys(flags));
      return `unknown flag ${flag}${near ? ` (did you mean --${near}?)` : ""}`;
    }
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return / does not take an argument/.test(message)
        ? `${flag} takes no value`
        : `${flag} needs a value${flag.startsWith("--") ? ` (${flag} VALUE, or ${flag}=VALUE)` : ""}`;
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `unexpected argument ${quoted}`;
    default:
      return message.split("\n")[0]!;
  }
}

/** The flag name within two edits of `typed`, if one is. */
function closest(typed: string, names: string[]): string | undefined {
  let best: { name: string; d: number } | undefined;
  for (const name of names) {
    const d = editDistance(typed, name);
    if (d <= 2 && (!best || d < best.d)) best = { name, d };
  }
  return best?.name;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row[j] = Math.min(
        prev[j]! + 1,
        row[j - 1]! + 1,
        prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    prev = row;
  }
  return prev[b.length]!;
}

/**
 * The flag lines of a `--help` text, aligned: `  --port P    WEFT_RELAY_PORT    port (default 8787)`.
 * The environment column appears only when some flag has one; `envOnly` adds rows for settings
 * that have no flag (a secret, say, which must never be on a command line).
 */
export function flagHelpLines(
  flags: FlagSpecs,
  envOnly: readonly { env: string; description: string }[] = [],
): string[] {
  const rows = [
    ...Object.entries(flags).map(([name, f]) => {
      const short = f.short ? `-${f.short}, ` : "";
      const value =
        f.type === "string" ? ` ${f.value ?? name.toUpperCase().replace(/-/g, "_")}` : "";
      return { left: `${short}--${name}${value}`, env: f.env ?? "", text: f.description ?? "" };
    }),
    ...envOnly.map((e) => ({ left: "", env: e.env, text: e.description })),
  ];
  const width = Math.max(0, ...rows.map((r) => r.left.length));
  const envWidth = Math.max(0, ...rows.map((r) => r.env.length));
  return rows.map((r) =>
    `  ${r.left.padEnd(width)}  ${envWidth ? `${r.env.padEnd(envWidth)}  ` : ""}${r.text}`.trimEnd(),
  );
}
