/** The CLI's side of the control socket: one request to the running `weft sync`, one answer. */
import { connect } from "node:net";
import type { Home } from "../home/index.js";
import { type ControlRequest, answerError, decodeResponse, encodeRequest } from "./protocol.js";
import { controlSocketPath } from "./server.js";

/** Returned when no daemon listens on the home's socket (none runs, or one without a socket). */
export const NO_DAEMON = Symbol("no daemon on the control socket");

/** Answers can be large (a status with many folders, a long history): bounded all the same. */
const MAX_ANSWER = 64 * 1024 * 1024;

/**
 * Sends `request` to the home's running `weft sync` and returns its result, or {@link NO_DAEMON}
 * when nothing listens on the socket.
 * @throws the daemon's error for the request, with its code and message
 */
export function askDaemon<T>(home: Home, request: ControlRequest): Promise<T | typeof NO_DAEMON> {
  return new Promise((resolve, reject) => {
    const socket = connect(controlSocketPath(home));
    let connected = false;
    let buffered = "";
    socket.setEncoding("utf8");
    socket.once("connect", () => {
      connected = true;
      socket.write(encodeRequest(1, request));
    });
    socket.on("data", (chunk: string) => {
      buffered += chunk;
      const nl = buffered.indexOf("\n");
      if (nl < 0) {
        if (buffered.length > MAX_ANSWER) {
          socket.destroy();
          reject(new Error("weft sync sent an answer too long to read"));
        }
        return;
      }
      socket.end();
      try {
        const response = decodeResponse(buffered.slice(0, nl));
        if (response.ok) resolve(response.result as T);
        else reject(answerError(response.error));
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
    socket.on("error", (error: NodeJS.ErrnoException) => {
      if (!connected && (error.code === "ENOENT" || error.code === "ECONNREFUSED"))
        resolve(NO_DAEMON);
      else reject(new Error(`lost the connection to weft sync: ${error.message}`));
    });
    socket.on("close", () =>
      reject(new Error("weft sync closed the connection without answering (did it stop?)")),
    );
  });
}
