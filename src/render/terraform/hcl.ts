// A small HCL writer that lays out what it writes the way `terraform fmt` does: two-space
// indent, `=` aligned across a run of one-line attributes, a blank line between top-level
// blocks. A multi-line value, a comment, a nested block or a blank line ends a run, as in fmt.

class Expr {
  constructor(readonly code: string) {}
}
// A Terraform expression written as is: a reference, a function call.
export const expr = (code: string) => new Expr(code);

export type Value = string | number | boolean | Expr | Value[] | { [key: string]: Value };

export interface Attr {
  kind: "attr";
  name: string;
  value: Value;
}
export interface Block {
  kind: "block";
  type: string;
  labels: string[];
  items: Item[];
}
export type Item = Attr | Block | { kind: "comment"; text: string } | { kind: "blank" };

export const attr = (name: string, value: Value): Attr => ({ kind: "attr", name, value });
export const block = (type: string, labels: string[], items: Item[]): Block => ({
  kind: "block",
  type,
  labels,
  items,
});
export const comment = (text: string): Item => ({ kind: "comment", text });
export const blank: Item = { kind: "blank" };

const quote = (s: string) => JSON.stringify(s).replace(/\$\{/g, "$$${").replace(/%\{/g, "%%{");

const isMap = (v: Value): v is { [key: string]: Value } =>
  typeof v === "object" && !(v instanceof Expr) && !Array.isArray(v);

// Map keys are written bare when they are identifiers, quoted otherwise.
const mapKey = (k: string) => (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(k) ? k : quote(k));

function inline(v: Value): string {
  if (v instanceof Expr) return v.code;
  if (typeof v === "string") return quote(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return `[${v.map(inline).join(", ")}]`;
  throw new Error("a map is written on its own lines");
}

// A non-empty map spans lines; everything else fits on one.
function valueLines(v: Value, indent: string): string[] {
  if (!isMap(v)) return [inline(v)];
  const entries = Object.entries(v);
  if (!entries.length) return ["{}"];
  return [
    "{",
    ...alignedRun(
      entries.map(([k, val]) => [mapKey(k), inline(val)]),
      `${indent}  `,
    ),
    `${indent}}`,
  ];
}

function alignedRun(pairs: [string, string][], indent: string): string[] {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${indent}${k.padEnd(width)} = ${v}`);
}

function bodyLines(items: Item[], indent: string): string[] {
  const out: string[] = [];
  let run: [string, string][] = [];
  const endRun = () => {
    if (run.length) out.push(...alignedRun(run, indent));
    run = [];
  };
  for (const item of items) {
    if (item.kind === "attr" && !isMap(item.value)) {
      run.push([item.name, inline(item.value)]);
      continue;
    }
    endRun();
    if (item.kind === "attr") {
      const [first, ...rest] = valueLines(item.value, indent);
      out.push(`${indent}${item.name} = ${first}`, ...rest);
    } else if (item.kind === "block") {
      out.push(...blockLines(item, indent));
    } else if (item.kind === "comment") {
      out.push(...item.text.split("\n").map((l) => `${indent}# ${l}`.trimEnd()));
    } else {
      out.push("");
    }
  }
  endRun();
  return out;
}

function blockLines(b: Block, indent: string): string[] {
  const head = [b.type, ...b.labels.map(quote)].join(" ");
  if (!b.items.length) return [`${indent}${head} {}`];
  return [`${indent}${head} {`, ...bodyLines(b.items, `${indent}  `), `${indent}}`];
}

// A file: top-level items, each block followed by a blank line except the last.
export function hclFile(items: Item[]): string {
  const out: string[] = [];
  items.forEach((item, i) => {
    out.push(...bodyLines([item], ""));
    const next = items[i + 1];
    if (item.kind === "block" && next) out.push("");
  });
  return `${out.join("\n")}\n`;
}
