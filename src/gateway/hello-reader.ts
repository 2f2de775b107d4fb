// The socket side of the SNI check: collect a tunnel's first bytes until parseClientHello has a
// verdict, within a deadline and a size bound. Nothing is copied beyond the hello, and the
// bytes read are handed back so they go upstream exactly once, ahead of the splice.
import type { Socket } from "node:net";
import type { ReadHello } from "./sni.js";
import { MAX_HELLO_BUFFER, parseClientHello } from "./tls-hello.js";

export type HelloRead =
  | { kind: "read"; hello: ReadHello; bytes: Buffer }
  // The client closed (or errored) before a verdict: nothing to refuse, nothing to forward.
  | { kind: "gone" };

// A fatal access_denied alert (RFC 8446 §6): what a TLS client is told when its hello is refused,
// so it fails with a clear error instead of a bare reset.
export const ACCESS_DENIED_ALERT = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x31]);

export function readHello(socket: Socket, head: Buffer, timeoutMs: number): Promise<HelloRead> {
  return new Promise((resolve) => {
    let bytes = head;
    let timer: NodeJS.Timeout | undefined;
    const finish = (r: HelloRead) => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("close", onGone);
      socket.off("end", onGone);
      socket.pause();
      resolve(r);
    };
    const judge = (): boolean => {
      const hello = parseClientHello(bytes);
      if (hello.kind === "need-more" && bytes.length <= MAX_HELLO_BUFFER) return false;
      const verdict: ReadHello =
        hello.kind === "need-more"
          ? { kind: "not-tls", reason: `no ClientHello in the first ${MAX_HELLO_BUFFER} bytes` }
          : hello;
      finish({ kind: "read", hello: verdict, bytes });
      return true;
    };
    const onData = (chunk: Buffer) => {
      bytes = bytes.length === 0 ? chunk : Buffer.concat([bytes, chunk]);
      judge();
    };
    const onGone = () => finish({ kind: "gone" });
    if (head.length > 0 && judge()) return;
    timer = setTimeout(
      () =>
        finish({
          kind: "read",
          hello: { kind: "not-tls", reason: `no ClientHello within ${timeoutMs} ms` },
          bytes,
        }),
      timeoutMs,
    );
    socket.on("data", onData);
    socket.once("close", onGone);
    socket.once("end", onGone);
    socket.resume();
  });
}
