type ArtifactKind =
  | "nftables"
  | "compose"
  | "seccomp"
  | "openclaw-config"
  | "sshd"
  | "fail2ban"
  | "systemd-unit"
  | "tmpfiles"
  | "cloud-init"
  | "terraform";

export interface Artifact {
  kind: ArtifactKind;
  // Relative to the bundle directory; host apply knows where each kind goes on the VM.
  path: string;
  content: string;
  mode?: number;
}
