// The one test for "this test needs root": network namespaces, nspawn VMs, a private dockerd.
// Used as node:test's skip option, so a contributor without root sees each skipped with its
// reason instead of a failure.
export const isRoot = (): boolean => process.getuid?.() === 0;

export function needsRoot(what: string): string | false {
  return isRoot() ? false : `needs root: ${what}`;
}
