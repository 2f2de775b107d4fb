import { parseSpec } from "../src/spec/load.js";
import type { MoatSpec } from "../src/spec/schema.js";

export const EXAMPLE_YAML = `
version: 1
name: demo
target: { kind: lab }
agent: { profile: openclaw }
access:
  tailscale: { authKey: { env: TS_AUTHKEY }, hostname: demo-agent }
messengers:
  telegram: { botToken: { env: TELEGRAM_BOT_TOKEN }, allowFrom: [123456789] }
llm:
  - { name: main, kind: openai, apiKey: { env: OPENAI_API_KEY }, models: [gpt-5.4], budget: { dailyUsd: 5 } }
egress: { allow: [example.com, "*.github.com"] }
`;

export function specFrom(yaml: string = EXAMPLE_YAML): MoatSpec {
  const r = parseSpec(yaml);
  if (!r.ok) throw new Error(JSON.stringify(r.errors, null, 2));
  return r.spec;
}
