// Spliced UDP flows (src/fwd/udpsplice.ts): pairs of connected sockets on
// loopback, datagrams moved both ways with their boundaries, and idle pairs
// closed when the injected clock says so. The handler runs on a Loop of its
// own with that clock and no tick timer: expiry happens when the test moves
// the clock on and ticks, never by waiting.
//
// Each pair is built as the forwarders build it: A, on the listening side,
// bound to the forwarded port (SO_REUSEADDR, as the listener holds it too)
// and connected to the client; B connected to the server. The client and
// the server are Node sockets.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import { native, C } from '../../src/native.js';
import { Loop } from '../../src/loop.js';
import { createLogger } from '../../src/log.js';
import { UdpSpliceHandler } from '../../src/fwd/udpsplice.js';
import { UDP_TIMEOUTS_DEFAULT } from '../../src/udp/timeout.js';
import { freePort, ip, localPort, settle, until } from './engine-rig.js';

type Family = 4 | 6;
const lo = (family: Family) => (family === 4 ? '127.0.0.1' : '::1');
const POLLNVAL = 32;

let clock = 0;
let loop: Loop;
let splice: UdpSpliceHandler;
let errors: unknown[];
let sockets: dgram.Socket[];
let fds: number[];

beforeEach(() => {
  clock = 1_000_000;
  errors = [];
  sockets = [];
  fds = [];
  loop = new Loop((err) => errors.push(err), 50, undefined, { clock: () => clock, manualTicks: true });
  loop.unref();
  splice = new UdpSpliceHandler(loop, createLogger({ name: 'test', level: 'silent' }));
});

afterEach(() => {
  splice.closeAll();
  loop.close();
  for (const s of sockets) s.close();
  for (const fd of fds) native.close(fd);
  expect(errors).toEqual([]);
});

/** Move the clock on and run the loop's ticks (expiry). */
function advance(ms: number): void {
  clock += ms;
  loop.tick();
}

/** A Node UDP socket on loopback that keeps what it receives. */
async function endpoint(family: Family, port = 0): Promise<{ s: dgram.Socket; port: number; got: Array<{ data: string; port: number }> }> {
  const s = dgram.createSocket(family === 4 ? 'udp4' : 'udp6');
  sockets.push(s);
  const got: Array<{ data: string; port: number }> = [];
  s.on('message', (m, r) => got.push({ data: m.toString(), port: r.port }));
  await new Promise<void>((r) => s.bind(port, lo(family), r));
  return { s, port: s.address().port, got };
}

/** A nonblocking UDP socket on `family`'s loopback, bound to `port` (SO_REUSEADDR) and connected to `peerPort`. */
function boundConnected(family: Family, port: number, peerPort: number): number {
  const fd = native.socket(family === 4 ? C.AF_INET : C.AF_INET6, C.SOCK_DGRAM | C.SOCK_NONBLOCK, 0);
  expect(fd).toBeGreaterThanOrEqual(0);
  expect(native.setsockoptInt(fd, C.SOL_SOCKET, C.SO_REUSEADDR, 1)).toBe(0);
  expect(native.bind(fd, ip(lo(family)), port, 0)).toBe(0);
  expect(native.connect(fd, ip(lo(family)), peerPort, 0)).toBe(0);
  return fd;
}

/** Client, server and a pair between them: A bound to `forwarded` and connected to the client, B connected to the server. */
async function pairFor(family: Family, key = 'k', at = clock) {
  const client = await endpoint(family);
  const server = await endpoint(family);
  const forwarded = freePort(family, C.SOCK_DGRAM);
  const a = boundConnected(family, forwarded, client.port);
  const b = boundConnected(family, 0, server.port);
  const pair = splice.add(key, a, b, at);
  expect(pair).toBeDefined();
  return { client, server, forwarded, a, b, bPort: localPort(b), pair: pair! };
}

describe('UdpSpliceHandler', () => {
  for (const family of [4, 6] as const) {
    it(`moves datagrams both ways over ${lo(family)}, boundaries kept, counted`, async () => {
      const { client, server, forwarded, bPort, pair } = await pairFor(family);
      expect(splice.lookup('k')).toBe(pair);
      // What the listener got before A was connected: handed on by the forwarder.
      const first = Buffer.from('first, through the listener');
      expect(splice.forward(pair, first, 0, first.length, clock)).toBe(true);
      await until(() => server.got.length === 1, 'the first datagram at the server');
      expect(server.got[0]).toEqual({ data: 'first, through the listener', port: bPort });

      // The client's next datagrams come to A, and go on from B.
      const burst = Array.from({ length: 40 }, (_, i) => 'x'.repeat(i * 37 + 1));
      for (const d of burst) client.s.send(d, forwarded, lo(family));
      await until(() => server.got.length === 41, 'the burst at the server');
      expect(server.got.slice(1).map((g) => g.data)).toEqual(burst);

      // The server answers B: the client gets it from the forwarded port.
      server.s.send('reply', bPort, lo(family));
      await until(() => client.got.length === 1, 'the reply at the client');
      expect(client.got[0]).toEqual({ data: 'reply', port: forwarded });

      const bytes = burst.reduce((n, d) => n + d.length, first.length);
      expect(splice.stats()).toEqual({ active: 1, opened: 1, closed: 0, datagramsAtoB: 41, bytesAtoB: bytes, datagramsBtoA: 1, bytesBtoA: 5, dropped: 0 });
    });
  }

  it('closes a pair idle for longer than the timeout at the injected clock, either direction counting as activity', async () => {
    const { client, server, forwarded, a, b } = await pairFor(4);
    const T = UDP_TIMEOUTS_DEFAULT.timeoutMs;
    const t0 = clock;
    // Traffic from the server side at t0 + 20 s keeps the pair past t0 + 30 s.
    advance(20_000);
    const t1 = clock;
    server.s.send('keepalive', localPort(b), '127.0.0.1');
    await until(() => client.got.length === 1, 'the datagram at the client');
    advance(T - 20_000 + 1_000);
    expect(clock - t0).toBeGreaterThan(T);
    expect(splice.stats().active).toBe(1);
    // Idle for exactly the timeout: still open; a sweep later, closed.
    advance(t1 + T - clock);
    expect(splice.stats().active).toBe(1);
    advance(1_000);
    expect(splice.stats()).toMatchObject({ active: 0, closed: 1 });
    expect(splice.lookup('k')).toBeUndefined();
    // Both sockets are closed.
    expect(native.pollFd(a, 1, 0)).toBe(POLLNVAL);
    expect(native.pollFd(b, 1, 0)).toBe(POLLNVAL);
    // Nothing moves any more.
    client.s.send('late', forwarded, '127.0.0.1');
    await settle();
    expect(server.got).toEqual([]);
  });

  it('a pair with traffic both ways, more than one datagram on a side, is a stream: 120 s', async () => {
    const { client, server, forwarded, b } = await pairFor(4);
    const T = UDP_TIMEOUTS_DEFAULT;
    const t0 = clock;
    client.s.send('one', forwarded, '127.0.0.1');
    client.s.send('two', forwarded, '127.0.0.1');
    await until(() => server.got.length === 2, 'both at the server');
    server.s.send('answer', localPort(b), '127.0.0.1');
    await until(() => client.got.length === 1, 'the answer at the client');
    advance(T.timeoutMs + 2_000);
    expect(splice.stats().active).toBe(1);
    advance(t0 + T.streamTimeoutMs + 1_000 - clock);
    expect(splice.stats().active).toBe(0);
  });

  it('looks for idle pairs once a second of the clock', async () => {
    advance(0); // a sweep now
    // A pair last active longer ago than the timeout.
    await pairFor(4, 'k', clock - UDP_TIMEOUTS_DEFAULT.timeoutMs - 1);
    advance(999);
    expect(splice.stats().active).toBe(1);
    advance(1);
    expect(splice.stats().active).toBe(0);
  });

  it('a refused datagram (nothing on the server\'s port yet) does not close the pair: traffic flows once the server is up', async () => {
    const client = await endpoint(4);
    const serverPort = freePort(4, C.SOCK_DGRAM);
    const forwarded = freePort(4, C.SOCK_DGRAM);
    const a = boundConnected(4, forwarded, client.port);
    const b = boundConnected(4, 0, serverPort);
    splice.add('k', a, b, clock);
    // The first one is refused by the kernel (ICMP port unreachable), seen on B as an error.
    client.s.send('too early', forwarded, '127.0.0.1');
    await until(() => splice.stats().datagramsAtoB === 1, 'the first datagram to be moved');
    await until(() => (native.pollFd(b, 1, 0) & 8) === 0, 'B\'s error to be read');
    expect(splice.stats().active).toBe(1);
    const server = await endpoint(4, serverPort);
    client.s.send('in time', forwarded, '127.0.0.1');
    await until(() => server.got.length === 1, 'the datagram at the server');
    expect(server.got[0].data).toBe('in time');
    expect(splice.stats().active).toBe(1);
  });

  it('cannot watch a socket: both closed, no pair; closeAll() closes every pair', async () => {
    const fd = native.socket(C.AF_INET, C.SOCK_DGRAM | C.SOCK_NONBLOCK, 0);
    const bad = native.socket(C.AF_INET, C.SOCK_DGRAM | C.SOCK_NONBLOCK, 0);
    native.close(bad);
    expect(splice.add('bad', fd, bad, clock)).toBeUndefined();
    expect(native.pollFd(fd, 1, 0)).toBe(POLLNVAL);
    expect(splice.lookup('bad')).toBeUndefined();
    const p1 = await pairFor(4, 'one');
    const p2 = await pairFor(6, 'two');
    expect(splice.stats()).toMatchObject({ active: 2, opened: 2 });
    splice.closeAll();
    expect(splice.stats()).toMatchObject({ active: 0, opened: 2, closed: 2 });
    for (const fd of [p1.a, p1.b, p2.a, p2.b]) expect(native.pollFd(fd, 1, 0)).toBe(POLLNVAL);
    // The key of a closed pair is free again.
    expect(splice.lookup('one')).toBeUndefined();
  });
});
