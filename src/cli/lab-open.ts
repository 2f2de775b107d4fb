// `moat lab open`: the agent's web UI on this machine's 127.0.0.1 until Ctrl-C (src/lab/open.ts).
import type { Command } from "commander";
import { labOpen, parsePort, readTokenCommand, runOpenRelay } from "../lab/open.js";
import { loadSpecFile } from "../spec/load.js";
import { configOption, EXIT, paint } from "./util.js";

export function registerLabOpen(lab: Command): void {
  lab
    .command("open")
    .description("serve the agent's own web UI (OpenClaw's Control UI) on 127.0.0.1 until Ctrl-C")
    .option(...configOption)
    .option("--port <n>", "port on this machine's 127.0.0.1 (default: agent.port; 0 picks a free one)")
    .action(async (opts: { config: string; port?: string }) => {
      const spec = loadSpecFile(opts.config);
      const forward = await labOpen(spec, parsePort(opts.port, spec.agent.port));
      const { plan } = forward;
      const lines = [
        `${paint("green", "✓")} ${spec.agent.profile === "openclaw" ? "OpenClaw's Control UI" : "the agent's port"} of lab ${spec.name}: ${forward.url}`,
        `  (this machine's 127.0.0.1 only → the VM's 127.0.0.1:${plan.agentPort}, as tailscale serve would on a real VM)`,
      ];
      if (plan.token && forward.port !== plan.agentPort)
        lines.push(
          `  ${paint("yellow", "note:")} OpenClaw takes the Control UI only from http://127.0.0.1:${plan.agentPort} (gateway.controlUi.allowedOrigins); on port ${forward.port} the page loads but cannot connect`,
        );
      if (plan.token)
        lines.push(
          `  sign in with the gateway token, which host apply wrote to ${plan.token.onVm} in the VM:`,
          `    ${readTokenCommand(plan.token)}`,
          "  paste it into the login screen's Gateway secret field.",
        );
      lines.push("  Ctrl-C stops the forward.");
      process.stdout.write(`${lines.join("\n")}\n`);
      const stop = new Promise<string>((resolve) => {
        process.once("SIGINT", () => resolve("stopped"));
        process.once("SIGTERM", () => resolve("stopped"));
      });
      const why = await Promise.race([stop, forward.relayGone.then(() => "relay-gone")]);
      await forward.close();
      if (why === "relay-gone") {
        process.exitCode = EXIT.failed;
        process.stderr.write(
          `${paint("red", "moat:")} the relay inside the lab's VM ended (is the lab still up?)\n`,
        );
      } else process.stdout.write("forward closed\n");
    });

  // Run by `lab open` inside the VM's network namespace; not for people.
  lab.command("open-relay <socket> <port>", { hidden: true }).action(async (socket: string, port: string) => {
    await runOpenRelay(socket, Number(port));
  });
}
