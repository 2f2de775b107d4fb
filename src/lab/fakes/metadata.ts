// The lab's instance metadata service, answering the way OCI's and AWS's do for the requests that
// matter here: OCI's v2 endpoints need `Authorization: Bearer Oracle` and v1 is off (Moat's
// Terraform disables the legacy endpoints); AWS needs an IMDSv2 session token from a PUT first
// (`http_tokens = required`). The bodies hold fake credentials so a leak would be visible: what
// an SSRF would steal on a real VM.
import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

export type Flavour = "oci" | "aws";

export interface MetadataHit {
  from: string;
  method: string;
  path: string;
  status: number;
}

const FAKE_INSTANCE_PRINCIPAL_KEY =
  "-----BEGIN PRIVATE KEY-----\nMOAT-LAB-FAKE-INSTANCE-PRINCIPAL\n-----END PRIVATE KEY-----\n";

function ociAnswer(req: IncomingMessage, name: string): [number, string] {
  const path = (req.url ?? "/").split("?")[0] as string;
  if (path.startsWith("/opc/v1/")) return [404, "Not Found"];
  if (!path.startsWith("/opc/v2/")) return [404, "Not Found"];
  if (req.headers.authorization !== "Bearer Oracle")
    return [401, JSON.stringify({ code: "NotAuthenticated", message: "Authorization header is missing" })];
  const instance = {
    id: `ocid1.instance.oc1.lab.${name}`,
    displayName: name,
    region: "lab-1",
    shape: "VM.Standard.A1.Flex",
    metadata: { ssh_authorized_keys: "ssh-ed25519 AAAA lab" },
  };
  if (path === "/opc/v2/instance/" || path === "/opc/v2/instance") return [200, JSON.stringify(instance)];
  if (path === "/opc/v2/identity/key.pem") return [200, FAKE_INSTANCE_PRINCIPAL_KEY];
  if (path === "/opc/v2/vnics/") return [200, JSON.stringify([{ privateIp: "10.0.0.2", vlanTag: 0 }])];
  return [404, "Not Found"];
}

function awsAnswer(req: IncomingMessage, tokens: Set<string>): [number, string] {
  const path = (req.url ?? "/").split("?")[0] as string;
  if (path === "/latest/api/token") {
    if (req.method !== "PUT") return [405, "Method Not Allowed"];
    if (!req.headers["x-aws-ec2-metadata-token-ttl-seconds"]) return [400, "Bad Request"];
    const token = randomBytes(24).toString("base64url");
    tokens.add(token);
    return [200, token];
  }
  const token = req.headers["x-aws-ec2-metadata-token"];
  if (typeof token !== "string" || !tokens.has(token)) return [401, "Unauthorized"];
  if (path === "/latest/meta-data/instance-id") return [200, "i-0moatlab00000000"];
  if (path === "/latest/meta-data/") return [200, "ami-id\ninstance-id\ninstance-type\nlocal-ipv4\n"];
  // No instance profile (Moat's Terraform attaches none), as AWS answers then.
  return [404, "Not Found"];
}

export function metadataHandler(flavour: Flavour, name: string, onHit: (hit: MetadataHit) => void) {
  const tokens = new Set<string>();
  return (req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on("end", () => {
      const [status, body] = flavour === "oci" ? ociAnswer(req, name) : awsAnswer(req, tokens);
      onHit({
        from: (req.socket.remoteAddress ?? "").replace(/^::ffff:/, ""),
        method: req.method ?? "",
        path: req.url ?? "",
        status,
      });
      res.writeHead(status, {
        "content-type": body.startsWith("{") || body.startsWith("[") ? "application/json" : "text/plain",
      });
      res.end(body);
    });
  };
}
