// Step 2: the hostname ACL. Patterns are exact names or `*.suffix`, which matches every name
// strictly under the suffix but not the suffix itself (allow both if both are wanted).
// The ACL sees names only; IP literals are decided by egress.allowCidrs and the address table.

export interface HostAcl {
  readonly exact: ReadonlySet<string>;
  // Stored with their leading dot: ".github.com".
  readonly suffixes: ReadonlySet<string>;
}

export function compileAcl(patterns: readonly string[]): HostAcl {
  const exact = new Set<string>();
  const suffixes = new Set<string>();
  for (const raw of patterns) {
    const p = raw.toLowerCase().replace(/\.$/, "");
    if (p.startsWith("*.")) suffixes.add(p.slice(1));
    else exact.add(p);
  }
  return { exact, suffixes };
}

// `host` is canonical (lowercase, no trailing dot) as parseAuthority returns it.
export function aclHost(acl: HostAcl, host: string): boolean {
  if (acl.exact.has(host)) return true;
  if (acl.suffixes.size === 0) return false;
  // Walk the parent domains: a.b.example.com tries .b.example.com, .example.com, .com.
  for (let dot = host.indexOf("."); dot >= 0; dot = host.indexOf(".", dot + 1)) {
    if (acl.suffixes.has(host.slice(dot))) return true;
  }
  return false;
}
