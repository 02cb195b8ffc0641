/**
 * `weft relay`: runs a relay from the one command users install. The only place the agent
 * touches the relay package (loaded on demand, so other commands never load uWebSockets.js).
 */

/** Runs the relay until SIGTERM/SIGINT; `argv` are the flags after `weft relay`. */
export async function runRelay(argv: string[]): Promise<void> {
  const { runRelayCommand } = await import("@weft/relay");
  await runRelayCommand(argv, process.env);
}
