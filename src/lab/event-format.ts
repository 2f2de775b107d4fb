// The lab's cloud requests (events.jsonl, written by cloud.ts) as one readable line each, for
// `moat lab logs --cloud`. Pure. Credentials, tokens and bodies stay in the file: the line says
// whether a call carried a credential, never which.
import { terminalSafe } from "../gateway/audit-format.js";

type Event = Record<string, unknown>;

const str = (v: unknown) =>
  typeof v === "string" ? v : v === undefined || v === null ? "" : JSON.stringify(v);

function detail(e: Event): string {
  switch (e.kind) {
    case "ready":
      return `cloud services up (${str(e.flavour)} flavour)`;
    case "metadata":
      return `${str(e.method)} ${str(e.path)} from ${str(e.from)} → ${str(e.status)}`;
    case "dns":
      return `${str(e.type)} ${str(e.name)}`;
    case "llm": {
      const body = e.body && typeof e.body === "object" ? (e.body as Event) : {};
      const model = body.model ? ` model ${str(body.model)}` : "";
      return `${str(e.shape)} ${str(e.path)}${model}, ${e.credential ? "with a credential" : "no credential"}`;
    }
    case "telegram": {
      const params = e.params && typeof e.params === "object" ? (e.params as Event) : {};
      const chat = params.chat_id !== undefined ? ` chat ${str(params.chat_id)}` : "";
      return `${str(e.method)}${chat}`;
    }
    case "site":
      return `${str(e.site)} site ${str(e.address)}:${str(e.port)} ${str(e.method)} ${str(e.path)}`;
  }
  return Object.entries(e)
    .filter(([k]) => k !== "at" && k !== "kind")
    .map(([k, v]) => `${k}=${str(v)}`)
    .join(" ");
}

export function formatCloudEvent(line: string): string | undefined {
  let e: Event;
  try {
    e = JSON.parse(line) as Event;
  } catch {
    return undefined;
  }
  if (!e || typeof e !== "object") return undefined;
  const at = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)/.exec(str(e.at));
  const when = at ? `${at[1]} ${at[2]}Z` : str(e.at);
  return [when, str(e.kind).padEnd(8), detail(e)].map(terminalSafe).join("  ");
}
