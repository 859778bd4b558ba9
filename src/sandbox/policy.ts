/**
 * THE ALLOW-LISTS: which system calls each of our processes may make once
 * it is set up. The one place to review them.
 *
 * Theory of operation: three programs, each a list of rules (bpf.ts builds
 * the seccomp filter from it) and an errno for everything else:
 *
 * - ENGINE: the translator (pasta and passt, the API's sandboxed child), a
 *   Node process: what the engine, libuv, V8 and glibc call after the
 *   lock-down point (src/sandbox/index.ts). A call not listed fails with
 *   EPERM, which the code sees as an ordinary error (an open() that fails, a
 *   socket refused); a few calls that glibc or libuv probe for get ENOSYS,
 *   which makes them fall back; and a short list of calls that have no
 *   business in a translator and only an attacker would make — exec, ptrace
 *   and memory access to other processes, mounts, namespaces, kernel modules
 *   and BPF — are trapped: the process writes one line naming the call and
 *   dies of SIGSYS.
 * - HELPER: pasta's namespace helper (native/netns.cc) once locked: it only
 *   makes sockets in the namespace and passes them back.
 * - UNLINKER: the child that removes passt's socket file at the end
 *   (native/sandbox.cc).
 *
 * How the lists were found: the whole test suite (pasta, passt, the API,
 * Podman, QEMU with passt, libvirt, rootlesskit; --log-file, --pcap, `auto`
 * forwarding, the namespace-quit watch, SIGTERM, the background mode) ran
 * with the filters in log mode — SECCOMP_RET_LOG for everything not allowed,
 * see bpf.ts — starting from a core list (read, write, close, epoll, futex,
 * memory, the socket calls). The kernel logs each call a filter lets through
 * that way (audit type 1326, with comm= and syscall=N); every call logged
 * is in the lists below, with who makes it, or is refused on purpose (said
 * so below). test/unit/fixtures/sandbox-trace.json is that trace, and
 * test/unit/sandbox.test.ts checks the lists against it. To trace again:
 * NODE_PASST_SANDBOX_TRACE=1 puts a process's filters in log mode (the
 * engines libvirt starts do not see our environment: make sandboxMode()
 * return 'log' for that run), and `sysctl kernel.printk_ratelimit=0`,
 * without which the kernel prints at most ten such lines every five
 * seconds; `dmesg | grep type=1326` then lists them (syscalls.ts names the
 * numbers).
 */
import type { Rule, ArgCondition } from './bpf.js';

const E = { EPERM: 1, ENOSYS: 38, EAFNOSUPPORT: 97 } as const;
const AF = { INET: 2, INET6: 10, NETLINK: 16 } as const;
const NETLINK_SOCK_DIAG = 4;
const CLONE_THREAD = 0x10000;

const allow = (name: string): Rule => ({ name, action: { kind: 'allow' } });
const allowIf = (name: string, errno: number, ...when: ArgCondition[][]): Rule => ({ name, action: { kind: 'allowIf', when, errno } });
const errno = (name: string, e: number): Rule => ({ name, action: { kind: 'errno', errno: e } });
const trap = (name: string): Rule => ({ name, action: { kind: 'trap' } });

/**
 * Calls no process of ours makes after set-up, whose use would mean it was
 * taken over: trapped (a message, then death by SIGSYS) in every program.
 */
export const TRAPPED: readonly string[] = [
  'execve', 'execveat', // running anything
  'ptrace', 'process_vm_readv', 'process_vm_writev', 'pidfd_getfd', // other processes' memory and files
  'mount', 'umount2', 'pivot_root', 'chroot', 'fsopen', 'fsmount', 'fsconfig', 'move_mount', 'open_tree', 'mount_setattr', // the filesystem tree
  'setns', 'unshare', // namespaces (and so the sandbox's own mount namespace)
  'init_module', 'finit_module', 'delete_module', 'kexec_load', 'kexec_file_load', 'bpf', 'perf_event_open', // the kernel
  'userfaultfd', 'keyctl', 'add_key', 'request_key', 'open_by_handle_at', 'swapon', 'swapoff', 'reboot', 'iopl', 'ioperm',
];

/**
 * The engine: pasta and passt once set up. Every allowed call was seen in
 * the trace, except the few marked "not in the trace", which are there for
 * a path the tests cannot provoke and whose refusal would abort Node.
 */
export const ENGINE_RULES: readonly Rule[] = [
  // --- file descriptors
  allow('read'), allow('write'), // sockets, the tap, passt's stream, eventfds, the log and pcap files
  allow('close'),
  allow('pread64'), // /proc/net tables reread from their start through fds kept open (procnet.ts); the log file's cut
  allow('pwrite64'), // --log-file: written at explicit offsets (log.ts)
  allow('lseek'), // the directory of the --netns file, read again from its start (dirHasEntry)
  allow('ftruncate'), // --log-file: the cut of a full log (log.ts)
  allow('getdents64'), // pasta --netns: whether the namespace file is still there, through its directory's fd (pasta.ts)
  allow('fcntl'), // O_NONBLOCK of new sockets, F_SETPIPE_SZ of splice pipes; Node's exit restores stdio flags (aborts if refused)
  allow('fstat'), // Node's exit checks its standard streams (aborts if refused with anything but EBADF)
  // --- the event loop: libuv's and our Poller's
  allow('epoll_wait'), allow('epoll_pwait'), allow('epoll_ctl'),
  allow('poll'), allow('ppoll'), // waits with a timeout in the addon: netlink replies, the namespace helper (ppoll: aarch64's poll)
  allow('restart_syscall'), // not in the trace: the kernel resumes a poll(2) interrupted by a signal with it
  // --- memory and threads: V8, glibc's malloc
  allow('mmap'), allow('munmap'), allow('mprotect'), allow('madvise'), allow('brk'),
  allow('futex'), allow('sched_yield'),
  // passt --vhost-user (not in the trace: vhost-user came later): the guest's memory regions, memfds
  // received with SCM_RIGHTS (recvmsg, above and below), sized with lseek(2) (SEEK_END; not fstat,
  // which glibc makes a newfstatat), mapped MAP_SHARED with PROT_READ|PROT_WRITE (mmap above) and
  // unmapped again (munmap); the kick and call eventfds QEMU gives, read and written (read, write;
  // our own TX kick is a write to the guest's kick fd: vhost-user makes no eventfd of its own, only
  // its tests do). eventfd2 is for what sandboxThreads() acknowledges with.
  allow('eventfd2'),
  allowIf('clone', E.EPERM, [{ arg: 0, anyBit: CLONE_THREAD }]), // not in the trace: a thread started later (libuv starts its pool on first use, and aborts if it cannot); never a process
  errno('clone3', E.ENOSYS), // its flags are in memory the filter cannot read: ENOSYS makes glibc use clone()
  allow('set_robust_list'), allow('rseq'), // not in the trace: what glibc does in every new thread
  allow('exit'), // threads end (at exit)
  allow('exit_group'),
  // --- signals
  allow('rt_sigreturn'), allow('rt_sigprocmask'), // handlers (SIGTERM and the others); threads ending; Node's exit (aborts if refused)
  allow('rt_sigaction'), allow('tgkill'), allow('gettid'), // not in the trace: abort(3), and the report of a trapped call, raise signals with them
  allow('getpid'),
  allow('getuid'), allow('geteuid'), allow('getgid'), allow('getegid'), // not in the trace: process.getegid() in the warning about ping sockets (icmp.ts)
  allow('kill'), // pasta passes SIGTERM, SIGHUP, SIGINT and SIGQUIT on to its command, and kills it on errors
  allow('waitid'), // pasta: the command's exit status, through its pidfd
  // --- time: the vDSO answers without a system call, except on clock sources it cannot read (libuv aborts if refused)
  allow('clock_gettime'), allow('gettimeofday'),
  // --- translation
  allowIf('socket', E.EAFNOSUPPORT,
    [{ arg: 0, oneOf: [AF.INET, AF.INET6] }], // host sockets: TCP, UDP, ping
    [{ arg: 0, oneOf: [AF.NETLINK] }, { arg: 2, oneOf: [NETLINK_SOCK_DIAG] }], // `auto`: the host's listening TCP sockets
  ),
  allow('connect'), allow('bind'), allow('listen'), allow('accept4'), allow('shutdown'),
  allow('getsockname'), allow('setsockopt'), allow('getsockopt'),
  allow('sendto'), allow('recvfrom'), allow('sendmsg'), allow('recvmsg'), allow('sendmmsg'), allow('recvmmsg'),
  allow('splice'), allow('pipe2'), // the spliced path (fwd/splice.ts)
  allowIf('ioctl', E.EPERM, [{ arg: 1, oneOf: [
    0x541b, // FIONREAD (SIOCINQ): bytes queued on a TCP socket (tcpInfo)
    0x5411, // TIOCOUTQ (SIOCOUTQ): bytes not yet acknowledged (tcpInfo)
    0x5421, // FIONBIO: not in the trace: libuv's uv__nonblock(), when Node wraps an fd in a stream
    //         after the lock-down (process.stdout or process.stderr used for the first time)
    0x5451, // FIOCLEX: not in the trace: libuv's uv__cloexec(), likewise
  ] }]), // anything else gets EPERM, which Node's exit accepts from tcsetattr(3)
  // --- refused, with an error its caller takes as "not available"
  errno('io_uring_setup', E.ENOSYS), errno('io_uring_enter', E.ENOSYS), errno('io_uring_register', E.ENOSYS), // libuv: what it submits would bypass this filter
  // Refused with EPERM (the default) and seen in the trace: unlink(2) of passt's socket when node:net closes
  // it (ignored there; the unlinker removes it, unlinker.ts).
  ...TRAPPED.map(trap),
];

/** Everything else the engine asks for: an error it handles. */
export const ENGINE_DEFAULT_ERRNO = E.EPERM;

/** pasta's namespace helper once locked: sockets in the namespace, passed back over its control socket. */
export const HELPER_RULES: readonly Rule[] = [
  allow('recvfrom'), // requests
  allow('sendmsg'), // replies, with the fds (SCM_RIGHTS)
  allowIf('socket', E.EAFNOSUPPORT,
    [{ arg: 0, oneOf: [AF.INET, AF.INET6] }], // the spliced path, -T and -U listeners in the namespace
    [{ arg: 0, oneOf: [AF.NETLINK] }, { arg: 2, oneOf: [NETLINK_SOCK_DIAG] }], // `auto`: the namespace's listening TCP sockets
  ), // not NETLINK_ROUTE: a route socket made by the helper would carry its rights in the namespace
  allow('close'), // its copy of each socket, once sent
  allow('exit_group'), // its control socket closed: the engine is done
  ...TRAPPED.map(trap),
];

export const HELPER_DEFAULT_ERRNO = E.EPERM;

/** passt's unlinker: one lstat(2) and one unlink(2) of the path it was given, then exit. */
export const UNLINKER_RULES: readonly Rule[] = [
  allow('read'), allow('write'), // the request and the answer
  allow('newfstatat'), // lstat(2): is it still the socket file passt made?
  allow('unlink'), allow('unlinkat'), // remove it (unlinkat: aarch64's unlink)
  allow('exit_group'),
  ...TRAPPED.map(trap),
];

export const UNLINKER_DEFAULT_ERRNO = E.EPERM;
