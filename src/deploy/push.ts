// Putting Moat, the spec and the secrets on the VM. Large files go by SFTP into a private temp
// directory of the login user, then root moves them into the staging directory. Secrets travel
// only on a command's stdin into a root-only temp file beside their destination, renamed into
// place: never on a command line, never in a file readable by the login user, never logged.

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { DEPLOY_STAGE_DIR, SECRETS_DIR } from "../render/paths.js";
import type { MoatSpec } from "../spec/schema.js";
import type { MoatTarball } from "./package.js";
import { DeployProblem } from "./problem.js";
import {
  asRoot,
  IMAGE_HASH_FILE,
  type Privileged,
  type RemoteFacts,
  STAGED_IMAGE,
  STAGED_PACKAGE,
  STAGED_SPEC,
} from "./remote.js";
import type { DeploySecret } from "./secrets.js";
import { shellQuote as q } from "./ssh.js";

export class PushFailed extends DeployProblem {
  override readonly name = "PushFailed";
  override readonly code = "MOAT_DEPLOY_PUSH_FAILED";
}

export type SecretOutcome = "created" | "replaced" | "unchanged";

async function mustRoot(p: Privileged, what: string, script: string, stdin?: string): Promise<string> {
  const r = await p.remote.run(asRoot(p, script), stdin === undefined ? {} : { stdin });
  if (r.code !== 0) throw new PushFailed(`${what} failed (exit ${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

async function withUploadDir<T>(p: Privileged, use: (dir: string) => Promise<T>): Promise<T> {
  const r = await p.remote.run("mktemp -d /tmp/moat-upload.XXXXXX");
  const dir = r.stdout.trim();
  if (r.code !== 0 || !dir.startsWith("/tmp/moat-upload."))
    throw new PushFailed(`mktemp on the host failed: ${r.stderr.trim()}`);
  try {
    return await use(dir);
  } finally {
    await p.remote.run(`rm -rf ${q(dir)}`);
  }
}

export async function pushPackage(p: Privileged, tar: MoatTarball, facts: RemoteFacts): Promise<boolean> {
  if (facts.packageSha256 === tar.sha256) return false;
  await withUploadDir(p, async (dir) => {
    await p.remote.upload(tar.file, `${dir}/moat.tgz`, 0o600);
    const next = `${STAGED_PACKAGE}.next`;
    await mustRoot(
      p,
      "unpacking Moat",
      `set -e
install -d -m 0755 ${DEPLOY_STAGE_DIR}
rm -rf ${next} && mkdir -m 0755 ${next}
tar -xzf ${q(`${dir}/moat.tgz`)} -C ${next} --no-same-owner
echo ${tar.sha256} > ${next}/.deploy-sha256
rm -rf ${STAGED_PACKAGE} && mv ${next} ${STAGED_PACKAGE}`,
    );
  });
  return true;
}

export async function pushImage(p: Privileged, localTar: string, facts: RemoteFacts): Promise<boolean> {
  const sha = createHash("sha256").update(readFileSync(localTar)).digest("hex");
  if (facts.imageSha256 === sha) return false;
  await withUploadDir(p, async (dir) => {
    await p.remote.upload(localTar, `${dir}/image.tar`, 0o600);
    await mustRoot(
      p,
      "staging the agent image",
      `set -e
install -d -m 0755 ${DEPLOY_STAGE_DIR}
mv -f ${q(`${dir}/image.tar`)} ${STAGED_IMAGE}.next
chown root:root ${STAGED_IMAGE}.next && chmod 0644 ${STAGED_IMAGE}.next
mv -f ${STAGED_IMAGE}.next ${STAGED_IMAGE}
echo ${sha} > ${IMAGE_HASH_FILE}`,
    );
  });
  return true;
}

// The VM's moat.yaml (secret references already pointing at /etc/moat-secrets); host apply
// installs it as /etc/moat/moat.yaml.
export async function pushSpec(p: Privileged, vmSpec: string): Promise<void> {
  await mustRoot(
    p,
    "writing the spec",
    `set -e
install -d -m 0755 ${DEPLOY_STAGE_DIR}
umask 022
cat > ${STAGED_SPEC}.next
mv -f ${STAGED_SPEC}.next ${STAGED_SPEC}`,
    vmSpec,
  );
}

// One secret into its file: root-owned temp from stdin, compared with what is there, renamed.
// The gateway's group may not exist before the first host apply; the file is then root only
// and host apply's gateway step makes it group-readable.
export function secretScript(s: Pick<DeploySecret, "vmPath" | "forGateway">, spec: MoatSpec): string {
  const tmp = `${s.vmPath}.moat-new`;
  const group = spec.host.gatewayUser;
  const perms = s.forGateway
    ? `if getent group ${q(group)} >/dev/null; then chgrp ${q(group)} ${q(tmp)}; chmod 0640 ${q(tmp)}; else chmod 0600 ${q(tmp)}; fi`
    : `chmod 0600 ${q(tmp)}`;
  return `set -e
[ -d ${SECRETS_DIR} ] || mkdir -m 0700 ${SECRETS_DIR}
umask 077
cat > ${q(tmp)}
if [ -f ${q(s.vmPath)} ] && cmp -s ${q(tmp)} ${q(s.vmPath)}; then rm -f ${q(tmp)}; echo unchanged; exit 0; fi
${perms}
if [ -f ${q(s.vmPath)} ]; then outcome=replaced; else outcome=created; fi
mv -f ${q(tmp)} ${q(s.vmPath)}
echo $outcome`;
}

export async function pushSecret(p: Privileged, s: DeploySecret, spec: MoatSpec): Promise<SecretOutcome> {
  const out = await mustRoot(p, `writing ${s.field}`, secretScript(s, spec), `${s.value}\n`);
  const outcome = out.trim().split("\n").pop();
  if (outcome !== "created" && outcome !== "replaced" && outcome !== "unchanged")
    throw new PushFailed(`writing ${s.field}: unexpected answer`);
  return outcome;
}
