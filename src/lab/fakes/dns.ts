// A tiny authoritative DNS server for the lab's fake internet and the tests' namespaces: A and
// AAAA from a zone, names whose answer changes on every query (rebinding), and names that never
// answer (timeouts).
import { createSocket } from "node:dgram";
import ipaddr from "ipaddr.js";

interface ZoneEntry {
  A?: string[];
  AAAA?: string[];
  // Answer sets served in turn, one per query of that type (TTL 0, so nothing caches).
  rotate?: { A?: string[]; AAAA?: string[] }[];
  // Never answer: the resolver must time out.
  drop?: boolean;
}
export type Zone = Record<string, ZoneEntry>;

const TYPES: Record<number, "A" | "AAAA"> = { 1: "A", 28: "AAAA" };

function parseQuestion(msg: Buffer): { name: string; qtype: number; end: number } | undefined {
  let off = 12;
  const labels: string[] = [];
  while (off < msg.length) {
    const len = msg[off] as number;
    if (len === 0) {
      off++;
      break;
    }
    if (len > 63) return undefined;
    labels.push(msg.subarray(off + 1, off + 1 + len).toString("latin1"));
    off += 1 + len;
  }
  if (off + 4 > msg.length) return undefined;
  return { name: labels.join(".").toLowerCase(), qtype: msg.readUInt16BE(off), end: off + 4 };
}

function answer(
  query: Buffer,
  q: { qtype: number; end: number },
  rcode: number,
  addrs: string[],
  ttl: number,
): Buffer {
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2);
  const rd = (query[2] as number) & 0x01;
  header[2] = 0x84 | rd; // QR, AA, RD echoed
  header[3] = 0x80 | rcode; // RA
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(addrs.length, 6);
  const rrs = addrs.map((a) => {
    const rdata = Buffer.from(ipaddr.parse(a).toByteArray());
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0);
    rr.writeUInt16BE(q.qtype, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(ttl, 6);
    rr.writeUInt16BE(rdata.length, 10);
    return Buffer.concat([rr, rdata]);
  });
  return Buffer.concat([header, query.subarray(12, q.end), ...rrs]);
}

export function serveDns(bind: string, zone: Zone, onQuery: (name: string, type: string) => void) {
  const counters = new Map<string, number>();
  const socket = createSocket(bind.includes(":") ? "udp6" : "udp4");
  socket.on("message", (msg, rinfo) => {
    const q = parseQuestion(msg);
    if (!q) return;
    const type = TYPES[q.qtype] ?? String(q.qtype);
    onQuery(q.name, type);
    const entry = zone[q.name];
    if (entry?.drop) return;
    let addrs: string[] = [];
    let ttl = 60;
    if (entry?.rotate && (type === "A" || type === "AAAA")) {
      const key = `${q.name}/${type}`;
      const n = counters.get(key) ?? 0;
      counters.set(key, n + 1);
      addrs = entry.rotate[n % entry.rotate.length]?.[type] ?? [];
      ttl = 0;
    } else if (entry && (type === "A" || type === "AAAA")) {
      addrs = entry[type] ?? [];
    }
    socket.send(answer(msg, q, entry ? 0 : 3, addrs, ttl), rinfo.port, rinfo.address);
  });
  socket.bind(53, bind);
  return socket;
}
