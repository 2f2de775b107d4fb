// Requests to a running lab's control socket (cloud.ts), from this machine.
import { request } from "node:http";
import { join } from "node:path";
import { CONTROL_SOCKET } from "./cloud.js";
import type { LlmScript } from "./fakes/llm-script.js";
import { LabError, stateDir } from "./lab.js";

function control(name: string, method: string, path: string, body: unknown): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: join(stateDir(name), CONTROL_SOCKET), path, method }, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => {
        text += d.toString();
      });
      res.on("end", () =>
        res.statusCode === 200
          ? resolve(text)
          : reject(new LabError(`lab ${name}'s control socket answered ${res.statusCode}: ${text}`)),
      );
    });
    req.on("error", (err) =>
      reject(new LabError(`lab ${name}'s cloud is not answering (${err.message}); is the lab up?`)),
    );
    req.end(JSON.stringify(body));
  });
}

// Replaces what the lab's model answers, for the rest of the lab's life (or the next script).
export async function setLabLlmScript(name: string, script: LlmScript): Promise<void> {
  await control(name, "PUT", "/llm/script", script);
}
