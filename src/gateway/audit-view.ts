// `moat logs` on the VM: the audit trail's history (rotated files oldest first, then the current
// one), filtered, then with `follow` whatever the gateway writes next. Lines go to `emit` as
// they are: the caller formats them (or, for --json, passes them through unchanged).
import { existsSync, readFileSync } from "node:fs";
import { MoatError } from "../errors.js";
import { type AuditRecord, keepRecord, type LogFilter, parseAuditLine } from "./audit-format.js";
import { FileTail } from "./audit-tail.js";

export interface AuditViewOptions {
  file: string;
  filter: LogFilter;
  follow: boolean;
  // How many rotated files the gateway keeps at most (audit.ts keeps 5; a larger keep is harmless).
  keep?: number;
  pollMs?: number;
}

export interface AuditView {
  // Resolves when the history is out and, with follow, when stop() is called.
  done: Promise<void>;
  stop(): void;
}

export class AuditUnreadable extends MoatError {
  override readonly name = "AuditUnreadable";
  readonly code = "MOAT_AUDIT_UNREADABLE";
}

function readable(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === "EACCES")
      throw new AuditUnreadable(`cannot read ${file}: permission denied (run it as root: sudo moat logs)`);
    throw new AuditUnreadable(`cannot read ${file}: ${e.message}`);
  }
}

export function viewAudit(
  opts: AuditViewOptions,
  emit: (line: string, record: AuditRecord) => void,
): AuditView {
  const { file, filter } = opts;
  const keep = opts.keep ?? 9;
  const rotated: string[] = [];
  for (let i = keep; i >= 1; i--) if (existsSync(`${file}.${i}`)) rotated.push(`${file}.${i}`);
  if (!opts.follow && rotated.length === 0 && !existsSync(file))
    throw new AuditUnreadable(`no audit log at ${file} (is this a Moat VM, and has the gateway run?)`);
  if (existsSync(file)) readable(file);
  const onLine = (line: string) => {
    const r = parseAuditLine(line);
    if (r && keepRecord(r, filter)) emit(line, r);
  };
  for (const f of rotated) for (const line of readable(f).split("\n")) onLine(line);
  const tail = new FileTail(file, onLine, "start");
  tail.poll();
  if (!opts.follow) {
    tail.stop();
    return { done: Promise.resolve(), stop() {} };
  }
  let finish = () => {};
  const done = new Promise<void>((r) => {
    finish = r;
  });
  tail.start(opts.pollMs);
  return {
    done,
    stop() {
      tail.stop();
      finish();
    },
  };
}
