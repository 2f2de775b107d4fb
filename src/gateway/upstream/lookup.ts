// How the gateway's own routes (LLM providers, Telegram) resolve their upstream host: a DNS
// answer classified with the shared address table before it is dialled (./dial.ts dials it).
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import type { LookupFunction } from "node:net";
import { MoatError } from "../../errors.js";
import { baseUrlRefusal, isRefusedName } from "../../spec/addresses.js";
import { refuseAddress } from "../decide.js";
import { compileCidrs } from "../policy.js";
import type { NameResolver } from "../resolve.js";

type Resolve = (host: string, cb: (err: Error | null, addresses: LookupAddress[]) => void) => void;

const systemResolve: Resolve = (host, cb) => dnsLookup(host, { all: true }, (err, addrs) => cb(err, addrs));

// The egress side's resolver (same servers, same deadline, A and AAAA together) as a Resolve.
export function resolveWith(resolver: NameResolver): Resolve {
  return (host, cb) => {
    resolver.resolve(host).then(
      (r) =>
        r.ok
          ? cb(
              null,
              r.answers.map((address) => ({ address, family: address.includes(":") ? 6 : 4 })),
            )
          : cb(Object.assign(new Error(r.reason), { code: r.code }), []),
      (err: Error) => cb(err, []),
    );
  };
}

// Its code is errno-shaped: it travels through Node's lookup callback as a socket error's code.
export class UpstreamRefused extends MoatError {
  override readonly name = "UpstreamRefused";
  readonly code = "EMOATREFUSED";
}

export function guardedLookup(
  allowCidrs: readonly string[],
  resolve: Resolve = systemResolve,
): LookupFunction {
  // The egress path's own rule: every answer public, or inside an owner-opened range that may be
  // opened at all (a local model server); any other answer refuses the whole name.
  const opened = { allowCidrs: compileCidrs(allowCidrs) };
  return (hostname, options, callback) => {
    if (isRefusedName(hostname)) {
      callback(new UpstreamRefused(`moat: ${hostname} is a local name`), "", 0);
      return;
    }
    resolve(hostname, (err, addresses) => {
      if (err) return callback(err, "", 0);
      const refused = addresses.find((a) => refuseAddress(a.address, opened));
      if (refused) {
        return callback(new UpstreamRefused(`moat: ${hostname} resolves to ${refused.address}`), "", 0);
      }
      const wanted = addresses.filter((a) => !options.family || a.family === options.family);
      if (!wanted.length) return callback(new UpstreamRefused(`moat: ${hostname} has no address`), "", 0);
      if (options.all) return callback(null, wanted);
      const first = wanted[0] as LookupAddress;
      callback(null, first.address, first.family);
    });
  };
}

// Node dials an IP literal without calling `lookup`, so a base URL such as http://127.0.0.1:8000
// or http://169.254.169.254 would skip the screen above; it is screened here, per call, with the
// same rule `moat validate` applies.
export function upstreamRefusal(baseUrl: string, allowCidrs: readonly string[]): string | undefined {
  const reason = baseUrlRefusal(baseUrl, allowCidrs);
  return reason && `upstream ${reason}`;
}
