#!/usr/bin/env node
/** `weft`: the agent's command line (DESIGN.md §7). One JSON object on stdout with --json; a one-line reason and a non-zero exit on failure. */
import { ready } from "@weft/crypto";
import { AgentError, Home } from "../home/index.js";
import { agentVersion } from "../log/index.js";
import { type Command, type CommandContext, commandHelp, parseFor } from "./command.js";
import { memberCommands } from "./member-commands.js";
import { runRelay } from "./relay-command.js";
import { setupCommands } from "./setup-commands.js";
import { syncCommands } from "./sync-commands.js";
import { uiCommand } from "./ui-command.js";

const relayCommand: Command = {
  name: "relay",
  args: "",
  summary: "Runs a relay (the same as weft-relay); see weft relay --help for its flags.",
  example: "weft relay --port 8787 --data /var/lib/weft",
  flags: {},
  run: () => Promise.resolve({}),
};

const commands: Command[] = [
  ...setupCommands,
  ...memberCommands,
  ...syncCommands,
  uiCommand,
  relayCommand,
];

function topHelp(): string {
  const width = Math.max(...commands.map((c) => `${c.name} ${c.args}`.length));
  return [
    "weft — end-to-end-encrypted folder sync",
    "",
    "usage: weft COMMAND [ARGS] [--json] [--help]",
    "",
    ...commands.map((c) => `  ${`${c.name} ${c.args}`.padEnd(width)}  ${c.summary.split("\n")[0]}`),
    "",
    "Every command honours WEFT_HOME (default ~/.weft) and has --help with an example.",
    "weft --version prints the agent's version.",
    "Passwords come from WEFT_PASSWORD or a hidden prompt, never from the command line.",
    "",
    "Start: weft init; weft account register --relay URL --user NAME; weft folder create PATH; weft sync",
    "",
  ].join("\n");
}

/** Finds the command named by the first one or two words of `argv`. */
function lookup(argv: string[]): { command?: Command; rest: string[] } {
  const two = commands.find((c) => c.name === `${argv[0]} ${argv[1]}`);
  if (two) return { command: two, rest: argv.slice(2) };
  const one = commands.find((c) => c.name === argv[0]);
  return one ? { command: one, rest: argv.slice(1) } : { rest: argv };
}

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
    process.stdout.write(topHelp());
    return 0;
  }
  if (argv[0] === "--version" || argv[0] === "version") {
    process.stdout.write(
      argv.includes("--json")
        ? `${JSON.stringify({ version: agentVersion() })}\n`
        : `weft ${agentVersion()}\n`,
    );
    return 0;
  }
  if (argv[0] === "relay") {
    await runRelay(argv.slice(1));
    return -1; // keeps running until a signal
  }
  const json = argv.includes("--json");
  const { command, rest } = lookup(argv);
  try {
    if (!command) {
      const group = commands.filter((c) => c.name.startsWith(`${argv[0]} `));
      throw new AgentError(
        "USAGE",
        group.length > 0
          ? `weft ${argv[0]} needs one of: ${group.map((c) => c.name.split(" ")[1]).join(", ")}`
          : `unknown command: ${argv[0]} (see: weft --help)`,
      );
    }
    const { values, positionals } = parseFor(command, rest);
    if (values["help"]) {
      process.stdout.write(commandHelp(command));
      return 0;
    }
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
    return code === "USAGE" ? 2 : 1;
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
