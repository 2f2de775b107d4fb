// Test launcher for the fake DNS server in a namespace. Usage: fake-dns.ts <bind-address> <zone.json>.
// Every query is printed as a JSON line.
import { readFileSync } from "node:fs";
import { serveDns, type Zone } from "../../src/lab/fakes/dns.js";

if (process.argv[1]?.endsWith("fake-dns.ts")) {
  const [bind, zoneFile] = process.argv.slice(2) as [string, string];
  const zone = JSON.parse(readFileSync(zoneFile, "utf8")) as Zone;
  const socket = serveDns(bind, zone, (name, type) =>
    process.stdout.write(`${JSON.stringify({ dns: name, type })}\n`),
  );
  socket.on("listening", () => process.stdout.write(`${JSON.stringify({ ready: "dns" })}\n`));
}
