// The rootless Docker launcher host apply writes where the distribution ships none: Ubuntu's
// docker.io has no dockerd-rootless.sh before 26.04 (Launchpad #2121905), while Debian's ships
// Docker's own in contrib. It does what Docker's contrib/dockerd-rootless.sh does, taking the
// network choices from the variables Moat's unit sets (src/render/rootless-docker.ts) rather
// than guessing them, and failing when one is missing.
export const MOAT_ROOTLESS_LAUNCHER = `#!/bin/sh
# Written by Moat's host apply: starts dockerd inside RootlessKit's user and network namespaces.
set -e
: "\${XDG_RUNTIME_DIR:?must be set}"
: "\${DOCKERD_ROOTLESS_ROOTLESSKIT_NET:?is set by Moat's docker.service}"
: "\${DOCKERD_ROOTLESS_ROOTLESSKIT_MTU:?is set by Moat's docker.service}"
if [ -z "$_MOAT_ROOTLESS_CHILD" ]; then
	if [ "$(id -u)" = 0 ]; then
		echo "rootless Docker runs as an unprivileged user" >&2
		exit 1
	fi
	host_loopback=--disable-host-loopback
	[ "$DOCKERD_ROOTLESS_ROOTLESSKIT_DISABLE_HOST_LOOPBACK" = false ] && host_loopback=
	export _MOAT_ROOTLESS_CHILD=1
	# rootlesskit by its PATH name: the AppArmor profile that lets it make user namespaces
	# (Ubuntu 24.04) attaches to that path.
	exec rootlesskit \\
		--state-dir="$XDG_RUNTIME_DIR/dockerd-rootless" \\
		--net="$DOCKERD_ROOTLESS_ROOTLESSKIT_NET" --mtu="$DOCKERD_ROOTLESS_ROOTLESSKIT_MTU" \\
		--slirp4netns-sandbox=auto --slirp4netns-seccomp=auto \\
		$host_loopback --port-driver=builtin \\
		--copy-up=/etc --copy-up=/run --propagation=rslave \\
		"$0" "$@"
fi
# In the namespaces /run is a private copy: the host daemons' sockets and locks are not ours.
rm -f /run/docker /run/containerd /run/xtables.lock
exec dockerd "$@"
`;
