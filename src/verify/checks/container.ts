// The agent container's posture, from Docker's view and from inside (what the kernel enforces).

import { sizeInMib } from "../../render/compose.js";
import { OPENCLAW_CONFIG_ON_VM } from "../../render/openclaw.js";
import { agentDockerArgv } from "../observe.js";
import { sh } from "../shell.js";
import {
  type Check,
  type ContainerInspect,
  fail,
  pass,
  skip,
  type Verdict,
  type VerifyContext,
} from "../types.js";

const REAPPLY = "remove the override and run `moat host apply --only agent`";

// Checks that need the running container: absent or stopped is a failure with one fix.
function withContainer(
  id: string,
  title: string,
  judge: (c: ContainerInspect, ctx: VerifyContext) => Promise<Verdict> | Verdict,
): Check {
  return {
    id,
    title,
    required: true,
    run: async (ctx) => {
      const c = await ctx.observe.container();
      if (!c?.State?.Running)
        return fail("the agent container is not running", "run `moat host apply --only agent`");
      return judge(c, ctx);
    },
  };
}

// Fields of /proc/self/status as the agent's own processes see them.
async function status(ctx: VerifyContext): Promise<Record<string, string>> {
  const r = await ctx.observe.inContainer("cat /proc/self/status");
  return Object.fromEntries(
    r.stdout.split("\n").map((l) => {
      const i = l.indexOf(":");
      return [l.slice(0, i), l.slice(i + 1).trim()];
    }),
  );
}

export const notPrivileged = withContainer("container.privileged", "the container is not privileged", (c) =>
  c.HostConfig?.Privileged ? fail("Privileged is true", REAPPLY) : pass("Privileged is false"),
);

export const readOnlyRoot = withContainer(
  "container.read-only",
  "the root filesystem is read-only",
  async (c, ctx) => {
    const r = await ctx.observe.inContainer("touch /.moat-verify 2>&1 && rm -f /.moat-verify && echo WROTE");
    if (!c.HostConfig?.ReadonlyRootfs || r.stdout.includes("WROTE"))
      return fail("the agent can write to its root filesystem", REAPPLY);
    return pass("ReadonlyRootfs, and a write to / fails");
  },
);

export const noCapabilities = withContainer(
  "container.capabilities",
  "no capabilities (CapEff and bounding set empty, read inside)",
  async (c, ctx) => {
    const s = await status(ctx);
    const problems: string[] = [];
    for (const key of ["CapEff", "CapPrm", "CapBnd", "CapAmb"])
      if (!/^0+$/.test(s[key] ?? "")) problems.push(`${key} ${s[key] ?? "unreadable"}`);
    if (c.HostConfig?.CapAdd?.length) problems.push(`cap_add ${c.HostConfig.CapAdd.join(",")}`);
    return problems.length
      ? fail(problems.join("; "), REAPPLY)
      : pass(`CapEff ${s.CapEff}, CapBnd ${s.CapBnd}`);
  },
);

export const noNewPrivileges = withContainer(
  "container.no-new-privs",
  "no-new-privileges is set (NoNewPrivs 1)",
  async (_c, ctx) => {
    const s = await status(ctx);
    return s.NoNewPrivs === "1"
      ? pass("NoNewPrivs 1")
      : fail(`NoNewPrivs ${s.NoNewPrivs ?? "unreadable"}`, REAPPLY);
  },
);

// Seccomp 2 alone proves nothing on a host that itself runs under a filter (systemd-nspawn, a
// container-based VM): every process inherits it, the agent's with or without its own. Where the
// kernel counts the stack (Seccomp_filters, Linux 5.9+), the agent must hold more filters than
// the runtime's shim it was started from, which never gets the container's filter.
export function judgeSeccomp(
  inside: Record<string, string>,
  shimFilters: number | null,
  moatProfileWanted: boolean,
  moatProfileSet: boolean,
): Verdict {
  if (inside.Seccomp !== "2") return fail(`Seccomp ${inside.Seccomp ?? "unreadable"}`, REAPPLY);
  const own = Number(inside.Seccomp_filters);
  const stacked = shimFilters !== null && inside.Seccomp_filters !== undefined;
  if (stacked && !(own > shimFilters))
    return fail(
      `Seccomp 2 but only the ${own} filter(s) inherited from the runtime (its shim holds ${shimFilters}): none of the container's own`,
      REAPPLY,
    );
  if (moatProfileWanted && !moatProfileSet) return fail("Seccomp 2, but not Moat's profile", REAPPLY);
  const counted = stacked ? `, ${own} filters over the shim's ${shimFilters}` : "";
  return pass(`Seccomp 2${counted}${moatProfileSet ? ", Moat's profile" : ""}`);
}

// Seccomp_filters of the process that started the container (containerd's shim), read as root on
// the host; null when that is not what the container's parent is or the kernel does not count.
async function shimSeccompFilters(c: ContainerInspect): Promise<number | null> {
  const pid = c.State?.Pid;
  if (!pid) return null;
  const field = (text: string, key: string) => text.match(new RegExp(`^${key}:\\s*(\\S+)`, "m"))?.[1];
  const own = await sh(["cat", `/proc/${pid}/status`]);
  const ppid = field(own.stdout, "PPid");
  if (!ppid) return null;
  const shim = (await sh(["cat", `/proc/${ppid}/status`])).stdout;
  const filters = field(shim, "Seccomp_filters");
  if (!field(shim, "Name")?.startsWith("containerd-shim") || filters === undefined) return null;
  return Number(filters);
}

export const seccompFilter = withContainer(
  "container.seccomp",
  "a seccomp filter of the container's own is enforced (Seccomp 2)",
  async (c, ctx) => {
    const [s, shimFilters] = await Promise.all([status(ctx), shimSeccompFilters(c)]);
    const moat = !!c.HostConfig?.SecurityOpt?.some(
      (o) => o.startsWith("seccomp=") && !o.includes("unconfined"),
    );
    return judgeSeccomp(s, shimFilters, ctx.spec.hardening.seccomp === "moat", moat);
  },
);

// What the tmpfs probe prints per path: "<path>|<mount options>|<written or unwritable>|<output>".
export function judgeTmpfs(lines: readonly string[]): Verdict {
  const problems: string[] = [];
  const notes: string[] = [];
  for (const line of lines) {
    const [path = "", options = "", written = "", output = ""] = line.split("|");
    if (!options) problems.push(`${path} is not a mount inside the container`);
    else if (!options.split(",").includes("noexec")) problems.push(`${path} is mounted without noexec`);
    if (output.includes("EXECUTED")) problems.push(`a script written to ${path} ran`);
    notes.push(
      written === "written" ? `exec refused on ${path}` : `${path} noexec (not writable by the agent)`,
    );
  }
  return problems.length ? fail(problems.join("; "), REAPPLY) : pass(notes.join(", "));
}

// The kernel's mount options are read as well as an exec tried: a path the agent cannot write to
// would refuse the attempt with or without noexec.
export const tmpfsNoexec = withContainer(
  "container.tmpfs-noexec",
  "writable tmpfs paths are noexec (mounted so, and an exec attempt fails)",
  async (c, ctx) => {
    const paths = Object.keys(c.HostConfig?.Tmpfs ?? {});
    if (!paths.length) return pass("no tmpfs paths");
    const script = paths
      .map(
        (p) =>
          `p='${p.replace(/'/g, "")}'; f="$p/.moat-verify-exec"; o=; out=; w=unwritable; ` +
          `while read -r _ mnt _ opts _; do [ "$mnt" = "$p" ] && o=$opts; done < /proc/mounts; ` +
          `if printf '#!/bin/sh\\necho EXECUTED\\n' > "$f" 2>/dev/null; then w=written; chmod +x "$f"; out=$("$f" 2>/dev/null); rm -f "$f"; fi; ` +
          `echo "$p|$o|$w|$out"`,
      )
      .join("\n");
    const r = await ctx.observe.inContainer(script);
    const lines = r.stdout.split("\n").filter((l) => l.includes("|"));
    if (lines.length !== paths.length)
      return fail(
        `the probe answered for ${lines.length} of ${paths.length} paths: ${r.stderr.trim()}`,
        REAPPLY,
      );
    return judgeTmpfs(lines);
  },
);

export const noHostMounts = withContainer(
  "container.mounts",
  "no Docker socket or host path mounted (only the read-only OpenClaw config)",
  (c) => {
    const bad = (c.Mounts ?? []).filter(
      (m) => m.Type === "bind" && !(m.Source === OPENCLAW_CONFIG_ON_VM && !m.RW),
    );
    const sock = (c.Mounts ?? []).filter(
      (m) => m.Source.includes("docker.sock") || m.Destination.includes("docker.sock"),
    );
    const all = [...new Set([...bad, ...sock])];
    return all.length
      ? fail(
          `mounted: ${all.map((m) => `${m.Source} → ${m.Destination}${m.RW ? " (rw)" : ""}`).join(", ")}`,
          REAPPLY,
        )
      : pass(`${(c.Mounts ?? []).length} mounts, none from the host but the read-only config`);
  },
);

export const nonRootUser = withContainer(
  "container.user",
  "the agent runs as a non-root user",
  async (c, ctx) => {
    const uid = (await ctx.observe.inContainer("id -u")).stdout.trim();
    const user = c.Config?.User ?? "";
    if (uid === "0" || !user || user === "root" || user.startsWith("0:") || user === "0")
      return fail(`user ${user || "unset"}, uid inside ${uid}`, REAPPLY);
    return pass(`user ${user}, uid inside ${uid}`);
  },
);

export const limits = withContainer(
  "container.limits",
  "pids and memory limits are set and enforced",
  async (c, ctx) => {
    const wantMem = Math.round(sizeInMib(ctx.spec.agent.memory) * 1024 * 1024);
    const wantPids = ctx.spec.hardening.pids;
    const h = c.HostConfig ?? {};
    if (h.Memory !== wantMem || h.PidsLimit !== wantPids)
      return fail(
        `configured memory ${h.Memory} (want ${wantMem}), pids ${h.PidsLimit} (want ${wantPids})`,
        REAPPLY,
      );
    const inside = await ctx.observe.inContainer(
      "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max 2>/dev/null || echo NO-CGROUP2",
    );
    if (inside.stdout.includes("NO-CGROUP2"))
      return skip(
        `configured (memory ${ctx.spec.agent.memory}, pids ${wantPids}) but not enforceable here: the host uses cgroup v1, where rootless Docker cannot apply limits`,
      );
    const [mem, pids] = inside.stdout.trim().split("\n");
    if (Number(mem) !== wantMem || Number(pids) !== wantPids)
      return fail(
        `read inside: memory.max ${mem}, pids.max ${pids}`,
        "enable cgroup v2 delegation for the agent's user (systemd user@.service Delegate=yes)",
      );
    return pass(`memory.max ${mem}, pids.max ${pids} (read inside)`);
  },
);

export const rootlessDaemon: Check = {
  id: "container.rootless",
  title: "the agent's Docker daemon is rootless, and no rootful daemon runs",
  required: true,
  run: async (ctx) => {
    const cmd = agentDockerArgv(ctx.spec, ["info", "--format", "{{json .SecurityOptions}}"]);
    const [info, rootful] = await Promise.all([
      sh(cmd.argv, { env: cmd.env }),
      sh(["systemctl", "is-active", "docker.service", "docker.socket"]),
    ]);
    if (!info.stdout.includes("name=rootless"))
      return fail(
        `security options ${info.stdout.trim() || info.stderr.trim()}`,
        "run `moat host apply --only rootless-docker`",
      );
    if (/^active$/m.test(rootful.stdout))
      return fail(
        "the rootful docker.service or docker.socket is active",
        "systemctl disable --now docker.service docker.socket",
      );
    return pass("rootless daemon; rootful docker inactive");
  },
};

export const loopbackPorts = withContainer("container.ports", "published ports only on 127.0.0.1", (c) => {
  const open: string[] = [];
  for (const [port, binds] of Object.entries(c.HostConfig?.PortBindings ?? {}))
    for (const b of binds ?? [])
      if (b.HostIp !== "127.0.0.1") open.push(`${port} on ${b.HostIp || "0.0.0.0"}`);
  return open.length
    ? fail(`published: ${open.join(", ")}`, REAPPLY)
    : pass("every published port is on 127.0.0.1");
});
