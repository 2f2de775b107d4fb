// `--follow` for a file that is rotated by renaming (the gateway's audit trail: file → file.1)
// or truncated. Polls rather than watches: a watch follows the renamed file, not the name. The
// old file is read to its end after a rotation, since the writer's last buffered lines land
// there (audit.ts), then the new one from its start; a file that shrank is read from its start.
import { closeSync, fstatSync, openSync, readSync, statSync } from "node:fs";

interface Open {
  fd: number;
  ino: number;
  pos: number;
}

export class FileTail {
  private current: Open | undefined;
  private retired: Open | undefined;
  private rest = "";
  private timer: NodeJS.Timeout | undefined;

  // `from`: "end" skips what is already there (the caller printed the history), "start" does not.
  constructor(
    readonly file: string,
    private readonly onLine: (line: string) => void,
    from: "start" | "end" = "end",
  ) {
    this.current = this.open(from);
  }

  private open(from: "start" | "end"): Open | undefined {
    try {
      const fd = openSync(this.file, "r");
      const st = fstatSync(fd);
      return { fd, ino: st.ino, pos: from === "end" ? st.size : 0 };
    } catch {
      return undefined;
    }
  }

  private drain(o: Open): boolean {
    const buf = Buffer.alloc(64 << 10);
    let read = false;
    for (;;) {
      const n = readSync(o.fd, buf, 0, buf.length, o.pos);
      if (n <= 0) return read;
      read = true;
      o.pos += n;
      this.rest += buf.subarray(0, n).toString("utf8");
      const lines = this.rest.split("\n");
      this.rest = lines.pop() ?? "";
      for (const l of lines) this.onLine(l);
    }
  }

  // One look at the file; run by the timer, and directly by tests.
  poll(): void {
    if (this.retired && !this.drain(this.retired)) {
      closeSync(this.retired.fd);
      this.retired = undefined;
    }
    let ino: number | undefined;
    try {
      ino = statSync(this.file).ino;
    } catch {}
    if (this.current && ino !== undefined && ino !== this.current.ino) {
      this.drain(this.current);
      if (this.retired) closeSync(this.retired.fd);
      this.retired = this.current;
      this.current = undefined;
    }
    this.current ??= ino === undefined ? undefined : this.open("start");
    if (!this.current) return;
    if (fstatSync(this.current.fd).size < this.current.pos) {
      this.current.pos = 0;
      this.rest = "";
    }
    this.drain(this.current);
  }

  start(intervalMs = 250): void {
    this.timer = setInterval(() => this.poll(), intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    for (const o of [this.current, this.retired]) if (o) closeSync(o.fd);
    this.current = this.retired = undefined;
  }
}
