// A TCP hop between the agent and the gateway that can lose a reply: when the gateway's answer
// matches `dropWhen`, the connection is cut before the agent sees a byte of it. That is the
// moment a relay that confirmed upstream "on delivery" would lose the update for good.

import type { AddressInfo } from "node:net";
import { connect, createServer, type Server, type Socket } from "node:net";

export class LossyLink {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  dropWhen?: (replyText: string) => boolean;
  dropped = 0;

  constructor(private readonly target: () => number) {
    this.server = createServer((client) => {
      const upstream = connect({ host: "127.0.0.1", port: this.target() });
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
        s.on("error", () => {});
      }
      client.pipe(upstream);
      upstream.on("data", (chunk: Buffer) => {
        if (this.dropWhen?.(chunk.toString("utf8"))) {
          this.dropped++;
          client.destroy();
          upstream.destroy();
          return;
        }
        client.write(chunk);
      });
      upstream.on("end", () => client.end());
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
  }

  listen(): Promise<number> {
    return new Promise((r) =>
      this.server.listen(0, "127.0.0.1", () => r((this.server.address() as AddressInfo).port)),
    );
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}
