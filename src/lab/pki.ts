// A throwaway certificate authority for the lab's fake internet and the tests' fake upstreams,
// made with openssl in a temporary directory removed straight after: no key is ever committed.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestPki {
  ca: string; // PEM, what the gateway trusts in the lab and in tests
  cert: string; // leaf for every name below, signed by ca
  key: string;
}

export function makeTestPki(names: string[]): TestPki {
  const dir = mkdtempSync(join(tmpdir(), "moat-test-ca-"));
  const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  try {
    ssl(
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-days",
      "2",
      "-subj",
      "/CN=moat lab CA",
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem",
    );
    ssl(
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-subj",
      `/CN=${names[0]}`,
      "-keyout",
      "leaf.key",
      "-out",
      "leaf.csr",
    );
    writeFileSync(join(dir, "ext.cnf"), `subjectAltName=${names.map((n) => `DNS:${n}`).join(",")}\n`);
    ssl(
      "x509",
      "-req",
      "-in",
      "leaf.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      "2",
      "-extfile",
      "ext.cnf",
      "-out",
      "leaf.pem",
    );
    const read = (f: string) => readFileSync(join(dir, f), "utf8");
    return { ca: read("ca.pem"), cert: read("leaf.pem"), key: read("leaf.key") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
