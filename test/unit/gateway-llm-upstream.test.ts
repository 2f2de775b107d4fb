// The lookup the LLM routes and the Telegram relay dial through: every answer is screened with
// the egress path's own rule before a socket opens, so a provider name cannot pivot inward.
import assert from "node:assert/strict";
import type { LookupAddress } from "node:dns";
import { describe, it } from "node:test";
import { guardedLookup, upstreamRefusal } from "../../src/gateway/upstream/lookup.js";

type Answer = { err: Error | null; address?: string };

// A resolver that answers every name with the given addresses.
const answering =
  (...addresses: string[]) =>
  (_host: string, cb: (err: Error | null, a: LookupAddress[]) => void) =>
    cb(
      null,
      addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 })),
    );

function look(allowCidrs: string[], host: string, ...addresses: string[]): Promise<Answer> {
  const lookup = guardedLookup(allowCidrs, answering(...addresses));
  return new Promise((resolve) =>
    lookup(host, {}, (err, address) => resolve({ err, address: err ? undefined : String(address) })),
  );
}

describe("guarded upstream lookup", () => {
  it("passes a name whose every answer is public, and dials the first", async () => {
    const r = await look([], "api.openai.com", "93.184.215.14", "2606:4700::1111");
    assert.equal(r.err, null);
    assert.equal(r.address, "93.184.215.14");
  });

  const refused: [string, string[], RegExp][] = [
    ["metadata", ["169.254.169.254"], /resolves to 169\.254\.169\.254/],
    ["IPv6 metadata", ["fd00:ec2::254"], /resolves to fd00:ec2::254/],
    ["one bad answer among public ones", ["93.184.215.14", "10.0.0.5"], /resolves to 10\.0\.0\.5/],
    ["IPv4-mapped metadata", ["::ffff:169.254.169.254"], /resolves to ::ffff:/],
    ["loopback", ["127.0.0.1"], /resolves to 127\.0\.0\.1/],
  ];
  for (const [what, answers, reason] of refused) {
    it(`refuses ${what}`, async () => {
      const r = await look([], "api.example.com", ...answers);
      assert.match(String(r.err?.message), reason);
    });
  }

  it("refuses local names before any lookup", async () => {
    const r = await look([], "metadata.google.internal", "93.184.215.14");
    assert.match(String(r.err?.message), /local name/);
  });

  it("allowCidrs opens a private range for a local model server, but never metadata", async () => {
    assert.equal((await look(["10.1.0.0/16"], "llm.lan", "10.1.2.3")).address, "10.1.2.3");
    const metadata = await look(["169.254.0.0/16"], "llm.lan", "169.254.169.254");
    assert.match(String(metadata.err?.message), /resolves to 169\.254\.169\.254/);
  });

  it("negative control: the same resolver without the guard hands metadata to the dialler", async () => {
    const unguarded = await new Promise<LookupAddress[]>((resolve) =>
      answering("169.254.169.254")("api.example.com", (_err, a) => resolve(a)),
    );
    assert.equal(unguarded[0]?.address, "169.254.169.254");
  });
});

describe("IP-literal base URLs (Node dials them without a lookup)", () => {
  const cases: [string, string[], RegExp | undefined][] = [
    ["http://127.0.0.1:8000/v1", [], /upstream 127\.0\.0\.1 is loopback/],
    ["http://169.254.169.254/", ["169.254.0.0/16"], /169\.254\.169\.254 is metadata/],
    ["http://[fd20:ce::254]/", [], /fd20:ce::254 is metadata/],
    ["https://[::ffff:7f00:1]/v1", [], /is ipv4-mapped/],
    ["http://10.1.2.3:8000/v1", [], /10\.1\.2\.3 is private/],
    ["http://10.1.2.3:8000/v1", ["10.1.0.0/16"], undefined],
    ["https://93.184.215.14/v1", [], undefined],
    ["https://api.openai.com/v1", [], undefined],
  ];
  for (const [url, cidrs, refused] of cases) {
    it(`${url} with allowCidrs [${cidrs}] is ${refused ? "refused" : "dialled"}`, () => {
      const r = upstreamRefusal(url, cidrs);
      if (refused) assert.match(String(r), refused);
      else assert.equal(r, undefined);
    });
  }
});
