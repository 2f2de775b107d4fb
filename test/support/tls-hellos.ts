// ClientHellos for the SNI tests: real ones from Node's own TLS client (written into a stream,
// no network), and hand-made ones for what no honest client sends (ECH, two names, bad lengths).
import { Duplex } from "node:stream";
import { type ConnectionOptions, connect } from "node:tls";

// The first flight Node's TLS client writes: one record holding the whole ClientHello.
export function realHello(opts: ConnectionOptions = {}): Promise<Buffer> {
  return new Promise((resolve) => {
    const wire = new Duplex({
      read() {},
      write(chunk: Buffer, _enc, cb) {
        resolve(Buffer.from(chunk));
        cb();
      },
    });
    const tls = connect({ ...opts, socket: wire });
    tls.on("error", () => {});
    setTimeout(() => tls.destroy(), 20);
  });
}

const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
const u24 = (n: number) => Buffer.from([n >> 16, (n >> 8) & 0xff, n & 0xff]);
const vec16 = (b: Buffer) => Buffer.concat([u16(b.length), b]);

export const ext = (type: number, data: Buffer) => Buffer.concat([u16(type), vec16(data)]);
export const serverNameExt = (...names: string[]) =>
  ext(0, vec16(Buffer.concat(names.map((n) => Buffer.concat([Buffer.from([0]), vec16(Buffer.from(n))])))));
// An outer ECH extension (draft-ietf-tls-esni §5): type outer, a cipher suite, config id, enc, payload.
export const echExt = () =>
  ext(
    0xfe0d,
    Buffer.concat([Buffer.from([0, 0, 1, 0, 1, 7]), vec16(Buffer.alloc(32, 1)), vec16(Buffer.alloc(64, 2))]),
  );

// A ClientHello handshake message (type, length, body) with these extensions.
export function helloMessage(extensions: Buffer[] | null): Buffer {
  const parts = [
    Buffer.from([3, 3]),
    Buffer.alloc(32, 7),
    Buffer.from([0]),
    vec16(Buffer.from([0x13, 0x01])),
    Buffer.from([1, 0]),
  ];
  if (extensions) parts.push(vec16(Buffer.concat(extensions)));
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([1]), u24(body.length), body]);
}

// The message in TLS records of at most `fragment` bytes each.
export function inRecords(message: Buffer, fragment = 16_384): Buffer {
  const out: Buffer[] = [];
  for (let at = 0; at < message.length; at += fragment) {
    const part = message.subarray(at, at + fragment);
    out.push(Buffer.from([0x16, 3, 1]), u16(part.length), part);
  }
  return Buffer.concat(out);
}

export const craftHello = (extensions: Buffer[] | null, fragment?: number) =>
  inRecords(helloMessage(extensions), fragment);
