// The lab's world is derived from the spec: every host the gateway will dial resolves to a fake
// internet host, nothing else does (but the one unlisted site), and each flavour puts metadata and
// the resolver where that cloud does.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { metadataHandler } from "../../src/lab/fakes/metadata.js";
import { LAB_ADDRESSES, labSecrets, labWorld, UNLISTED_SITE } from "../../src/lab/world.js";
import { parseSpec } from "../../src/spec/load.js";

const spec = (extra = "") => {
  const r = parseSpec(`version: 1
name: w
target: { kind: lab${extra} }
agent: { profile: custom, image: "x/y:1", port: 8080, writablePaths: [] }
messengers:
  telegram: { botToken: { env: T }, allowFrom: [1] }
llm:
  - { name: a, kind: anthropic, apiKey: { env: A }, models: [m] }
  - { name: o, kind: openai-compatible, baseUrl: "https://llm.internal.example/v1", apiKey: { file: /k }, models: [m] }
egress: { allow: [example.org, "*.wild.example"] }
`);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.spec;
};

describe("lab world", () => {
  it("resolves exactly the providers, Telegram, the allowlist and one unlisted site", () => {
    const w = labWorld(spec());
    assert.deepEqual(w.zone, {
      "api.anthropic.com": { A: [LAB_ADDRESSES.llm] },
      "llm.internal.example": { A: [LAB_ADDRESSES.llm] },
      "api.telegram.org": { A: [LAB_ADDRESSES.telegram] },
      "example.org": { A: [LAB_ADDRESSES.site] },
      [UNLISTED_SITE]: { A: [LAB_ADDRESSES.unlisted] },
    });
    assert.deepEqual(w.tlsNames, Object.keys(w.zone).sort());
  });

  it("puts metadata and the resolver where each cloud does", () => {
    assert.deepEqual(labWorld(spec()).metadata, {
      v4: "169.254.169.254",
      v6: "fd00:c1::a9fe:a9fe",
      resolver: "169.254.169.254",
    });
    assert.deepEqual(labWorld(spec(", flavour: aws")).metadata, {
      v4: "169.254.169.254",
      v6: "fd00:ec2::254",
      resolver: "169.254.169.253",
    });
  });

  it("stands in a fresh, correctly shaped value for every secret the spec references", () => {
    const a = labSecrets(spec());
    const b = labSecrets(spec());
    assert.deepEqual(
      a.map((s) => s.field),
      ["llm[0].apiKey", "llm[1].apiKey", "messengers.telegram.botToken"],
    );
    assert.match(a[2]?.value ?? "", /^\d+:[\w-]{30,}$/);
    for (let i = 0; i < a.length; i++) assert.notEqual(a[i]?.value, b[i]?.value);
  });
});

async function ask(flavour: "oci" | "aws", path: string, init: RequestInit = {}) {
  const hits: { path: string; status: number }[] = [];
  const server = createServer(metadataHandler(flavour, "w", (h) => hits.push(h)));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const res = await fetch(base + path, init);
    return { status: res.status, body: await res.text(), hits, base, server };
  } finally {
    server.close();
  }
}

describe("lab metadata service", () => {
  it("OCI: v2 needs Authorization: Bearer Oracle, v1 is off (legacy endpoints disabled)", async () => {
    const ok = await ask("oci", "/opc/v2/instance/", { headers: { authorization: "Bearer Oracle" } });
    assert.equal(ok.status, 200);
    assert.match(ok.body, /ocid1\.instance/);
    assert.deepEqual(
      ok.hits.map((h) => h.status),
      [200],
    );
    assert.equal((await ask("oci", "/opc/v2/instance/")).status, 401);
    assert.equal((await ask("oci", "/opc/v1/instance/")).status, 404);
  });

  it("AWS: IMDSv2 only — a GET without a session token is refused, with one it answers", async () => {
    assert.equal((await ask("aws", "/latest/meta-data/instance-id")).status, 401);
    const hits: { status: number }[] = [];
    const server = createServer(metadataHandler("aws", "w", (h) => hits.push(h)));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const token = await (
        await fetch(`${base}/latest/api/token`, {
          method: "PUT",
          headers: { "x-aws-ec2-metadata-token-ttl-seconds": "60" },
        })
      ).text();
      const res = await fetch(`${base}/latest/meta-data/instance-id`, {
        headers: { "x-aws-ec2-metadata-token": token },
      });
      assert.equal(res.status, 200);
      const forged = await fetch(`${base}/latest/meta-data/instance-id`, {
        headers: { "x-aws-ec2-metadata-token": "forged" },
      });
      assert.equal(forged.status, 401);
      assert.deepEqual(
        hits.map((h) => h.status),
        [200, 200, 401],
      );
    } finally {
      server.close();
    }
  });
});
