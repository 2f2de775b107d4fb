// The executor's fetch-key action for real: an HTTPS server on loopback (certificate from a
// throwaway CA) serves keys made here with gpg; the pinned key is written with the mode asked
// for, another key is refused and nothing is written, plain HTTP is refused before any request.
// The executor runs in a child process that trusts the test CA (NODE_EXTRA_CA_CERTS is read at
// start-up) and writes only inside a temporary directory.
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { makeTestPki } from "../../src/lab/pki.js";
import { needsRoot } from "../support/root.js";

const REPO = new URL("../..", import.meta.url).pathname;

describe("host apply executor: fetch-key", () => {
  const dir = mkdtempSync(join(tmpdir(), "moat-fetch-key-"));
  const keys: Record<string, { fpr: string; bytes: Buffer }> = {};
  let server: Server;
  let origin = "";
  let caFile = "";

  before(async () => {
    const gnupg = join(dir, "gnupg");
    execFileSync("mkdir", ["-m", "700", gnupg]);
    for (const name of ["pinned", "other"]) {
      const gpg = (...args: string[]) =>
        execFileSync("gpg", ["--homedir", gnupg, "--batch", "--quiet", ...args], {
          stdio: ["ignore", "pipe", "pipe"],
        });
      gpg(
        "--passphrase",
        "",
        "--quick-gen-key",
        `${name} <${name}@example.test>`,
        "ed25519",
        "sign",
        "never",
      );
      const fpr =
        gpg("--with-colons", "--list-keys", `${name}@example.test`)
          .toString()
          .split("\n")
          .find((l) => l.startsWith("fpr:"))
          ?.split(":")[9] ?? "";
      keys[name] = { fpr, bytes: gpg("--export", fpr) };
    }
    const pki = makeTestPki(["localhost"]);
    caFile = join(dir, "ca.pem");
    writeFileSync(caFile, pki.ca);
    server = createServer({ cert: pki.cert, key: pki.key }, (req, res) => {
      const key = keys[(req.url ?? "").slice(1)];
      if (!key) return res.writeHead(404).end();
      res.writeHead(200, { "content-type": "application/pgp-keys" }).end(key.bytes);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    origin = `https://localhost:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  // Runs one fetch-key action through the real executor; returns its error message, or "".
  // Asynchronously: the server answering it lives in this process.
  const fetchKey = async (url: string, path: string, fingerprint: string) => {
    const action = {
      kind: "fetch-key",
      url,
      file: { path, mode: 0o644, owner: "root", group: "root" },
      fingerprint,
      why: "test",
    };
    const script = `
      const { execute } = await import(${JSON.stringify(join(REPO, "src/host/execute.ts"))});
      try { await execute({}, ${JSON.stringify(action)}); } catch (e) { process.stdout.write(e.message); }
    `;
    const r = await promisify(execFile)(
      process.execPath,
      ["--dns-result-order=ipv4first", "--import", "tsx", "--input-type=module", "-e", script],
      { cwd: REPO, encoding: "utf8", env: { ...process.env, NODE_EXTRA_CA_CERTS: caFile }, timeout: 30_000 },
    );
    return r.stdout;
  };

  it("writes the key when it is the pinned one, with the mode asked for", {
    skip: needsRoot("the executor gives the key file to root (chown)"),
  }, async () => {
    const path = join(dir, "good.gpg");
    assert.equal(await fetchKey(`${origin}/pinned`, path, keys.pinned?.fpr ?? ""), "");
    assert.deepEqual(readFileSync(path), keys.pinned?.bytes);
    assert.equal(statSync(path).mode & 0o777, 0o644);
  });

  it("negative controls: another key is refused and not written; plain HTTP is refused", async () => {
    const path = join(dir, "wrong.gpg");
    assert.match(await fetchKey(`${origin}/other`, path, keys.pinned?.fpr ?? ""), /not the pinned/);
    assert.equal(existsSync(path), false);
    assert.match(await fetchKey(`${origin}/missing`, path, keys.pinned?.fpr ?? ""), /HTTP 404/);
    assert.match(
      await fetchKey(`http://localhost:1/pinned`, path, keys.pinned?.fpr ?? ""),
      /refusing to fetch a key over http:/,
    );
    assert.equal(existsSync(path), false);
  });
});
