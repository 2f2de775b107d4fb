// The base of every error Moat throws on purpose: a `name` and a stable `code` (as undici's and
// Node's own errors carry), so the CLI can print one clear line for it and a script or a test can
// tell failures apart without matching message text. Anything that is not a MoatError is a bug
// and keeps its stack. Codes are listed in `moat --help` (src/cli/errors.ts).
// Both layers import this module: it depends on nothing.
export abstract class MoatError extends Error {
  abstract override readonly name: string;
  abstract readonly code: string;
}
