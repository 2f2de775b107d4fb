// The agent user's rootless Docker daemon as a systemd user unit. Written by Moat rather than by
// dockerd-rootless-setuptool.sh: the setuptool insists on `modprobe ip_tables`, and its
// --skip-iptables writes `--iptables=false`, which silently breaks container egress. The network
// driver is pinned (newer Docker picks gvisor-tap-vsock when slirp4netns is missing, cloud-facts
// §4.1) and host loopback is off, so a container cannot reach the host's 127.0.0.1 via 10.0.2.2.
import type { MoatSpec } from "../spec/schema.js";
import type { Artifact } from "./artifact.js";

export const ROOTLESS_DOCKER_UNIT_PATH = "systemd-user/docker.service";
// Host apply links whichever copy the distribution ships (Docker's packages: /usr/bin; Debian's
// and Ubuntu's docker.io: /usr/share/docker.io/contrib) to this fixed path.
export const DOCKERD_ROOTLESS = "/usr/local/bin/dockerd-rootless.sh";
// slirp4netns opens /dev/net/tun from inside the agent's user namespace, so the device must be
// 0666 at every boot before the agent's user manager starts. udev's default rule does that on
// most VMs; systemd-tmpfiles-setup-dev.service applies this line where no udev runs (containers,
// some VPS), so a chmod made by host apply is not lost at the next boot.
export const TUN_TMPFILES_PATH = "tmpfiles/moat-tun.conf";

export function renderRootlessDockerUnit(spec: MoatSpec): Artifact[] {
  const lines = [
    "# Rendered by Moat from moat.yaml; edit the spec, not this file.",
    `# Rootless Docker for ${spec.host.agentUser}; installed as ~/.config/systemd/user/docker.service.`,
    "[Unit]",
    "Description=Docker Application Container Engine (Rootless, Moat)",
    "",
    "[Service]",
    "Environment=PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
    "Environment=DOCKERD_ROOTLESS_ROOTLESSKIT_NET=slirp4netns",
    "Environment=DOCKERD_ROOTLESS_ROOTLESSKIT_MTU=65520",
    "Environment=DOCKERD_ROOTLESS_ROOTLESSKIT_DISABLE_HOST_LOOPBACK=true",
    // No proxy: the daemon never pulls (host apply loads the image it pulled as root, src/host/
    // pull.ts), and it shares the agent's uid, so any way out it had would be the agent's too.
    // Should anything make it look a name up, the firewall refuses the lookup; the C library's
    // resolver gives up at once where Go's own waits out its timeouts (about 30 s, measured).
    "Environment=GODEBUG=netdns=cgo",
    // Docker 26.x fails to start a container whose eth0 IPv6 it cannot switch off (the sysctl is
    // not writable inside RootlessKit's namespace); this is Docker's documented opt-out. The
    // host firewall, not the container's interface, is what confines the agent's IPv6.
    "Environment=DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE=1",
    `ExecStart=${DOCKERD_ROOTLESS}`,
    "ExecReload=/bin/kill -s HUP $MAINPID",
    // A start may take long (first run, storage migration), so it is never cut short; a stop is
    // bounded, so a daemon that will not go away cannot hold back Restart=always for ever.
    "TimeoutStartSec=0",
    "TimeoutStopSec=60s",
    "RestartSec=2",
    "Restart=always",
    "StartLimitBurst=3",
    "StartLimitInterval=60s",
    "LimitNOFILE=infinity",
    "LimitNPROC=infinity",
    "LimitCORE=infinity",
    "TasksMax=infinity",
    "Delegate=yes",
    "Type=notify",
    "NotifyAccess=all",
    "KillMode=mixed",
    "",
    "[Install]",
    "WantedBy=default.target",
    "",
  ];
  return [
    { kind: "systemd-unit", path: ROOTLESS_DOCKER_UNIT_PATH, content: lines.join("\n"), mode: 0o644 },
    {
      kind: "tmpfiles",
      path: TUN_TMPFILES_PATH,
      content:
        "# Rendered by Moat from moat.yaml; edit the spec, not this file.\n# Rootless networking (slirp4netns) opens the tun device from the agent's user namespace.\nz /dev/net/tun 0666 - - -\n",
      mode: 0o644,
    },
  ];
}
