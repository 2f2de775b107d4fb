// A Bot API call's parameters, from the query string and a JSON, form or multipart body, and
// the call written back out in one canonical body. The relay forwards what it checked, never
// the agent's original bytes: a duplicate key or an odd multipart header cannot mean one thing
// to the relay and another to Telegram.
import { randomBytes } from "node:crypto";

interface FilePart {
  name: string;
  filename: string;
  contentType: string;
  data: Buffer;
}

export interface BotCall {
  params: Record<string, unknown>;
  files: FilePart[];
  encoding: "json" | "form" | "multipart";
}

export type ParseResult = { ok: true; call: BotCall } | { ok: false; reason: string };

// Field names and file names that can be written back into a multipart header unambiguously.
const SAFE_NAME = /^[A-Za-z0-9_.\-:]{1,128}$/;
const safeFilename = (name: string) =>
  name.length > 0 && name.length <= 255 && ![...name].some((c) => c < " " || c === '"' || c === "\\");

function parseMultipart(body: Buffer, boundary: string): { fields: [string, string][]; files: FilePart[] } {
  const delimiter = Buffer.from(`--${boundary}`);
  const fields: [string, string][] = [];
  const files: FilePart[] = [];
  let at = body.indexOf(delimiter);
  if (at < 0) throw new Error("no multipart boundary in the body");
  for (;;) {
    at += delimiter.length;
    if (body.subarray(at, at + 2).toString() === "--") return { fields, files };
    if (body.subarray(at, at + 2).toString() !== "\r\n") throw new Error("malformed multipart delimiter");
    at += 2;
    const headerEnd = body.indexOf("\r\n\r\n", at);
    if (headerEnd < 0) throw new Error("multipart part without a header end");
    const headers = new Map<string, string>();
    for (const line of body.subarray(at, headerEnd).toString("utf8").split("\r\n")) {
      const colon = line.indexOf(":");
      if (colon <= 0) throw new Error("malformed multipart header");
      const name = line.slice(0, colon).trim().toLowerCase();
      if (headers.has(name)) throw new Error(`multipart header ${name} repeated`);
      headers.set(name, line.slice(colon + 1).trim());
    }
    const next = body.indexOf(Buffer.concat([Buffer.from("\r\n"), delimiter]), headerEnd + 4);
    if (next < 0) throw new Error("multipart part without an end");
    const data = body.subarray(headerEnd + 4, next);
    const disposition = headers.get("content-disposition") ?? "";
    if (!/^form-data\s*(;|$)/i.test(disposition)) throw new Error("multipart part is not form-data");
    const param = (key: string) => {
      // Unquoted values run to the next ";": grammY writes file names unquoted, spaces and all.
      const re = new RegExp(`;\\s*${key}\\s*=\\s*(?:"([^"]*)"|([^;]*))`, "gi");
      const found = [...disposition.matchAll(re)];
      if (found.length > 1) throw new Error(`multipart ${key} given twice`);
      const m = found[0];
      return m ? (m[1] ?? m[2]?.trim()) : undefined;
    };
    if (/;\s*(name|filename)\*/i.test(disposition)) throw new Error("extended multipart parameters refused");
    const name = param("name");
    if (!name) throw new Error("multipart part without a name");
    const filename = param("filename");
    if (filename === undefined) fields.push([name, data.toString("utf8")]);
    else
      files.push({
        name,
        filename,
        contentType: headers.get("content-type") ?? "application/octet-stream",
        data: Buffer.from(data),
      });
    at = next + 2;
  }
}

function boundaryOf(contentType: string): string | undefined {
  const m = /;\s*boundary\s*=\s*(?:"([^"]{1,70})"|([^;\s]{1,70}))/i.exec(contentType);
  return m ? (m[1] ?? m[2]) : undefined;
}

export function parseCall(
  contentType: string | undefined,
  body: Buffer,
  query: URLSearchParams,
): ParseResult {
  const entries: [string, unknown][] = [...query.entries()];
  let files: FilePart[] = [];
  let encoding: BotCall["encoding"] = "form";
  const type = (contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  try {
    if (body.length === 0) {
      // parameters in the query string only
    } else if (type === "application/json") {
      const json = JSON.parse(body.toString("utf8"));
      if (typeof json !== "object" || json === null || Array.isArray(json)) {
        return { ok: false, reason: "JSON body is not an object" };
      }
      entries.push(...Object.entries(json));
      encoding = "json";
    } else if (type === "application/x-www-form-urlencoded") {
      entries.push(...new URLSearchParams(body.toString("utf8")).entries());
    } else if (type === "multipart/form-data") {
      const boundary = boundaryOf(contentType ?? "");
      if (!boundary) return { ok: false, reason: "multipart body without a boundary" };
      const parsed = parseMultipart(body, boundary);
      entries.push(...parsed.fields);
      files = parsed.files;
      encoding = "multipart";
    } else {
      return { ok: false, reason: `content type ${type || "(none)"} is not a Bot API encoding` };
    }
  } catch (err) {
    return { ok: false, reason: `unreadable parameters: ${(err as Error).message}` };
  }
  const seen = new Set<string>();
  for (const name of [...entries.map(([k]) => k), ...files.map((f) => f.name)]) {
    const key = name.toLowerCase();
    if (seen.has(key)) return { ok: false, reason: `parameter ${name} given more than once` };
    seen.add(key);
  }
  for (const f of files) {
    if (!SAFE_NAME.test(f.name) || !safeFilename(f.filename)) {
      return { ok: false, reason: "file part name or file name has characters the relay does not pass" };
    }
  }
  if (encoding === "multipart" && entries.some(([k]) => !SAFE_NAME.test(k))) {
    return { ok: false, reason: "multipart field name has characters the relay does not pass" };
  }
  return { ok: true, call: { params: Object.fromEntries(entries), files, encoding } };
}

const asText = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));

export function encodeCall(call: BotCall): { contentType: string; body: Buffer } {
  if (call.encoding === "json") {
    return { contentType: "application/json", body: Buffer.from(JSON.stringify(call.params)) };
  }
  if (call.encoding === "form") {
    const form = new URLSearchParams();
    for (const [k, v] of Object.entries(call.params)) form.append(k, asText(v));
    return { contentType: "application/x-www-form-urlencoded", body: Buffer.from(form.toString()) };
  }
  const boundary = `moat${randomBytes(16).toString("hex")}`;
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(call.params)) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n`));
    parts.push(Buffer.from(asText(v)), Buffer.from("\r\n"));
  }
  for (const f of call.files) {
    const contentType = f.contentType.replace(/[\r\n]/g, "");
    parts.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${f.name}"; filename="${f.filename}"\r\n` +
          `Content-Type: ${contentType}\r\n\r\n`,
      ),
      f.data,
      Buffer.from("\r\n"),
    );
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { contentType: `multipart/form-data; boundary=${boundary}`, body: Buffer.concat(parts) };
}
