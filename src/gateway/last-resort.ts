// The net under the per-request handlers. Each request and tunnel handles its own failures
// (validated upstream heads, error listeners on every socket, routes wrapped by the router), so
// nothing one client or upstream does should reach the process. If something still throws, the
// gateway logs it with the request it belongs to and keeps serving: one broken request must not
// take every tunnel, LLM call and Telegram poll down with it.
//
// The trade-off: Node documents that after an uncaught exception the process may be in an
// inconsistent state. Here the state worth keeping is small (the allowlist, budgets on disk,
// open sockets each owned by one request), and a restart would cut every open tunnel for
// certain, so the gateway logs and goes on; the per-request design is what keeps this net rare.
import { AsyncLocalStorage } from "node:async_hooks";

const current = new AsyncLocalStorage<string>();

// Run `fn` (and everything it schedules) as part of the named request.
export function withRequest<T>(label: string, fn: () => T): T {
  return current.run(label, fn);
}

// An agent-chosen string in a log line: bounded and without control characters.
export function requestLabel(method: string, target: string, client: string): string {
  const t = target.length > 200 ? `${target.slice(0, 200)}…` : target;
  return `${method} ${t} from ${client}`.replace(/[^\x20-\x7e]/g, "?");
}

// Returns the uninstaller. `origin` is "uncaughtException" or "unhandledRejection" (Node routes
// unhandled rejections here too under its default --unhandled-rejections=throw).
export function installLastResort(log: (line: string) => void): () => void {
  const onError = (err: unknown, origin: string) => {
    const where = current.getStore() ?? "no request in context";
    log(`${origin} while serving ${where}: ${(err as Error)?.stack ?? String(err)}; still serving`);
  };
  process.on("uncaughtException", onError);
  return () => process.off("uncaughtException", onError);
}
