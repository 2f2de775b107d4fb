// Docker's default seccomp profile as data, and what Moat's tighter profile removes from it.
//
// Source, transcribed by name (syscall names and their conditions are facts, not code):
//   repository moby/moby, tag docker-v29.7.2 (commit 6a43e3d5afddf4111da0f864bbc7cae5d7e95001),
//   path vendor/github.com/moby/profiles/seccomp/default.json = module github.com/moby/profiles/seccomp v0.2.3.
// Rule order and conditions follow that file, so `docker-default` renders an equivalent profile.

export const UPSTREAM_PROFILE = {
  repository: "moby/moby",
  tag: "docker-v29.7.2",
  commit: "6a43e3d5afddf4111da0f864bbc7cae5d7e95001",
  path: "vendor/github.com/moby/profiles/seccomp/default.json",
  module: "github.com/moby/profiles/seccomp v0.2.3",
} as const;

type SeccompOp = "SCMP_CMP_EQ" | "SCMP_CMP_LT" | "SCMP_CMP_GT" | "SCMP_CMP_MASKED_EQ";
interface SeccompArg {
  index: number;
  value: number;
  op: SeccompOp;
}
// Docker's profile conditions: Go arch names, capabilities in the bounding set, kernel version.
interface RuleFilter {
  arches?: string[];
  caps?: string[];
  minKernel?: string;
}
export interface SyscallRule {
  names: string[];
  action: "SCMP_ACT_ALLOW" | "SCMP_ACT_ERRNO";
  errnoRet?: number;
  args?: SeccompArg[];
  comment?: string;
  includes?: RuleFilter;
  excludes?: RuleFilter;
}

const allow = (names: string[], more: Omit<SyscallRule, "names" | "action"> = {}): SyscallRule => ({
  names,
  action: "SCMP_ACT_ALLOW",
  ...more,
});
const argEq = (index: number, value: number): SeccompArg => ({ index, value, op: "SCMP_CMP_EQ" });
const caps = (...c: string[]) => ({ includes: { caps: c } });
const arches = (...a: string[]) => ({ includes: { arches: a } });

// CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET: clone may not create namespaces.
const CLONE_NAMESPACE_FLAGS = 0x7e020000;
const ENOSYS = 38;

// The unconditional allowlist, in upstream order.
const BASE_SYSCALLS = `
accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown chown32
clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3
epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait
epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64
fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchown32 fchownat fcntl
fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64
fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futex_requeue futex_time64 futex_wait
futex_waitv futex_wake futimesat getcpu getcwd getdents getdents64 getegid getegid32 geteuid
geteuid32 getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid getppid
getpriority getrandom getresgid getresgid32 getresuid getresuid32 getrlimit get_robust_list
getrusage getsid getsockname getsockopt get_thread_area gettid gettimeofday getuid getuid32 getxattr
getxattrat inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy
io_getevents io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit ipc kill
landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link
linkat listen listmount listxattr listxattrat llistxattr _llseek lremovexattr lseek lsetxattr lstat
lstat64 madvise map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod
mknodat mlock mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive
mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap mseal msgctl msgget msgrcv
msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat _newselect open openat
openat2 pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll
ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64
pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg
recvmmsg_time64 recvmsg remap_file_pages removexattr removexattrat rename renameat renameat2
restart_syscall riscv_hwprobe rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo
rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo
sched_getaffinity sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min
sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity
sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select semctl semget semop
semtimedop semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32
setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority setregid
setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit set_robust_list
setsid setsockopt set_thread_area set_tid_address setuid setuid32 setxattr setxattrat shmat shmctl
shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn socketcall socketpair
splice stat stat64 statfs statfs64 statmount statx symlink symlinkat sync sync_file_range syncfs
sysinfo tee tgkill time timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64
timer_settime timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime
timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat uretprobe
utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev
`;

const words = (s: string) => s.trim().split(/\s+/);

export const DOCKER_DEFAULT_RULES: readonly SyscallRule[] = [
  allow(words(BASE_SYSCALLS)),
  allow(["process_vm_readv", "process_vm_writev", "ptrace"], { includes: { minKernel: "4.8" } }),
  // socket: every family except AF_ALG (38) and AF_VSOCK (40).
  allow(["socket"], { args: [{ index: 0, value: 38, op: "SCMP_CMP_LT" }] }),
  allow(["socket"], { args: [argEq(0, 39)] }),
  allow(["socket"], { args: [{ index: 0, value: 40, op: "SCMP_CMP_GT" }] }),
  // personality: PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and the 0xffffffff query.
  allow(["personality"], { args: [argEq(0, 0)] }),
  allow(["personality"], { args: [argEq(0, 8)] }),
  allow(["personality"], { args: [argEq(0, 0x20000)] }),
  allow(["personality"], { args: [argEq(0, 0x20008)] }),
  allow(["personality"], { args: [argEq(0, 0xffffffff)] }),
  allow(["sync_file_range2", "swapcontext"], arches("ppc64le")),
  allow(
    ["arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush", "set_tls"],
    arches("arm", "arm64"),
  ),
  allow(["arch_prctl"], arches("amd64", "x32")),
  allow(["modify_ldt"], arches("amd64", "x32", "x86")),
  allow(["s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"], arches("s390", "s390x")),
  allow(["riscv_flush_icache"], arches("riscv64")),
  allow(["open_by_handle_at"], caps("CAP_DAC_READ_SEARCH")),
  allow(
    [
      "bpf",
      "clone",
      "clone3",
      "fanotify_init",
      "fsconfig",
      "fsmount",
      "fsopen",
      "fspick",
      "lookup_dcookie",
      "lsm_get_self_attr",
      "lsm_list_modules",
      "lsm_set_self_attr",
      "mount",
      "mount_setattr",
      "move_mount",
      "open_tree",
      "perf_event_open",
      "quotactl",
      "quotactl_fd",
      "setdomainname",
      "sethostname",
      "setns",
      "syslog",
      "umount",
      "umount2",
      "unshare",
    ],
    caps("CAP_SYS_ADMIN"),
  ),
  allow(["clone"], {
    args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, op: "SCMP_CMP_MASKED_EQ" }],
    excludes: { caps: ["CAP_SYS_ADMIN"], arches: ["s390", "s390x"] },
  }),
  allow(["clone"], {
    args: [{ index: 1, value: CLONE_NAMESPACE_FLAGS, op: "SCMP_CMP_MASKED_EQ" }],
    comment: "s390 parameter ordering for clone is different",
    includes: { arches: ["s390", "s390x"] },
    excludes: { caps: ["CAP_SYS_ADMIN"] },
  }),
  // clone3 cannot be filtered by flags (they sit behind a pointer); ENOSYS makes libc fall back to clone.
  { names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: ENOSYS, excludes: { caps: ["CAP_SYS_ADMIN"] } },
  allow(["reboot"], caps("CAP_SYS_BOOT")),
  allow(["chroot"], caps("CAP_SYS_CHROOT")),
  allow(["delete_module", "init_module", "finit_module"], caps("CAP_SYS_MODULE")),
  allow(["acct"], caps("CAP_SYS_PACCT")),
  allow(
    ["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"],
    caps("CAP_SYS_PTRACE"),
  ),
  allow(["iopl", "ioperm"], caps("CAP_SYS_RAWIO")),
  allow(["settimeofday", "stime", "clock_settime", "clock_settime64"], caps("CAP_SYS_TIME")),
  allow(["vhangup"], caps("CAP_SYS_TTY_CONFIG")),
  allow(["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"], caps("CAP_SYS_NICE")),
  allow(["syslog"], caps("CAP_SYSLOG")),
  allow(["bpf"], caps("CAP_BPF")),
  allow(["perf_event_open"], caps("CAP_PERFMON")),
];

// ---- Moat's profile: Docker's default minus what an agent never needs ----

// The architectures Moat deploys on (OCI A1 and AWS t4g are arm64; x86_64 for the rest), with
// Docker's compat sub-architectures. Moat's own profile lists none: agent images are 64-bit, and
// the 32-bit compat syscall entry points (x86, x32, AArch32) are a recurring source of kernel bugs.
export const DEPLOY_ARCHES = [
  { architecture: "SCMP_ARCH_X86_64", goArch: "amd64", compat: ["SCMP_ARCH_X86", "SCMP_ARCH_X32"] },
  { architecture: "SCMP_ARCH_AARCH64", goArch: "arm64", compat: ["SCMP_ARCH_ARM"] },
] as const;

// Allowed unconditionally by Docker, removed by Moat.
export const MOAT_REMOVED: Readonly<Record<string, string>> = {
  ptrace: "debugging or injecting into other processes; no agent workload needs it",
  process_vm_readv: "reads another process's memory (secrets of sibling processes)",
  process_vm_writev: "writes another process's memory",
  modify_ldt: "x86 LDT edits serve only 16-bit/Wine code; a historic kernel bug surface",
  name_to_handle_at:
    "file handles are half of the open_by_handle_at container escape; nothing else uses them",
  fanotify_mark: "useless without fanotify_init, which Moat never allows",
  remap_file_pages: "deprecated since Linux 3.16 and only emulated; no current user",
  vmsplice: "page-gifting into pipes has a record of kernel bugs; Node and libuv never call it",
  io_setup: "Linux AIO: Node/libuv use a thread pool instead, and io_uring is denied already",
  io_submit: "Linux AIO (see io_setup)",
  io_cancel: "Linux AIO (see io_setup)",
  io_destroy: "Linux AIO (see io_setup)",
  io_getevents: "Linux AIO (see io_setup)",
  io_pgetevents: "Linux AIO (see io_setup)",
  io_pgetevents_time64: "Linux AIO (see io_setup)",
  mq_open: "POSIX message queues: the agent's processes talk through pipes and sockets",
  mq_unlink: "POSIX message queues (see mq_open)",
  mq_timedsend: "POSIX message queues (see mq_open)",
  mq_timedsend_time64: "POSIX message queues (see mq_open)",
  mq_timedreceive: "POSIX message queues (see mq_open)",
  mq_timedreceive_time64: "POSIX message queues (see mq_open)",
  mq_notify: "POSIX message queues (see mq_open); mq_notify had a use-after-free exploited in the wild",
  mq_getsetattr: "POSIX message queues (see mq_open)",
  msgget: "System V message queues: unused by agents, kept out like POSIX queues",
  msgsnd: "System V message queues (see msgget)",
  msgrcv: "System V message queues (see msgget)",
  msgctl: "System V message queues (see msgget)",
};

// Allowed by Docker only while the container holds a capability. `cap_drop: [ALL]` already makes
// these inert; Moat drops the rules too, so adding a capability later cannot reopen them.
export const MOAT_REMOVED_CAP_GATED: Readonly<Record<string, string>> = {
  open_by_handle_at: "the 'shocker' container escape (CAP_DAC_READ_SEARCH)",
  bpf: "loads programs into the kernel",
  fanotify_init: "watches filesystem activity system-wide",
  fsconfig: "new mount API",
  fsmount: "new mount API",
  fsopen: "new mount API",
  fspick: "new mount API",
  mount: "mounting filesystems",
  mount_setattr: "changing mount flags",
  move_mount: "new mount API",
  open_tree: "new mount API (clones mount trees)",
  umount: "unmounting",
  umount2: "unmounting",
  lookup_dcookie: "kernel profiling interface",
  lsm_get_self_attr: "LSM attribute interface; the agent has no LSM to manage",
  lsm_list_modules: "LSM attribute interface",
  lsm_set_self_attr: "LSM attribute interface",
  perf_event_open: "performance counters: side channels and a long bug history",
  quotactl: "disk quota administration",
  quotactl_fd: "disk quota administration",
  setdomainname: "changes the UTS namespace's names",
  sethostname: "changes the UTS namespace's names",
  setns: "joins other namespaces",
  unshare: "creates namespaces (user namespaces open kernel attack surface)",
  syslog: "reads the kernel log, which leaks addresses",
  reboot: "reboots the machine",
  chroot: "changes the root directory",
  delete_module: "kernel modules",
  init_module: "kernel modules",
  finit_module: "kernel modules",
  acct: "process accounting",
  kcmp: "compares kernel objects of other processes",
  pidfd_getfd: "steals file descriptors from other processes",
  process_madvise: "advises on another process's memory",
  iopl: "raw I/O port access",
  ioperm: "raw I/O port access",
  settimeofday: "setting the clock",
  stime: "setting the clock",
  clock_settime: "setting the clock",
  clock_settime64: "setting the clock",
  vhangup: "hangs up the terminal",
  get_mempolicy: "NUMA policy",
  mbind: "NUMA policy",
  set_mempolicy: "NUMA policy",
  set_mempolicy_home_node: "NUMA policy",
};

// Kept, but narrower than Docker's rules.
export const MOAT_RESTRICTED: Readonly<Record<string, string>> = {
  clone: "only without namespace flags, whatever capabilities the container holds",
  clone3: "always ENOSYS (its flags cannot be inspected), so libc falls back to the filtered clone",
  socket:
    "only AF_UNIX, AF_INET, AF_INET6 and AF_NETLINK; rarely used families are unprivileged kernel attack surface",
  personality: "only PER_LINUX and the query; the 32-bit and UNAME26 personalities serve no 64-bit agent",
};

export const MOAT_SOCKET_FAMILIES = { AF_UNIX: 1, AF_INET: 2, AF_INET6: 10, AF_NETLINK: 16 } as const;
export const MOAT_PERSONALITIES = { PER_LINUX: 0, QUERY: 0xffffffff } as const;

// Dangerous calls Docker's default already refuses; tests keep them out of both profiles.
export const NEVER_ALLOWED: Readonly<Record<string, string>> = {
  keyctl: "kernel keyrings are not namespaced",
  add_key: "kernel keyrings are not namespaced",
  request_key: "kernel keyrings are not namespaced",
  userfaultfd: "stalls kernel page faults, a staple of race exploits",
  io_uring_setup: "io_uring has bypassed seccomp and produced many kernel exploits",
  io_uring_enter: "io_uring (see io_uring_setup)",
  io_uring_register: "io_uring (see io_uring_setup)",
  kexec_load: "replaces the running kernel",
  kexec_file_load: "replaces the running kernel",
  pivot_root: "changes the root mount",
  swapon: "swap administration",
  swapoff: "swap administration",
  move_pages: "moves another process's pages",
  migrate_pages: "moves another process's pages",
  uselib: "obsolete a.out loader",
  nfsservctl: "removed from Linux",
  _sysctl: "removed from Linux",
  vm86: "x86 virtual-8086 mode",
  vm86old: "x86 virtual-8086 mode",
};
