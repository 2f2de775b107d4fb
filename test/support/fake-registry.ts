// A real container registry in a test namespace: Debian's docker-registry (distribution 2.8) over
// TLS with a throwaway CA, holding one image made from a rootfs tarball and pushed with skopeo.
// Its JSON log records every request, so a test can tell which manifests and blobs were fetched.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { addressHolder } from "../../src/lab/netns.js";
import { makeTestPki } from "../../src/lab/pki.js";
import type { TestNet } from "./netns.js";

const sha256 = (data: Buffer | string) => `sha256:${createHash("sha256").update(data).digest("hex")}`;

// An OCI image layout (image-spec 1.0) of one uncompressed layer, tagged `tag`; skopeo reads it
// as `oci:<dir>:<tag>` and compresses the layer on its way to a registry.
export function writeOciLayout(rootfsTar: string, dir: string, tag: string): void {
  const blobs = join(dir, "blobs", "sha256");
  mkdirSync(blobs, { recursive: true });
  const put = (data: Buffer | string) => {
    const digest = sha256(data);
    writeFileSync(join(blobs, digest.slice("sha256:".length)), data);
    return { digest, size: Buffer.byteLength(data) };
  };
  const layer = put(readFileSync(rootfsTar));
  const config = put(
    JSON.stringify({
      architecture: process.arch === "arm64" ? "arm64" : "amd64",
      os: "linux",
      config: {},
      rootfs: { type: "layers", diff_ids: [layer.digest] },
    }),
  );
  const manifest = put(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", ...layer }],
    }),
  );
  writeFileSync(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  writeFileSync(
    join(dir, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          ...manifest,
          annotations: { "org.opencontainers.image.ref.name": tag },
        },
      ],
    }),
  );
}

export interface RegistryRequest {
  method: string;
  uri: string;
  status: number;
  userAgent: string;
}

export interface FakeRegistry {
  // PEM of the CA that signed the registry's certificate for every name it was given.
  ca: string;
  requests(): RegistryRequest[];
}

// Starts the registry on ip:443 inside ns (the address is added there) and pushes `image`
// ("repo/name:tag", no host) built from rootfsTar. `dir` holds its config, storage and log.
export async function startFakeRegistry(
  net: TestNet,
  opts: { ns: string; ip: string; names: string[]; dir: string; image: string; rootfsTar: string },
): Promise<FakeRegistry> {
  const { ns, ip, dir } = opts;
  mkdirSync(dir, { recursive: true });
  addressHolder(ns, "reg0", [`${ip}/32`]);
  const pki = makeTestPki(opts.names);
  writeFileSync(join(dir, "cert.pem"), pki.cert);
  writeFileSync(join(dir, "key.pem"), pki.key, { mode: 0o600 });
  writeFileSync(
    join(dir, "config.yml"),
    `version: 0.1
log:
  level: info
  formatter: json
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${join(dir, "data")}
http:
  addr: ${ip}:443
  secret: moat-test-registry-not-a-secret
  tls:
    certificate: ${join(dir, "cert.pem")}
    key: ${join(dir, "key.pem")}
`,
  );
  // Written by the registry itself: the tests block in synchronous VM commands, so a pipe
  // read by this process would lag behind what the registry has served.
  const logFile = join(dir, "registry.log");
  const log = openSync(logFile, "w");
  const child = net.spawn(ns, "docker-registry", ["serve", join(dir, "config.yml")], {
    stdio: ["ignore", log, log],
  });
  closeSync(log);
  const deadline = Date.now() + 10_000;
  while (!readFileSync(logFile, "utf8").includes("listening on")) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`registry not listening:\n${readFileSync(logFile, "utf8")}`);
    await new Promise((r) => setTimeout(r, 100));
  }

  const [name, tag] = opts.image.split(":") as [string, string];
  const layout = join(dir, "oci");
  writeOciLayout(opts.rootfsTar, layout, tag);
  // By address, so the push needs no resolver; the name-checked TLS is for the pulls under test.
  execFileSync(
    "nsenter",
    [
      `--net=/run/netns/${ns}`,
      "skopeo",
      "copy",
      "--quiet",
      "--dest-tls-verify=false",
      `oci:${layout}:${tag}`,
      `docker://${ip}/${name}:${tag}`,
    ],
    { stdio: "pipe", timeout: 60_000 },
  );

  const pushed = statSync(logFile).size;
  return {
    ca: pki.ca,
    // Requests after the push, in the order served.
    requests: () =>
      readFileSync(logFile)
        .subarray(pushed)
        .toString()
        .split("\n")
        .flatMap((l) => {
          try {
            const e = JSON.parse(l) as Record<string, unknown>;
            if (e.msg !== "response completed") return [];
            return [
              {
                method: String(e["http.request.method"]),
                uri: String(e["http.request.uri"]),
                status: Number(e["http.response.status"]),
                userAgent: String(e["http.request.useragent"]),
              },
            ];
          } catch {
            return [];
          }
        }),
  };
}
