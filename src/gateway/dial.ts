// Step 5: connect to one of the vetted addresses, literally. No name is passed to the socket
// layer, so nothing can resolve again between the check and the connect.

import { connect, type Socket } from "node:net";
import { MoatError } from "../errors.js";

interface DialRequest {
  // The name the client asked for (for logs and for test-only dialers); never used to connect.
  name: string;
  addrs: readonly string[];
  port: number;
  timeoutMs: number;
}

export type Dialer = (req: DialRequest) => Promise<Socket>;

// Its code is the audit record's reason (connect-timeout or connect-failed).
export class DialError extends MoatError {
  override readonly name = "DialError";
  constructor(
    readonly code: "connect-timeout" | "connect-failed",
    message: string,
  ) {
    super(message);
  }
}

// Try each address in order until one connects, all inside one deadline.
export const dialVetted: Dialer = async ({ addrs, port, timeoutMs }) => {
  const deadline = Date.now() + timeoutMs;
  let last: DialError = new DialError("connect-failed", "no address to dial");
  for (const addr of addrs) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    try {
      return await connectOne(addr, port, left);
    } catch (err) {
      last = err as DialError;
    }
  }
  throw last;
};

export function connectOne(host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new DialError("connect-timeout", `connecting to ${host} port ${port} timed out`));
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      resolve(socket);
    });
    socket.once("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      reject(
        new DialError(
          "connect-failed",
          `connecting to ${host} port ${port} failed: ${err.code ?? err.message}`,
        ),
      );
    });
  });
}
