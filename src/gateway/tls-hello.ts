// The first bytes of a tunnel, read without decrypting anything: is this a TLS ClientHello, and
// which name (SNI, RFC 6066 §3) and which Encrypted Client Hello does it offer? Pure: the server
// feeds it everything buffered so far and gets a verdict or "need-more".
//
// Strict on purpose: a second parser (the upstream's) must not read a different name than this
// one, so anything it could read differently — a duplicate extension, two host names, bytes
// after the extensions, a record that is not a handshake — is "not-tls", never guessed at.

export type HelloParse =
  | { kind: "hello"; sni?: string; ech: boolean }
  | { kind: "need-more" }
  | { kind: "not-tls"; reason: string };

// A ClientHello larger than this is refused (real ones are 0.5–2 KiB, post-quantum key shares
// included); the buffer the server keeps is bounded by it plus the record headers.
const MAX_HELLO_BYTES = 16_384;
const RECORD_HEADER = 5;
const MAX_RECORD = 16_384; // RFC 8446 §5.1: a plaintext fragment is at most 2^14 bytes.
// Enough 5-byte headers for the hello split into 1-byte fragments would be absurd; real clients
// send it in one record, rarely two. Past this many records the hello is refused.
const MAX_RECORDS = 64;
export const MAX_HELLO_BUFFER = MAX_HELLO_BYTES + 4 + MAX_RECORDS * RECORD_HEADER;

const HANDSHAKE = 0x16;
const CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0x0000;
// draft-ietf-tls-esni: encrypted_client_hello; the older ESNI extension is treated the same.
const EXT_ECH = 0xfe0d;
const EXT_ESNI = 0xffce;
const HOST_NAME = 0;

const notTls = (reason: string): HelloParse => ({ kind: "not-tls", reason });
const NEED_MORE: HelloParse = { kind: "need-more" };

export function parseClientHello(buf: Buffer): HelloParse {
  const joined = joinHandshakeRecords(buf);
  if (joined.kind !== "ok") return joined.verdict;
  return parseHelloBody(joined.body);
}

type Joined = { kind: "ok"; body: Buffer } | { kind: "stop"; verdict: HelloParse };

// Concatenate handshake record fragments until the whole ClientHello message is there.
function joinHandshakeRecords(buf: Buffer): Joined {
  const fragments: Buffer[] = [];
  let have = 0;
  let want = -1; // handshake message length including its 4-byte header, once known
  let at = 0;
  for (let records = 0; ; records++) {
    if (records >= MAX_RECORDS)
      return stop(notTls(`ClientHello split over more than ${MAX_RECORDS} records`));
    if (buf.length - at < RECORD_HEADER) {
      const bad = partialHeaderProblem(buf.subarray(at));
      return stop(bad ? notTls(bad) : NEED_MORE);
    }
    const bad = recordHeaderProblem(buf, at);
    if (bad) return stop(notTls(bad));
    const len = buf.readUInt16BE(at + 3);
    const complete = buf.length - at - RECORD_HEADER >= len;
    const fragment = buf.subarray(at + RECORD_HEADER, at + RECORD_HEADER + len);
    // The handshake header is judged as soon as its 4 bytes are in, complete record or not.
    if (want < 0 && have + fragment.length >= 4) {
      const head = Buffer.concat([...fragments, fragment]);
      if (head[0] !== CLIENT_HELLO) return stop(notTls(`handshake type ${head[0]} is not a ClientHello`));
      want = 4 + head.readUIntBE(1, 3);
      if (want - 4 > MAX_HELLO_BYTES)
        return stop(notTls(`ClientHello of ${want - 4} bytes is over the limit`));
    }
    if (!complete) return stop(NEED_MORE);
    fragments.push(fragment);
    have += len;
    at += RECORD_HEADER + len;
    if (want >= 0 && have >= want) {
      // Bytes of a next handshake message in the same records would be a second parse target.
      if (have > want) return stop(notTls("bytes after the ClientHello in its handshake records"));
      return { kind: "ok", body: Buffer.concat(fragments).subarray(4, want) };
    }
  }
}

const stop = (verdict: HelloParse): Joined => ({ kind: "stop", verdict });

function recordHeaderProblem(buf: Buffer, at: number): string | undefined {
  if (buf[at] !== HANDSHAKE) return `record type ${buf[at]} is not a TLS handshake`;
  if (buf[at + 1] !== 3 || (buf[at + 2] as number) > 4) return "not a TLS record version";
  const len = buf.readUInt16BE(at + 3);
  if (len === 0) return "an empty handshake record";
  if (len > MAX_RECORD) return `a record of ${len} bytes is over 2^14`;
  return undefined;
}

// Refuse as early as the first byte: a plain-text protocol must not wait for five bytes.
function partialHeaderProblem(part: Buffer): string | undefined {
  if (part.length >= 1 && part[0] !== HANDSHAKE) return `record type ${part[0]} is not a TLS handshake`;
  if (part.length >= 2 && part[1] !== 3) return "not a TLS record version";
  if (part.length >= 3 && (part[2] as number) > 4) return "not a TLS record version";
  return undefined;
}

// ClientHello (RFC 8446 §4.1.2): version, random, session id, cipher suites, compression, extensions.
function parseHelloBody(body: Buffer): HelloParse {
  const r = new Reader(body);
  r.skip(2 + 32);
  r.skip(r.u8());
  const suites = r.u16();
  if (suites === 0 || suites % 2 !== 0) return notTls("malformed cipher suite list");
  r.skip(suites);
  r.skip(r.u8());
  if (r.failed) return notTls("truncated ClientHello");
  if (r.left === 0) return { kind: "hello", ech: false }; // no extensions at all: no SNI
  const extEnd = r.u16();
  if (r.failed || extEnd !== r.left) return notTls("extension block length does not match the ClientHello");
  const seen = new Set<number>();
  let sni: string | undefined;
  let ech = false;
  while (r.left > 0) {
    const type = r.u16();
    const len = r.u16();
    const data = r.take(len);
    if (r.failed || !data) return notTls("truncated extension");
    if (seen.has(type)) return notTls(`extension ${type} appears twice`);
    seen.add(type);
    if (type === EXT_ECH || type === EXT_ESNI) ech = true;
    if (type === EXT_SERVER_NAME) {
      const name = parseServerName(data);
      if (typeof name !== "object") return notTls(name);
      sni = name.sni;
    }
  }
  return sni === undefined ? { kind: "hello", ech } : { kind: "hello", sni, ech };
}

// server_name: a list of (type, name); exactly one host_name, nothing else. An empty extension
// is what a server sends back, never a client: refused.
function parseServerName(data: Buffer): { sni: string } | string {
  const r = new Reader(data);
  const listLen = r.u16();
  if (r.failed || listLen !== r.left || listLen === 0) return "malformed server_name list";
  let sni: string | undefined;
  while (r.left > 0) {
    const type = r.u8();
    const name = r.take(r.u16());
    if (r.failed || !name) return "truncated server_name entry";
    if (type !== HOST_NAME) return `server_name type ${type} is not host_name`;
    if (sni !== undefined) return "more than one host_name in server_name";
    if (name.length === 0) return "empty host_name";
    // A host_name is ASCII (A-labels); anything else is not a name this gateway can compare.
    for (const byte of name) if (byte <= 0x20 || byte >= 0x7f) return "host_name is not printable ASCII";
    sni = name.toString("latin1");
  }
  return { sni: sni as string };
}

class Reader {
  private at = 0;
  failed = false;
  constructor(private readonly buf: Buffer) {}
  get left(): number {
    return this.buf.length - this.at;
  }
  private need(n: number): boolean {
    if (this.failed || this.left < n) {
      this.failed = true;
      return false;
    }
    return true;
  }
  u8(): number {
    if (!this.need(1)) return 0;
    return this.buf[this.at++] as number;
  }
  u16(): number {
    if (!this.need(2)) return 0;
    const v = this.buf.readUInt16BE(this.at);
    this.at += 2;
    return v;
  }
  skip(n: number): void {
    if (this.need(n)) this.at += n;
  }
  take(n: number): Buffer | undefined {
    if (!this.need(n)) return undefined;
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
}
