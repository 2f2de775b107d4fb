// Host apply's pure planning: observations in, actions out, with no host touched.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  composeFlavour,
  nodeIsRecentEnough,
  packagesFor,
  parseOsRelease,
  UnsupportedHost,
} from "../../src/host/distro.js";
import { PULLED_ARCHIVE } from "../../src/host/pull.js";
import { type AgentSeen, composeUp, planAgent, postureProblems } from "../../src/host/steps/agent.js";
import { firewallFiles, liveTableProblems, planFirewall } from "../../src/host/steps/firewall.js";
import { gatewayDirs, gatewayFiles, gatewayProblems, planGateway } from "../../src/host/steps/gateway.js";
import { moatCommand, planPackages } from "../../src/host/steps/packages.js";
import { planTun, TUN_TMPFILES, tunFile } from "../../src/host/steps/rootless-docker.js";
import { planUsers, subidFile } from "../../src/host/steps/users.js";
import type { Action, FileSeen, PlanContext } from "../../src/host/types.js";
import { renderBundle } from "../../src/render/index.js";
import { RUNTIME_NODE, SPEC_ON_VM } from "../../src/render/paths.js";
import { specFrom } from "../helpers.js";

const SPEC_YAML = `
version: 1
name: unit
target: { kind: lab }
agent: { profile: custom, image: "example/agent:1.0", writablePaths: [/tmp] }
`;
const DEBIAN_13 = parseOsRelease('ID=debian\nVERSION_ID="13"\nVERSION_CODENAME=trixie\n', "amd64");
const DEBIAN_12 = parseOsRelease('ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n', "amd64");
const NOBLE = parseOsRelease('ID=ubuntu\nVERSION_ID="24.04"\nVERSION_CODENAME=noble\n', "arm64");

function context(yaml = SPEC_YAML, distro = DEBIAN_13): PlanContext {
  const spec = specFrom(yaml);
  const bundle = renderBundle(spec);
  return { spec, specText: yaml, artifacts: new Map(bundle.map((a) => [a.path, a])), distro };
}
const kinds = (actions: Action[]) =>
  actions.map((a) => (a.kind === "run" ? `run ${a.argv.slice(0, 3).join(" ")}` : a.kind));
const asSeen = (
  path: string,
  content: string | null,
  mode = 0o644,
  owner = "root",
  group = "root",
): FileSeen => ({ path, content, mode, owner, group });

describe("host apply: distributions", () => {
  it("picks each release's Compose package and refuses a release without one", () => {
    assert.ok(packagesFor(DEBIAN_13).includes("docker-compose"));
    assert.ok(packagesFor(DEBIAN_13).includes("docker-cli"));
    assert.ok(packagesFor(DEBIAN_13).includes("slirp4netns"));
    assert.ok(packagesFor(NOBLE).includes("docker-compose-v2"));
    // Debian 12: Compose v1, and docker.io still holds the client.
    assert.ok(packagesFor(DEBIAN_12).includes("docker-compose"));
    assert.ok(!packagesFor(DEBIAN_12).includes("docker-cli"));
    const bullseye = parseOsRelease('ID=debian\nVERSION_ID="11"\n', "amd64");
    assert.throws(() => packagesFor(bullseye), UnsupportedHost);
    assert.throws(() => parseOsRelease('ID=fedora\nVERSION_ID="40"\n', "amd64"), UnsupportedHost);
  });
  it("knows which Compose each release ships", () => {
    assert.equal(composeFlavour(DEBIAN_12), "v1");
    assert.equal(composeFlavour(DEBIAN_13), "v2");
    assert.equal(composeFlavour(NOBLE), "v2");
    assert.equal(composeFlavour({ id: "ubuntu", versionId: "22.04" }), "v2");
  });
  it("compares Node versions numerically", () => {
    assert.equal(nodeIsRecentEnough("v20.19.0"), true);
    assert.equal(nodeIsRecentEnough("v20.9.0"), false);
    assert.equal(nodeIsRecentEnough("v18.19.1"), false);
    assert.equal(nodeIsRecentEnough("v22.1.0"), true);
  });
});

describe("host apply: packages", () => {
  const ctx = context();
  const node = { binary: "/usr/bin/node", version: "v20.20.2", stamp: "node v20.20.2\n" };
  const moat = { root: "/root/agentmoat", version: "0.1.0", built: true, stamp: "agentmoat 1\n" };
  const converged = {
    installed: packagesFor(DEBIAN_13),
    aptListsPresent: true,
    systemNode: { version: "v20.20.2", linkTarget: RUNTIME_NODE, exists: true },
    runtimeStamp: node.stamp,
    moatStamp: moat.stamp,
    node,
    moat,
    command: asSeen(moatCommand().path, moatCommand().content, 0o755),
  };
  it("plans nothing when everything is installed", () => {
    assert.deepEqual(planPackages(ctx, converged), []);
  });
  it("puts moat on root's PATH, running the installed package on Moat's runtime", () => {
    const plan = planPackages(ctx, { ...converged, command: asSeen("/usr/local/sbin/moat", null, 0) });
    assert.deepEqual(kinds(plan), ["write"]);
    const w = plan[0];
    assert.ok(w?.kind === "write");
    assert.equal(w.file.path, "/usr/local/sbin/moat");
    assert.equal(w.file.mode, 0o755);
    assert.match(
      w.file.content,
      /^#!\/bin\/sh\n[\s\S]*\nexec \/opt\/moat\/node\/bin\/node \/opt\/moat\/bin\/moat\.js "\$@"\n$/,
    );
    // A wrapper someone edited is put back.
    const edited = { ...converged, command: asSeen("/usr/local/sbin/moat", "#!/bin/sh\nexec evil\n", 0o755) };
    assert.deepEqual(kinds(planPackages(ctx, edited)), ["write"]);
  });
  it("installs only the missing packages, reading lists first when there are none", () => {
    const plan = planPackages(ctx, { ...converged, installed: ["docker.io"], aptListsPresent: false });
    assert.deepEqual(kinds(plan), ["run apt-get update -qq", "run apt-get install -y"]);
    const install = plan[1];
    assert.ok(
      install?.kind === "run" && !install.argv.includes("docker.io") && install.argv.includes("slirp4netns"),
    );
  });
  it("refuses to run the gateway on a distribution Node older than 20.19", () => {
    const plan = planPackages(ctx, {
      ...converged,
      systemNode: { version: "v18.19.0", linkTarget: null, exists: true },
    });
    assert.equal(plan.at(-1)?.kind, "fail");
  });
});

describe("host apply: firewall", () => {
  const ctx = context();
  const files = new Map(firewallFiles(ctx).map((f) => [f.path, asSeen(f.path, f.content)]));
  const live =
    "table inet moat { set agent_uids { elements = { 2000, 1000000-1065535 } } meta skuid @agent_uids jump agent_egress\n ip daddr 198.18.0.1 tcp dport 3128 counter accept }";
  const converged = { files, unit: { enabled: "enabled", active: "active" }, live, recorded: live };
  it("plans nothing when the table is live as recorded", () => {
    assert.deepEqual(planFirewall(ctx, converged), []);
  });
  it("writes, enables, starts and records on a fresh host", () => {
    const plan = planFirewall(ctx, {
      files: new Map(),
      unit: { enabled: "disabled", active: "inactive" },
      live: null,
      recorded: null,
    });
    assert.deepEqual(kinds(plan), [
      "write",
      "write",
      "run systemctl daemon-reload",
      "run systemctl enable moat-firewall.service",
      "run systemctl start moat-firewall.service",
      "record",
    ]);
  });
  it("reloads (never restarts) a live table that drifted or vanished", () => {
    for (const drifted of [{ live: null }, { live: `${live} extra` }]) {
      const plan = planFirewall(ctx, { ...converged, ...drifted });
      assert.deepEqual(kinds(plan), ["run systemctl reload moat-firewall.service", "record"]);
    }
  });
  it("checks the live table names the agent's uids and the gateway accept", () => {
    assert.deepEqual(liveTableProblems(ctx, live), []);
    assert.equal(liveTableProblems(ctx, null).length, 1);
    assert.match(liveTableProblems(ctx, live.replace("counter accept", "drop")).join(), /gateway accept/);
    assert.match(liveTableProblems(ctx, live.replace("1000000-1065535", "5-6")).join(), /subuid/);
  });
});

describe("host apply: users", () => {
  const ctx = context();
  const fresh = {
    accounts: [{ name: "root", uid: 0, gid: 0, home: "/root", shell: "/bin/bash" }],
    memberships: [{ group: "sudo", members: [] }],
    subuid: asSeen("/etc/subuid", ""),
    subgid: asSeen("/etc/subgid", ""),
    lingering: false,
  };
  it("sets exactly the spec's subordinate range and keeps other users' lines", () => {
    assert.equal(
      subidFile("alice:100000:65536\nmoat-agent:165536:65536\n", "moat-agent", 1000000, 65536),
      "alice:100000:65536\nmoat-agent:1000000:65536\n",
    );
    assert.throws(() => subidFile("alice:1000000:10\n", "moat-agent", 1000000, 65536), /overlap alice/);
  });
  it("creates both users without a login shell, the subid ranges and linger", () => {
    const plan = planUsers(ctx, fresh);
    const argv = plan.flatMap((a) => (a.kind === "run" ? [a.argv.join(" ")] : []));
    assert.ok(
      argv.some((a) => /^useradd --system --uid 2001 .*--shell \/usr\/sbin\/nologin moat-gateway$/.test(a)),
    );
    assert.ok(argv.some((a) => /^useradd --uid 2000 .*--shell \/usr\/sbin\/nologin moat-agent$/.test(a)));
    assert.ok(argv.includes("loginctl enable-linger moat-agent"));
    const writes = plan.flatMap((a) => (a.kind === "write" ? [a.file] : []));
    assert.deepEqual(
      writes.map((f) => f.content),
      ["moat-agent:1000000:65536\n", "moat-agent:1000000:65536\n"],
    );
  });
  it("plans nothing when converged, and takes a shell or sudo away when someone added them", () => {
    const users = [
      { name: "moat-agent", uid: 2000, gid: 2000, home: "/home/moat-agent", shell: "/usr/sbin/nologin" },
      { name: "moat-gateway", uid: 2001, gid: 2001, home: "/nonexistent", shell: "/usr/sbin/nologin" },
    ];
    const line = "moat-agent:1000000:65536\n";
    const converged = {
      ...fresh,
      accounts: [...fresh.accounts, ...users],
      subuid: asSeen("/etc/subuid", line),
      subgid: asSeen("/etc/subgid", line),
      lingering: true,
    };
    assert.deepEqual(planUsers(ctx, converged), []);
    const widened = {
      ...converged,
      accounts: [
        ...fresh.accounts,
        { ...users[0], shell: "/bin/bash" } as (typeof users)[0],
        users[1] as (typeof users)[0],
      ],
      memberships: [{ group: "sudo", members: ["moat-agent"] }],
    };
    assert.deepEqual(kinds(planUsers(ctx, widened)), [
      "run usermod --shell /usr/sbin/nologin",
      "run gpasswd -d moat-agent",
    ]);
  });
  it("stops when the uid belongs to someone else", () => {
    const taken = {
      ...fresh,
      accounts: [
        ...fresh.accounts,
        { name: "alice", uid: 2000, gid: 2000, home: "/home/alice", shell: "/bin/bash" },
      ],
    };
    assert.match(JSON.stringify(planUsers(ctx, taken)), /uid 2000 belongs to alice/);
  });
});

describe("host apply: gateway secrets", () => {
  it("refuses a secret file the gateway's sandbox could not read", () => {
    const ctx = context(
      `${SPEC_YAML}llm:\n  - { name: main, kind: openai, apiKey: { file: /root/key }, models: [gpt-5.4] }\n`,
    );
    const plan = planGateway(ctx, {
      files: new Map(),
      dirs: new Map(),
      secretFiles: [asSeen("/root/key", "sk")],
      envValues: {},
      units: {},
    });
    assert.match(JSON.stringify(plan), /outside \/etc\/moat-secrets/);
  });
});

describe("host apply: the gateway picks up a changed moat.yaml", () => {
  // A converged gateway running `running`; host apply brings `next`.
  const planFor = (running: string, next: string) => {
    const ctx = context(next);
    const seenFile = (f: { path: string; content: string; mode: number; owner: string; group: string }) =>
      asSeen(f.path, f.path === SPEC_ON_VM ? running : f.content, f.mode, f.owner, f.group);
    const unit = { enabled: "enabled", active: "active" };
    return planGateway(ctx, {
      files: new Map(gatewayFiles(ctx, { envValues: {} }).map((f) => [f.path, seenFile(f)])),
      dirs: new Map(gatewayDirs(ctx).map(([p, mode, o, g]) => [p, asSeen(p, null, mode, o, g)])),
      secretFiles: [],
      envValues: {},
      units: { "moat-gateway-net.service": unit, "moat-gateway.service": unit },
    }).flatMap((a) => (a.kind === "run" && a.argv[0] === "systemctl" ? [a.argv.slice(1).join(" ")] : []));
  };
  const withGateway = (g: string) => `${SPEC_YAML}gateway: { ${g} }\n`;

  it("reloads for a change a reload applies", () => {
    const egress = `${SPEC_YAML}egress: { allow: [example.org] }\n`;
    assert.deepEqual(planFor(SPEC_YAML, egress), ["reload moat-gateway.service"]);
    assert.deepEqual(planFor(SPEC_YAML, SPEC_YAML), []);
  });
  it("restarts when the listeners move, which a reload refuses", () => {
    for (const moved of ["port: 3129", "metricsPort: 9465"]) {
      assert.deepEqual(planFor(SPEC_YAML, withGateway(moved)), ["restart moat-gateway.service"], moved);
    }
  });
});

describe("host apply: agent posture", () => {
  const good = {
    State: { Running: true },
    Config: { User: "1000:1000" },
    HostConfig: {
      ReadonlyRootfs: true,
      CapDrop: ["ALL"],
      SecurityOpt: ["no-new-privileges:true", "seccomp={...}"],
      PortBindings: { "8080/tcp": [{ HostIp: "127.0.0.1" }] },
    },
  };
  it("passes the rendered posture and names each break", () => {
    assert.deepEqual(postureProblems(good), []);
    const h = good.HostConfig;
    const breaks: [object, RegExp][] = [
      [{ ...good, HostConfig: { ...h, Privileged: true } }, /privileged/],
      [{ ...good, HostConfig: { ...h, ReadonlyRootfs: false } }, /writable/],
      [{ ...good, HostConfig: { ...h, CapAdd: ["NET_RAW"] } }, /NET_RAW/],
      [{ ...good, HostConfig: { ...h, SecurityOpt: [] } }, /no-new-privileges/],
      [{ ...good, Config: { User: "0" } }, /root/],
      [
        { ...good, HostConfig: { ...h, PortBindings: { "8080/tcp": [{ HostIp: "0.0.0.0" }] } } },
        /0\.0\.0\.0/,
      ],
      [
        { ...good, HostConfig: { ...h, Binds: ["/run/user/2000/docker.sock:/var/run/docker.sock"] } },
        /Docker socket/,
      ],
    ];
    for (const [inspect, problem] of breaks) assert.match(postureProblems(inspect).join("; "), problem);
    assert.deepEqual(postureProblems(null), ["the agent container does not exist"]);
  });
});

describe("host apply: the tun device rootless networking opens", () => {
  const ctx = context();
  const tmpfiles = tunFile(ctx);
  it("keeps /dev/net/tun usable at every boot, not only now", () => {
    assert.equal(tmpfiles.path, TUN_TMPFILES);
    assert.match(tmpfiles.content, /^z \/dev\/net\/tun 0666 - - -$/m);
    const seen = new Map([[TUN_TMPFILES, asSeen(TUN_TMPFILES, null)]]);
    const actions = planTun(ctx, seen, 0o600);
    assert.deepEqual(
      actions.map((a) => (a.kind === "write" ? `write ${a.file.path}` : a.kind)),
      [`write ${TUN_TMPFILES}`, "chmod"],
    );
  });
  it("plans nothing when the boot rule is installed and the device is open", () => {
    const seen = new Map([[TUN_TMPFILES, asSeen(TUN_TMPFILES, tmpfiles.content)]]);
    assert.deepEqual(planTun(ctx, seen, 0o666), []);
  });
});

describe("host apply: the gateway's listeners", () => {
  const line = (local: string) =>
    `LISTEN 0 511 ${local} 0.0.0.0:* users:(("node",pid=9,fd=20)) uid:2001 ino:1 sk:1`;
  const listeners = (...locals: string[]) => locals.map(line).join("\n");
  it("its address, metrics and the pull listener on loopback are expected; anything else is named", () => {
    const ctx = context();
    assert.deepEqual(
      gatewayProblems(ctx, 2001, listeners("198.18.0.1:3128", "127.0.0.1:9464", "127.0.0.1:3128")),
      [],
    );
    assert.deepEqual(gatewayProblems(ctx, 2001, listeners("198.18.0.1:3128", "0.0.0.0:3128")), [
      "the gateway also listens on 0.0.0.0:3128",
    ]);
  });
});

describe("host apply: the agent's image is pulled by root through the gateway's pull listener", () => {
  const missing: AgentSeen = {
    files: new Map(),
    freshToken: "t",
    imagePresent: false,
    containerRunning: false,
    recorded: null,
    importChanges: [],
  };
  const runs = (yaml = SPEC_YAML) =>
    planAgent(context(yaml), missing).flatMap((a) =>
      a.kind === "run"
        ? [`${a.asAgent ? "agent" : "root"}: ${a.argv.join(" ")}${a.stdinFile ? ` < ${a.stdinFile}` : ""}`]
        : [],
    );

  it("skopeo as root via 127.0.0.1 (loopback: never the agent's), docker load as the agent, compose never pulls", () => {
    assert.deepEqual(runs().slice(0, 4), [
      `root: rm -f ${PULLED_ARCHIVE}`,
      `root: env HTTPS_PROXY=http://127.0.0.1:3128 HTTP_PROXY=http://127.0.0.1:3128 NO_PROXY= skopeo copy --retry-times 3 docker://example/agent:1.0 docker-archive:${PULLED_ARCHIVE}:example/agent:1.0`,
      `agent: docker load < ${PULLED_ARCHIVE}`,
      `root: rm -f ${PULLED_ARCHIVE}`,
    ]);
    assert.match(runs()[4] ?? "", /^agent: docker compose .* up -d --pull never /);
  });

  it("nothing is pulled when the image is there, or imported from a tarball", () => {
    assert.ok(
      !planAgent(context(), { ...missing, imagePresent: true }).some(
        (a) => a.kind === "run" && a.argv.includes("skopeo"),
      ),
    );
    const imported = planAgent({ ...context(), importImage: "/root/image.tar" }, missing);
    assert.ok(!imported.some((a) => a.kind === "run" && a.argv.includes("skopeo")));
  });

  it("a digest-pinned image is pulled by its digest and loaded under a tag made of it, which Compose runs", () => {
    const hex = "a".repeat(64);
    const digest = SPEC_YAML.replace("example/agent:1.0", `example/agent:1.0@sha256:${hex}`);
    assert.ok(!planAgent(context(digest), missing).some((a) => a.kind === "fail"));
    assert.match(
      runs(digest)[1] ?? "",
      new RegExp(
        ` docker://example/agent:1\\.0@sha256:${hex} docker-archive:\\S+:example/agent:sha256-${hex}$`,
      ),
    );
  });
});

describe("host apply: starting the agent with each Compose", () => {
  const FILE = "/etc/moat/compose/compose.yaml";
  const fresh: AgentSeen = {
    files: new Map(),
    freshToken: "t",
    imagePresent: true,
    containerRunning: false,
    recorded: null,
    importChanges: [],
  };
  const compose = (distro: typeof DEBIAN_13) =>
    planAgent(context(SPEC_YAML, distro), fresh).filter((a) => a.kind === "run" || a.kind === "await");

  it("names the project on the command line for v1 and v2 alike", () => {
    assert.deepEqual(composeUp("v2", "moat-unit"), [
      "docker",
      "compose",
      "-p",
      "moat-unit",
      "-f",
      FILE,
      "up",
      "-d",
      "--pull",
      "never",
      "--remove-orphans",
      "--wait",
    ]);
    // v1 has neither --pull (it pulls a missing image by itself) nor --wait.
    assert.deepEqual(composeUp("v1", "moat-unit"), [
      "docker-compose",
      "-p",
      "moat-unit",
      "-f",
      FILE,
      "up",
      "-d",
      "--remove-orphans",
    ]);
  });

  it("on Debian 13 and Ubuntu, Compose v2 waits by itself", () => {
    for (const distro of [DEBIAN_13, NOBLE]) {
      const actions = compose(distro);
      assert.deepEqual(
        actions.map((a) => a.kind),
        ["run"],
      );
      assert.deepEqual(actions[0]?.kind === "run" && actions[0].argv, composeUp("v2", "moat-unit"));
    }
  });

  it("on Debian 12, Compose v1 then host apply's own wait, naming the container", () => {
    const [up, wait, ...rest] = compose(DEBIAN_12);
    assert.equal(rest.length, 0);
    assert.deepEqual(up?.kind === "run" && up.argv, composeUp("v1", "moat-unit"));
    assert.ok(up?.kind === "run" && up.asAgent);
    assert.ok(wait?.kind === "await");
    assert.ok(wait.asAgent);
    assert.equal(wait.argv.at(-1), "moat-unit-agent");
    assert.match(wait.why, /moat-unit-agent/);
    const ready = new RegExp(wait.match);
    for (const state of ["running\n", "running healthy\n"]) assert.match(state, ready);
    for (const state of ["created\n", "running starting\n", "running unhealthy\n", "exited\n"])
      assert.doesNotMatch(state, ready);
  });
});
