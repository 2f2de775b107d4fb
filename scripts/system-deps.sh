#!/usr/bin/env bash
# System packages the tests and the lab need (Debian/Ubuntu). Installs only what is missing.
# chromium: the headless browser that opens `moat lab open`'s URL in test/integration/lab-open.test.ts.
set -euo pipefail
PACKAGES=(docker.io busybox-static nftables iptables iproute2 util-linux dnsmasq-base tinyproxy curl openssh-server openssh-client fail2ban python3-systemd systemd python3 debootstrap systemd-container openssl file docker-registry skopeo chromium)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "moat: installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian's docker-registry starts its own service on :5000; the tests run theirs in a namespace.
  if [[ " ${missing[*]} " == *" docker-registry "* ]] && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now docker-registry.service >/dev/null 2>&1 || true
  fi
fi
