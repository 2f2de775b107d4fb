import { z } from "zod";
import { moatSpec } from "./schema.js";

// "input" so defaulted fields are optional, as a person writing moat.yaml sees them.
export function moatJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(moatSpec, { io: "input", unrepresentable: "any" }),
    $id: "https://agentmoat.dev/schema/moat.v1.json",
    title: "moat.yaml",
  };
}
