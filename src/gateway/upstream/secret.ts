// Whether a presented credential (an LLM route's placeholder, the Bot API token) is the one
// expected, compared in constant time so the gateway's answer times leak none of it.
import { timingSafeEqual } from "node:crypto";

export function sameSecret(presented: string, expected: string): boolean {
  const x = Buffer.from(presented);
  const y = Buffer.from(expected);
  return x.length === y.length && timingSafeEqual(x, y);
}
