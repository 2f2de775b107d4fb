// undici as the agent's HTTP client (what OpenClaw installs as its global dispatcher).
// Usage: undici-client.ts <env|env-no-tunnel|proxy-agent> <url> <ca.pem>; proxy from HTTP(S)_PROXY.
import { readFileSync } from "node:fs";
import { EnvHttpProxyAgent, fetch, ProxyAgent } from "undici";

const [mode, url, caFile] = process.argv.slice(2) as [string, string, string];
const requestTls = { ca: readFileSync(caFile) };
const dispatcher =
  mode === "proxy-agent"
    ? new ProxyAgent({ uri: process.env.HTTPS_PROXY as string, requestTls })
    : new EnvHttpProxyAgent({ requestTls, ...(mode === "env-no-tunnel" ? { proxyTunnel: false } : {}) });
try {
  const res = await fetch(url, { dispatcher, signal: AbortSignal.timeout(10_000) });
  process.stdout.write(JSON.stringify({ status: res.status, body: await res.text() }));
} catch (err) {
  // fetch wraps the real reason a few causes deep.
  const chain: string[] = [];
  for (let e = err as (Error & { cause?: unknown }) | undefined; e; e = e.cause as typeof e)
    chain.push(e.message);
  process.stdout.write(JSON.stringify({ error: chain.join(": ") }));
}
await dispatcher.close();
