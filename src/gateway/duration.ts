// Durations on the command line: "500ms", "10s", "5m", "1h", "2d"; a bare number is seconds.
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new Error(`expected a duration such as 30s, 5m or 1h, got "${text}"`);
  return Math.round(Number(m[1]) * (UNITS[m[2] ?? "s"] as number));
}
