// Step 3: the agent's and the gateway's Unix users, with fixed uids (the firewall names them),
// no login shell, no sudo or docker group, the agent's subordinate id range exactly as the spec
// says, and linger so the agent's user manager (its rootless Docker) runs without a login.
import { agentHome } from "../../render/paths.js";
import { planFiles } from "../files.js";
import { type Account, accounts, groups, observeFile, readText } from "../shell.js";
import type { Step } from "../step.js";
import type { Action, FileSeen, PlanContext } from "../types.js";

const NOLOGIN = "/usr/sbin/nologin";
// Groups that amount to root or to the host's Docker.
const PRIVILEGED_GROUPS = ["sudo", "admin", "wheel", "docker", "adm", "lxd", "disk"];
const LINGER_DIR = "/var/lib/systemd/linger";

export interface UsersSeen {
  accounts: Account[];
  memberships: { group: string; members: string[] }[];
  subuid: FileSeen;
  subgid: FileSeen;
  lingering: boolean;
}

// /etc/subuid (or subgid) with exactly one range for the user, the spec's, other users' lines
// kept. Throws when another user's range overlaps it: two users sharing ids would share files.
export function subidFile(current: string, user: string, start: number, count: number): string {
  const lines = current.split("\n").filter((l) => l.trim());
  const kept: string[] = [];
  for (const line of lines) {
    const [name, s, c] = line.split(":");
    if (name === user) continue;
    const a = Number(s);
    const n = Number(c);
    if (a < start + count && start < a + n) {
      throw new Error(`subordinate ids ${start}-${start + count - 1} overlap ${name}'s ${a}-${a + n - 1}`);
    }
    kept.push(line);
  }
  return `${[...kept, `${user}:${start}:${count}`].join("\n")}\n`;
}

function planAccount(
  seen: UsersSeen,
  want: { name: string; uid: number; home: string; system: boolean },
): Action[] {
  const byName = seen.accounts.find((a) => a.name === want.name);
  const byUid = seen.accounts.find((a) => a.uid === want.uid);
  if (byUid && byUid.name !== want.name)
    return [
      {
        kind: "fail",
        message: `uid ${want.uid} belongs to ${byUid.name}, not ${want.name}; pick another uid in moat.yaml`,
      },
    ];
  if (byName && byName.uid !== want.uid)
    return [
      { kind: "fail", message: `${want.name} exists with uid ${byName.uid}, but moat.yaml says ${want.uid}` },
    ];
  const actions: Action[] = [];
  if (!byName) {
    const home = want.system ? ["--no-create-home"] : ["--create-home"];
    actions.push({
      kind: "run",
      argv: [
        "useradd",
        ...(want.system ? ["--system"] : []),
        "--uid",
        String(want.uid),
        "--user-group",
        ...home,
        "--home-dir",
        want.home,
        "--shell",
        NOLOGIN,
        want.name,
      ],
      why: `create user ${want.name} (uid ${want.uid})`,
    });
  } else if (byName.shell !== NOLOGIN) {
    actions.push({
      kind: "run",
      argv: ["usermod", "--shell", NOLOGIN, want.name],
      why: `take ${want.name}'s login shell away`,
    });
  }
  for (const g of seen.memberships) {
    if (PRIVILEGED_GROUPS.includes(g.group) && g.members.includes(want.name))
      actions.push({
        kind: "run",
        argv: ["gpasswd", "-d", want.name, g.group],
        why: `remove ${want.name} from ${g.group}`,
      });
  }
  return actions;
}

export function planUsers(ctx: PlanContext, seen: UsersSeen): Action[] {
  const h = ctx.spec.host;
  const actions = [
    ...planAccount(seen, { name: h.gatewayUser, uid: h.gatewayUid, home: "/nonexistent", system: true }),
    ...planAccount(seen, { name: h.agentUser, uid: h.agentUid, home: agentHome(ctx.spec), system: false }),
  ];
  if (actions.some((a) => a.kind === "fail")) return actions;
  // Debian's useradd hands out a range of its own; written after useradd so the spec's replaces it.
  const subids: Action[] = [];
  for (const seenFile of [seen.subuid, seen.subgid]) {
    let content: string;
    try {
      // A user created by this plan gets useradd's range: planned as if it were there already.
      content = subidFile(seenFile.content ?? "", h.agentUser, h.subidStart, h.subidCount);
    } catch (err) {
      return [...actions, { kind: "fail", message: `${seenFile.path}: ${(err as Error).message}` }];
    }
    const want = { path: seenFile.path, content, mode: 0o644, owner: "root", group: "root" };
    const created = !seen.accounts.some((a) => a.name === h.agentUser);
    const write = planFiles([want], new Map([[want.path, seenFile]]));
    // After useradd the file gains a line of its own, so a new user always needs the write.
    subids.push(
      ...(write.length || !created
        ? write
        : [{ kind: "write" as const, file: want, why: `set ${want.path}` }]),
    );
  }
  actions.push(...subids);
  if (!seen.lingering) {
    actions.push({
      kind: "run",
      argv: ["loginctl", "enable-linger", h.agentUser],
      why: `let ${h.agentUser}'s user manager run without a login`,
    });
  }
  return actions;
}

export const usersStep: Step<UsersSeen> = {
  name: "users",
  title: "agent and gateway users",
  observe: (ctx) => ({
    accounts: accounts(),
    memberships: groups().map((g) => ({ group: g.name, members: g.members })),
    subuid: observeFile("/etc/subuid"),
    subgid: observeFile("/etc/subgid"),
    lingering: readText(`${LINGER_DIR}/${ctx.spec.host.agentUser}`) !== null,
  }),
  plan: planUsers,
};
