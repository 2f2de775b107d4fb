// Requests addressed to the gateway itself (origin-form `GET /…`, absolute-form to the
// gateway's own address, or a CONNECT tunnel into it) land here instead of going out.
// Issue 4 adds its /llm/<name>/… and /telegram/… routes with `prefix()`.
import type { IncomingMessage, ServerResponse } from "node:http";

// req.url is always origin-form (path and query) when a handler runs.
export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

interface Route {
  method: string | undefined;
  path: string;
  prefix: boolean;
  handler: RouteHandler;
}

export class InternalRouter {
  private readonly routes: Route[] = [];

  // Exactly this path (query ignored). method undefined = any method.
  exact(path: string, handler: RouteHandler, method?: string): this {
    this.routes.push({ method, path, prefix: false, handler });
    return this;
  }

  // This path and everything under it: prefix("/llm/main") serves /llm/main and /llm/main/…
  prefix(path: string, handler: RouteHandler, method?: string): this {
    this.routes.push({ method, path: path.replace(/\/+$/, ""), prefix: true, handler });
    return this;
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    const route = this.match(req.method ?? "GET", path);
    if (!route) {
      plain(res, 404, `moat: no gateway route for ${req.method} ${path.slice(0, 200)}`);
      return;
    }
    let result: void | Promise<void>;
    try {
      result = route.handler(req, res);
    } catch (err) {
      failed(res, err);
      return;
    }
    if (result && typeof (result as Promise<void>).then === "function") {
      (result as Promise<void>).catch((err) => failed(res, err));
    }
  }

  // Longest matching path wins, so a specific route can sit under a broad prefix.
  private match(method: string, path: string): Route | undefined {
    let best: Route | undefined;
    for (const r of this.routes) {
      if (r.method && r.method !== method) continue;
      const hit = r.prefix ? path === r.path || path.startsWith(`${r.path}/`) : path === r.path;
      if (hit && (!best || r.path.length > best.path.length)) best = r;
    }
    return best;
  }
}

export function plain(res: ServerResponse, status: number, line: string): void {
  const body = `${line}\n`;
  res.writeHead(status, {
    "content-type": "text/plain; charset=utf-8",
    "content-length": Buffer.byteLength(body),
  });
  res.end(body);
}

function failed(res: ServerResponse, err: unknown): void {
  if (!res.headersSent) plain(res, 500, `moat: internal error: ${(err as Error)?.message ?? String(err)}`);
  else res.destroy();
}

export function defaultRouter(): InternalRouter {
  return new InternalRouter().exact("/healthz", (_req, res) => plain(res, 200, "ok"), "GET");
}
