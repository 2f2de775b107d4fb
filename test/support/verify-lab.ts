// The host-apply lab (test/support/host-lab.ts) plus what `moat verify`'s allowed paths need: a
// fake DNS server and a public-looking HTTPS host in the "cloud" namespace, so the gateway can
// resolve and reach an allowlisted domain with no internet. Still linked only to test namespaces.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ReleaseName } from "../../src/lab/rootfs.js";
import { HostLab, labSpec, OTHER_V4 } from "./host-lab.js";
import { inNs } from "./netns.js";
import { startListener } from "./tcp-probe.js";

export const ALLOWED_DOMAIN = "example.org";
// Public-looking, so the gateway's address table lets it through; it exists only in the test namespace.
export const ALLOWED_IP = "93.184.215.14";
export const TELEGRAM_TOKEN_FILE = "/etc/moat-secrets/telegram-bot-token";
export const REAL_TELEGRAM_TOKEN = "7000000001:AAreal-token-only-the-gateway-holds-0123456789";
export const TELEGRAM_OWNER = 111111;
const REPO = new URL("../..", import.meta.url).pathname;

export const verifySpec = () =>
  labSpec(
    "verify",
    `messengers:
  telegram:
    botToken: { file: ${TELEGRAM_TOKEN_FILE} }
    allowFrom: [${TELEGRAM_OWNER}]
egress:
  allow: [${ALLOWED_DOMAIN}]
`,
  );

export class VerifyLab extends HostLab {
  private readonly dir = mkdtempSync(join(tmpdir(), "moat-verifylab-"));

  // The deploy test leaves the token to `moat deploy`, which delivers it itself; `zone` adds
  // names (to A records) to the fake DNS; `release` is the system booted (the lab's by default).
  constructor(
    name: string,
    imageTar?: string,
    private readonly opts: {
      seedTelegramToken?: boolean;
      zone?: Record<string, string>;
      release?: ReleaseName;
    } = {},
  ) {
    super(name, imageTar, opts.release);
  }

  override async up(specText = verifySpec()): Promise<void> {
    await super.up(specText);
    inNs(this.cloudNs, "ip", ["link", "add", "pub0", "type", "veth", "peer", "name", "pub0p"]);
    inNs(this.cloudNs, "ip", ["addr", "add", `${ALLOWED_IP}/32`, "dev", "pub0"]);
    inNs(this.cloudNs, "ip", ["link", "set", "pub0", "up"]);
    inNs(this.cloudNs, "ip", ["link", "set", "pub0p", "up"]);
    await startListener(this.net, this.cloudNs, [`${ALLOWED_IP}:443`]);
    const zone = join(this.dir, "zone.json");
    const names = { [ALLOWED_DOMAIN]: ALLOWED_IP, ...this.opts.zone };
    writeFileSync(
      zone,
      JSON.stringify(Object.fromEntries(Object.entries(names).map(([name, ip]) => [name, { A: [ip] }]))),
    );
    const dns = this.net.spawn(
      this.cloudNs,
      process.execPath,
      ["--import", "tsx", "test/support/fake-dns.ts", OTHER_V4, zone],
      { cwd: REPO },
    );
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("fake DNS not ready")), 10_000);
      dns.stdout?.on("data", (d: Buffer) => {
        if (d.toString().includes('"ready"')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    // Written from inside the VM: the copied rootfs's resolv.conf may be a symlink, and following it
    // from here would write this machine's own file.
    this.vm.must(["sh", "-c", `rm -f /etc/resolv.conf && echo 'nameserver ${OTHER_V4}' > /etc/resolv.conf`]);
    if (this.opts.seedTelegramToken ?? true)
      this.vm.must(["sh", "-c", `mkdir -p /etc/moat-secrets && umask 077 && cat > ${TELEGRAM_TOKEN_FILE}`], {
        input: `${REAL_TELEGRAM_TOKEN}\n`,
      });
  }

  override async down(): Promise<void> {
    try {
      await super.down();
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
