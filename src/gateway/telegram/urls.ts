// URLs in Bot API calls. Telegram's servers fetch some of them (a photo or document given as a
// URL, even when the send then fails; the link preview of a message) and the owner's client
// opens others (buttons, text links, a login button that hands over the owner's identity).
// Either way the URL's host learns what the agent put in it, so every URL must be on a host the
// agent may reach itself: one in egress.allow. An allowlisted host is already a channel the
// operator chose; a URL is no wider than that.
import { aclHost, type HostAcl } from "../acl.js";

// The host of an http(s) URL if it is in egress.allow; otherwise why not.
export function urlProblem(text: unknown, hosts: HostAcl): string | undefined {
  if (typeof text !== "string") return `${JSON.stringify(text)} is not a URL`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `${JSON.stringify(text.slice(0, 80))} is not a URL`;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return `${url.protocol} URLs are not relayed`;
  const host = url.hostname.toLowerCase().replace(/\.$/, "");
  return aclHost(hosts, host) ? undefined : `${host} is not in egress.allow`;
}

// A file parameter is an upload (attach://part), a file_id Telegram already holds (base64url), or
// a URL Telegram fetches — and only the last one needs its host checked.
export function fileProblem(value: unknown, hosts: HostAcl): string | undefined {
  if (
    typeof value === "string" &&
    (/^attach:\/\/[^\s]+$/.test(value) || /^[A-Za-z0-9_-]{1,512}$/.test(value))
  )
    return undefined;
  return urlProblem(value, hosts);
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

// http(s) URLs spelled out in a message, then text_link targets, in that order.
function urlsIn(text: unknown, entities: unknown): string[] {
  const found = typeof text === "string" ? (text.match(/https?:\/\/[^\s<>"'`]+/gi) ?? []) : [];
  const spelled = found.map((u) => u.replace(/[.,;:!?)\]}]+$/, ""));
  const linked = Array.isArray(entities)
    ? entities.filter((e) => isObject(e) && e.type === "text_link").map((e) => String((e as Json).url))
    : [];
  return [...spelled, ...linked];
}

const OFF = { is_disabled: true } as const;
const LAYOUT = ["prefer_small_media", "prefer_large_media", "show_above_text"];

// The link preview a message may have. Telegram previews link_preview_options.url when it is
// given, and otherwise the first link its own parser finds in the text — a parser the relay
// cannot reproduce (bare domains, HTML entities, MarkdownV2 escapes). So the relay never leaves
// the choice to Telegram: the preview is pinned to an allowlisted URL (the one the agent named,
// or the first allowlisted one in the message), or switched off.
export function linkPreview(
  given: unknown,
  legacyDisabled: unknown,
  text: unknown,
  entities: unknown,
  hosts: HostAcl,
): Json {
  const options = isObject(given) ? given : {};
  if (options.is_disabled === true || legacyDisabled === true || legacyDisabled === "true") return { ...OFF };
  // Rebuilt from the fields the relay understands, so no other spelling of `url` rides along.
  const layout = Object.fromEntries(LAYOUT.filter((k) => options[k] === true).map((k) => [k, true]));
  if (options.url !== undefined)
    return urlProblem(options.url, hosts) ? { ...OFF } : { url: options.url, ...layout };
  const url = urlsIn(text, entities).find((u) => !urlProblem(u, hosts));
  return url ? { url, ...layout } : { ...OFF };
}
