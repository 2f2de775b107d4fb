import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MAX_HELLO_BUFFER, parseClientHello } from "../../src/gateway/tls-hello.js";
import {
  craftHello,
  echExt,
  ext,
  helloMessage,
  inRecords,
  realHello,
  serverNameExt,
} from "../support/tls-hellos.js";

const show = (r: ReturnType<typeof parseClientHello>) =>
  r.kind === "hello"
    ? `hello sni=${r.sni ?? "-"} ech=${r.ech}`
    : r.kind === "need-more"
      ? "need-more"
      : `not-tls: ${r.reason}`;

describe("parseClientHello on Node's own hellos", () => {
  test("the SNI a real client asked for, no ECH", async () => {
    for (const name of ["api.example.com", "attacker.example", "xn--bcher-kva.example"]) {
      assert.equal(
        show(parseClientHello(await realHello({ servername: name }))),
        `hello sni=${name} ech=false`,
      );
    }
  });

  test("no servername: a hello without SNI", async () => {
    assert.equal(show(parseClientHello(await realHello({}))), "hello sni=- ech=false");
  });

  test("TLS 1.2-only and 1.3-only hellos parse the same", async () => {
    for (const v of [
      { minVersion: "TLSv1.2", maxVersion: "TLSv1.2" },
      { minVersion: "TLSv1.3", maxVersion: "TLSv1.3" },
    ] as const) {
      assert.equal(
        show(parseClientHello(await realHello({ servername: "a.example", ...v }))),
        "hello sni=a.example ech=false",
      );
    }
  });

  test("every prefix of a real hello needs more; the whole one is a hello", async () => {
    const hello = await realHello({ servername: "a.example" });
    for (let n = 0; n < hello.length; n++)
      assert.equal(show(parseClientHello(hello.subarray(0, n))), "need-more", `prefix ${n}`);
    assert.equal(show(parseClientHello(hello)), "hello sni=a.example ech=false");
  });

  test("the same hello re-split into small records (TCP reads and TLS fragments)", async () => {
    const real = await realHello({ servername: "a.example" });
    const message = real.subarray(5);
    for (const size of [1000, 300, 64]) {
      const split = inRecords(message, size);
      assert.equal(show(parseClientHello(split)), "hello sni=a.example ech=false", `fragment ${size}`);
      assert.equal(show(parseClientHello(split.subarray(0, split.length - 1))), "need-more");
    }
  });

  test("bytes after the hello's record (CCS, early data) are the caller's, not a problem", async () => {
    const real = await realHello({ servername: "a.example" });
    const next = Buffer.from([0x14, 3, 3, 0, 1, 1]);
    assert.equal(show(parseClientHello(Buffer.concat([real, next]))), "hello sni=a.example ech=false");
  });
});

// [what, bytes, expected as show() prints it (a prefix for not-tls)]
type Row = [string, Buffer, string];
const good = helloMessage([serverNameExt("a.example")]);
const withLength = (message: Buffer, len: number) => {
  const m = Buffer.from(message);
  m.writeUIntBE(len, 1, 3);
  return m;
};
const ROWS: Row[] = [
  ["crafted hello", craftHello([serverNameExt("a.example")]), "hello sni=a.example ech=false"],
  [
    "trailing dot and case are kept for the verdict",
    craftHello([serverNameExt("A.Example.")]),
    "hello sni=A.Example. ech=false",
  ],
  [
    "ECH offered with an outer SNI",
    craftHello([serverNameExt("public.example"), echExt()]),
    "hello sni=public.example ech=true",
  ],
  ["ECH without SNI", craftHello([echExt()]), "hello sni=- ech=true"],
  ["legacy ESNI", craftHello([ext(0xffce, Buffer.alloc(8))]), "hello sni=- ech=true"],
  ["no extension block at all", craftHello(null), "hello sni=- ech=false"],
  ["an empty extension block", craftHello([]), "hello sni=- ech=false"],
  [
    "an unknown extension is skipped",
    craftHello([ext(0x7777, Buffer.alloc(3)), serverNameExt("a.example")]),
    "hello sni=a.example ech=false",
  ],
  ["HTTP on a TLS port", Buffer.from("GET / HTTP/1.1\r\nHost: a.example\r\n\r\n"), "not-tls: record type 71"],
  ["SSH banner", Buffer.from("SSH-2.0-OpenSSH_9.6\r\n"), "not-tls: record type 83"],
  ["one byte of HTTP is refused at once", Buffer.from("G"), "not-tls: record type 71"],
  ["SSLv2-compatible hello", Buffer.from([0x80, 0x2e, 0x01, 0x03, 0x01]), "not-tls: record type 128"],
  ["application data first", Buffer.from([0x17, 3, 3, 0, 1, 0]), "not-tls: record type 23"],
  [
    "a handshake that is not a ClientHello",
    inRecords(Buffer.from([2, 0, 0, 1, 0])),
    "not-tls: handshake type 2",
  ],
  ["bad record version", Buffer.from([0x16, 2, 0, 0, 4]), "not-tls: not a TLS record version"],
  ["an empty record", Buffer.from([0x16, 3, 1, 0, 0]), "not-tls: an empty handshake record"],
  ["a record over 2^14", Buffer.from([0x16, 3, 1, 0x40, 0x01]), "not-tls: a record of 16385 bytes"],
  [
    "a hello over the limit",
    inRecords(withLength(good, 70_000)).subarray(0, 9),
    "not-tls: ClientHello of 70000 bytes",
  ],
  [
    "hello length shorter than its body",
    inRecords(withLength(good, good.length - 4 - 3)),
    "not-tls: bytes after the ClientHello",
  ],
  ["hello length longer than its body", inRecords(withLength(good, good.length - 4 + 10)), "need-more"],
  [
    "two server_name extensions",
    craftHello([serverNameExt("a.example"), serverNameExt("evil.example")]),
    "not-tls: extension 0 appears twice",
  ],
  ["two ECH extensions", craftHello([echExt(), echExt()]), "not-tls: extension 65037 appears twice"],
  [
    "two names in one server_name",
    craftHello([serverNameExt("a.example", "evil.example")]),
    "not-tls: more than one host_name",
  ],
  [
    "a name type other than host_name",
    craftHello([ext(0, Buffer.from([0, 4, 1, 0, 1, 0x61]))]),
    "not-tls: server_name type 1",
  ],
  [
    "an empty server_name (a server's reply)",
    craftHello([ext(0, Buffer.alloc(0))]),
    "not-tls: malformed server_name list",
  ],
  [
    "server_name list longer than the extension",
    craftHello([ext(0, Buffer.from([0, 9, 0, 0, 1, 0x61]))]),
    "not-tls: malformed server_name list",
  ],
  [
    "host_name length past the list",
    craftHello([ext(0, Buffer.from([0, 4, 0, 0, 9, 0x61]))]),
    "not-tls: truncated server_name entry",
  ],
  ["an empty host_name", craftHello([ext(0, Buffer.from([0, 3, 0, 0, 0]))]), "not-tls: empty host_name"],
  [
    "a NUL in the host_name",
    craftHello([serverNameExt("a.example\0.evil")]),
    "not-tls: host_name is not printable ASCII",
  ],
  [
    "UTF-8 in the host_name",
    craftHello([serverNameExt("bücher.example")]),
    "not-tls: host_name is not printable ASCII",
  ],
  [
    "extension length past the block",
    craftHello([Buffer.from([0x77, 0x77, 0, 9, 1])]),
    "not-tls: truncated extension",
  ],
  [
    "odd cipher suite length",
    inRecords(Buffer.from([1, 0, 0, 38, 3, 3, ...Buffer.alloc(32), 0, 0, 1, 0x13])),
    "not-tls: malformed cipher suite list",
  ],
  [
    "truncated before compression",
    inRecords(Buffer.from([1, 0, 0, 39, 3, 3, ...Buffer.alloc(32), 0, 0, 2, 0x13, 1])),
    "not-tls: truncated ClientHello",
  ],
  [
    "extension block length mismatch",
    inRecords(Buffer.concat([withLength(good, good.length - 4 + 1), Buffer.from([0])])),
    "not-tls: extension block length",
  ],
  [
    "hello continued in a non-handshake record",
    Buffer.concat([
      Buffer.from([0x16, 3, 1, 0, 20]),
      good.subarray(0, 20),
      Buffer.from([0x17, 3, 3, 0, 1, 0]),
    ]),
    "not-tls: record type 23",
  ],
  [
    "split into more records than allowed",
    inRecords(good, 1),
    "not-tls: ClientHello split over more than 64 records",
  ],
];

describe("parseClientHello on hand-made bytes", () => {
  for (const [what, bytes, want] of ROWS) {
    test(what, () => {
      const got = show(parseClientHello(bytes));
      assert.ok(got.startsWith(want), `${what}: got ${got}, want ${want}…`);
    });
  }

  test("the buffer bound covers the largest hello the parser accepts", () => {
    const big = helloMessage([serverNameExt("a.example"), ext(0x7777, Buffer.alloc(16_000))]);
    const bytes = inRecords(big, 16_384);
    assert.ok(bytes.length <= MAX_HELLO_BUFFER);
    assert.equal(show(parseClientHello(bytes)), "hello sni=a.example ech=false");
  });
});
