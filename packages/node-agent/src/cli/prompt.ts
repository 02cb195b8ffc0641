/** Secrets for the CLI: from the environment, or typed at a hidden prompt; never from argv. */
import { AgentError } from "../home/index.js";

/**
 * The password: `WEFT_PASSWORD`, else typed at a prompt that does not echo.
 * @throws AgentError USAGE when neither is possible (no terminal and no variable)
 */
export async function password(env: NodeJS.ProcessEnv, prompt = "Password: "): Promise<string> {
  const fromEnv = env["WEFT_PASSWORD"];
  if (fromEnv) return fromEnv;
  return hiddenPrompt(prompt, "set WEFT_PASSWORD, or run in a terminal to type it");
}

/** The device passphrase from `WEFT_DEVICE_PASSPHRASE`, else a hidden prompt. */
export function devicePassphrase(env: NodeJS.ProcessEnv): () => Promise<string> {
  return async () =>
    env["WEFT_DEVICE_PASSPHRASE"] ||
    hiddenPrompt("Device passphrase: ", "set WEFT_DEVICE_PASSPHRASE, or run in a terminal");
}

/** Reads a line from the terminal without echoing it. */
export function hiddenPrompt(prompt: string, hint: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) return Promise.reject(new AgentError("USAGE", `no password given: ${hint}`));
  return new Promise((resolve, reject) => {
    process.stderr.write(prompt);
    let typed = "";
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding("utf8");
    const done = (error?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off("data", onData);
      process.stderr.write("\n");
      if (error) reject(error);
      else resolve(typed);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === "\r" || ch === "\n") return done();
        if (ch === "\u0003") return done(new AgentError("USAGE", "cancelled"));
        if (ch === "\u007f" || ch === "\b") typed = typed.slice(0, -1);
        else typed += ch;
      }
    };
    stdin.on("data", onData);
  });
}
