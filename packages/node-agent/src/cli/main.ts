#!/usr/bin/env node
/** `weft`: the agent's command line (DESIGN.md §7). One JSON object on stdout with --json; a one-line reason and a non-zero exit on failure. */
import { AgentError } from "../home/errors.js";
import { agentVersion } from "../log/version.js";
import { CATALOG, type CatalogEntry, loadAll, loadModule } from "./catalog.js";
import { type Command, type CommandContext, commandHelp, parseFor } from "./command.js";

const RELAY: CatalogEntry = {
  name: "relay",
  args: "[flags]",
  summary: "Runs a relay (the same as weft-relay); see weft relay --help for its flags.",
  module: "setup",
};

function topHelp(): string {
  const entries = [...CATALOG, RELAY];
  const width = Math.max(...entries.map((c) => `${c.name} ${c.args}`.length));
  return [
    "weft — end-to-end-encrypted folder sync",
    "",
    "usage: weft COMMAND [ARGS] [--json] [--help]",
    "",
    ...entries.map((c) => `  ${`${c.name} ${c.args}`.padEnd(width)}  ${c.summary}`),
    "",
    "Every command honours WEFT_HOME (default ~/.weft) and has --help (-h) with an example;",
    "weft help COMMAND says the same. weft --version prints the agent's version.",
    "Passwords come from WEFT_PASSWORD or a hidden prompt, never from the command line.",
    "",
    "Start: weft init; weft account register --relay URL --user NAME; weft folder create PATH; weft sync",
    "",
  ].join("\n");
}

/** The command named by the first one or two words of `argv`, loading only its module. */
async function lookup(argv: string[]): Promise<{ command?: Command; rest: string[] }> {
  const two = `${argv[0]} ${argv[1]}`;
  const entry = CATALOG.find((c) => c.name === two) ?? CATALOG.find((c) => c.name === argv[0]);
  // A command the catalog does not list (yet) is still found, by loading every module.
  const commands = entry ? await loadModule(entry.module) : await loadAll();
  const byTwo = commands.find((c) => c.name === two);
  if (byTwo) return { command: byTwo, rest: argv.slice(2) };
  const byOne = commands.find((c) => c.name === argv[0]);
  return byOne ? { command: byOne, rest: argv.slice(1) } : { rest: argv };
}

/** Why `argv` names no command, in words. */
async function unknown(argv: string[]): Promise<AgentError> {
  const names = [
    ...new Set([...CATALOG.map((c) => c.name), ...(await loadAll()).map((c) => c.name)]),
  ];
  const group = names.filter((n) => n.startsWith(`${argv[0]} `));
  return new AgentError(
    "USAGE",
    group.length > 0
      ? argv[1] === undefined || argv[1].startsWith("-")
        ? `weft ${argv[0]} needs one of: ${group.map((n) => n.split(" ")[1]).join(", ")}`
        : `weft ${argv[0]} has no command ${argv[1]}; it has: ${group.map((n) => n.split(" ")[1]).join(", ")}`
      : `unknown command: ${argv[0]} (see: weft --help)`,
  );
}

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h") {
    process.stdout.write(topHelp());
    return 0;
  }
  if (argv[0] === "--version" || argv[0] === "version" || argv[0] === "-V") {
    process.stdout.write(
      argv.includes("--json")
        ? `${JSON.stringify({ version: agentVersion() })}\n`
        : `weft ${agentVersion()}\n`,
    );
    return 0;
  }
  if (argv[0] === "relay" || (argv[0] === "help" && argv[1] === "relay")) {
    const { runRelay } = await import("./relay-command.js");
    await runRelay(argv[0] === "help" ? ["--help"] : argv.slice(1));
    return argv[0] === "help" || argv.includes("--help") || argv.includes("-h") ? 0 : -1;
  }
  const json = argv.includes("--json");
  try {
    if (argv[0] === "help") {
      if (argv.length === 1) {
        process.stdout.write(topHelp());
        return 0;
      }
      const { command } = await lookup(argv.slice(1));
      if (!command) throw await unknown(argv.slice(1));
      process.stdout.write(commandHelp(command));
      return 0;
    }
    const { command, rest } = await lookup(argv);
    if (!command) throw await unknown(argv);
    const { values, positionals } = parseFor(command, rest);
    if (values["help"]) {
      process.stdout.write(commandHelp(command));
      return 0;
    }
    const [{ Home }, { ready }] = await Promise.all([
      import("../home/index.js"),
      import("@weft/crypto"),
    ]);
    const controller = new AbortController();
    const stop = () => controller.abort();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    const ctx: CommandContext = {
      home: Home.fromEnv(process.env),
      env: process.env,
      values,
      positionals,
      json,
      interactive: Boolean(process.stderr.isTTY),
      say: (line) => {
        if (!json) process.stdout.write(`${line}\n`);
      },
      signal: controller.signal,
    };
    await ready();
    const result = await command.run(ctx);
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
    return 0;
  } catch (error) {
    const message = oneLine(error);
    const code = error instanceof AgentError ? error.code : "INTERNAL";
    if (json) process.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`);
    process.stderr.write(`weft: ${message}\n`);
    if (process.env["WEFT_DEBUG"] && error instanceof Error && error.stack)
      process.stderr.write(`${error.stack}\n`);
    return code === "USAGE" ? 2 : code === "REFUSED" ? 3 : 1;
  }
}

function oneLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n")[0]!.slice(0, 500);
}

main(process.argv.slice(2)).then(
  (status) => {
    if (status >= 0) process.exit(status);
  },
  (error: unknown) => {
    process.stderr.write(`weft: ${oneLine(error)}\n`);
    process.exit(1);
  },
);
