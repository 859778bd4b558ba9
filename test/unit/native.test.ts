/**
 * The native addon against real syscalls: sockets on loopback only
 * (127.0.0.1 and ::1), a Poller over many fds, and namespaces created by the
 * test itself (nsCreate, nsHelper). Nothing here sends traffic off the
 * machine.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { native, C, E } from '../../src/native.js';
import { settle } from './wait.js';

const LO4 = new Uint8Array([127, 0, 0, 1]);
const ANY4 = new Uint8Array([0, 0, 0, 0]);
const LO6 = new Uint8Array(16);
LO6[15] = 1;
const POLLIN = 1;
const POLLOUT = 4;
const TCP_ESTABLISHED = 1;

const openFds: number[] = [];
const children: Array<{ pid: number; pidfd: number }> = [];

/** Remembers an fd to close after the tests; fails the test if it is an error. */
function track(fd: number): number {
  expect(fd).toBeGreaterThanOrEqual(0);
  openFds.push(fd);
  return fd;
}

/** Remembers a child process to kill (if still running) and reap after the tests. */
function adopt(pid: number): void {
  const pidfd = native.pidfdOpen(pid);
  expect(pidfd).toBeGreaterThanOrEqual(0);
  children.push({ pid, pidfd });
}

afterAll(() => {
  for (const { pid, pidfd } of children) {
    if (native.waitPidfd(pidfd) === -1) {
      native.kill(pid, C.SIGKILL);
      native.pollFd(pidfd, 1, 1000);
      native.waitPidfd(pidfd);
    }
    native.close(pidfd);
  }
  for (const fd of openFds) native.close(fd);
});

function localPort(fd: number): number {
  const addr = new Uint8Array(16);
  const info = new Int32Array(3);
  expect(native.getsockname(fd, addr, info)).toBe(0);
  return info[1];
}

function listenTcp(addr: Uint8Array): { fd: number; port: number } {
  const family = addr.length === 4 ? C.AF_INET : C.AF_INET6;
  const fd = track(native.socket(family, C.SOCK_STREAM | C.SOCK_NONBLOCK, 0));
  expect(native.bind(fd, addr, 0, 0)).toBe(0);
  expect(native.listen(fd, 16)).toBe(0);
  return { fd, port: localPort(fd) };
}

/** A connected pair of nonblocking TCP sockets on loopback. */
function tcpPair(addr: Uint8Array = LO4): { client: number; server: number; port: number } {
  const family = addr.length === 4 ? C.AF_INET : C.AF_INET6;
  const listener = listenTcp(addr);
  const client = track(native.socket(family, C.SOCK_STREAM | C.SOCK_NONBLOCK, 0));
  const r = native.connect(client, addr, listener.port, 0);
  expect([0, -E.EINPROGRESS]).toContain(r);
  expect(native.pollFd(client, POLLOUT, 1000) & POLLOUT).toBe(POLLOUT);
  const err = new Int32Array(1);
  expect(native.getsockoptInt(client, C.SOL_SOCKET, C.SO_ERROR, err)).toBe(0);
  expect(err[0]).toBe(0);
  expect(native.pollFd(listener.fd, POLLIN, 1000) & POLLIN).toBe(POLLIN);
  const peer = new Uint8Array(16);
  const info = new Int32Array(3);
  const server = track(native.accept(listener.fd, peer, info));
  expect(info[0]).toBe(family);
  expect(info[1]).toBe(localPort(client));
  expect(Array.from(peer.subarray(0, addr.length))).toEqual(Array.from(addr));
  return { client, server, port: listener.port };
}

function udpSocket(addr: Uint8Array = LO4): { fd: number; port: number } {
  const family = addr.length === 4 ? C.AF_INET : C.AF_INET6;
  const fd = track(native.socket(family, C.SOCK_DGRAM | C.SOCK_NONBLOCK, 0));
  expect(native.bind(fd, addr, 0, 0)).toBe(0);
  return { fd, port: localPort(fd) };
}

/** Sends all of data (nonblocking), waiting for POLLOUT as needed. */
function sendAll(fd: number, data: Buffer): void {
  let off = 0;
  while (off < data.length) {
    const n = native.send(fd, data, off, data.length - off, 0);
    if (n === -E.EAGAIN) {
      expect(native.pollFd(fd, POLLOUT, 1000) & POLLOUT).toBe(POLLOUT);
      continue;
    }
    expect(n).toBeGreaterThan(0);
    off += n;
  }
}

/** Reads exactly n bytes, waiting up to 1 s for each chunk. */
function recvExactly(fd: number, n: number): Buffer {
  const buf = Buffer.alloc(n);
  let off = 0;
  while (off < n) {
    const r = native.recv(fd, buf, off, n - off, 0, 1000);
    expect(r).toBeGreaterThan(0);
    off += r;
  }
  return buf;
}

function inode(path: string): number {
  return fs.statSync(path).ino;
}

function fdInode(fd: number): number {
  return fs.fstatSync(fd).ino;
}

function hasCloexec(fd: number): boolean {
  const flags = /flags:\s+([0-7]+)/.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  expect(flags).not.toBeNull();
  return (parseInt(flags![1], 8) & 0o2000000) !== 0;
}

/** Waits for a pidfd to turn readable and returns the exit status. */
function waitExit(pidfd: number): number {
  expect(native.pollFd(pidfd, POLLIN, 2000) & POLLIN).toBe(POLLIN);
  return native.waitPidfd(pidfd);
}

describe('argument checking', () => {
  it('throws TypeErrors that name the function', () => {
    const buf = Buffer.alloc(65536);
    const pairs = new Int32Array(2);
    expect(() => native.tapRead(0, 'x' as unknown as Buffer, pairs, 1)).toThrow(
      new TypeError('tapRead: argument 2 must be a Buffer'),
    );
    expect(() => native.tapRead(0, buf, new Uint32Array(2) as unknown as Int32Array, 1)).toThrow(
      new TypeError('tapRead: argument 3 must be an Int32Array'),
    );
    expect(() => (native.close as unknown as () => number)()).toThrow(
      new TypeError('close: expected 1 argument, got 0'),
    );
    expect(() => native.socket('2' as unknown as number, 1, 0)).toThrow(
      new TypeError('socket: argument 1 must be an integer'),
    );
    expect(() => native.pollFd(0, 1.5, 0)).toThrow(new TypeError('pollFd: argument 2 must be an integer'));
    expect(() => native.setNonblock(0, 1 as unknown as boolean)).toThrow(
      new TypeError('setNonblock: argument 2 must be a boolean'),
    );
    expect(() => native.open(5 as unknown as string, 0)).toThrow(new TypeError('open: argument 1 must be a string'));
    expect(() => native.connect(0, [127, 0, 0, 1] as unknown as Uint8Array, 80, 0)).toThrow(
      new TypeError('connect: argument 2 must be a Uint8Array'),
    );
    expect(() => native.tcpInfo(0, new Int32Array(16) as unknown as Uint32Array)).toThrow(
      new TypeError('tcpInfo: argument 2 must be a Uint32Array'),
    );
    expect(() => native.nsCreate(null as unknown as Parameters<typeof native.nsCreate>[0])).toThrow(
      new TypeError('nsCreate: argument 1 must be an object'),
    );
    expect(() =>
      native.nsCreate({ userns: false, uid: 0, gid: 0, argv: [1 as unknown as string], env: [], cwd: '/' }),
    ).toThrow(new TypeError('nsCreate: opts.argv must be an array of strings'));
    expect(() => native.nsTap(0, 'tap0', [0] as unknown as Int32Array)).toThrow(
      new TypeError('nsTap: argument 3 must be an Int32Array'),
    );
    expect(() => new native.Poller(42 as unknown as () => void)).toThrow(
      new TypeError('Poller: argument 1 must be a function'),
    );
    const poller = new native.Poller(() => {});
    expect(() => poller.add('1' as unknown as number, C.EPOLLIN, 1)).toThrow(
      new TypeError('Poller.add: argument 1 must be an integer'),
    );
    poller.close();
  });

  it('throws RangeErrors for slices outside the buffer or short arrays', () => {
    const buf = Buffer.alloc(16);
    expect(() => native.read(0, buf, 8, 9)).toThrow(RangeError);
    expect(() => native.read(0, buf, -1, 1)).toThrow(/^read: /);
    expect(() => native.send(0, buf, 0, 17, 0)).toThrow(RangeError);
    expect(() => native.tapRead(0, buf, new Int32Array(2), 1)).toThrow(/tapRead: buf must hold at least 65614/);
    expect(() => native.tapWrite(0, buf, new Int32Array([0, 20]), 1)).toThrow(RangeError);
    expect(() => native.connect(0, new Uint8Array(5), 80, 0)).toThrow(/connect: argument 2 must be a 4-byte/);
    expect(() => native.bind(0, LO4, 70000, 0)).toThrow(/bind: port must be/);
    expect(() => native.tcpInfo(0, new Uint32Array(15))).toThrow(RangeError);
    expect(() => native.sendv(0, buf, new Int32Array([0, 8]), new Int32Array([8, 9]), 2, 0)).toThrow(RangeError);
    expect(() => new native.Poller(() => {}, 0)).toThrow(RangeError);
  });

  it('returns -errno for runtime failures instead of throwing', () => {
    const buf = Buffer.alloc(16);
    expect(native.close(-1)).toBe(-E.EBADF);
    expect(native.read(-1, buf, 0, 16)).toBe(-E.EBADF);
    expect(native.socket(12345, C.SOCK_STREAM, 0)).toBeLessThan(0);
    expect(native.open('/nonexistent/passt-native-test', C.O_RDONLY)).toBe(-E.ENOENT);
    expect(native.tcpInfo(-1, new Uint32Array(16))).toBe(-E.EBADF);
  });
});

describe('generic fd operations', () => {
  it('opens, reads, writes and closes files with O_CLOEXEC', () => {
    const fd = native.open('/proc/self/stat', C.O_RDONLY);
    expect(fd).toBeGreaterThanOrEqual(0);
    expect(hasCloexec(fd)).toBe(true);
    const buf = Buffer.alloc(4096);
    const n = native.read(fd, buf, 10, 4000);
    expect(n).toBeGreaterThan(0);
    expect(buf.toString('latin1', 10, 10 + n)).toMatch(new RegExp(`^${process.pid} `));
    expect(native.close(fd)).toBe(0);
    expect(native.close(fd)).toBe(-E.EBADF);

    const devNull = native.open('/dev/null', C.O_RDWR);
    expect(native.write(devNull, Buffer.from('hello'), 1, 3)).toBe(3);
    expect(native.read(devNull, buf, 0, 16)).toBe(0);
    expect(native.close(devNull)).toBe(0);
  });

  it('sets and clears O_NONBLOCK and polls one fd', () => {
    const { fd } = udpSocket();
    const buf = Buffer.alloc(16);
    expect(native.recv(fd, buf, 0, 16, 0, -1)).toBe(-E.EAGAIN);
    expect(native.setNonblock(fd, false)).toBe(0);
    expect(native.recv(fd, buf, 0, 16, 0, 10)).toBe(-E.EAGAIN); // waited 10 ms
    expect(native.recv(fd, buf, 0, 16, C.MSG_DONTWAIT, -1)).toBe(-E.EAGAIN);
    expect(native.setNonblock(fd, true)).toBe(0);
    expect(native.pollFd(fd, POLLOUT, 0)).toBe(POLLOUT);
    expect(native.pollFd(fd, POLLIN, 0)).toBe(0);
    expect(native.setNonblock(-1, true)).toBe(-E.EBADF);
  });
});

describe('TCP over loopback', () => {
  it('connects, accepts and reports both ends by name', () => {
    const { client, server, port } = tcpPair();
    const addr = new Uint8Array(16);
    const info = new Int32Array(3);
    expect(native.getpeername(client, addr, info)).toBe(0);
    expect(Array.from(info)).toEqual([C.AF_INET, port, 0]);
    expect(Array.from(addr.subarray(0, 4))).toEqual([127, 0, 0, 1]);
    expect(native.getsockname(server, addr, info)).toBe(0);
    expect(info[1]).toBe(port);
    expect(hasCloexec(server)).toBe(true);
    // accept4 makes the new socket nonblocking.
    expect(native.recv(server, Buffer.alloc(1), 0, 1, 0, -1)).toBe(-E.EAGAIN);
  });

  it('connects over ::1', () => {
    const { client, server } = tcpPair(LO6);
    const addr = new Uint8Array(16);
    const info = new Int32Array(3);
    expect(native.getpeername(server, addr, info)).toBe(0);
    expect(info[0]).toBe(C.AF_INET6);
    expect(Array.from(addr)).toEqual(Array.from(LO6));
    sendAll(client, Buffer.from('v6'));
    expect(recvExactly(server, 2).toString()).toBe('v6');
  });

  it('refuses a connection to a closed port', () => {
    const { fd, port } = listenTcp(LO4);
    expect(native.close(fd)).toBe(0);
    openFds.splice(openFds.indexOf(fd), 1);
    const s = track(native.socket(C.AF_INET, C.SOCK_STREAM | C.SOCK_NONBLOCK, 0));
    const r = native.connect(s, LO4, port, 0);
    if (r === -E.EINPROGRESS) {
      native.pollFd(s, POLLOUT, 1000);
      const err = new Int32Array(1);
      expect(native.getsockoptInt(s, C.SOL_SOCKET, C.SO_ERROR, err)).toBe(0);
      expect(err[0]).toBe(E.ECONNREFUSED);
    } else {
      expect(r).toBe(-E.ECONNREFUSED);
    }
  });

  it('sends and receives, with setsockopt and getsockopt', () => {
    const { client, server } = tcpPair();
    const out = new Int32Array(1);
    expect(native.setsockoptInt(client, C.IPPROTO_TCP, C.TCP_NODELAY, 1)).toBe(0);
    expect(native.getsockoptInt(client, C.IPPROTO_TCP, C.TCP_NODELAY, out)).toBe(0);
    expect(out[0]).toBe(1);
    expect(native.send(client, Buffer.from('xxhello'), 2, 5, 0)).toBe(5);
    const buf = Buffer.alloc(32);
    expect(native.recv(server, buf, 3, 20, 0, 1000)).toBe(5);
    expect(buf.toString('latin1', 3, 8)).toBe('hello');
  });

  it('peeks into slots after a discard, then discards for real', () => {
    const { client, server } = tcpPair();
    const data = Buffer.alloc(100);
    for (let i = 0; i < 100; i++) data[i] = i;
    sendAll(client, data);
    expect(native.pollFd(server, POLLIN, 1000) & POLLIN).toBe(POLLIN);
    // Wait until all 100 bytes are queued (loopback is fast, but be exact).
    const ti = new Uint32Array(16);
    for (let i = 0; i < 100 && (native.tcpInfo(server, ti), ti[12] < 100); i++) native.pollFd(server, POLLIN, 10);
    expect(ti[12]).toBe(100);

    const buf = Buffer.alloc(300, 0xff);
    const offsets = new Int32Array([0, 100, 200]);
    const lens = new Int32Array([30, 30, 30]);
    expect(native.recvPeek(server, buf, 10, offsets, lens, 3)).toBe(90);
    expect(Array.from(buf.subarray(0, 30))).toEqual(Array.from(data.subarray(10, 40)));
    expect(Array.from(buf.subarray(100, 130))).toEqual(Array.from(data.subarray(40, 70)));
    expect(Array.from(buf.subarray(200, 230))).toEqual(Array.from(data.subarray(70, 100)));
    expect(buf[30]).toBe(0xff);

    // Peeking consumed nothing; larger slots than the data are only partly filled.
    const lens2 = new Int32Array([64, 64]);
    expect(native.recvPeek(server, buf, 0, new Int32Array([0, 100]), lens2, 2)).toBe(100);
    expect(buf[63]).toBe(63);
    expect(buf[100]).toBe(64);
    expect(buf[135]).toBe(99);
    expect(buf[136]).toBe(0xff);
    // Only already-seen bytes: nothing new (not EOF).
    expect(native.recvPeek(server, buf, 100, offsets, lens, 3)).toBe(-E.EAGAIN);
    expect(native.recvPeek(server, buf, 17 << 20, offsets, lens, 3)).toBe(-E.EINVAL);

    expect(native.recvDiscard(server, 50)).toBe(50);
    const rest = recvExactly(server, 50);
    expect(rest[0]).toBe(50);
    expect(rest[49]).toBe(99);
    expect(native.recvPeek(server, buf, 0, offsets, lens, 3)).toBe(-E.EAGAIN);
  });

  it('gathers slices with sendv', () => {
    const { client, server } = tcpPair();
    const buf = Buffer.from('AAAhelloBBB worldCCC');
    expect(native.sendv(client, buf, new Int32Array([3, 11]), new Int32Array([5, 6]), 2, 0)).toBe(11);
    expect(recvExactly(server, 11).toString()).toBe('hello world');
  });

  it('reports TCP_INFO, queues and buffer sizes; bytes_acked grows', async () => {
    const { client, server } = tcpPair();
    const before = new Uint32Array(16);
    expect(native.tcpInfo(client, before)).toBe(0);
    expect(before[0]).toBe(TCP_ESTABLISHED);
    expect(before[1]).toBeGreaterThan(0); // snd_mss
    expect(before[2]).toBeGreaterThan(0); // rcv_mss
    expect(before[4]).toBeGreaterThan(0); // snd_wnd (kernel 6.2+)
    expect(before[11]).toBeGreaterThan(0); // SO_SNDBUF
    expect(before[14]).toBeGreaterThan(0); // rcv_space
    expect(before[10]).toBe(0); // nothing unacknowledged yet
    const ackedBefore = before[5] + before[6] * 2 ** 32;

    const data = Buffer.alloc(12000, 7); // below the initial receive window
    sendAll(client, data);
    // The peer has not read yet: the bytes wait in its receive queue.
    const peer = new Uint32Array(16);
    await expect.poll(() => (native.tcpInfo(server, peer) === 0 ? peer[12] : -1)).toBe(data.length); // SIOCINQ
    expect(peer[7] + peer[8] * 2 ** 32).toBeGreaterThanOrEqual(data.length); // bytes_received

    const after = new Uint32Array(16);
    await expect.poll(() => (native.tcpInfo(client, after) === 0 ? after[10] : -1)).toBe(0); // SIOCOUTQ: all acknowledged
    expect(after[9]).toBe(0); // notsent
    const ackedAfter = after[5] + after[6] * 2 ** 32;
    expect(ackedAfter - ackedBefore).toBe(data.length);
    expect(recvExactly(server, data.length).equals(data)).toBe(true);
  });

  it('sees EOF after shutdown(SHUT_WR)', () => {
    const { client, server } = tcpPair();
    sendAll(client, Buffer.from('bye'));
    expect(native.shutdown(client, 1)).toBe(0);
    expect(recvExactly(server, 3).toString()).toBe('bye');
    expect(native.recv(server, Buffer.alloc(8), 0, 8, 0, 1000)).toBe(0);
    const buf = Buffer.alloc(8);
    expect(native.recvPeek(server, buf, 0, new Int32Array([0]), new Int32Array([8]), 1)).toBe(0);
    // The other direction still works.
    sendAll(server, Buffer.from('ok'));
    expect(recvExactly(client, 2).toString()).toBe('ok');
    expect(native.shutdown(-1, 1)).toBe(-E.EBADF);
  });

  it('closeReset makes the peer see ECONNRESET', () => {
    const { client, server } = tcpPair();
    expect(native.closeReset(client)).toBe(0);
    openFds.splice(openFds.indexOf(client), 1);
    expect(native.recv(server, Buffer.alloc(8), 0, 8, 0, 1000)).toBe(-E.ECONNRESET);
    expect(native.closeReset(client)).toBe(-E.EBADF);
  });

  it('send on a reset connection returns -EPIPE or -ECONNRESET without SIGPIPE', () => {
    const { client, server } = tcpPair();
    expect(native.closeReset(server)).toBe(0);
    openFds.splice(openFds.indexOf(server), 1);
    expect(native.pollFd(client, POLLIN, 1000)).not.toBe(0);
    const first = native.send(client, Buffer.from('x'), 0, 1, 0);
    const second = native.send(client, Buffer.from('x'), 0, 1, 0);
    expect([-E.ECONNRESET, -E.EPIPE]).toContain(first);
    expect(second).toBe(-E.EPIPE);
  });
});

describe('UDP batches', () => {
  it('sendmmsg to addresses, recvmmsg with sources (IPv4)', () => {
    const rx = udpSocket();
    const tx = udpSocket();
    const buf = Buffer.alloc(256);
    buf.write('one', 0);
    buf.write('two!', 16);
    buf.write('three', 32);
    const addrs = new Uint8Array(48);
    const dest = new Int32Array(9);
    for (let i = 0; i < 3; i++) {
      addrs.set(LO4, 16 * i);
      dest.set([C.AF_INET, rx.port, 0], 3 * i);
    }
    expect(native.sendmmsg(tx.fd, buf, new Int32Array([0, 16, 32]), new Int32Array([3, 4, 5]), 3, dest, addrs)).toBe(3);

    const rbuf = Buffer.alloc(4 * 64);
    const out = new Int32Array(20);
    const from = new Uint8Array(64);
    expect(native.pollFd(rx.fd, POLLIN, 1000) & POLLIN).toBe(POLLIN);
    const n = native.recvmmsg(rx.fd, rbuf, new Int32Array([0, 64, 128, 192]), 64, 4, out, from);
    expect(n).toBe(3);
    const texts = ['one', 'two!', 'three'];
    for (let i = 0; i < 3; i++) {
      expect(Array.from(out.subarray(5 * i, 5 * i + 5))).toEqual([texts[i].length, C.AF_INET, tx.port, 0, 0]);
      expect(Array.from(from.subarray(16 * i, 16 * i + 4))).toEqual([127, 0, 0, 1]);
      expect(rbuf.toString('latin1', 64 * i, 64 * i + texts[i].length)).toBe(texts[i]);
    }
    expect(native.recvmmsg(rx.fd, rbuf, new Int32Array([0]), 64, 1, out, from)).toBe(-E.EAGAIN);
  });

  it('reports truncation and sends on a connected socket with family 0 (IPv6)', () => {
    const rx = udpSocket(LO6);
    const tx = udpSocket(LO6);
    expect(native.connect(tx.fd, LO6, rx.port, 0)).toBe(0);
    const buf = Buffer.from('0123456789abcdef');
    const dest = new Int32Array(6); // family 0: connected, no address
    expect(native.sendmmsg(tx.fd, buf, new Int32Array([0, 4]), new Int32Array([4, 12]), 2, dest, new Uint8Array(0))).toBe(2);
    const rbuf = Buffer.alloc(32);
    const out = new Int32Array(10);
    const from = new Uint8Array(32);
    expect(native.pollFd(rx.fd, POLLIN, 1000) & POLLIN).toBe(POLLIN);
    const n = native.recvmmsg(rx.fd, rbuf, new Int32Array([0, 16]), 8, 2, out, from);
    expect(n).toBe(2);
    expect(Array.from(out.subarray(0, 4))).toEqual([4, C.AF_INET6, tx.port, 0]);
    expect(out[5 + 0]).toBe(8); // truncated to the slot
    expect(out[5 + 4] & C.MSG_TRUNC).toBe(C.MSG_TRUNC);
    expect(Array.from(from.subarray(16, 32))).toEqual(Array.from(LO6));
    expect(rbuf.toString('latin1', 16, 24)).toBe('456789ab');
  });
});

describe('tapRead and tapWrite', () => {
  it('moves frames one syscall each, packed at multiples of 8', () => {
    // A connected UDP pair behaves like a tap: one datagram per read/write.
    const a = udpSocket();
    const b = udpSocket();
    expect(native.connect(a.fd, LO4, b.port, 0)).toBe(0);
    expect(native.connect(b.fd, LO4, a.port, 0)).toBe(0);

    const out = Buffer.alloc(4096);
    for (let i = 0; i < out.length; i++) out[i] = (i * 7) & 0xff;
    const frames = new Int32Array([0, 60, 100, 61, 1000, 1500]);
    expect(native.tapWrite(a.fd, out, frames, 3)).toBe(3);

    const inBuf = Buffer.alloc(65536 * 2);
    const pairs = new Int32Array(16);
    expect(native.pollFd(b.fd, POLLIN, 1000) & POLLIN).toBe(POLLIN);
    let n = native.tapRead(b.fd, inBuf, pairs, 2);
    for (let i = 0; n === 1 && i < 50; i++) n = native.tapRead(b.fd, inBuf, pairs, 2); // not all queued yet
    expect(n).toBe(2);
    expect(Array.from(pairs.subarray(0, 4))).toEqual([0, 60, 64, 61]);
    expect(inBuf.subarray(0, 60).equals(out.subarray(0, 60))).toBe(true);
    expect(inBuf.subarray(64, 125).equals(out.subarray(100, 161))).toBe(true);
    expect(native.pollFd(b.fd, POLLIN, 1000) & POLLIN).toBe(POLLIN);
    expect(native.tapRead(b.fd, inBuf, pairs, 8)).toBe(1);
    expect(Array.from(pairs.subarray(0, 2))).toEqual([0, 1500]);
    expect(inBuf.subarray(0, 1500).equals(out.subarray(1000, 2500))).toBe(true);
    expect(native.tapRead(b.fd, inBuf, pairs, 8)).toBe(0);
    expect(native.tapRead(-1, inBuf, pairs, 8)).toBe(-E.EBADF);
    expect(native.tapWrite(-1, out, frames, 3)).toBe(-E.EBADF);
  });
});

describe('Poller', () => {
  it('delivers readable events with their tags, in batches of at most maxEvents', async () => {
    const sockets = Array.from({ length: 200 }, () => udpSocket());
    const seen = new Map<number, number>();
    const batchSizes: number[] = [];
    const scratch = Buffer.alloc(64);
    let resolve!: () => void;
    const done = new Promise<void>((r) => (resolve = r));
    const poller = new native.Poller((events, count) => {
      batchSizes.push(count);
      for (let i = 0; i < count; i++) {
        const tag = events[2 * i];
        seen.set(tag, events[2 * i + 1]);
        const s = sockets[tag - 1000];
        expect(native.recv(s.fd, scratch, 0, 64, 0, -1)).toBe(1);
      }
      if (seen.size === sockets.length) resolve();
    }, 64);
    try {
      sockets.forEach((s, i) => expect(poller.add(s.fd, C.EPOLLIN, 1000 + i)).toBe(0));
      expect(poller.add(sockets[0].fd, C.EPOLLIN, 1)).toBe(-E.EEXIST);

      const tx = udpSocket();
      const buf = Buffer.from('x');
      const addrs = new Uint8Array(16 * sockets.length);
      const dest = new Int32Array(3 * sockets.length);
      sockets.forEach((s, i) => {
        addrs.set(LO4, 16 * i);
        dest.set([C.AF_INET, s.port, 0], 3 * i);
      });
      const offsets = new Int32Array(sockets.length);
      const lens = new Int32Array(sockets.length).fill(1);
      expect(native.sendmmsg(tx.fd, buf, offsets, lens, sockets.length, dest, addrs)).toBe(sockets.length);

      await done;
      expect(seen.size).toBe(sockets.length);
      for (const [tag, ev] of seen) {
        expect(tag).toBeGreaterThanOrEqual(1000);
        expect(ev & C.EPOLLIN).toBe(C.EPOLLIN);
      }
      expect(Math.max(...batchSizes)).toBeLessThanOrEqual(64);
      expect(batchSizes.length).toBeGreaterThanOrEqual(4);
    } finally {
      poller.close();
    }
  });

  it('hands over events a batch caused in the same wake-up, before libuv runs its other handles', async () => {
    // Pipe A's event makes the callback write to pipe B and queue a setImmediate (libuv's
    // check phase, after the poll phase): B's event comes first, in the same turn of the loop.
    const a = new Int32Array(3);
    const b = new Int32Array(3);
    expect(native.pipe(a)).toBe(0);
    expect(native.pipe(b)).toBe(0);
    for (const fd of [a[0], a[1], b[0], b[1]]) track(fd);
    const order: string[] = [];
    let rounds = 0;
    const poller = new native.Poller((events, count) => {
      rounds++;
      for (let i = 0; i < count; i++) {
        if (events[2 * i] === 1) {
          expect(native.read(a[0], Buffer.alloc(8), 0, 8)).toBe(1);
          order.push('a');
          expect(native.write(b[1], Buffer.from('b'), 0, 1)).toBe(1);
          setImmediate(() => order.push('immediate'));
        } else {
          expect(native.read(b[0], Buffer.alloc(8), 0, 8)).toBe(1);
          order.push('b');
        }
      }
    });
    try {
      expect(poller.add(a[0], C.EPOLLIN, 1)).toBe(0);
      expect(poller.add(b[0], C.EPOLLIN, 2)).toBe(0);
      expect(native.write(a[1], Buffer.from('a'), 0, 1)).toBe(1);
      await expect.poll(() => order.length).toBe(3);
      expect(order).toEqual(['a', 'b', 'immediate']);
      expect(rounds).toBe(2);
    } finally {
      poller.close();
    }
  });

  it('changes interest with mod, stops with del, and is closed idempotently', async () => {
    const { client, server } = tcpPair();
    const got: Array<[number, number]> = [];
    // A pipe watched by the same poller is the barrier: once its event has come, epoll
    // has been asked after everything before it, and anything ready then came with it.
    const barrierPipe = new Int32Array(3);
    expect(native.pipe(barrierPipe)).toBe(0);
    track(barrierPipe[0]);
    track(barrierPipe[1]);
    let barriers = 0;
    const poller = new native.Poller((events, count) => {
      for (let i = 0; i < count; i++) {
        if (events[2 * i] === 99) {
          expect(native.read(barrierPipe[0], Buffer.alloc(8), 0, 8)).toBe(1);
          barriers++;
        } else {
          got.push([events[2 * i], events[2 * i + 1]]);
        }
      }
    });
    expect(poller.add(barrierPipe[0], C.EPOLLIN, 99)).toBe(0);
    const barrier = async () => {
      const before = barriers;
      expect(native.write(barrierPipe[1], Buffer.from('b'), 0, 1)).toBe(1);
      await expect.poll(() => barriers).toBe(before + 1);
    };
    // Nothing to read on the server: no event.
    expect(poller.add(server, C.EPOLLIN, 5)).toBe(0);
    await barrier();
    expect(got).toEqual([]);
    // Writable right away: with EPOLLOUT | EPOLLET, exactly one event under the new tag.
    expect(poller.mod(server, C.EPOLLOUT | C.EPOLLET, 6)).toBe(0);
    await expect.poll(() => got.length).toBe(1);
    await barrier();
    await barrier();
    expect(got).toEqual([[6, C.EPOLLOUT]]);
    expect(poller.del(server)).toBe(0);
    expect(poller.del(server)).toBe(-E.ENOENT);
    expect(poller.mod(client, C.EPOLLIN, 1)).toBe(-E.ENOENT);
    poller.unref();
    poller.ref();
    poller.close();
    poller.close();
    expect(poller.add(server, C.EPOLLIN, 1)).toBe(-E.EBADF);
  });

  it('lets an exception from the callback become an uncaught exception', () => {
    const addon = createRequire(import.meta.url).resolve('../../build/Release/passt_native.node');
    const script = `
      const n = require(${JSON.stringify(addon)});
      process.on('uncaughtException', (e) => { console.log('uncaught: ' + e.message); process.exit(0); });
      const fd = n.socket(2, 2 | 2048, 0);
      n.bind(fd, new Uint8Array([127, 0, 0, 1]), 0, 0);
      n.connect(fd, new Uint8Array([127, 0, 0, 1]), 9, 0);
      const p = new n.Poller(() => { throw new Error('boom'); });
      p.add(fd, 4, 1); // writable at once
      // Two turns of the event loop: the poll phase between them has dispatched the writable fd.
      setImmediate(() => setImmediate(() => { console.log('no exception'); process.exit(1); }));
    `;
    const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 5000 });
    expect(out.trim()).toBe('uncaught: boom');
  });

  it('keeps Node alive while referenced, not after unref()', async () => {
    const addon = createRequire(import.meta.url).resolve('../../build/Release/passt_native.node');
    // The child watches its standard input with a poller and nothing else: it is still
    // there to see the parent's "go" only if the poller holds it, and once the callback
    // has unreferenced the poller (its fd still watched, stdin still open) it exits.
    const script = `
      const n = require(${JSON.stringify(addon)});
      const p = new n.Poller(() => {
        n.read(0, Buffer.alloc(16), 0, 16);
        console.log('event');
        p.unref();
      });
      p.add(0, 1, 1);
      process.on('exit', () => console.log('exit'));
      console.log('ready');
    `;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await expect.poll(() => out).toBe('ready\n');
      child.stdin.write('go');
      expect(await exited).toBe(0);
      expect(out).toBe('ready\nevent\nexit\n');
    } finally {
      child.stdin.destroy();
      child.kill('SIGKILL');
    }
  });
});

describe('namespaces and processes', () => {
  const ourNet = inode('/proc/self/ns/net');
  const ourUser = inode('/proc/self/ns/user');
  const shPath = 'PATH=/usr/sbin:/usr/bin:/sbin:/bin';

  it('nsCreate (no userns) runs a command in a new netns after nsGo; waitPidfd gives 7', () => {
    const ns = native.nsCreate({ userns: false, uid: 0, gid: 0, argv: ['sh', '-c', 'exit 7'], env: [shPath], cwd: '/' });
    adopt(ns.pid);
    track(ns.pidfd);
    track(ns.netnsFd);
    expect(ns.usernsFd).toBe(-1);
    for (const fd of [ns.pidfd, ns.netnsFd, ns.goFd]) expect(hasCloexec(fd)).toBe(true);
    expect(fdInode(ns.netnsFd)).not.toBe(ourNet);
    expect(inode(`/proc/${ns.pid}/ns/net`)).toBe(fdInode(ns.netnsFd));
    expect(inode(`/proc/${ns.pid}/ns/user`)).toBe(ourUser);
    // It waits for "go".
    expect(native.pollFd(ns.pidfd, POLLIN, 50)).toBe(0);
    expect(native.waitPidfd(ns.pidfd)).toBe(-1);
    expect(native.kill(ns.pid, 0)).toBe(0);
    expect(native.nsGo(ns.goFd)).toBe(0);
    expect(waitExit(ns.pidfd)).toBe(7);
    expect(native.waitPidfd(ns.pidfd)).toBe(-10 - 1000); // ECHILD: already reaped
  });

  it('nsCreate with userns maps uid 0, and the command sees its env, cwd and namespaces', () => {
    const uid = process.getuid!();
    const gid = process.getgid!();
    const check =
      '[ "$(cat /proc/self/uid_map | tr -s " ")" = " 0 ' + uid + ' 1" ] && [ "$(id -u)" = 0 ] && ' +
      '[ "$FOO" = "bar baz" ] && [ "$(pwd)" = /tmp ] && [ "$(readlink /proc/self/ns/net)" = "$NETNS" ] && ' +
      // stdio is inherited (Node marks its own fds 0-2 close-on-exec).
      '[ -e /proc/$$/fd/0 ] && [ -e /proc/$$/fd/1 ] && [ -e /proc/$$/fd/2 ] && exit 7; exit 1';
    // The net namespace is only known after nsCreate, so the command reads it from a file.
    const ns = native.nsCreate({
      userns: true,
      uid,
      gid,
      argv: ['sh', '-c', 'NETNS=$(cat "$NSFILE"); ' + check],
      env: [shPath, 'FOO=bar baz', `NSFILE=/tmp/passt-native-test-${process.pid}`],
      cwd: '/tmp',
    });
    adopt(ns.pid);
    track(ns.pidfd);
    track(ns.netnsFd);
    track(ns.usernsFd);
    expect(fdInode(ns.usernsFd)).not.toBe(ourUser);
    expect(fdInode(ns.netnsFd)).not.toBe(ourNet);
    expect(fs.readFileSync(`/proc/${ns.pid}/uid_map`, 'utf8').trim().split(/\s+/)).toEqual(['0', String(uid), '1']);
    expect(fs.readFileSync(`/proc/${ns.pid}/gid_map`, 'utf8').trim().split(/\s+/)).toEqual(['0', String(gid), '1']);
    expect(fs.readFileSync(`/proc/${ns.pid}/setgroups`, 'utf8').trim()).toBe('deny');
    const nsFile = `/tmp/passt-native-test-${process.pid}`;
    fs.writeFileSync(nsFile, fs.readlinkSync(`/proc/${ns.pid}/ns/net`));
    try {
      expect(native.nsGo(ns.goFd)).toBe(0);
      expect(waitExit(ns.pidfd)).toBe(7);
    } finally {
      fs.rmSync(nsFile, { force: true });
    }
  });

  it('searches the PATH given in env for the command', () => {
    const dir = fs.mkdtempSync('/tmp/passt-native-test-');
    try {
      fs.writeFileSync(`${dir}/passt-test-cmd`, '#!/bin/sh\nexit 5\n', { mode: 0o755 });
      const ns = native.nsCreate({
        userns: false,
        uid: 0,
        gid: 0,
        argv: ['passt-test-cmd'],
        env: [`PATH=/nonexistent:${dir}:/usr/bin:/bin`],
        cwd: '/',
      });
      adopt(ns.pid);
      track(ns.pidfd);
      track(ns.netnsFd);
      expect(native.nsGo(ns.goFd)).toBe(0);
      expect(waitExit(ns.pidfd)).toBe(5);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports exec failure as 127, a kill as 128 + signal, and a cancelled go as 0', () => {
    const bad = native.nsCreate({ userns: false, uid: 0, gid: 0, argv: ['/nonexistent/passt-cmd'], env: [], cwd: '/' });
    adopt(bad.pid);
    track(bad.pidfd);
    track(bad.netnsFd);
    expect(native.nsGo(bad.goFd)).toBe(0);
    expect(waitExit(bad.pidfd)).toBe(127);

    const holder = native.nsCreate({ userns: true, uid: 0, gid: 0, argv: [], env: [], cwd: '/' });
    adopt(holder.pid);
    track(holder.pidfd);
    track(holder.netnsFd);
    track(holder.usernsFd);
    expect(native.nsGo(holder.goFd)).toBe(0);
    expect(native.pollFd(holder.pidfd, POLLIN, 50)).toBe(0); // holds until killed
    expect(native.kill(holder.pid, C.SIGKILL)).toBe(0);
    expect(waitExit(holder.pidfd)).toBe(128 + C.SIGKILL);

    const cancelled = native.nsCreate({ userns: false, uid: 0, gid: 0, argv: ['sh', '-c', 'exit 3'], env: [], cwd: '/' });
    adopt(cancelled.pid);
    track(cancelled.pidfd);
    track(cancelled.netnsFd);
    expect(native.close(cancelled.goFd)).toBe(0);
    expect(waitExit(cancelled.pidfd)).toBe(0);
  });

  it('nsCreate throws an Error naming the failing step', () => {
    let error: (Error & { code?: string }) | undefined;
    try {
      native.nsCreate({ userns: true, uid: 0xffffffff, gid: 0, argv: [], env: [], cwd: '/' });
    } catch (e) {
      error = e as Error;
    }
    expect(error).toBeInstanceOf(Error);
    expect(error!.message).toBe('write /proc/self/uid_map: Invalid argument');
    expect(error!.code).toBe('EINVAL');
  });

  it('nsHelper joins a userns + netns and creates a tap there', () => {
    const ns = native.nsCreate({ userns: true, uid: 0, gid: 0, argv: [], env: [], cwd: '/' });
    adopt(ns.pid);
    track(ns.pidfd);
    track(ns.netnsFd);
    track(ns.usernsFd);
    const helper = native.nsHelper(ns.usernsFd, ns.netnsFd);
    adopt(helper.pid);
    expect(hasCloexec(helper.ctlFd)).toBe(true);
    expect(inode(`/proc/${helper.pid}/ns/net`)).toBe(fdInode(ns.netnsFd));
    expect(inode(`/proc/${helper.pid}/ns/user`)).toBe(fdInode(ns.usernsFd));

    const info = new Int32Array(1);
    const tap = track(native.nsTap(helper.ctlFd, 'tap0', info));
    expect(info[0]).toBeGreaterThan(0);
    expect(hasCloexec(tap)).toBe(true);
    expect(fs.readlinkSync(`/proc/self/fd/${tap}`)).toBe('/dev/net/tun');
    expect(fs.readFileSync(`/proc/${helper.pid}/net/dev`, 'utf8')).toMatch(/^\s*tap0:/m);
    expect(fs.readFileSync('/proc/self/net/dev', 'utf8')).not.toMatch(/^\s*tap0:/m);
    // Nonblocking, and down: nothing to read, writes refused with EIO.
    const buf = Buffer.alloc(65614);
    expect(native.tapRead(tap, buf, new Int32Array(2), 1)).toBe(0);
    expect(native.tapWrite(tap, buf, new Int32Array([0, 60]), 1)).toBe(-5 /* EIO */);
    // The name is taken by the open tap.
    expect(native.nsTap(helper.ctlFd, 'tap0', info)).toBeLessThan(0);
    expect(native.nsTap(helper.ctlFd, 'a-name-far-too-long', info)).toBe(-E.EINVAL);

    // Closing the control socket ends the helper.
    const helperPidfd = track(native.pidfdOpen(helper.pid));
    expect(native.close(helper.ctlFd)).toBe(0);
    expect(waitExit(helperPidfd)).toBe(0);
    native.kill(ns.pid, C.SIGKILL);
    expect(waitExit(ns.pidfd)).toBe(128 + C.SIGKILL);
  });

  it('nsSocket returns a socket in the other namespace', () => {
    const ns = native.nsCreate({ userns: false, uid: 0, gid: 0, argv: [], env: [], cwd: '/' });
    adopt(ns.pid);
    track(ns.pidfd);
    track(ns.netnsFd);
    // Our own user namespace: the helper skips setns(CLONE_NEWUSER).
    const ourUserFd = track(native.open('/proc/self/ns/user', C.O_RDONLY));
    const helper = native.nsHelper(ourUserFd, ns.netnsFd);
    adopt(helper.pid);
    track(helper.ctlFd);

    const here = listenTcp(LO4);
    const again = track(native.socket(C.AF_INET, C.SOCK_STREAM, 0));
    expect(native.bind(again, LO4, here.port, 0)).toBe(-98 /* EADDRINUSE */);

    const there = track(native.nsSocket(helper.ctlFd, C.AF_INET, C.SOCK_STREAM | C.SOCK_NONBLOCK, 0));
    expect(hasCloexec(there)).toBe(true);
    expect(native.bind(there, LO4, here.port, 0)).toBe(0);
    expect(native.listen(there, 1)).toBe(0);
    expect(localPort(there)).toBe(here.port);
    // SOCK_NONBLOCK was applied by the helper.
    expect(native.accept(there, new Uint8Array(16), new Int32Array(3))).toBe(-E.EAGAIN);

    expect(native.nsSocket(helper.ctlFd, 12345, C.SOCK_STREAM, 0)).toBeLessThan(0);
  });

  it('nsHelper throws an Error naming the failing step', () => {
    const notANamespace = track(native.open('/dev/null', C.O_RDONLY));
    expect(() => native.nsHelper(-1, notANamespace)).toThrow('setns(CLONE_NEWNET): Invalid argument');
  });

  it('pidfdOpen, waitPidfd and kill report errors as documented', () => {
    const self = track(native.pidfdOpen(process.pid));
    expect(native.waitPidfd(self)).toBe(-10 - 1000); // ECHILD: not our child
    expect(native.pidfdOpen(-5)).toBe(-E.EINVAL);
    expect(native.waitPidfd(-1)).toBe(-E.EINVAL - 1000);
    const notAPidfd = track(native.open('/dev/null', C.O_RDONLY));
    expect(native.waitPidfd(notAPidfd)).toBe(-E.EBADF - 1000);
    expect(native.kill(process.pid, 0)).toBe(0);
  });
});

describe('Loop', () => {
  it('dispatches nothing more of a batch once a handler closed the loop (the other fds may be closed already)', async () => {
    const { Loop } = await import('../../src/loop.js');
    const loop = new Loop((err) => {
      throw err;
    });
    const pipes = [new Int32Array(3), new Int32Array(3)];
    for (const p of pipes) expect(native.pipe(p)).toBe(0);
    const calls: number[] = [];
    let batchEnds = 0;
    loop.onBatchEnd(() => batchEnds++);
    // Kind 4 (Watch): both read ends, both readable before the loop looks.
    loop.on(4, (index) => {
      calls.push(index);
      loop.close();
    });
    for (let i = 0; i < 2; i++) expect(loop.add(pipes[i][0], 4, i, C.EPOLLIN)).toBe(0);
    for (const p of pipes) expect(native.write(p[1], Buffer.from('x'), 0, 1)).toBe(1);
    // Both were readable when the loop first looked: one batch. Once the first handler has
    // run, the loop is closed and can dispatch nothing more, ever.
    await expect.poll(() => calls.length).toBeGreaterThan(0);
    await settle();
    expect(calls).toHaveLength(1);
    expect(batchEnds).toBe(0);
    for (const p of pipes) {
      native.close(p[0]);
      native.close(p[1]);
    }
  });
});
