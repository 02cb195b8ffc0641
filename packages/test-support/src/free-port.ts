/** Test helper: a free TCP port on 127.0.0.1 that a process can leave and come back to. */
import { createServer } from "node:net";

// Below Linux's ephemeral range (32768-60999 by default), so a port we give up for a moment (a
// relay killed and restarted, a proxy refusing) is never handed to someone else's `listen(0)` or
// to an outgoing connection in between. Many test processes share the machine, hence the
// random start.
const LOW = 20_000;
const HIGH = 32_000;

/** Whether nothing listens on 127.0.0.1:`port` right now. */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen({ host: "127.0.0.1", port, exclusive: true }, () =>
      probe.close(() => resolve(true)),
    );
  });
}

/**
 * A port on 127.0.0.1 that nothing listens on now, outside the kernel's ephemeral range.
 * Another process can still take it before the caller listens: callers retry with a new one
 * when their listen fails.
 */
export async function pickFreePort(): Promise<number> {
  for (let tries = 0; tries < 200; tries++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (await portIsFree(port)) return port;
  }
  throw new Error(`no free port found in ${LOW}-${HIGH}`);
}
