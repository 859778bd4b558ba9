/**
 * The only import of the compiled addon (`build/Release/passt_native.node` or a
 * prebuild under `prebuilds/`).
 *
 * Theory of operation: the addon is a thin layer of syscalls on file
 * descriptors. Everything crossing the boundary is an fd, a Buffer with
 * offsets and lengths, or a small typed array for results; hot paths work on
 * batches (many frames per call). Functions on the data path return a
 * negative errno instead of throwing, so the caller decides what a failure
 * means for a flow; a call with arguments of the wrong type throws a
 * TypeError naming the function (a programming error, not a runtime one).
 *
 * This file declares the typed surface and loads the addon through
 * node-gyp-build, with an error that says what was tried when nothing loads.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { getSystemErrorName } from 'node:util';

/** Poller: one epoll fd watched by libuv; ready events reach JS in batches. */
export interface Poller {
  /** Watch `fd` for `events` (EPOLL* bits); `tag` comes back with its events. Returns 0 or -errno. */
  add(fd: number, events: number, tag: number): number;
  /** Change the events and tag of a watched fd. Returns 0 or -errno. */
  mod(fd: number, events: number, tag: number): number;
  /** Stop watching `fd` (call before closing it). Returns 0 or -errno. */
  del(fd: number): number;
  /** Keep the Node event loop alive while this poller exists (default). */
  ref(): void;
  /** Let Node exit even though the poller is open. */
  unref(): void;
  /** Close the epoll fd and stop the libuv watcher. Idempotent. */
  close(): void;
}

export interface PollerConstructor {
  /**
   * `onEvents(events, count)` is called from the libuv loop whenever the epoll
   * fd is readable. `events` is a Uint32Array reused between calls holding
   * `count` pairs `[tag, epollEvents]`. A batch is at most `maxEvents` pairs
   * (default 256); if more are pending, the callback is called again.
   */
  new (onEvents: (events: Uint32Array, count: number) => void, maxEvents?: number): Poller;
}

/** Result of creating namespaces for pasta's spawned command. */
export interface NsCreateResult {
  /** PID of the child that lives in the new namespaces (it becomes the command). */
  pid: number;
  /** pidfd of that child: readable when it exits (poll it), then `waitPidfd`. */
  pidfd: number;
  /** fd of the child's network namespace (/proc/PID/ns/net). */
  netnsFd: number;
  /** fd of the child's user namespace, or -1 when no user namespace was created. */
  usernsFd: number;
  /** Write end of the "go" pipe: `nsGo(goFd)` lets the child exec its command. */
  goFd: number;
}

/** A helper process inside a namespace that creates sockets and taps there. */
export interface NsHelperResult {
  pid: number;
  /** Control socket (SOCK_SEQPACKET) to the helper; closing it makes the helper exit. */
  ctlFd: number;
}

/**
 * The shared-memory half of a vhost-user back end (native/vhost.cc): the
 * guest's memory regions and the RX (0) and TX (1) split virtqueues, moving
 * frames in batches. Guest and QEMU addresses are bigints (a safe-integer
 * number is accepted too). Calls return 0 or -errno unless said otherwise;
 * -EBADMSG means the ring is broken (lastError() says how): disconnect.
 */
export interface VuDevice {
  /** Map `size` bytes of the file `fd` from `mmapOffset` as guest physical `gpa`, QEMU address `qva` (the fd stays open). */
  addRegion(gpa: bigint, size: bigint, qva: bigint, mmapOffset: bigint, fd: number): number;
  /** A Buffer standing for guest memory at `gpa` / `qva` (tests). */
  addBufferRegion(buf: Buffer, gpa: bigint | number, qva: bigint | number): number;
  /** Unmap every region. */
  clearRegions(): number;
  /** A queue's size: a power of 2 up to 32768 (-EINVAL otherwise). */
  setVringNum(queue: number, num: number): number;
  /** A queue's rings, as QEMU addresses; -EINVAL unless they lie in guest memory, aligned. */
  setVringAddr(queue: number, desc: bigint | number, avail: bigint | number, used: bigint | number): number;
  /** The next available entry to take. */
  setVringBase(queue: number, base: number): number;
  /** The next available entry to take; the queue stops (rings forgotten, call fd closed). */
  getVringBase(queue: number): number;
  /** The eventfd that interrupts the guest for this queue (-1: none); the previous one is closed. */
  setCallFd(queue: number, fd: number): number;
  /** Whether the guest kicks this queue when it makes buffers available (VRING_USED_F_NO_NOTIFY). 0 or -ENOTCONN. */
  setNotify(queue: number, on: boolean): number;
  /** VIRTIO_RING_F_EVENT_IDX negotiated: the guest's used_event decides interrupts, our avail_event its kicks. */
  setEventIdx(on: boolean): number;
  /** Whether the queue's rings are set and mapped. */
  ready(queue: number): boolean;
  /**
   * Take the guest's transmitted frames (queue 1) into `buf` as tapRead
   * does with a virtio-net header of `hdrLen` bytes before each frame;
   * every chain is returned to the guest. info = [1 when chains were left
   * (maxFrames reached or `buf` full), chains dropped (bad descriptors or
   * frame size)]. Frame count, -ENOTCONN, or -EBADMSG.
   */
  txPop(buf: Buffer, frames: Int32Array, maxFrames: number, hdrLen: number, info: Int32Array): number;
  /**
   * Deliver frames (queue 0), each with its `hdrLen`-byte virtio-net header
   * right before it (num_buffers is set here), in order, stopping at the
   * first that finds too few buffers. out = [dropped, bad chains returned
   * empty, 1 if stopped for buffers, bytes delivered]. Frames taken (delivered or dropped),
   * -ENOTCONN, or -EBADMSG.
   */
  rxPush(buf: Buffer, frames: Int32Array, count: number, hdrLen: number, mergeable: boolean, out: Int32Array): number;
  /**
   * Peek up to `maxBytes` of the stream socket `fd` (after skipping
   * `discard` bytes) straight into the guest's RX buffers (queue 0): frames
   * of up to `frameLen` payload bytes, each with room for the 12-byte
   * virtio-net header and `frameHdrLen` bytes of headers in its first
   * buffer. lens[i] gets frame i's payload length; out = [frames filled,
   * why less than maxBytes was reserved (0: a limit, or not; 1: no buffer
   * left; 2: the next chain cannot take the headers whole: rxPush's case),
   * bad chains returned empty, payload bytes reserved]. Bytes read (the
   * frames then wait for rxCommit), 0 at
   * end of file, -EAGAIN, -ENOBUFS (no suitable buffer), -errno of
   * recvmsg, -ENOTCONN, or -EBADMSG; nothing stays taken unless positive.
   */
  rxPeek(fd: number, discard: number, frameHdrLen: number, frameLen: number, maxBytes: number, mergeable: boolean, lens: Int32Array, out: Int32Array): number;
  /**
   * Complete the last rxPeek: frame i's headers are stage[frames[2i] - 12,
   * frames[2i] + frameHdrLen), frames[2i+1] its whole length; count must be
   * the frames it filled. Headers copied into place, num_buffers set, used
   * entries published (the interrupt waits for rxNotify or the next
   * rxPush), unused chains given back. count, or -ENOTCONN.
   */
  rxCommit(stage: Buffer, frames: Int32Array, count: number): number;
  /** Interrupt the guest for what rxCommit published, unless it asked not to be. */
  rxNotify(): number;
  /** Chains the guest made available on RX that we have not taken; -ENOTCONN, or -EBADMSG. */
  rxAvailable(): number;
  /** Counters into `out` (9): txFrames, txBytes, txDropped, rxFrames, rxBytes, rxDropped, rxBadChains, interrupts, used-index updates. */
  stats(out: Float64Array): number;
  /** Why the last chain was dropped or the ring found broken; "" if nothing new. */
  lastError(): string;
  /** Stop both queues (closing call fds) and unmap guest memory. */
  reset(): number;
}

/** A thread's capability sets (bit n: capability n). */
export interface SandboxCapSets {
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
}

/** What `sandboxThreads` did to one thread. */
export interface SandboxThread {
  tid: number;
  /** self: the calling thread; done: its handler ran; blocked: it blocks the signal (unreachable); gone: it exited; timeout: no answer in time. */
  state: 'self' | 'done' | 'blocked' | 'gone' | 'timeout';
  /** The failed step and its error, or ''. */
  error: string;
  /** Read back afterwards (-1n: unreadable). */
  effective: bigint;
  permitted: bigint;
}

export interface NativeAddon {
  Poller: PollerConstructor;
  VuDevice: new () => VuDevice;

  // --- vhost-user (native/vhost.cc) -------------------------------------------
  /**
   * One recvmsg(2) (MSG_DONTWAIT) into buf[off, off+len) with the fds passed
   * along: fds[0] their number, fds[1...] the fds. More fds than fit closes
   * them all: -EMSGSIZE. Bytes, 0 at end of file, or -errno.
   */
  vuRecv(fd: number, buf: Buffer, off: number, len: number, fds: Int32Array): number;
  /** One sendmsg(2) of buf[off, off+len) passing fds[0...count) along (the front end's side, tests). Bytes or -errno. */
  vuSend(fd: number, buf: Buffer, off: number, len: number, fds: Int32Array, count: number): number;
  /** An eventfd (tests). fd or -errno. */
  eventfd(initval: number, nonblock: boolean): number;
  /** A nonblocking AF_UNIX stream socketpair into out[0], out[1] (tests). 0 or -errno. */
  unixPair(out: Int32Array): number;
  /** A memfd of `size` bytes (guest memory in tests). fd or -errno. */
  memfd(size: number): number;

  /** The C library's text for an errno (positive or negative): "Address already in use" for EADDRINUSE. */
  strerror(errno: number): string;

  // --- generic fd operations -------------------------------------------------
  /** close(2). Returns 0 or -errno. */
  close(fd: number): number;
  /** read(2) into buf[off, off+len). Returns bytes, 0 at EOF, or -errno. */
  read(fd: number, buf: Buffer, off: number, len: number): number;
  /** write(2) from buf[off, off+len). Returns bytes or -errno. */
  write(fd: number, buf: Buffer, off: number, len: number): number;
  /** open(2) with O_CLOEXEC | flags. Returns fd or -errno. */
  open(path: string, flags: number): number;
  /** Set or clear O_NONBLOCK. Returns 0 or -errno. */
  setNonblock(fd: number, on: boolean): number;
  /** poll(2) one fd for `events` (POLLIN=1, POLLOUT=4) up to timeoutMs. Returns revents, 0 on timeout, or -errno. */
  pollFd(fd: number, events: number, timeoutMs: number): number;

  // --- tap -----------------------------------------------------------------
  /**
   * Read every frame that is ready on a nonblocking tap fd, one read(2) per
   * frame, packed into `buf` starting at 0, each frame starting at a multiple
   * of 8 bytes. Stops at EAGAIN, at `maxFrames`, or when fewer than 65536
   * bytes of `buf` are left. `out` receives pairs `[offset, length]`.
   * Returns the number of frames (0 if none ready) or -errno on the first read.
   * With `vnetHdrLen` (a tap made with IFF_VNET_HDR: 10), each read starts
   * with that many bytes of struct virtio_net_hdr, which stay in `buf` right
   * before each frame (its offload description: GSO type and size, partial
   * checksum); the offsets point at the Ethernet frames. `buf` holds at
   * least 65614 bytes: a read keeps room for the largest frame.
   */
  tapRead(fd: number, buf: Buffer, out: Int32Array, maxFrames: number, vnetHdrLen?: number): number;
  /**
   * What a tap fd is (pasta -F): out[0] its flags (TUNGETIFF), out[1] the
   * length of the virtio-net header before each frame (0 without
   * IFF_VNET_HDR). Returns 0 or -errno (ENOTTY: not a tap).
   */
  tapInfo(fd: number, out: Int32Array): number;
  /**
   * Write `count` frames given as pairs `[offset, length]` in `frames`
   * (offsets into `buf`), one write(2) per frame. Returns the number of
   * frames written (stops early at EAGAIN) or -errno if the first one fails.
   * With `vnetHdrLen`, each frame is preceded by a struct virtio_net_hdr
   * the caller built in `buf` (TapOut.commit: partial checksums, GSO).
   */
  tapWrite(fd: number, buf: Buffer, frames: Int32Array, count: number, vnetHdrLen?: number): number;
  /**
   * TUNSETOFFLOAD: the offloads (TUN_F_CSUM, TSO4, TSO6, USO4, USO6) the
   * tap's device announces, so what the namespace's kernel may hand us as
   * super-frames. 0 or -errno (EINVAL: a flag this kernel does not know).
   */
  tapSetOffload(fd: number, flags: number): number;

  // --- sockets -------------------------------------------------------------
  /** socket(2) with SOCK_CLOEXEC; type may include SOCK_NONBLOCK (2048). Returns fd or -errno. */
  socket(family: number, type: number, protocol: number): number;
  /** connect(2) to addr (4 bytes IPv4 or 16 bytes IPv6) and port. Returns 0 or -errno (-EINPROGRESS). */
  connect(fd: number, addr: Uint8Array, port: number, scopeId: number): number;
  /** bind(2). Returns 0 or -errno. */
  bind(fd: number, addr: Uint8Array, port: number, scopeId: number): number;
  /** listen(2). Returns 0 or -errno. */
  listen(fd: number, backlog: number): number;
  /**
   * accept4(2) with SOCK_NONBLOCK | SOCK_CLOEXEC. The peer goes into
   * `addrOut` (16 bytes; IPv4 in the first 4) and `info` = [family, port, scopeId].
   * Returns the new fd or -errno.
   */
  accept(fd: number, addrOut: Uint8Array, info: Int32Array): number;
  /** getsockname(2): address into addrOut (16 bytes), info = [family, port, scopeId]. Returns 0 or -errno. */
  getsockname(fd: number, addrOut: Uint8Array, info: Int32Array): number;
  /** getpeername(2), as getsockname. */
  getpeername(fd: number, addrOut: Uint8Array, info: Int32Array): number;
  /** setsockopt(2) with an int value. Returns 0 or -errno. */
  setsockoptInt(fd: number, level: number, name: number, value: number): number;
  /** setsockopt(2) with a byte string value (e.g. SO_BINDTODEVICE's interface name). Returns 0 or -errno. */
  setsockoptBytes(fd: number, level: number, name: number, value: Uint8Array): number;
  /** getsockopt(2) of an int into out[0]. Returns 0 or -errno. */
  getsockoptInt(fd: number, level: number, name: number, out: Int32Array): number;
  /** shutdown(2). how: 0 RD, 1 WR, 2 RDWR. Returns 0 or -errno. */
  shutdown(fd: number, how: number): number;
  /** Set SO_LINGER {1, 0} and close: the peer gets a RST. Returns 0 or -errno. */
  closeReset(fd: number): number;
  /**
   * recv(2) into buf[off, off+len) with `flags` (MSG_PEEK=2, MSG_TRUNC=32,
   * MSG_DONTWAIT=64 ...). If timeoutMs >= 0, first waits up to that long for
   * the fd to be readable (returns -EAGAIN on timeout). Returns bytes, 0 at EOF, or -errno.
   */
  recv(fd: number, buf: Buffer, off: number, len: number, flags: number, timeoutMs: number): number;
  /**
   * One recvmsg(2) with MSG_PEEK | MSG_DONTWAIT scattering into many slots:
   * if `discard` > 0 the first `discard` bytes go to a native scratch buffer
   * (for kernels without SO_PEEK_OFF), then slot i is
   * buf[offsets[i], offsets[i] + lens[i]). Returns bytes placed into the
   * slots (not counting discard), 0 at EOF, or -errno.
   */
  recvPeek(fd: number, buf: Buffer, discard: number, offsets: Int32Array, lens: Int32Array, count: number): number;
  /** Consume and drop n bytes of a stream socket (recv MSG_TRUNC | MSG_DONTWAIT). Returns bytes or -errno. */
  recvDiscard(fd: number, n: number): number;
  /** send(2) buf[off, off+len) with MSG_NOSIGNAL | MSG_DONTWAIT | flags. Returns bytes or -errno. */
  send(fd: number, buf: Buffer, off: number, len: number, flags: number): number;
  /**
   * One sendmsg(2) gathering `count` slices buf[offsets[i], +lens[i]),
   * MSG_NOSIGNAL | MSG_DONTWAIT | flags. With `segSize` (a UDP socket), a
   * UDP_SEGMENT control message: the kernel sends the bytes as datagrams of
   * that size (UDP GSO). Returns bytes or -errno.
   */
  sendv(fd: number, buf: Buffer, offsets: Int32Array, lens: Int32Array, count: number, flags: number, segSize?: number): number;
  /** The send buffer as the kernel accounts it (SO_MEMINFO): out[0] queued memory, out[1] its limit. 0 or -errno. */
  sendSpace(fd: number, out: Uint32Array): number;
  /**
   * TCP state of a socket in one call, into `out` (Uint32Array of 16):
   * [0] tcpi_state, [1] tcpi_snd_mss, [2] tcpi_rcv_mss, [3] tcpi_rtt (us),
   * [4] tcpi_snd_wnd (0 if the kernel lacks it), [5] tcpi_bytes_acked low 32,
   * [6] high 32, [7] tcpi_bytes_received low 32, [8] high 32,
   * [9] tcpi_notsent_bytes, [10] SIOCOUTQ (bytes not yet acked by the peer),
   * [11] SO_SNDBUF, [12] SIOCINQ (bytes readable), [13] tcpi_snd_wscale,
   * [14] tcpi_rcv_space, [15] tcpi_options; if `out` has 18 or more
   * elements also [16] SK_MEMINFO_WMEM_QUEUED and [17] SK_MEMINFO_SNDBUF
   * (SO_MEMINFO: send buffer memory in use, with overhead, and its limit).
   * Returns 0 or -errno. Five syscalls: a diagnostic (the tests read a
   * socket's queues with it), never on the data path, which needs only
   * sendSpace().
   */
  tcpInfo(fd: number, out: Uint32Array): number;
  /**
   * recvmmsg(2) with MSG_DONTWAIT: datagram i goes to buf[offsets[i], +slotLen);
   * out gets per datagram [length, family, port, scopeId, flags] (5 ints), and
   * addrs gets its 16-byte source address at addrs[16*i]. Returns count or -errno.
   */
  recvmmsg(fd: number, buf: Buffer, offsets: Int32Array, slotLen: number, count: number, out: Int32Array, addrs: Uint8Array): number;
  /**
   * sendmmsg(2) with MSG_DONTWAIT | MSG_NOSIGNAL: datagram i is
   * buf[offsets[i], +lens[i]), to addrs[16*i] (family from dest[3*i], port
   * dest[3*i+1], scopeId dest[3*i+2]); family 0 means "connected socket, no
   * address". Returns the count sent or -errno.
   */
  sendmmsg(fd: number, buf: Buffer, offsets: Int32Array, lens: Int32Array, count: number, dest: Int32Array, addrs: Uint8Array): number;
  /**
   * One recvmsg(2) with MSG_ERRQUEUE | MSG_DONTWAIT from a socket with
   * IP_RECVERR / IPV6_RECVERR set: an ICMP error (or a local one) about a
   * datagram this socket sent. The payload of that datagram — as much as the
   * error carried, after the UDP header — goes to buf[off, off+len). `info`
   * (7 or more) gets [ee_errno, ee_origin (1 local, 2 ICMP, 3 ICMPv6),
   * ee_type, ee_code, ee_info (the MTU for "fragmentation needed" and
   * "packet too big"), offender family (0 if none), msg_flags (MSG_TRUNC=32
   * when the payload did not fit)], and `offender` (16 bytes; IPv4 in the
   * first 4) the address of the node that reported the error
   * (SO_EE_OFFENDER). Returns the payload bytes placed, or -errno (-EAGAIN
   * when the error queue is empty).
   */
  recvErr(fd: number, buf: Buffer, off: number, len: number, info: Int32Array, offender: Uint8Array): number;

  // --- namespaces and processes ---------------------------------------------
  /**
   * Fork a child that unshares a new network namespace (and a user namespace
   * mapping `uid`/`gid` to root inside it, when `userns` is true), then
   * waits until `nsGo(goFd)` before it execs `argv` (PATH searched) with
   * `env`, in `cwd`, with default signal dispositions and an empty signal
   * mask. With `argv` empty the child just waits until killed (a namespace
   * holder). With `runAs`, the child first switches to that user and group
   * (root running pasta as --runas or nobody), so the user namespace is
   * theirs (`uid`/`gid` should then be runAs's). A command's child also sets
   * its network namespace's ping_group_range to "0 0" and, with `hostname`,
   * gets a UTS namespace with that host name (as upstream's pasta). Throws an
   * Error naming the failing step (for example
   * "unshare(CLONE_NEWUSER): Operation not permitted", with `code` "EPERM")
   * if the namespaces cannot be created.
   */
  nsCreate(opts: {
    userns: boolean;
    uid: number;
    gid: number;
    argv: string[];
    env: string[];
    cwd: string;
    runAs?: { uid: number; gid: number } | null;
    hostname?: string;
    /** Join this user namespace (--userns with a command) instead of making one. */
    usernsFd?: number;
    /** With `argv` empty: once told to go, the holder execs this program, which only waits (native/nsholder.c). */
    holderExe?: string;
  }): NsCreateResult;
  /** Let a child from nsCreate proceed to exec; closes goFd. Returns 0 or -errno. */
  nsGo(goFd: number): number;
  /**
   * Fork a helper that joins the user namespace `usernsFd` (if >= 0) and the
   * network namespace `netnsFd`, then serves requests on its control socket
   * until that is closed. With `helperExe` (node-passt-nsholder), a helper
   * that joined a user namespace as root in it execs that program, which
   * serves the same requests, rather than staying a copy of this process
   * (doc/design.md, "The namespace holder"). Throws an Error naming the
   * failing step if the helper could not join the namespaces.
   */
  nsHelper(usernsFd: number, netnsFd: number, helperExe?: string): NsHelperResult;
  /** Ask the helper for a socket (with SOCK_CLOEXEC) created in its namespace. Returns fd or -errno. */
  nsSocket(ctlFd: number, family: number, type: number, protocol: number): number;
  /**
   * A batch of sockets made inside the namespace by its helper, in one
   * round trip: up to out.length (at most 32) fds go to `out`. Returns how
   * many (at least one), or -errno.
   */
  nsSockets(ctlFd: number, family: number, type: number, protocol: number, out: Int32Array): number;
  /**
   * Ask the helper to create a tap device (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)
   * named `name` in its namespace; the fd comes back nonblocking.
   * info = [ifindex, vnet header length] (the second if info has room); on
   * failure info[2] (if there is room) says which step failed: TAP_STEP_OPEN
   * (open /dev/net/tun), TAP_STEP_SETIFF (TUNSETIFF), TAP_STEP_INDEX.
   * Returns fd or -errno.
   */
  nsTap(ctlFd: number, name: string, info: Int32Array): number;
  /** pidfd_open(2). Returns fd or -errno. */
  pidfdOpen(pid: number): number;
  /**
   * waitid(P_PIDFD, WEXITED | WNOHANG) on a pidfd. Returns -1 while the
   * process runs, its exit code when it exited, 128 + signal when killed,
   * or -errno - 1000 on failure.
   */
  waitPidfd(pidfd: number): number;
  /** waitid(P_PID, WEXITED | WNOHANG) for a child: 1 if it had exited (reaped now), 0 while it runs, or -errno. */
  reapChild(pid: number): number;
  /** kill(2). Returns 0 or -errno. */
  kill(pid: number, signal: number): number;

  /**
   * Sandbox the helper now that set-up is over (src/sandbox/): an empty
   * root where it can have one, no capabilities, and `program` (a seccomp
   * filter, as bytes); taps are refused from then on. Returns 1 (with an
   * empty root), 0 (without) or -errno.
   */
  nsLock(ctlFd: number, program: Buffer): number;

  // --- the sandbox (native/sandbox.cc; src/sandbox/ decides what to apply) -----
  /** capget(2) of a thread (0: the calling one). Throws on failure. */
  sandboxCaps(tid: number): SandboxCapSets;
  /** Raise RLIMIT_NOFILE's soft limit to its hard limit; returns [soft, hard] now in effect (-1: unlimited). Throws on failure. */
  raiseNofile(): [number, number];
  /**
   * Give the calling thread a mount namespace of its own whose root is an
   * empty read-only tmpfs: pivot_root(2), or with `chrootFallback` chroot(2)
   * where that fails, as upstream's isolate_prefork(). Returns the new
   * namespace's fd (for `sandboxThreads`) and whether chroot was used.
   * Throws an Error in upstream's words naming the failed step.
   */
  sandboxEmptyRoot(chrootFallback: boolean): { mntnsFd: number; chroot: boolean };
  /**
   * Apply to every thread of the process it can reach (the calling one
   * directly, the others through a real-time signal): join the mount
   * namespace `mntnsFd` (if >= 0), drop the bounding set except `keep`
   * (`bounding`), clear the ambient and inheritable sets, and reduce the
   * effective and permitted sets to `keep` (unless null), and enter the
   * Landlock ruleset `landlockFd` (if given, >= 0; with no_new_privs, which
   * it needs). Returns each
   * thread's outcome and its capabilities afterwards.
   */
  sandboxThreads(op: { mntnsFd: number; bounding: boolean; keep: bigint | null; landlockFd?: number }): SandboxThread[];
  /**
   * no_new_privs, not dumpable, then the seccomp filter `program` on all
   * threads (SECCOMP_FILTER_FLAG_TSYNC; `log`: also SECCOMP_FILTER_FLAG_LOG).
   * A trapped call is reported, named from `names` (by number), on standard
   * error and `reportFd` (-1: none) as "PROGRAM: sandbox: system call ...",
   * and the process dies of SIGSYS. Returns 0, -errno, or the id of a
   * thread that could not be synchronised.
   */
  sandboxSeccomp(program: Buffer, names: string[], reportFd: number, programName: string, log: boolean): number;
  /** The kernel's Landlock ABI version, or -errno (-EOPNOTSUPP: disabled, -ENOSYS: absent). */
  landlockAbi(): number;
  /**
   * A Landlock domain that handles the filesystem rights `handledFs` and
   * grants none, on every thread at once (LANDLOCK_RESTRICT_SELF_TSYNC, ABI
   * 8 and later); needs no_new_privs. Returns 0 or -errno.
   */
  landlockDenyFiles(handledFs: number): number;
  /**
   * A Landlock ruleset that handles the filesystem rights `handledFs` and
   * grants none, for `sandboxThreads` to enter thread by thread. Returns
   * its fd or -errno.
   */
  landlockRuleset(handledFs: number): number;
  /** PR_SET_NO_NEW_PRIVS on the calling thread. Returns 0 or -errno. */
  sandboxNoNewPrivs(): number;
  /** Does the directory open at `fd` have an entry `name` (read from its start)? 1, 0, or -errno. */
  dirHasEntry(fd: number, name: string): number;
  /** An AF_UNIX SOCK_SEQPACKET pair (close-on-exec) into out[0] and out[1]. Returns 0 or -errno. */
  socketpair(out: Int32Array): number;
  /**
   * Fork a child that removes `path` when asked (`unlinkerRun`) or when this
   * process's end of its socket closes, if it is still the same file; it
   * shows `title` as its command line, and runs without capabilities under
   * the seccomp filter `program`.
   */
  unlinker(path: string, program: Buffer, title: string): { pid: number; fd: number };
  /** Ask an unlinker to remove its file now and wait up to `timeoutMs` for its answer: 0 or -errno. Closes `fd`. */
  unlinkerRun(fd: number, timeoutMs: number): number;

  // --- the shared engine's socket (src/cli/shared.ts) ------------------------
  /** A nonblocking AF_UNIX SOCK_SEQPACKET socket bound to `path` (mode 0600) and listening: the fd or -errno. */
  unixListen(path: string, backlog: number): number;
  /** accept4() one connection (nonblocking, close-on-exec) and its peer's SO_PEERCRED into cred[0..2] = pid, uid, gid: the fd or -errno. */
  unixAccept(fd: number, cred: Int32Array): number;
  /** flock(2): 0 or -errno. */
  flock(fd: number, op: number): number;

  // --- splice (the spliced loopback path) ------------------------------------
  /**
   * pipe2(2) with O_NONBLOCK | O_CLOEXEC: out[0] = read end, out[1] = write
   * end. With `size` > 0 the pipe is resized with F_SETPIPE_SZ first; a
   * refused resize (over /proc/sys/fs/pipe-max-size or the per-user pipe
   * page limits) is ignored. out[2] = the size in effect (F_GETPIPE_SZ).
   * `out` needs 3 elements. Returns 0 or -errno.
   */
  pipe(out: Int32Array, size?: number): number;
  /**
   * Move data for `count` directions, each socket -> pipe -> socket with
   * splice(2) (SPLICE_F_MOVE | SPLICE_F_NONBLOCK, EINTR retried), without
   * copying it through user space. Op k is ops[SPLICE_OP_INTS * k ...]:
   * [fromFd, toFd, pipeR, pipeW, inPipe, maxBytes] (see `SpliceOp`);
   * fromFd -1 means the source is finished and only the pipe is drained.
   * Each op is pumped until the source would block (or reached EOF, or
   * failed) with the pipe empty, the destination would block with data in
   * the pipe, a failure, or `maxBytes` written to the destination (reading
   * stops once moved + inPipe reaches it). Result k is
   * results[SPLICE_RESULT_INTS * k ...]: [moved, inPipe, flags, errno] (see
   * `SpliceResult`, `SpliceFlag`). All fds must be nonblocking: then the call
   * never blocks. Returns `count`; a malformed batch (arrays too short,
   * negative inPipe, maxBytes < 1) throws a RangeError naming the function.
   */
  spliceBatch(ops: Int32Array, count: number, results: Int32Array): number;
}

const here = path.dirname(fileURLToPath(import.meta.url));
const packageRoot = path.resolve(here, '..');

interface NodeGypBuild {
  (dir: string): unknown;
  /** The file node-gyp-build would load from `dir`; throws "No native build was found ..." if none fits. */
  path(dir: string): string;
}

/** What a directory node-gyp-build searches holds: its .node files, or why there are none. */
function describeDir(dir: string, what: string): string {
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    return `${dir} (${what}): absent`;
  }
  const files = entries.filter((f) => f.endsWith('.node'));
  return `${dir} (${what}): ${files.length ? files.join(', ') : 'no .node file'}`;
}

/**
 * Load the addon through node-gyp-build, which takes the first that fits of
 * build/Release, build/Debug (a build from source) and
 * prebuilds/<platform>-<arch>/ (a prebuild matching this runtime and libc).
 * When nothing loads, the error lists every place searched and what was
 * there.
 */
function load(): NativeAddon {
  const require = createRequire(import.meta.url);
  const tried: string[] = [];
  let file: string | undefined;
  try {
    const nodeGypBuild = require('node-gyp-build') as NodeGypBuild;
    file = nodeGypBuild.path(packageRoot);
    const addon = require(file) as NativeAddon;
    addonFile = file;
    return addon;
  } catch (err) {
    const reason = (err as Error).message.trim().split('\n')[0];
    const platformArch = `${process.platform}-${process.arch}`;
    // node-gyp-build searches another directory when this variable names one.
    const dir = process.env.NODE_PASST_PREBUILD || packageRoot;
    if (!process.env.PREBUILDS_ONLY) {
      tried.push(describeDir(path.join(dir, 'build', 'Release'), 'built from source'));
      tried.push(describeDir(path.join(dir, 'build', 'Debug'), 'built from source, debug'));
    }
    tried.push(describeDir(path.join(dir, 'prebuilds', platformArch), 'prebuilt'));
    tried.push(describeDir(path.join(path.dirname(process.execPath), 'prebuilds', platformArch), 'beside node'));
    tried.push(file ? `${file}: ${reason}` : `node-gyp-build: ${reason}`);
  }
  throw new Error(
    `cannot load the native addon passt_native.node; run "npm install" (or "npm run build:native") in ${packageRoot}. Tried:\n  ` +
      tried.join('\n  '),
  );
}

/** The file the addon was loaded from. */
let addonFile = '';

/** The loaded addon. */
export const native: NativeAddon = load();

/**
 * The namespace holder's program (native/nsholder.c), built beside the addon
 * (build/Release/node-passt-nsholder), or undefined when it is not there (a
 * prebuild: the holder then waits in the forked copy of this process, see
 * doc/design.md, "The namespace holder").
 */
export const holderExe: string | undefined = (() => {
  const file = path.join(path.dirname(addonFile), 'node-passt-nsholder');
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return file;
  } catch {
    return undefined;
  }
})();

/** Linux constants used across the code base. */
export const C = {
  AF_INET: 2,
  AF_INET6: 10,
  AF_NETLINK: 16,
  AF_PACKET: 17,
  SOCK_STREAM: 1,
  SOCK_DGRAM: 2,
  SOCK_RAW: 3,
  SOCK_NONBLOCK: 0o4000,
  IPPROTO_IP: 0,
  IPPROTO_ICMP: 1,
  IPPROTO_TCP: 6,
  IPPROTO_UDP: 17,
  IPPROTO_IPV6: 41,
  IPPROTO_ICMPV6: 58,
  NETLINK_ROUTE: 0,
  SOL_SOCKET: 1,
  SO_REUSEADDR: 2,
  SO_BINDTODEVICE: 25,
  SO_ERROR: 4,
  SO_SNDBUF: 7,
  SO_RCVBUF: 8,
  SO_KEEPALIVE: 9,
  SO_PEEK_OFF: 42,
  TCP_NODELAY: 1,
  TCP_MAXSEG: 2,
  TCP_QUICKACK: 12,
  IPV6_V6ONLY: 26,
  MSG_PEEK: 2,
  MSG_TRUNC: 0x20,
  MSG_DONTWAIT: 0x40,
  MSG_MORE: 0x8000,
  EPOLLIN: 0x001,
  EPOLLOUT: 0x004,
  EPOLLERR: 0x008,
  EPOLLHUP: 0x010,
  EPOLLRDHUP: 0x2000,
  EPOLLET: 1 << 31,
  O_RDONLY: 0,
  O_RDWR: 2,
  O_NONBLOCK: 0o4000,
  SIGINT: 2,
  SIGKILL: 9,
  SIGTERM: 15,
  SIGHUP: 1,
} as const;

/** Steps of nsTap that can fail (info[2]). */
export const TAP_STEP_OPEN = 1;
export const TAP_STEP_SETIFF = 2;
export const TAP_STEP_INDEX = 3;

/** errno values the protocol code reacts to (the one table: errnoName() spells any errno). */
export const E = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EEXIST: 17,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  EPIPE: 32,
  ENONET: 64,
  EPROTO: 71,
  EBADMSG: 74,
  EMSGSIZE: 90,
  ENOPROTOOPT: 92,
  EOPNOTSUPP: 95,
  EADDRINUSE: 98,
  ENETUNREACH: 101,
  ECONNABORTED: 103,
  ECONNRESET: 104,
  ENOBUFS: 105,
  ENOTCONN: 107,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  EHOSTDOWN: 112,
  EHOSTUNREACH: 113,
  EALREADY: 114,
  EINPROGRESS: 115,
} as const;

/** "ECONNREFUSED" for 111 (or -111), as libuv names errnos; "errno N" for one it does not know. */
export function errnoName(errno: number): string {
  const n = Math.abs(errno);
  try {
    const name = getSystemErrorName(-n);
    if (name && !name.startsWith('Unknown system error')) return name;
  } catch {
    // not an errno libuv knows
  }
  return `errno ${n}`;
}

/** Whether -errno `rc` means the process or system is out of descriptors or buffers (no flow can be opened now). */
export function isResourceShortage(rc: number): boolean {
  return rc === -E.EMFILE || rc === -E.ENFILE || rc === -E.ENOBUFS || rc === -E.ENOMEM;
}

/** Ints per op of `spliceBatch`. */
export const SPLICE_OP_INTS = 6;
/** Field offsets within one `spliceBatch` op. */
export const enum SpliceOp {
  /** Source socket, or -1 once its EOF was seen (drain the pipe only). */
  FromFd = 0,
  /** Destination socket. */
  ToFd = 1,
  /** Read end of this direction's pipe. */
  PipeR = 2,
  /** Write end of this direction's pipe. */
  PipeW = 3,
  /** Bytes already in the pipe (from the previous result). */
  InPipe = 4,
  /** Most bytes to write to the destination in this call (>= 1). */
  MaxBytes = 5,
}

/** Ints per result of `spliceBatch`. */
export const SPLICE_RESULT_INTS = 4;
/** Field offsets within one `spliceBatch` result. */
export const enum SpliceResult {
  /** Bytes written to the destination by this call. */
  Moved = 0,
  /** Bytes left in the pipe: pass it back as the op's InPipe next time. */
  InPipe = 1,
  /** `SpliceFlag` bits. */
  Flags = 2,
  /** errno of the failure when Flags has SourceError or DestinationError, else 0. */
  Errno = 3,
}

/** Bits of a `spliceBatch` result's Flags. */
export const enum SpliceFlag {
  /** The source reached EOF (splice returned 0). */
  SourceEof = 1,
  /** The last read from the source would block: nothing queued, or the pipe was full. */
  SourceAgain = 2,
  /** The destination would block while the pipe holds data (InPipe > 0). */
  DestinationAgain = 4,
  /** Reading the source failed (Errno says why); the source is not read again in this call. */
  SourceError = 8,
  /** Writing the destination failed (Errno says why). */
  DestinationError = 16,
}
