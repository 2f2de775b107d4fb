// Specs whose sshd drop-in differs from the example's: shared by the renderer's unit cases and
// the real-sshd cases of the tools tier.
export const SSH_ROOT = `
version: 1
name: t
target: { kind: ssh, host: vm.example.com }
`;
export const OCI_WITH_USERS = `
version: 1
name: t
target: { kind: oci, region: eu-frankfurt-1 }
access: { sshUsers: [alice, bob] }
`;
