// Step 3: resolve a name once, A and AAAA together, within a deadline. The answers are
// classified and then dialled as they are; nothing downstream looks the name up again.
import { Resolver } from "node:dns/promises";

export type Resolution =
  | { ok: true; answers: string[] }
  | { ok: false; code: "dns-notfound" | "dns-timeout" | "dns-error"; reason: string };

export interface NameResolver {
  resolve(name: string): Promise<Resolution>;
}

// "No such name" and "no records of this type" are answers; anything else is a failure.
const EMPTY = new Set(["ENODATA", "ENOTFOUND", "NODATA", "NOTFOUND"]);

export class DnsResolver implements NameResolver {
  private readonly resolver: Resolver;

  // servers: resolver addresses (tests, or an explicit override); default is the system's.
  constructor(
    private readonly timeoutMs: number,
    servers?: readonly string[],
  ) {
    // Two tries inside the deadline let one lost UDP packet be retransmitted.
    this.resolver = new Resolver({ timeout: Math.max(1, Math.floor(timeoutMs / 2)), tries: 2 });
    if (servers && servers.length > 0) this.resolver.setServers([...servers]);
  }

  async resolve(name: string): Promise<Resolution> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<"timeout">((resolve) => {
      timer = setTimeout(resolve, this.timeoutMs, "timeout");
    });
    const both = Promise.allSettled([this.resolver.resolve4(name), this.resolver.resolve6(name)]);
    const outcome = await Promise.race([both, deadline]);
    clearTimeout(timer);
    if (outcome === "timeout")
      return { ok: false, code: "dns-timeout", reason: `resolving ${name} timed out` };
    const answers: string[] = [];
    let allEmpty = true;
    for (const r of outcome) {
      if (r.status === "fulfilled") {
        answers.push(...r.value);
        allEmpty = false;
        continue;
      }
      const code = (r.reason as NodeJS.ErrnoException).code ?? "";
      if (EMPTY.has(code)) continue;
      allEmpty = false;
      // One family failed outright: we cannot know every answer, so we do not guess.
      const kind = code === "ETIMEOUT" ? "dns-timeout" : "dns-error";
      return { ok: false, code: kind, reason: `resolving ${name} failed: ${code || String(r.reason)}` };
    }
    if (allEmpty || answers.length === 0) {
      return { ok: false, code: "dns-notfound", reason: `${name} does not resolve` };
    }
    return { ok: true, answers };
  }
}
