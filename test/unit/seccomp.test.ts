import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  dockerDefaultProfile,
  moatProfile,
  renderSeccomp,
  SECCOMP_PATH,
  type SeccompProfile,
} from "../../src/render/seccomp.js";
import {
  DOCKER_DEFAULT_RULES,
  MOAT_REMOVED,
  MOAT_REMOVED_CAP_GATED,
  MOAT_RESTRICTED,
  NEVER_ALLOWED,
  type SyscallRule,
  UPSTREAM_PROFILE,
} from "../../src/render/seccomp-syscalls.js";
import { specFrom } from "../helpers.js";

// What a container with no capabilities on amd64/arm64 may call, as Docker evaluates the profile
// (includes/excludes against the bounding set and the arch). Mirrors moby's setupSeccomp.
function effectiveRules(p: SeccompProfile, arch: string, caps: string[] = []): SyscallRule[] {
  return p.syscalls.filter((r) => {
    if (r.excludes?.arches?.includes(arch)) return false;
    if (r.excludes?.caps?.some((c) => caps.includes(c))) return false;
    if (r.includes?.arches && !r.includes.arches.includes(arch)) return false;
    if (r.includes?.caps && !r.includes.caps.every((c) => caps.includes(c))) return false;
    return true;
  });
}
const unconditionallyAllowed = (p: SeccompProfile, arch: string, caps: string[] = []) =>
  new Set(
    effectiveRules(p, arch, caps)
      .filter((r) => r.action === "SCMP_ACT_ALLOW" && !r.args)
      .flatMap((r) => r.names),
  );
const mentioned = (p: SeccompProfile) => new Set(p.syscalls.flatMap((r) => r.names));
const ALL_CAPS = [
  "CAP_SYS_ADMIN",
  "CAP_SYS_PTRACE",
  "CAP_BPF",
  "CAP_PERFMON",
  "CAP_SYS_MODULE",
  "CAP_SYSLOG",
];

describe("seccomp renderer", () => {
  it("names its upstream source at a pinned tag and commit", () => {
    assert.match(UPSTREAM_PROFILE.tag, /^docker-v\d+\.\d+\.\d+$/);
    assert.match(UPSTREAM_PROFILE.commit, /^[0-9a-f]{40}$/);
    assert.equal(UPSTREAM_PROFILE.path, "vendor/github.com/moby/profiles/seccomp/default.json");
  });

  it("renders Docker's JSON format: errno by default, amd64 and arm64 only", () => {
    for (const p of [moatProfile(), dockerDefaultProfile()]) {
      assert.equal(p.defaultAction, "SCMP_ACT_ERRNO");
      assert.equal(p.defaultErrnoRet, 1);
      assert.deepEqual(
        p.archMap.map((a) => a.architecture),
        ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
      );
      for (const r of p.syscalls) {
        assert.ok(r.names.length > 0);
        assert.ok(r.action === "SCMP_ACT_ALLOW" || r.action === "SCMP_ACT_ERRNO");
      }
    }
    assert.deepEqual(
      moatProfile().archMap.map((a) => a.subArchitectures),
      [null, null],
      "moat drops 32-bit compat ABIs",
    );
    assert.deepEqual(dockerDefaultProfile().archMap[0]?.subArchitectures, ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
  });

  it("docker-default keeps every upstream rule unchanged", () => {
    assert.deepEqual(dockerDefaultProfile().syscalls, DOCKER_DEFAULT_RULES);
  });

  it("writes one artifact at the seccomp path, byte-identical across renders", () => {
    for (const seccomp of ["moat", "docker-default"]) {
      const spec = specFrom();
      spec.hardening.seccomp = seccomp as "moat" | "docker-default";
      const [a, ...rest] = renderSeccomp(spec);
      assert.equal(rest.length, 0);
      assert.equal(a?.kind, "seccomp");
      assert.equal(a?.path, SECCOMP_PATH);
      assert.ok(a?.content.endsWith("}\n"));
      assert.equal(renderSeccomp(spec)[0]?.content, a?.content);
      assert.doesNotThrow(() => JSON.parse(a?.content ?? ""));
    }
    assert.notEqual(renderSeccomp(specFrom())[0]?.content, renderSeccomp(dockerDefault())[0]?.content);
  });

  it("every documented removal is allowed by docker-default and absent from moat", () => {
    const upstream = mentioned(dockerDefaultProfile());
    const moat = mentioned(moatProfile());
    for (const name of [...Object.keys(MOAT_REMOVED), ...Object.keys(MOAT_REMOVED_CAP_GATED)]) {
      assert.ok(upstream.has(name), `${name} is not in Docker's profile, so removing it documents nothing`);
      assert.ok(!moat.has(name), `${name} is still in the moat profile`);
    }
  });

  it("moat allows nothing dangerous even if a capability is added back", () => {
    for (const arch of ["amd64", "arm64"]) {
      const withCaps = unconditionallyAllowed(moatProfile(), arch, ALL_CAPS);
      for (const name of [
        "unshare",
        "setns",
        "mount",
        "bpf",
        "ptrace",
        "perf_event_open",
        "clone3",
        "clone",
      ]) {
        assert.ok(!withCaps.has(name), `${name} allowed on ${arch} with capabilities`);
      }
      // Negative control: the same check does catch Docker's default reopening them with CAP_SYS_ADMIN.
      const upstreamWithCaps = unconditionallyAllowed(dockerDefaultProfile(), arch, ALL_CAPS);
      for (const name of ["unshare", "setns", "mount", "bpf", "ptrace"])
        assert.ok(upstreamWithCaps.has(name));
    }
  });

  it("restricted calls keep only their narrow forms", () => {
    const rules = effectiveRules(moatProfile(), "amd64", ALL_CAPS);
    const byName = (n: string) => rules.filter((r) => r.names.includes(n));
    assert.deepEqual(
      byName("socket").map((r) => r.args?.[0]?.value),
      [1, 2, 10, 16],
    );
    assert.deepEqual(
      byName("personality").map((r) => r.args?.[0]?.value),
      [0, 0xffffffff],
    );
    const [clone, ...moreClone] = byName("clone");
    assert.equal(moreClone.length, 0);
    assert.deepEqual(clone?.args, [{ index: 0, value: 0x7e020000, op: "SCMP_CMP_MASKED_EQ" }]);
    assert.deepEqual(byName("clone3"), [{ names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: 38 }]);
    for (const name of Object.keys(MOAT_RESTRICTED)) assert.ok(byName(name).length > 0, name);
  });

  it("keeps calls Docker refuses out of both profiles", () => {
    for (const p of [moatProfile(), dockerDefaultProfile()]) {
      const names = mentioned(p);
      for (const name of Object.keys(NEVER_ALLOWED)) assert.ok(!names.has(name), name);
    }
  });

  it("moat is a subset of docker-default for every arch and capability set", () => {
    for (const arch of ["amd64", "arm64"]) {
      for (const caps of [[], ALL_CAPS]) {
        const upstream = unconditionallyAllowed(dockerDefaultProfile(), arch, caps);
        for (const name of unconditionallyAllowed(moatProfile(), arch, caps)) {
          assert.ok(upstream.has(name), `${name} on ${arch} is allowed by moat but not Docker`);
        }
      }
    }
  });

  it("has no duplicate names within a rule or among unconditional allows", () => {
    for (const p of [moatProfile(), dockerDefaultProfile()]) {
      for (const r of p.syscalls) assert.equal(new Set(r.names).size, r.names.length);
    }
    const base = moatProfile().syscalls.filter((r) => !r.args && !r.includes && !r.excludes);
    const all = base.flatMap((r) => r.names);
    assert.equal(new Set(all).size, all.length);
  });

  it("keeps what a Node agent needs", () => {
    const allowed = unconditionallyAllowed(moatProfile(), "arm64");
    for (const name of ["read", "write", "openat", "mmap", "futex", "epoll_pwait", "execve", "getrandom"]) {
      assert.ok(allowed.has(name), name);
    }
  });
});

function dockerDefault() {
  const spec = specFrom();
  spec.hardening.seccomp = "docker-default";
  return spec;
}
