// Host apply pulls the agent's image itself (issue 13): root's skopeo, through the gateway's pull
// listener on loopback (registry hosts of agent.image, CONNECT only, audited as listener "pull"),
// into an archive that the agent's rootless daemon then loads. The daemon has no proxy and no way
// out at all: it and the agent's container share a uid, so anything it could reach, so could the
// agent — a `docker push` to an attacker's registry namespace included.
import { pullProxyUrl } from "../gateway/pull-listener.js";
import { localImageName } from "../spec/derive.js";
import type { MoatSpec } from "../spec/schema.js";
import { HOST_STATE_DIR } from "./files.js";
import type { Action } from "./types.js";

export const PULLED_ARCHIVE = `${HOST_STATE_DIR}/agent-image.tar`;

export function pullActions(spec: MoatSpec): Action[] {
  const { image } = spec.agent;
  const proxy = pullProxyUrl(spec);
  return [
    // skopeo refuses to write into an archive that exists.
    { kind: "run", argv: ["rm", "-f", PULLED_ARCHIVE], why: "clear a pull left half done" },
    {
      kind: "run",
      argv: [
        "env",
        `HTTPS_PROXY=${proxy}`,
        `HTTP_PROXY=${proxy}`,
        "NO_PROXY=",
        "skopeo",
        "copy",
        "--retry-times",
        "3",
        `docker://${image}`,
        `docker-archive:${PULLED_ARCHIVE}:${localImageName(image)}`,
      ],
      why: `pull ${image} as root through the gateway's pull listener (${proxy})`,
    },
    {
      kind: "run",
      argv: ["docker", "load"],
      asAgent: true,
      stdinFile: PULLED_ARCHIVE,
      why: `load ${image} into the agent's rootless daemon`,
    },
    { kind: "run", argv: ["rm", "-f", PULLED_ARCHIVE], why: "remove the pulled archive" },
  ];
}
