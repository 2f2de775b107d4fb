// Which keys an OpenPGP keyring file holds, by fingerprint, so a downloaded apt signing key is
// checked against a pinned fingerprint before apt ever trusts it. Pure: bytes in, fingerprints
// out. Reads the packet framing of RFC 4880 §4.2 and the v4 fingerprint of §12.2 (SHA-1 over
// 0x99, a two-octet length and the public-key packet body); other key versions are reported,
// not guessed at.

import { createHash } from "node:crypto";
import { MoatError } from "../errors.js";

const PUBLIC_KEY = 6;

export class KeyringUnreadable extends MoatError {
  override readonly name = "KeyringUnreadable";
  readonly code = "MOAT_KEYRING_UNREADABLE";
}

// ASCII armor (RFC 4880 §6.2) to bytes; binary input is returned as is.
function dearmor(data: Buffer): Buffer {
  const text = data.toString("latin1");
  const begin = text.indexOf("-----BEGIN PGP PUBLIC KEY BLOCK-----");
  if (begin < 0) return data;
  const lines = text.slice(begin).split(/\r?\n/).slice(1);
  const blank = lines.findIndex((l) => l.trim() === "");
  if (blank < 0) throw new KeyringUnreadable("armored key without a body");
  const body: string[] = [];
  for (const line of lines.slice(blank + 1)) {
    if (line.startsWith("=") || line.startsWith("-----END")) break;
    body.push(line.trim());
  }
  return Buffer.from(body.join(""), "base64");
}

interface Packet {
  tag: number;
  body: Buffer;
}

function packets(data: Buffer): Packet[] {
  const out: Packet[] = [];
  let i = 0;
  const need = (n: number) => {
    if (i + n > data.length) throw new KeyringUnreadable("truncated packet");
  };
  while (i < data.length) {
    const head = data[i++] as number;
    if (!(head & 0x80)) throw new KeyringUnreadable(`not an OpenPGP packet at byte ${i - 1}`);
    let tag: number;
    let len: number;
    if (head & 0x40) {
      tag = head & 0x3f;
      need(1);
      const o1 = data[i++] as number;
      if (o1 < 192) len = o1;
      else if (o1 < 224) {
        need(1);
        len = ((o1 - 192) << 8) + (data[i++] as number) + 192;
      } else if (o1 === 255) {
        need(4);
        len = data.readUInt32BE(i);
        i += 4;
      } else throw new KeyringUnreadable("partial-length packet in a keyring");
    } else {
      tag = (head >> 2) & 0x0f;
      const type = head & 0x03;
      if (type === 3) throw new KeyringUnreadable("indeterminate-length packet in a keyring");
      const n = [1, 2, 4][type] as number;
      need(n);
      len = data.readUIntBE(i, n);
      i += n;
    }
    need(len);
    out.push({ tag, body: data.subarray(i, i + len) });
    i += len;
  }
  return out;
}

// The fingerprints of the primary keys in a keyring (armored or binary), upper-case hex.
// Subkeys are not listed: a verifier uses them only when the primary key signed them.
export function primaryKeyFingerprints(keyring: Buffer): string[] {
  const prints: string[] = [];
  for (const p of packets(dearmor(keyring))) {
    if (p.tag !== PUBLIC_KEY) continue;
    const version = p.body[0];
    if (version !== 4) throw new KeyringUnreadable(`version ${version} public key (only v4 is read)`);
    const prefix = Buffer.from([0x99, (p.body.length >> 8) & 0xff, p.body.length & 0xff]);
    prints.push(createHash("sha1").update(prefix).update(p.body).digest("hex").toUpperCase());
  }
  return prints;
}

const normal = (fpr: string) => fpr.replace(/\s+/g, "").toUpperCase();

// Why this keyring is not exactly the pinned key (empty when it is): it must hold one primary
// key, and that key must have the pinned fingerprint.
export function keyringProblems(keyring: Buffer, pinned: string, what = "the keyring"): string[] {
  let prints: string[];
  try {
    prints = primaryKeyFingerprints(keyring);
  } catch (err) {
    return [`${what} is not a readable OpenPGP keyring: ${(err as Error).message}`];
  }
  if (prints.length === 0) return [`${what} holds no public key`];
  const others = prints.filter((p) => p !== normal(pinned));
  if (others.length)
    return [`${what} holds key ${others.join(", ")}, not the pinned ${normal(pinned)}; refused`];
  if (prints.length > 1) return [`${what} holds the pinned key more than once`];
  return [];
}
