// The three ways `moat verify` reports: a table for people, JSON and JUnit XML for machines.
import type { CheckResult, Summary, VerifyReport } from "./types.js";

const MARK = { pass: "✓ pass", fail: "✗ FAIL", skip: "- skip" } as const;

export function formatTable(
  results: readonly CheckResult[],
  summary: Summary,
  paint: (style: "green" | "red" | "dim", text: string) => string = (_s, t) => t,
): string {
  const idWidth = Math.max(...results.map((r) => r.id.length), 2);
  const lines = results.map((r) => {
    const mark = r.status === "pass" ? "green" : r.status === "fail" ? "red" : "dim";
    const optional = r.required ? "" : " (advisory)";
    const head = `${paint(mark, MARK[r.status])}  ${r.id.padEnd(idWidth)}  ${r.title}${optional}`;
    const detail = r.detail ? `\n        ${" ".repeat(idWidth)}${paint("dim", r.detail)}` : "";
    const fix = r.status === "fail" && r.fix ? `\n        ${" ".repeat(idWidth)}fix: ${r.fix}` : "";
    return head + detail + fix;
  });
  const verdict = summary.ok ? paint("green", "perimeter holds") : paint("red", "perimeter NOT verified");
  lines.push(
    "",
    `${verdict}: ${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped in ${(summary.durationMs / 1000).toFixed(1)} s`,
  );
  return `${lines.join("\n")}\n`;
}

export function formatJson(results: readonly CheckResult[], summary: Summary): string {
  const checks = results.map(({ id, title, status, detail, fix, required }) => ({
    id,
    title,
    status,
    detail,
    fix,
    required,
  }));
  const report: VerifyReport = { checks, summary };
  return `${JSON.stringify(report, null, 2)}\n`;
}

const xml = (s: string) =>
  s.replace(
    /[<>&"']/g,
    (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c] ?? c,
  );

export function formatJunit(results: readonly CheckResult[], summary: Summary): string {
  const cases = results.map((r) => {
    const open = `  <testcase classname="moat.verify" name="${xml(r.id)}: ${xml(r.title)}" time="${(r.durationMs / 1000).toFixed(3)}">`;
    if (r.status === "pass") return `${open}</testcase>`;
    if (r.status === "skip") return `${open}<skipped message="${xml(r.detail)}"/></testcase>`;
    const tag = r.required ? "failure" : "skipped";
    return `${open}<${tag} message="${xml(r.detail)}">${xml(`fix: ${r.fix}`)}</${tag}></testcase>`;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuite name="moat verify" tests="${summary.total}" failures="${results.filter((r) => r.required && r.status === "fail").length}" skipped="${results.filter((r) => r.status === "skip" || (!r.required && r.status === "fail")).length}" time="${(summary.durationMs / 1000).toFixed(3)}">`,
    ...cases,
    "</testsuite>",
    "",
  ].join("\n");
}
