// The engine-level fuzz run, inside a private network namespace that
// test/fuzz/engine.test.ts makes for it (`unshare -n`, loopback up, nothing
// else: whatever address a fuzzed frame names, nothing can leave this
// namespace). Uses the built engine (dist/), as the e2e scripts do.
//
//   node --expose-gc engine-driver.mjs FRAMES_FILE SECONDS
//
// FRAMES_FILE holds the fuzzed frames, each a 32-bit big-endian length, then
// a 10-byte virtio-net header (GSO type and size, as a tap made with
// IFF_VNET_HDR puts before each frame) and the frame. The engine has an
// injected clock and manual ticks; its "tap" is a connected UDP socket on
// loopback (as test/unit/tap-rig.ts) read by the engine's own loop, through
// the same TapIn/tapRead path and virtio-net header parsing as a real tap:
// the guest's side, the socket at its other end, sends every frame to it as
// one datagram (a batch with one sendmmsg). For SECONDS the
// fuzzed frames go in at a high rate, while a real TCP connection through
// the engine to a server on loopback carries data both ways, checked byte
// for byte, and a UDP flow through it to an echo server exchanges
// datagrams; the guest's side of both is played here, frame by frame. Then:
// the fuzzing stops and the real flows must still move data; the guest
// resets the real connection; the clock moves on until every flow has
// expired, when the process must have exactly the fds it had when the engine
// started; and the engine is closed. Prints one JSON line: errors
// (exceptions out of the engine, internal errors it logged, data that
// arrived corrupted, the real connection reset, flows that never expired),
// what the real flows moved during and after the fuzzing, fds, and heap
// (after gc) at the start, a third of the way in, at the end of the fuzzing
// and once every flow has expired (and the memory of Buffers at the start and then).
import fs from 'node:fs';
import net from 'node:net';
import dgram from 'node:dgram';
import { Engine } from '../../dist/engine.js';
import { buildConfig } from '../../dist/conf.js';
import { parseArgs } from '../../dist/options.js';
import { native, C } from '../../dist/native.js';
import { NO_OFFLOADS } from '../../dist/l2/tapio.js';
import { l4Checksum4 } from '../../dist/l2/checksum.js';
import { pushEthernet, pushIpv4, pushUdp } from '../../dist/l2/emit.js';

const [file, secondsArg] = process.argv.slice(2);
const seconds = Number(secondsArg);
const errors = [];
const fail = (what) => {
  if (errors.length < 20) errors.push(what);
};
const result = { errors };
const finish = () => {
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
};

// Refuse to run anywhere but a namespace of our own with loopback alone.
const links = fs.readFileSync('/proc/self/net/dev', 'utf8').split('\n').slice(2).map((l) => l.split(':')[0].trim()).filter(Boolean);
if (links.join() !== 'lo') {
  fail(`not in a private network namespace (links: ${links.join(', ')})`);
  finish();
}

/** Open fds, not counting /dev/null (Node opens it once, on its first 'ignore' stream). */
const fdCount = () =>
  fs.readdirSync('/proc/self/fd').filter((f) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${f}`) !== '/dev/null';
    } catch {
      return false;
    }
  }).length;

const heap = () => {
  globalThis.gc?.();
  return process.memoryUsage().heapUsed;
};

// The fuzzed frames, each after its virtio-net header.
const VNET = 10;
const bytes = fs.readFileSync(file);
const frames = [];
for (let at = 0; at + 4 <= bytes.length; ) {
  const len = bytes.readUInt32BE(at);
  frames.push(bytes.subarray(at + 4, at + 4 + len));
  at += 4 + len;
}

// The test topology's addresses (doc/design.md): the gateway stands for this namespace's loopback.
const GUEST_MAC = Buffer.from('5e8a3c112233', 'hex');
const OUR_MAC = Buffer.from('9a559a559a55', 'hex');
const G = Buffer.from('c6336402', 'hex');
const GW = Buffer.from('c6336401', 'hex');
const HOST = {
  links: [{ index: 2, name: 'eth0', flags: 0x1003, mtu: 65520, up: true }],
  addrs4: [{ family: 4, index: 2, prefixLen: 24, addr: Uint8Array.from(G), scope: 0, flags: 0 }],
  addrs6: [
    { family: 6, index: 2, prefixLen: 64, addr: Uint8Array.from(Buffer.from('20010db8000000000000000000000002', 'hex')), scope: 0, flags: 0x80 },
    { family: 6, index: 2, prefixLen: 64, addr: Uint8Array.from(Buffer.from('fe800000000000000000000000000002', 'hex')), scope: 253, flags: 0x80 },
  ],
  routes4: [{ family: 4, table: 254, dst: null, dstLen: 0, gateway: Uint8Array.from(GW), oif: 2, protocol: 4, scope: 0, type: 1 }],
  routes6: [{ family: 6, table: 254, dst: null, dstLen: 0, gateway: Uint8Array.from(Buffer.from('20010db8000000000000000000000001', 'hex')), oif: 2, protocol: 4, scope: 0, type: 1 }],
};
/** The guest ports of the real flows: the fuzzed frames never use them (engine.test.ts sees to it). */
const TCP_PORT = 61001;
const UDP_PORT = 61002;

// Data patterns, so that every byte can be checked where it arrives.
const toServer = (i) => (i * 7 + (i >>> 8) + (i >>> 16)) & 0xff;
const toGuest = (i) => (i * 13 + (i >>> 9) + 1) & 0xff;

// --- the host's side: a TCP server and a UDP echo server on loopback -----------------

const accepted = [];
let real = null;
let serverGot = 0;
const server = net.createServer((s) => {
  s.on('error', () => {});
  accepted.push(s);
  if (real) {
    s.resume(); // a connection a fuzzed SYN opened: drained, unchecked
    return;
  }
  real = s;
  s.on('data', (d) => {
    for (let i = 0; i < d.length; i++) if (d[i] !== toServer(serverGot + i)) return fail(`TCP data to the server corrupted at byte ${serverGot + i}`);
    serverGot += d.length;
  });
  let sent = 0;
  const pump = () => {
    for (;;) {
      const chunk = Buffer.alloc(65536);
      for (let i = 0; i < chunk.length; i++) chunk[i] = toGuest(sent + i);
      sent += chunk.length;
      if (!s.write(chunk)) return;
    }
  };
  s.on('drain', pump);
  pump();
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const serverPort = server.address().port;

const echo = dgram.createSocket('udp4');
echo.on('message', (m, from) => echo.send(m, from.port, from.address));
await new Promise((r) => echo.bind(0, '127.0.0.1', r));
const echoPort = echo.address().port;

// --- the guest's side: frames in and out through the fake tap ----------------------

// Both ends are plain sockets of the addon, connected to each other: the guest's side sends
// a batch of frames with one sendmmsg and takes the engine's frames with recvmmsg, polled.
const LOOPBACK = Uint8Array.of(127, 0, 0, 1);
const portOf = (fd) => {
  const info = new Int32Array(3);
  native.getsockname(fd, new Uint8Array(16), info);
  return info[1];
};
const udpSocket = () => {
  const fd = native.socket(C.AF_INET, C.SOCK_DGRAM | C.SOCK_NONBLOCK, 0);
  native.setsockoptInt(fd, C.SOL_SOCKET, C.SO_RCVBUF, 8 << 20);
  native.setsockoptInt(fd, C.SOL_SOCKET, C.SO_SNDBUF, 8 << 20);
  if (native.bind(fd, LOOPBACK, 0, 0) !== 0) fail('cannot bind a socket on loopback');
  return fd;
};
const guestFd = udpSocket();
const tapFd = udpSocket();
if (native.connect(tapFd, LOOPBACK, portOf(guestFd), 0) !== 0 || native.connect(guestFd, LOOPBACK, portOf(tapFd), 0) !== 0) fail('cannot connect the fake tap');
const NO_GSO = Buffer.alloc(VNET);

/** Frames from the guest waiting for the next sendmmsg, each after its virtio-net header. */
const MAX_SEND = 1024;
const sendBuf = Buffer.alloc(16 << 20);
const sendOffsets = new Int32Array(MAX_SEND);
const sendLens = new Int32Array(MAX_SEND);
const sendDest = new Int32Array(3 * MAX_SEND); // family 0: the connected peer
const noAddrs = new Uint8Array(16 * MAX_SEND);
let sendCount = 0;
let sendAt = 0;
/** One frame from the guest: `vnet` (its virtio-net header) and the frame, as one tap read gives them. */
function toTap(vnet, frame) {
  if (sendCount === MAX_SEND || sendAt + vnet.length + frame.length > sendBuf.length) flushToTap();
  sendOffsets[sendCount] = sendAt;
  sendAt += vnet.copy(sendBuf, sendAt);
  sendAt += frame.copy(sendBuf, sendAt);
  sendLens[sendCount] = sendAt - sendOffsets[sendCount];
  sendCount++;
  sendAt = (sendAt + 7) & ~7;
}
/** Send what toTap() queued; a full send buffer is waited out (the datagrams must all go). */
function flushToTap() {
  for (let done = 0, spins = 0; done < sendCount; ) {
    const n = native.sendmmsg(guestFd, sendBuf, sendOffsets.subarray(done), sendLens.subarray(done), sendCount - done, sendDest, noAddrs);
    if (n > 0) done += n;
    else if (n !== -11 || ++spins > 1e6) {
      fail(`sendmmsg to the fake tap: ${n}`);
      break;
    }
  }
  sendCount = 0;
  sendAt = 0;
}

/** The engine's frames to the guest, polled. */
const RECV = 256;
const SLOT = 65536 + VNET;
const recvBuf = Buffer.alloc(RECV * SLOT);
const recvOffsets = Int32Array.from({ length: RECV }, (_, i) => i * SLOT);
const recvInfo = new Int32Array(5 * RECV);
const recvAddrs = new Uint8Array(16 * RECV);
function pollGuest() {
  for (;;) {
    const n = native.recvmmsg(guestFd, recvBuf, recvOffsets, SLOT, RECV, recvInfo, recvAddrs);
    if (n <= 0) return;
    for (let i = 0; i < n; i++) frameToGuest(recvBuf.subarray(recvOffsets[i] + VNET, recvOffsets[i] + recvInfo[5 * i]));
  }
}

/** A frame from the guest to the gateway with a TCP or UDP message, checksums filled. */
function frameTo(proto, message) {
  const f = Buffer.alloc(34 + message.length);
  pushIpv4(f, pushEthernet(f, 0, OUR_MAC, GUEST_MAC, 0x0800), 20 + message.length, proto, G, 0, GW, 0);
  message.copy(f, 34);
  l4Checksum4(f, 14, 34, message.length);
  return f;
}
function tcpFrame(seq, ack, flags, data = Buffer.alloc(0)) {
  const syn = flags & 0x02;
  const t = Buffer.alloc((syn ? 24 : 20) + data.length);
  t.writeUInt16BE(TCP_PORT, 0);
  t.writeUInt16BE(serverPort, 2);
  t.writeUInt32BE(seq >>> 0, 4);
  t.writeUInt32BE(ack >>> 0, 8);
  t[12] = (syn ? 6 : 5) << 4;
  t[13] = flags;
  t.writeUInt16BE(16384, 14); // a small window: the data to the guest must not flood its socket's buffer
  if (syn) t.writeUInt32BE(0x020405b4, 20); // MSS 1460
  data.copy(t, syn ? 24 : 20);
  return frameTo(6, t);
}
function udpFrame(data) {
  const u = Buffer.alloc(8 + data.length);
  pushUdp(u, 0, UDP_PORT, echoPort, u.length);
  data.copy(u, 8);
  return frameTo(17, u);
}

/** Frames of the real flows waiting for the next batch. */
let pending = [];
const diff = (a, b) => (a - b) | 0;

const ISS = 100000;
/** The guest's side of the real connection; `acked` counts the bytes of ours the engine acknowledged (sequence numbers wrap, it does not). */
const tcp = { closed: false, established: false, sndUna: ISS, sndNxt: ISS, sndMax: ISS, acked: 0, rcvNxt: 0, got: 0, progressAt: Date.now() };
const udp = { n: 0, sentAt: 0, completed: 0 };
const udpPayload = (n) => {
  const b = Buffer.alloc(300);
  b.write(`udp ${n} `);
  for (let i = 12; i < b.length; i++) b[i] = (n + i) & 0xff;
  return b;
};

function frameToGuest(f) {
  if (f.length < 34 || f.readUInt16BE(12) !== 0x0800) return;
  const l4 = 14 + (f[14] & 15) * 4;
  const end = 14 + f.readUInt16BE(16);
  if (f[23] === 6 && f.length >= l4 + 20 && f.readUInt16BE(l4 + 2) === TCP_PORT && f.readUInt16BE(l4) === serverPort) {
    const flags = f[l4 + 13];
    const seq = f.readUInt32BE(l4 + 4);
    const ack = f.readUInt32BE(l4 + 8);
    if (tcp.closed) return;
    if (flags & 0x04) return fail('the real TCP connection was reset');
    if ((flags & 0x12) === 0x12 && !tcp.established) {
      tcp.established = true;
      tcp.rcvNxt = (seq + 1) >>> 0;
      tcp.sndUna = tcp.sndNxt = tcp.sndMax = ack;
      tcp.progressAt = Date.now();
      pending.push(tcpFrame(tcp.sndNxt, tcp.rcvNxt, 0x10));
      return;
    }
    if (!tcp.established) return;
    if (flags & 0x10 && diff(ack, tcp.sndUna) > 0 && diff(ack, tcp.sndMax) <= 0) {
      tcp.acked += diff(ack, tcp.sndUna);
      tcp.sndUna = ack;
      if (diff(ack, tcp.sndNxt) > 0) tcp.sndNxt = ack; // after going back, an ACK for what was sent before
      tcp.progressAt = Date.now();
    }
    const data = f.subarray(l4 + (f[l4 + 12] >> 4) * 4, end);
    if (data.length === 0) return;
    if (seq === tcp.rcvNxt) {
      for (let i = 0; i < data.length; i++) if (data[i] !== toGuest(tcp.got + i)) return fail(`TCP data to the guest corrupted at byte ${tcp.got + i}`);
      tcp.got += data.length;
      tcp.rcvNxt = (tcp.rcvNxt + data.length) >>> 0;
    }
    pending.push(tcpFrame(tcp.sndNxt, tcp.rcvNxt, 0x10));
  } else if (f[23] === 17 && f.length >= l4 + 8 && f.readUInt16BE(l4 + 2) === UDP_PORT && f.readUInt16BE(l4) === echoPort) {
    const data = f.subarray(l4 + 8, end);
    const n = Number(/^udp (\d+) /.exec(data.toString('latin1', 0, 12))?.[1]);
    if (!Number.isInteger(n) || !data.equals(udpPayload(n))) return fail('a UDP echo arrived corrupted');
    if (n === udp.n) {
      udp.completed++;
      udp.n++;
      udp.sentAt = 0;
    }
  }
}

/** The real flows' next frames: SYN (again), data within 32 KiB in flight (go back on a stall), the next datagram. */
function realFrames() {
  if (tcp.closed) return [];
  const now = Date.now();
  if (!tcp.established) {
    if (now - tcp.progressAt > 300 || tcp.sndNxt === ISS) {
      tcp.progressAt = now;
      tcp.sndNxt = ISS + 1;
      pending.push(tcpFrame(ISS, 0, 0x02));
    }
  } else {
    if (diff(tcp.sndNxt, tcp.sndUna) > 0 && now - tcp.progressAt > 300) {
      tcp.sndNxt = tcp.sndUna; // no progress: send again from the first byte not acknowledged
      tcp.progressAt = now;
    }
    while (diff(tcp.sndNxt, tcp.sndUna) < 32768) {
      const offset = tcp.acked + diff(tcp.sndNxt, tcp.sndUna);
      const data = Buffer.alloc(1400);
      for (let i = 0; i < data.length; i++) data[i] = toServer(offset + i);
      pending.push(tcpFrame(tcp.sndNxt, tcp.rcvNxt, 0x18, data));
      tcp.sndNxt = (tcp.sndNxt + data.length) >>> 0;
      if (diff(tcp.sndNxt, tcp.sndMax) > 0) tcp.sndMax = tcp.sndNxt;
    }
  }
  if (now - udp.sentAt > 200) {
    udp.sentAt = now;
    pending.push(udpFrame(udpPayload(udp.n)));
  }
  const out = pending;
  pending = [];
  return out;
}

// --- the run ---------------------------------------------------------------------------

const log = {
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error: (m) => fail(`engine error: ${String(m).split('\n').slice(0, 3).join(' | ')}`),
  fatal: (m) => fail(`engine fatal: ${m}`),
  isLevelEnabled: (level) => level === 'error' || level === 'warn',
};
// An explicit resolver (doc/design.md's rule for tests), on this namespace's loopback.
const config = buildConfig(parseArgs(['--config-net', '--dns', '127.0.0.1'], 'pasta'), HOST);
let clock = 1000;
const fdsBefore = fdCount();
let engine = new Engine({
  config,
  tapFd,
  vnetHdrLen: VNET,
  offloads: NO_OFFLOADS,
  log,
  clock: () => clock,
  manualTicks: true,
  onFatal: (err) => fail(`engine stopped: ${err?.stack ?? err}`),
  onTapGone: (reason) => fail(`tap gone: ${reason}`),
});
const fdsStart = fdCount();
const heapStart = heap();
/** Memory of Buffers and ArrayBuffers (outside the heap: frames, reassembly buffers). */
const buffers = () => process.memoryUsage().arrayBuffers;
const buffersStart = buffers();

const turn = () => new Promise((r) => setImmediate(r));
/** Send the frames queued for the tap, let the loop run (the engine reads them, the servers and the engine's sockets get their events), take the engine's frames. */
async function drain() {
  flushToTap();
  await turn();
  pollGuest();
}
/** Fuzzed frames per batch: fewer than one tap read takes (the engine reads up to 256 frames a read). */
const FUZZED_PER_BATCH = 160;
let fed = 0;
let batches = 0;
let next = 0;
/** One batch: `fuzzed` frames with the real flows' frames among them; the clock moves on 5 ms, every 4th batch a tick. */
async function batch(fuzzed) {
  // The real flows' frames keep their order (a guest's kernel sends a flow's segments in order
  // and the tap keeps it); where they fall among the fuzzed ones varies.
  const realOnes = realFrames();
  let r = 0;
  for (let k = 0; k < fuzzed; k++) {
    while (r < realOnes.length && (next + r * 7919 + k * 31) % 3 === 0) toTap(NO_GSO, realOnes[r++]);
    const f = frames[next++ % frames.length];
    toTap(f.subarray(0, VNET), f.subarray(VNET));
    fed++;
  }
  while (r < realOnes.length) toTap(NO_GSO, realOnes[r++]);
  await drain();
  batches++;
  clock += 5;
  if (batches % 4 === 0) engine.loop.tick();
}

// The real connection first, so that the server's first connection is it.
for (let i = 0; i < 2000 && !tcp.established && errors.length === 0; i++) {
  await batch(0);
  await new Promise((r) => setTimeout(r, 1));
}
if (!tcp.established) fail('the real TCP connection was not established');

let heapThird = 0;
let maxFds = 0;
const start = Date.now();
const stop = start + seconds * 1000;
while (Date.now() < stop && errors.length === 0) {
  await batch(FUZZED_PER_BATCH);
  if (!heapThird && Date.now() - start > (seconds * 1000) / 3) heapThird = heap();
  if (batches % 64 === 0) maxFds = Math.max(maxFds, fdCount());
}
const heapEnd = heap();
const during = { toGuest: tcp.got, toServer: serverGot, udp: udp.completed };

// After the fuzzing: the real flows go on (64 KiB more each way, two more UDP exchanges).
const afterStop = Date.now() + 10_000;
while (Date.now() < afterStop && errors.length === 0 && (tcp.got - during.toGuest < 65536 || serverGot - during.toServer < 65536 || udp.completed - during.udp < 2)) {
  await batch(0);
  await new Promise((r) => setTimeout(r, 1));
}
const after = { toGuest: tcp.got - during.toGuest, toServer: serverGot - during.toServer, udp: udp.completed - during.udp };

// The guest resets the real connection, then the clock moves on (10 s a tick, up to 3 hours:
// past every timeout of doc/design.md) until every flow has expired and the fds the flows
// took are closed again.
const stats = engine.stats();
tcp.closed = true;
toTap(NO_GSO, tcpFrame(tcp.sndNxt, tcp.rcvNxt, 0x14));
await drain();
for (const s of accepted) s.destroy();
let expiredAfter = -1;
for (let t = 0; t < 3 * 360 && errors.length === 0; t++) {
  clock += 10_000;
  engine.loop.tick();
  await drain();
  await new Promise((r) => setTimeout(r, 1));
  if (engine.stats().flows.active === 0 && fdCount() === fdsStart) {
    expiredAfter = t * 10;
    break;
  }
}
const expired = engine.stats();
if (expiredAfter < 0) fail(`flows still open after 3 hours: ${JSON.stringify({ tcp: expired.tcp.active, udp: expired.udp.active, icmp: expired.icmp.active, flows: expired.flows.active, fds: fdCount(), fdsStart })}`);
const fdsExpired = fdCount();
const heapExpired = heap();
const buffersExpired = buffers();
engine.close();
engine = null;
await new Promise((r) => setTimeout(r, 10));
result.fed = fed;
result.batches = batches;
result.stats = stats;
result.framesFromTap = stats.framesFromTap;
result.tcp = { during: { toGuest: during.toGuest, toServer: during.toServer }, after: { toGuest: after.toGuest, toServer: after.toServer } };
result.udp = { during: during.udp, after: after.udp };
result.expiredAfterSeconds = expiredAfter;
result.fds = { before: fdsBefore, start: fdsStart, most: maxFds, expired: fdsExpired, closed: fdCount() };
result.heap = { gc: typeof globalThis.gc === 'function', start: heapStart, third: heapThird, end: heapEnd, expired: heapExpired, buffersStart, buffersExpired };
native.close(guestFd);
echo.close();
server.close();
native.close(tapFd);
finish();
