// Host apply's Ubuntu decisions, pure: the packages per release, Moat's rootless launcher where
// Ubuntu's docker.io ships none, and the AppArmor profile rootlesskit needs when the kernel
// restricts unprivileged user namespaces (Ubuntu 24.04).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  LOADED_PROFILES,
  loadedProfileNames,
  MOAT_PROFILE,
  MOAT_PROFILE_NAME,
  planUserns,
  profileGrantingUserns,
  renderRootlesskitProfile,
  type UsernsSeen,
} from "../../src/host/apparmor.js";
import { type Distro, packagesFor, parseOsRelease } from "../../src/host/distro.js";
import { MOAT_ROOTLESS_LAUNCHER } from "../../src/host/rootless-launcher.js";
import { planRootless, type RootlessSeen, rootlessFiles } from "../../src/host/steps/rootless-docker.js";
import type { Action, PlanContext } from "../../src/host/types.js";
import { renderBundle } from "../../src/render/index.js";
import { DOCKERD_ROOTLESS } from "../../src/render/rootless-docker.js";
import { specFrom } from "../helpers.js";

const NOBLE = parseOsRelease('ID=ubuntu\nVERSION_ID="24.04"\nVERSION_CODENAME=noble\n', "amd64");
const JAMMY = parseOsRelease('ID=ubuntu\nVERSION_ID="22.04"\nVERSION_CODENAME=jammy\n', "amd64");
const TRIXIE = parseOsRelease('ID=debian\nVERSION_ID="13"\nVERSION_CODENAME=trixie\n', "amd64");
const ROOTLESSKIT = "/usr/bin/rootlesskit";

// /etc/apparmor.d/rootlesskit as Ubuntu 24.04's apparmor 4.0.1 ships it (the integration test
// reads the real file in a booted 24.04).
const UBUNTU_PROFILE = `# This profile allows everything and only exists to give the
# application a name instead of having the label "unconfined"

abi <abi/4.0>,
include <tunables/global>

profile rootlesskit /usr/bin/rootlesskit flags=(unconfined) {
  userns,

  # Site-specific additions and overrides. See local/README for details.
  include if exists <local/rootlesskit>
}
`;

const restricted = (over: Partial<UsernsSeen> = {}): UsernsSeen => ({
  restrict: "1\n",
  rootlesskit: ROOTLESSKIT,
  profiles: [],
  loaded: [],
  ...over,
});
const argvs = (actions: Action[]) =>
  actions.map((a) =>
    a.kind === "run" ? a.argv.join(" ") : a.kind === "write" ? `write ${a.file.path}` : a.kind,
  );

describe("host apply on Ubuntu: packages", () => {
  it("Compose v2 on both; apparmor (rootlesskit's profile) where user namespaces are restricted", () => {
    for (const d of [NOBLE, JAMMY]) {
      const list = packagesFor(d);
      for (const p of ["docker.io", "docker-compose-v2", "rootlesskit", "slirp4netns", "uidmap", "fail2ban"])
        assert.ok(list.includes(p), `${d.codename}: ${p}`);
      assert.ok(!list.includes("docker-cli"), "Ubuntu's docker.io carries the client");
    }
    assert.ok(packagesFor(NOBLE).includes("apparmor"));
    assert.ok(!packagesFor(JAMMY).includes("apparmor"));
    assert.ok(!packagesFor(TRIXIE).includes("apparmor"));
  });
});

describe("host apply on Ubuntu: AppArmor for rootlesskit", () => {
  it("does nothing where the kernel does not restrict user namespaces", () => {
    assert.deepEqual(planUserns(restricted({ restrict: null })), []);
    assert.deepEqual(planUserns(restricted({ restrict: "0\n" })), []);
  });

  it("recognises Ubuntu's shipped profile, and not one without userns or for another path", () => {
    assert.equal(profileGrantingUserns(UBUNTU_PROFILE, ROOTLESSKIT), "rootlesskit");
    assert.equal(profileGrantingUserns(UBUNTU_PROFILE, "/usr/local/bin/rootlesskit"), null);
    assert.equal(
      profileGrantingUserns(UBUNTU_PROFILE.replace("  userns,", "  # userns,"), ROOTLESSKIT),
      null,
    );
    assert.equal(profileGrantingUserns(`${ROOTLESSKIT} {\n  userns,\n}\n`, ROOTLESSKIT), ROOTLESSKIT);
    assert.equal(
      profileGrantingUserns(renderRootlesskitProfile(ROOTLESSKIT), ROOTLESSKIT),
      MOAT_PROFILE_NAME,
    );
  });

  it("leaves a covered rootlesskit to the distribution's profile, loading it if the kernel lacks it", () => {
    const shipped = { path: "/etc/apparmor.d/rootlesskit", text: UBUNTU_PROFILE };
    assert.deepEqual(planUserns(restricted({ profiles: [shipped], loaded: ["rootlesskit"] })), []);
    assert.deepEqual(argvs(planUserns(restricted({ profiles: [shipped] }))), [
      "apparmor_parser --replace /etc/apparmor.d/rootlesskit",
    ]);
  });

  it("writes and loads Moat's profile when none covers rootlesskit; then it is converged", () => {
    const actions = planUserns(restricted());
    assert.deepEqual(argvs(actions), [`write ${MOAT_PROFILE}`, `apparmor_parser --replace ${MOAT_PROFILE}`]);
    const text = renderRootlesskitProfile(ROOTLESSKIT);
    const ours = { path: MOAT_PROFILE, text };
    assert.deepEqual(planUserns(restricted({ profiles: [ours], loaded: [MOAT_PROFILE_NAME] })), []);
    // Written but not loaded (the kernel lost it, or a load failed): load only.
    assert.deepEqual(argvs(planUserns(restricted({ profiles: [ours] }))), [
      `apparmor_parser --replace ${MOAT_PROFILE}`,
    ]);
  });

  it("removes Moat's profile once the distribution ships one (two attachments to one path conflict)", () => {
    const shipped = { path: "/etc/apparmor.d/rootlesskit", text: UBUNTU_PROFILE };
    const ours = { path: MOAT_PROFILE, text: renderRootlesskitProfile(ROOTLESSKIT) };
    assert.deepEqual(
      argvs(
        planUserns(restricted({ profiles: [ours, shipped], loaded: ["rootlesskit", MOAT_PROFILE_NAME] })),
      ),
      [`apparmor_parser --remove ${MOAT_PROFILE}`, `rm -f ${MOAT_PROFILE}`],
    );
  });

  it("fails clearly when restricted and rootlesskit is missing", () => {
    const [fail] = planUserns(restricted({ rootlesskit: null }));
    assert.equal(fail?.kind, "fail");
  });

  it(`reads the kernel's loaded profiles (${LOADED_PROFILES})`, () => {
    assert.deepEqual(loadedProfileNames("rootlesskit (unconfined)\n/usr/bin/man (enforce)\n"), [
      "rootlesskit",
      "/usr/bin/man",
    ]);
  });
});

describe("host apply on Ubuntu: the rootless launcher", () => {
  const context = (distro: Distro): PlanContext => {
    const yaml =
      'version: 1\nname: unit\ntarget: { kind: lab }\nagent: { profile: custom, image: "example/agent:1.0", writablePaths: [/tmp] }\n';
    const spec = specFrom(yaml);
    return { spec, specText: yaml, artifacts: new Map(renderBundle(spec).map((a) => [a.path, a])), distro };
  };
  const seen = (over: Partial<RootlessSeen> = {}): RootlessSeen => ({
    files: new Map(),
    launchers: [],
    launcherLink: null,
    wantsLink: null,
    tunMode: 0o666,
    rootful: [],
    userManager: "inactive",
    userDocker: { enabled: "disabled", active: "inactive" },
    userns: restricted({ restrict: null }),
    ...over,
  });

  it("writes Moat's launcher where Ubuntu's docker.io ships none; Debian without one fails", () => {
    const writes = planRootless(context(NOBLE), seen()).filter((a) => a.kind === "write");
    const launcher = writes.find((a) => a.kind === "write" && a.file.path === DOCKERD_ROOTLESS);
    assert.ok(launcher?.kind === "write");
    assert.equal(launcher.file.content, MOAT_ROOTLESS_LAUNCHER);
    assert.equal(launcher.file.mode, 0o755);
    assert.equal(planRootless(context(TRIXIE), seen())[0]?.kind, "fail");
  });

  it("turns off the root daemons that are on (docker.io enables docker and containerd), and only those", () => {
    const on = { enabled: "enabled", active: "active" };
    const off = { enabled: "disabled", active: "inactive" };
    const actions = planRootless(
      context(NOBLE),
      seen({
        rootful: [
          { unit: "docker.service", ...on },
          { unit: "docker.socket", ...off },
          { unit: "containerd.service", ...on },
        ],
      }),
    );
    assert.ok(argvs(actions).includes("systemctl disable --now docker.service containerd.service"));
    assert.ok(!argvs(planRootless(context(NOBLE), seen())).some((a) => a.includes("disable")));
  });

  it("links a shipped launcher instead (Docker's own packages on Ubuntu)", () => {
    const actions = planRootless(context(NOBLE), seen({ launchers: ["/usr/bin/dockerd-rootless.sh"] }));
    assert.ok(actions.some((a) => a.kind === "symlink" && a.path === DOCKERD_ROOTLESS));
    assert.ok(!actions.some((a) => a.kind === "write" && a.file.path === DOCKERD_ROOTLESS));
  });

  it("a changed launcher restarts the running rootless Docker", () => {
    const ctx = context(NOBLE);
    const files = new Map(
      rootlessFiles(ctx, true).map((f) => [
        f.path,
        { ...f, content: f.path === DOCKERD_ROOTLESS ? "old" : f.content },
      ]),
    );
    const actions = planRootless(
      ctx,
      seen({
        files,
        wantsLink: "../docker.service",
        userManager: "active",
        userDocker: { enabled: "enabled", active: "active" },
      }),
    );
    assert.deepEqual(argvs(actions).slice(-2), [
      "systemctl --user -M moat-agent@ daemon-reload",
      "systemctl --user -M moat-agent@ restart docker.service",
    ]);
  });

  it("the launcher takes its network choices from Moat's unit and runs rootlesskit by its profiled path", () => {
    for (const v of ["DOCKERD_ROOTLESS_ROOTLESSKIT_NET", "DOCKERD_ROOTLESS_ROOTLESSKIT_MTU"]) {
      assert.match(MOAT_ROOTLESS_LAUNCHER, new RegExp(`\\$\\{${v}:\\?`));
      const unit = rootlessFiles(context(NOBLE))[0]?.content ?? "";
      assert.match(String(unit), new RegExp(`Environment=${v}=`));
    }
    assert.match(MOAT_ROOTLESS_LAUNCHER, /exec rootlesskit \\/);
    assert.match(MOAT_ROOTLESS_LAUNCHER, /--disable-host-loopback/);
  });
});
