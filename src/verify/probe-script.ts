// The probe `moat verify` runs as the agent's uid (and a uid of its subuid range) on the host:
// one Node process tries every target at once and prints one JSON verdict per target. Kept as
// source text because it runs under setpriv with no access to Moat's own files.
export interface ProbeTarget {
  // tcp: does a connection open? dns: does a resolver answer a UDP query? connect: what does the
  // gateway answer a CONNECT for host:port? post: what does the gateway answer this request?
  // connect-tls: once the CONNECT is answered 200, what happens to a ClientHello naming `sni`?
  kind: "tcp" | "dns" | "connect" | "connect-tls" | "post";
  host: string;
  port: number;
  // connect: the authority to ask for; post: the path and JSON body.
  target?: string;
  path?: string;
  body?: string;
  // connect-tls: the server name the ClientHello carries.
  sni?: string;
}

// outcome: "open" (tcp), "answered" (dns), an HTTP status code as text (connect, post), or how
// the attempt failed: an errno code such as ECONNREFUSED or EPERM, or "timeout". connect-tls
// after a 200: "handshake" if a TLS server answered the hello, else the TLS error's code (a
// refusing gateway's alert is ERR_SSL_TLSV1_ALERT_ACCESS_DENIED).
export interface ProbeOutcome {
  target: ProbeTarget;
  outcome: string;
}

export const PROBE_SCRIPT = `
const net = require("node:net");
const dgram = require("node:dgram");
const targets = JSON.parse(process.argv[1]);
const LIMIT = Number(process.argv[2] || 2000);
const one = (t) => new Promise((resolve) => {
  let settled = false;
  const done = (outcome, cleanup) => { if (settled) return; settled = true; try { cleanup && cleanup(); } catch {} resolve({ target: t, outcome }); };
  if (t.kind === "dns") {
    const s = dgram.createSocket(t.host.includes(":") ? "udp6" : "udp4");
    const q = Buffer.from("abcd01000001000000000000076578616d706c65036f72670000010001", "hex");
    s.on("message", () => done("answered", () => s.close()));
    s.on("error", (e) => done(e.code || e.message, () => s.close()));
    setTimeout(() => done("timeout", () => s.close()), LIMIT);
    s.send(q, t.port, t.host, (e) => { if (e) done(e.code || e.message, () => s.close()); });
    return;
  }
  const s = net.connect({ host: t.host, port: t.port });
  s.setTimeout(LIMIT, () => done("timeout", () => s.destroy()));
  s.on("error", (e) => done(e.code || e.message, () => s.destroy()));
  let buf = "";
  s.on("connect", () => {
    if (t.kind === "tcp") return done("open", () => s.destroy());
    if (t.kind === "connect" || t.kind === "connect-tls") s.write("CONNECT " + t.target + " HTTP/1.1\\r\\nHost: " + t.target + "\\r\\n\\r\\n");
    else s.write("POST " + t.path + " HTTP/1.1\\r\\nHost: " + t.host + "\\r\\nContent-Type: application/json\\r\\nContent-Length: " + Buffer.byteLength(t.body || "") + "\\r\\nConnection: close\\r\\n\\r\\n" + (t.body || ""));
  });
  s.on("data", (d) => {
    buf += d.toString("latin1");
    const m = buf.match(/^HTTP\\/1\\.[01] (\\d{3})/);
    if (!m) return;
    if (t.kind !== "connect-tls" || m[1] !== "200") return done(m[1], () => s.destroy());
    if (!buf.includes("\\r\\n\\r\\n")) return;
    s.removeAllListeners("data");
    s.removeAllListeners("end");
    const tls = require("node:tls").connect({ socket: s, servername: t.sni, rejectUnauthorized: false });
    tls.on("secureConnect", () => done("handshake", () => tls.destroy()));
    tls.on("error", (e) => done(e.code || e.message, () => tls.destroy()));
    tls.on("close", () => done("closed"));
  });
  s.on("end", () => done(buf ? "garbled" : "closed", () => s.destroy()));
});
Promise.all(targets.map(one)).then((r) => { process.stdout.write(JSON.stringify(r)); process.exit(0); });
`;
