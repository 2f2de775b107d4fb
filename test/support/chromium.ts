// Headless Chromium (Debian's `chromium`) taking a screenshot of one page, kept off the internet:
// the flags turn off its own background traffic (updates, sync, QUIC, first-run pings), names
// resolve to nothing but 127.0.0.1, and every request for anything but loopback goes to a proxy
// this process runs, which only records it. What that sink saw is what Chromium tried to send out.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

// The binary itself: Debian's /usr/bin/chromium wrapper exports Google API keys (/etc/chromium.d/apikeys),
// which switch on sign-in traffic to accounts.google.com.
export const CHROMIUM = "/usr/lib/chromium/chromium";
export const chromiumMissing = () =>
  spawnSync(CHROMIUM, ["--version"], { encoding: "utf8" }).status === 0
    ? false
    : `${CHROMIUM} is not installed (scripts/system-deps.sh installs it)`;

// Chromium's own background requests that its switches do not stop (156: an on-demand component
// fetch from the updater, sign-in and network-time probes). They reach only the sink.
const CHROMIUM_OWN =
  /^(?:CONNECT |[A-Z]+ https?:\/\/)[^/ :]*\.(?:google\.com|googleapis\.com|gvt1\.com)[:/ ]/;
export const notChromiumsOwn = (seen: string[]) => seen.filter((line) => !CHROMIUM_OWN.test(line));

export interface Sink {
  port: number;
  // The first line of every connection Chromium made to it.
  seen: string[];
  close(): Promise<void>;
}

export function startSink(): Promise<Sink> {
  const seen: string[] = [];
  const server: Server = createServer((s) => {
    s.once("data", (d: Buffer) => seen.push(d.toString("latin1").split("\r\n")[0] ?? ""));
    s.on("error", () => {});
    setTimeout(() => s.destroy(), 200);
  });
  return new Promise((resolve) =>
    server.listen({ host: "127.0.0.1", port: 0 }, () => {
      const address = server.address();
      resolve({
        port: typeof address === "object" && address ? address.port : 0,
        seen,
        close: () => new Promise<void>((r) => server.close(() => r())),
      });
    }),
  );
}

export async function screenshot(
  url: string,
  out: string,
  sink: Sink,
  size = "1280,800",
): Promise<{ code: number | null; stderr: string }> {
  const profile = mkdtempSync(join(tmpdir(), "moat-chromium-"));
  const args = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--disable-component-extensions-with-background-pages",
    "--disable-client-side-phishing-detection",
    "--disable-domain-reliability",
    "--disable-breakpad",
    "--no-pings",
    "--allow-browser-signin=false",
    "--enable-automation",
    "--metrics-recording-only",
    "--password-store=basic",
    "--use-mock-keychain",
    "--disable-features=NetworkTimeServiceQuerying,MediaRouter,OptimizationHints,Translate,AutofillServerCommunication,CertificateTransparencyComponentUpdater",
    `--user-data-dir=${profile}`,
    `--proxy-server=http://127.0.0.1:${sink.port}`,
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    `--window-size=${size}`,
    "--hide-scrollbars",
    // The page is an app: give its scripts time to render before the shot.
    "--virtual-time-budget=15000",
    `--screenshot=${out}`,
    url,
  ];
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("GOOGLE_")));
  const child = spawn(CHROMIUM, args, { stdio: ["ignore", "ignore", "pipe"], env });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 90_000);
  const code = await new Promise<number | null>((r) => child.on("exit", r));
  clearTimeout(timer);
  rmSync(profile, { recursive: true, force: true });
  return { code, stderr };
}
