// Turn moat.yaml text into a typed spec, or into errors a person can act on:
// YAML errors with line and column, every failing path with one plain sentence.

import { readFileSync } from "node:fs";
import { isMap, LineCounter, parseDocument } from "yaml";
import { type core, ZodObject, type ZodType } from "zod";
import { MoatError } from "../errors.js";
import { type MoatSpec, moatSpec } from "./schema.js";

export interface SpecError {
  path: string;
  message: string;
  line?: number;
  column?: number;
}

export type LoadResult = { ok: true; spec: MoatSpec } | { ok: false; errors: SpecError[] };

export class SpecInvalid extends MoatError {
  override readonly name = "SpecInvalid";
  readonly code = "MOAT_SPEC_INVALID";
  constructor(
    readonly file: string,
    readonly errors: SpecError[],
  ) {
    super(`${file} is not valid:\n${formatErrors(errors)}`);
  }
}

export function formatErrors(errors: SpecError[]): string {
  return errors
    .map((e) => {
      const where = e.line ? ` (line ${e.line}${e.column ? `, column ${e.column}` : ""})` : "";
      return `  ✗ ${e.path || "(top level)"}${where}: ${e.message}`;
    })
    .join("\n");
}

export function parseSpec(text: string): LoadResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        return {
          path: "",
          message: (e.message.split("\n")[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, ""),
          line: pos?.line,
          column: pos?.col,
        };
      }),
    };
  }
  const data = doc.toJS();
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    return {
      ok: false,
      errors: [{ path: "", message: "expected a YAML mapping with version, name and target" }],
    };
  }
  const result = moatSpec.safeParse(data);
  if (result.success) return { ok: true, spec: result.data };
  const errors = result.error.issues
    .flatMap((issue) => explain(issue, data))
    .map((e) => locate(e, doc, lineCounter));
  return { ok: false, errors: dedupe(errors) };
}

export function loadSpecFile(file: string): MoatSpec {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const hint = code === "ENOENT" ? " (create one with `moat init`)" : "";
    throw new SpecInvalid(file, [
      { path: "", message: `cannot read ${file}: ${code ?? String(err)}${hint}` },
    ]);
  }
  const result = parseSpec(text);
  if (!result.ok) throw new SpecInvalid(file, result.errors);
  return result.spec;
}

type Issue = core.$ZodIssue;
type PathKey = PropertyKey;

function pathText(path: readonly PathKey[]): string {
  return path.reduce<string>((acc, key) => {
    if (typeof key === "number") return `${acc}[${key}]`;
    return acc ? `${acc}.${String(key)}` : String(key);
  }, "");
}

function explain(issue: Issue, data: unknown): SpecError[] {
  const path = pathText(issue.path);
  switch (issue.code) {
    case "unrecognized_keys":
      return issue.keys.map((key) => {
        const known = knownKeysAt(issue.path, data);
        const guess = closest(key, known);
        const hint = guess
          ? `; did you mean "${guess}"?`
          : known.length
            ? `; known keys: ${known.join(", ")}`
            : "";
        return { path: pathText([...issue.path, key]), message: `unknown key "${key}"${hint}` };
      });
    case "invalid_type": {
      const got = valueAt(issue.path, data);
      if (got === undefined) return [{ path, message: `is required (${describeExpected(issue.expected)})` }];
      return [{ path, message: `expected ${describeExpected(issue.expected)}, got ${describeValue(got)}` }];
    }
    case "invalid_value":
      return [{ path, message: `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}` }];
    case "invalid_union": {
      if (issue.discriminator && "options" in issue && issue.options) {
        const allowed = issue.options.map((o) => JSON.stringify(o)).join(", ");
        return [{ path, message: `must be one of ${allowed}` }];
      }
      return [{ path, message: issue.message }];
    }
    case "too_small":
      if (issue.origin === "array" && !issue.message.startsWith("Too small"))
        return [{ path, message: issue.message }];
      return [{ path, message: `must be at least ${String(issue.minimum)}${unitOf(issue.origin)}` }];
    case "too_big":
      return [{ path, message: `must be at most ${String(issue.maximum)}${unitOf(issue.origin)}` }];
    default:
      return [{ path, message: issue.message }];
  }
}

const unitOf = (origin: string) =>
  origin === "array" ? " item(s)" : origin === "string" ? " character(s)" : "";

function describeExpected(expected: string): string {
  return expected === "object" ? "a mapping" : expected === "array" ? "a list" : `a ${expected}`;
}

function describeValue(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  return `${typeof v} ${JSON.stringify(v)}`;
}

function valueAt(path: readonly PathKey[], data: unknown): unknown {
  let cur: unknown = data;
  for (const key of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key as string];
  }
  return cur;
}

// Walk the schema along the data path to list the keys a mapping there accepts.
function knownKeysAt(path: readonly PathKey[], data: unknown): string[] {
  let schema: ZodType | undefined = moatSpec;
  let cur: unknown = data;
  for (const key of [...path, undefined]) {
    schema = unwrap(schema, cur);
    if (key === undefined || !schema) break;
    const def = schema._zod.def as unknown as Record<string, unknown>;
    if (schema instanceof ZodObject) schema = schema.shape[key as string] as ZodType | undefined;
    else if (def.type === "array") schema = def.element as ZodType;
    else if (def.type === "record") schema = def.valueType as ZodType;
    else return [];
    cur = cur && typeof cur === "object" ? (cur as Record<PropertyKey, unknown>)[key as string] : undefined;
  }
  return schema instanceof ZodObject ? Object.keys(schema.shape) : [];
}

function unwrap(schema: ZodType | undefined, value: unknown): ZodType | undefined {
  let s = schema;
  for (let i = 0; s && i < 10; i++) {
    const def = s._zod.def as unknown as Record<string, unknown>;
    if (def.innerType) s = def.innerType as ZodType;
    else if (def.type === "pipe") s = def.in as ZodType;
    else if (def.type === "union") {
      const options = def.options as ZodType[];
      const kind = value && typeof value === "object" ? (value as Record<string, unknown>).kind : undefined;
      s =
        options.find(
          (o) =>
            o instanceof ZodObject &&
            (o.shape.kind?._zod.def as { values?: unknown[] })?.values?.includes(kind),
        ) ?? options.find((o) => o instanceof ZodObject);
    } else break;
  }
  return s;
}

function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = levenshtein(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        (prev[j] ?? 0) + 1,
        (row[j - 1] ?? 0) + 1,
        (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}

function locate(error: SpecError, doc: ReturnType<typeof parseDocument>, lc: LineCounter): SpecError {
  const keys = error.path
    .split(/\.|\[(\d+)\]/)
    .filter((k) => k !== undefined && k !== "")
    .map((k) => (/^\d+$/.test(k) ? Number(k) : k));
  for (let n = keys.length; n >= 0; n--) {
    const sub = keys.slice(0, n);
    const parent = sub.length ? doc.getIn(sub.slice(0, -1), true) : undefined;
    let range: [number, number, number] | undefined;
    if (sub.length && isMap(parent)) {
      const pair = parent.items.find((p) => (p.key as { value?: unknown })?.value === sub[sub.length - 1]);
      range = (pair?.key as { range?: [number, number, number] })?.range;
    }
    range ??= (doc.getIn(sub, true) as { range?: [number, number, number] } | undefined)?.range;
    if (range) {
      const pos = lc.linePos(range[0]);
      return { ...error, line: pos.line, column: pos.col };
    }
  }
  return error;
}

function dedupe(errors: SpecError[]): SpecError[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const key = `${e.path}|${e.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
