// The TCP translation driven by literal frames, with real host sockets on loopback only.
// Every test has an engine of its own with an injected clock and no tick timer
// (engine-rig.ts): timeouts happen when the test moves the clock on and runs the
// timers, never by waiting, so no real timer can fire in a slow run.
import { describe, expect, it } from 'vitest';
import { native, C, E } from '../../src/native.js';
import {
  ACK, FIN, PSH, RST, SYN, TCP_CLOSE, V4, V6, GATEWAY4, GUEST4, GUEST_MAC,
  Listener, Peer, add32, connectTo, connected, freePort, localPort, hasData, hasFlags, ip, isRst, until, useHostSockets, useRigs,
  type Rig, type Seg, type Templates,
} from './engine-rig.js';

const newRig = useRigs();
const keep = useHostSockets();

/** The ACK timeout for data and FIN to the guest, and the SYN-ACK's (tcp.ts ACK_TIMEOUT_MS). */
const ACK_TIMEOUT = 1000;

/** One connection through the engine, from the guest's point of view. */
interface Conn {
  rig: Rig;
  t: Templates;
  /** The host's end. */
  host: Peer;
  /** Our initial sequence number towards the guest. */
  iss: number;
  /** The guest's next sequence number. */
  seq: number;
  /** A segment from the guest on this connection. */
  seg(f: { seq?: number; ack: number; flags: number; payload?: Buffer | string; window?: number }): Buffer;
  /** Whether a frame to the guest belongs to this connection. */
  mine(s: Seg): boolean;
}

/**
 * The guest connects to a server on the host's loopback through the gateway;
 * the handshake is done when this returns. The server's accepted socket is `host`.
 */
async function openFromGuest(rig: Rig, t: Templates = V4, opts: { rcvbuf?: number; window?: number } = {}): Promise<Conn & { synAck: Seg; listener: Listener }> {
  const listener = keep(new Listener(t.family, { rcvbuf: opts.rcvbuf }));
  const port = listener.port;
  rig.send(t.syn({ dport: port, seq: 100, ack: 0, flags: SYN }));
  const synAck = await rig.next(hasFlags(SYN | ACK));
  const host = keep(await listener.accept());
  rig.send(t.ack({ dport: port, seq: 101, ack: synAck.seq + 1, flags: ACK, window: opts.window }));
  return {
    rig, t, host, listener, synAck,
    iss: synAck.seq,
    seq: 101,
    seg: (f) => t.ack({ dport: port, seq: f.seq ?? 101, ack: f.ack, flags: f.flags, window: f.window, payload: typeof f.payload === 'string' ? Buffer.from(f.payload) : f.payload }),
    mine: (s) => s.sport === port && s.dport === 40000,
  };
}

/** The guest's port that connections from the host are forwarded to. */
const GUEST_PORT = 8080;
const EOPNOTSUPP = 95;

/**
 * The guest accepts a connection the engine opens towards GUEST_PORT from
 * `remotePort` (a -t forwarder's, or one handed over directly): SYN, SYN-ACK,
 * ACK. `host` is the host's end of it.
 */
async function acceptInGuest(rig: Rig, host: Peer, remotePort: number, t: Templates = V4): Promise<Conn & { syn: Seg }> {
  const syn = await rig.next((s) => s.flags === SYN && s.dport === GUEST_PORT && s.sport === remotePort);
  const seg = (f: { seq?: number; ack: number; flags: number; payload?: Buffer | string; window?: number }, synTemplate = false) =>
    (synTemplate ? t.syn : t.ack)({ sport: GUEST_PORT, dport: remotePort, seq: f.seq ?? 7001, ack: f.ack, flags: f.flags, window: f.window, payload: typeof f.payload === 'string' ? Buffer.from(f.payload) : f.payload });
  rig.send(seg({ seq: 7000, ack: syn.seq + 1, flags: SYN | ACK }, true));
  const ack = await rig.next((s) => s.flags === ACK && s.dport === GUEST_PORT);
  expect(ack.ack).toBe(7001);
  return { rig, t, host, syn, iss: syn.seq, seq: 7001, seg, mine: (s) => s.sport === remotePort && s.dport === GUEST_PORT };
}

/** A rig with a -t forwarder from a free port of the host's loopback to GUEST_PORT. */
async function forwardingRig(): Promise<{ rig: Rig; hostPort: number }> {
  const hostPort = freePort(4);
  const rig = await newRig({ args: ['-t', `127.0.0.1/${hostPort}:${GUEST_PORT}`] });
  return { rig, hostPort };
}

/** A connection from the host's loopback to the -t port, accepted in the guest. */
async function openFromHost(): Promise<Conn & { syn: Seg; clientPort: number }> {
  const { rig, hostPort } = await forwardingRig();
  const client = keep(connectTo(4, hostPort));
  const clientPort = await connected(client);
  const conn = await acceptInGuest(rig, client, clientPort);
  return { ...conn, clientPort };
}

/**
 * A connection from the host over a socket on which SO_PEEK_OFF does not work,
 * so that the engine peeks past what is in flight on every read: an MPTCP
 * socket (the kernel has SO_PEEK_OFF for TCP since 6.9, not for MPTCP), or a
 * plain TCP one on kernels that lack it. Handed to the TCP handler directly,
 * as a forwarder would after accept(): forwarders only make TCP sockets.
 */
async function openWithoutPeekOffset(): Promise<Conn & { syn: Seg }> {
  const rig = await newRig();
  const probe = native.socket(C.AF_INET, C.SOCK_STREAM, 262);
  const mptcp = probe >= 0;
  if (mptcp) native.close(probe);
  const listener = keep(new Listener(4, { mptcp }));
  const client = keep(connectTo(4, listener.port, { mptcp }));
  const accepted = await listener.accept();
  // The point of this connection: SO_PEEK_OFF fails on it.
  const rc = native.setsockoptInt(accepted.fd, C.SOL_SOCKET, C.SO_PEEK_OFF, 0);
  if (rc === 0) throw new Error('no socket type without SO_PEEK_OFF here: neither MPTCP nor a kernel without it for TCP');
  expect(rc).toBe(-EOPNOTSUPP);
  const remotePort = localPort(client.fd);
  expect(rig.engine.tcp.connFromSock(accepted.fd, 4, ip(GUEST4), GUEST_PORT, ip(GATEWAY4), remotePort, rig.now())).toBe(true);
  rig.engine.finishBatch(); // as the loop would after the forwarder's event
  return acceptInGuest(rig, client, remotePort);
}

describe('TCP translation', () => {
  it('connects, answers SYN-ACK with our options, moves data both ways, closes', async () => {
    const rig = await newRig();
    const listener = keep(new Listener(4));
    const port = listener.port;
    const seg = (seq: number, ack: number, flags: number, payload?: string) => V4.ack({ dport: port, seq, ack, flags, payload: payload === undefined ? undefined : Buffer.from(payload) });
    // SYN to the gateway: mapped to the host's loopback.
    rig.send(V4.syn({ dport: port, seq: 100, ack: 0, flags: SYN }));
    const synAck = await rig.next((s) => (s.flags & 0x12) === 0x12);
    expect(synAck.ack).toBe(101);
    expect(synAck.sport).toBe(port);
    expect(synAck.dport).toBe(40000);
    expect(synAck.srcIp).toBe('198.51.100.1');
    expect(synAck.dstIp).toBe('198.51.100.2');
    expect(synAck.dstMac).toBe(GUEST_MAC);
    // MSS for MTU 65520 (65480), window scale 8.
    expect(synAck.options.toString('hex')).toBe('0204ffc801030308');
    const iss = synAck.seq;
    const server = keep(await listener.accept());

    // ACK of the SYN-ACK, then data.
    rig.send(seg(101, iss + 1, 0x10));
    rig.send(seg(101, iss + 1, 0x18, 'hello'));
    const ack = await rig.next((s) => s.ack === 106);
    expect(ack.flags & 0x10).toBe(0x10);
    expect(ack.window).toBeGreaterThan(0);
    await server.readUntil((p) => p.text === 'hello', 'hello at the server');

    // A retransmission of the same data is acknowledged again and not written twice.
    rig.send(seg(101, iss + 1, 0x18, 'hello'));
    await rig.next((s) => s.ack === 106);
    await rig.barrier();
    server.read();
    expect(server.text).toBe('hello');

    // Data from the host side arrives as a segment with the next sequence number.
    server.write('world');
    const data = await rig.next(hasData);
    expect(data.payload.toString()).toBe('world');
    expect(data.seq).toBe((iss + 1) >>> 0);
    expect(data.ack).toBe(106);

    // Not acknowledged yet: still in the socket (peeked, not consumed).
    expect(rig.engine.tcp.count).toBe(1);
    rig.send(seg(106, iss + 6, 0x10));

    // Guest FIN: the host side sees EOF.
    rig.send(seg(106, iss + 6, 0x11));
    await server.readUntil((p) => p.eof, 'EOF at the server');
    await rig.next((s) => s.ack === 107);
    // Host closes too: FIN to the guest, the guest acknowledges, the flow is gone.
    server.shutdownWrite();
    const fin = await rig.next((s) => (s.flags & 0x01) === 0x01);
    expect(fin.seq).toBe((iss + 6) >>> 0);
    rig.send(seg(107, iss + 7, 0x10));
    expect(rig.engine.tcp.count).toBe(0);
    expect(rig.engine.stats().tcp).toMatchObject({ opened: 1, closed: 1, bytesFromTap: 5, bytesToTap: 5 });
  });

  it('retransmits unacknowledged data on the ACK timeout and on three duplicate ACKs', async () => {
    const rig = await newRig();
    const c = await openFromGuest(rig);
    const { iss } = c;
    c.host.write('first');
    const d1 = await rig.next(hasData);
    expect(d1.payload.toString()).toBe('first');
    // No ACK from the guest: after the timeout the same bytes come again, same sequence number.
    rig.advance(1500);
    const again = await rig.next(hasData);
    expect(again.seq).toBe(d1.seq);
    expect(again.payload.toString()).toBe('first');
    // Acknowledge it; more data; then three duplicate ACKs of the old point make it go again.
    rig.send(c.seg({ ack: iss + 6, flags: ACK }));
    c.host.write('second');
    const d2 = await rig.next(hasData);
    expect(d2.seq).toBe((iss + 6) >>> 0);
    expect(rig.engine.stats().tcp.retransmits).toBe(1);
    for (let k = 0; k < 3; k++) rig.send(c.seg({ ack: iss + 6, flags: ACK }));
    const d3 = await rig.next(hasData);
    expect(d3.seq).toBe(d2.seq);
    expect(d3.payload.toString()).toBe('second');
    expect(rig.engine.stats().tcp.retransmits).toBe(2);
    rig.send(c.seg({ ack: iss + 12, flags: RST | ACK })); // RST: done
    expect(rig.engine.tcp.count).toBe(0);
  });

  it('answers a SYN to a closed port with a RST', async () => {
    const rig = await newRig();
    const port = freePort(4);
    rig.send(V4.syn({ dport: port, seq: 5000, ack: 0, flags: SYN }));
    const rst = await rig.next(isRst);
    expect(rst.ack).toBe(5001);
    expect(rig.engine.tcp.count).toBe(0);
    expect(rig.engine.stats().tcp.refused).toBe(1);
  });

  it("answers an old connection's ACK to our SYN with a RST, sends the SYN again, and starts a new incarnation above the old", async () => {
    // A connection from the host to a -t port, from the same client port twice.
    const { rig, hostPort } = await forwardingRig();
    const clientPort = freePort(4);
    const fromGuest = (hex: 'syn' | 'ack', seq: number, ack: number, flags: number) => V4[hex]({ sport: GUEST_PORT, dport: clientPort, seq, ack, flags });
    const first = connectTo(4, hostPort, { bindPort: clientPort });
    try {
      const syn = await rig.next((s) => s.flags === 0x02 && s.dport === GUEST_PORT);
      // As the guest sees it: from the gateway (standing for the host's loopback), the client's own port.
      expect(syn.srcIp).toBe(GATEWAY4);
      expect(syn.dstIp).toBe(GUEST4);
      expect(syn.sport).toBe(clientPort);
      // The guest's kernel still has an old connection of these ports in TIME_WAIT and acknowledges that.
      const staleAck = (syn.seq + 0x40000000) >>> 0;
      rig.send(fromGuest('ack', 12345, staleAck, 0x10));
      const rst = await rig.next((s) => (s.flags & 0x04) === 0x04);
      expect(rst.seq).toBe(staleAck);
      expect(rst.dport).toBe(GUEST_PORT);
      const again = await rig.next((s) => s.flags === 0x02 && s.dport === GUEST_PORT);
      expect(again.seq).toBe(syn.seq);
      // The guest accepts now: SYN-ACK, and we acknowledge it.
      rig.send(fromGuest('syn', 7000, (syn.seq + 1) >>> 0, 0x12));
      const ack = await rig.next((s) => s.flags === 0x10 && s.dport === GUEST_PORT);
      expect(ack.ack).toBe(7001);
      // The guest resets it; the client sees the reset.
      rig.send(fromGuest('ack', 7001, 0, 0x04));
      expect(await first.errorSeen()).toBe(E.ECONNRESET);
      first.close();
      // Later, the same ports again get an initial sequence number above the old one.
      rig.advance(10);
      const second = keep(connectTo(4, hostPort, { bindPort: clientPort }));
      const next = await rig.next((s) => s.flags === 0x02 && s.dport === GUEST_PORT);
      const advance = (next.seq - syn.seq) >>> 0;
      expect(advance).toBeGreaterThan(0);
      expect(advance).toBeLessThan(0x40000000);
      rig.send(fromGuest('ack', 0, 0, 0x04));
      await second.errorSeen();
    } finally {
      first.close();
    }
  });

  it('resets segments of unknown connections and drops malformed ones without harm', async () => {
    const rig = await newRig();
    rig.send(V4.ack({ dport: 9999, seq: 1, ack: 77, flags: 0x10 }));
    const rst = await rig.next((s) => (s.flags & 0x04) === 0x04);
    expect(rst.seq).toBe(77);
    const good = V4.syn({ dport: 9999, seq: 1, ack: 0, flags: 0x02 });
    for (let len = 0; len < good.length; len++) rig.send(good.subarray(0, len));
    const bad = Buffer.from(good);
    bad[14 + 20 + 12] = 0xf0; // data offset past the segment
    rig.send(bad);
    bad[14] = 0x4f; // IHL past the packet
    rig.send(bad);
    expect(rig.engine.tcp.count).toBe(0);
    expect(rig.engine.stats().droppedFromTap).toBeGreaterThan(0);
    // None of them was answered.
    expect(await rig.barrier()).toEqual([]);
  });
});

describe('TCP: IPv6', () => {
  it('connects through the IPv6 gateway to ::1, moves data both ways, closes with FINs both ways', async () => {
    const rig = await newRig();
    const listener = keep(new Listener(6));
    const port = listener.port;
    rig.send(V6.syn({ dport: port, seq: 100, ack: 0, flags: SYN }));
    const synAck = await rig.next(hasFlags(SYN | ACK));
    expect(synAck).toMatchObject({ family: 6, srcIp: '2001:db8::1', dstIp: '2001:db8::2', sport: port, dport: 40000, ack: 101, dstMac: GUEST_MAC });
    // MSS for MTU 65520 over IPv6 (65460), window scale 8.
    expect(synAck.options.toString('hex')).toBe('0204ffb401030308');
    const iss = synAck.seq;
    const server = keep(await listener.accept());
    // The host side comes from ::1.
    expect(server.peerPort).toBeGreaterThan(0);
    const seg = (seq: number, ack: number, flags: number, payload?: string) => V6.ack({ dport: port, seq, ack, flags, payload: payload === undefined ? undefined : Buffer.from(payload) });

    rig.send(seg(101, iss + 1, ACK));
    rig.send(seg(101, iss + 1, ACK | PSH, 'over IPv6'));
    const ack = await rig.next((s) => s.ack === 110);
    expect(ack).toMatchObject({ family: 6, flags: ACK, seq: add32(iss, 1) });
    await server.readUntil((p) => p.text === 'over IPv6', 'the data at the server');

    server.write('and back');
    const data = await rig.next(hasData);
    expect(data).toMatchObject({ family: 6, srcIp: '2001:db8::1', dstIp: '2001:db8::2', seq: add32(iss, 1), ack: 110, flags: PSH | ACK });
    expect(data.payload.toString()).toBe('and back');
    rig.send(seg(110, iss + 9, ACK));

    // The host closes first this time: FIN to the guest after the data.
    server.shutdownWrite();
    const fin = await rig.next(hasFlags(FIN));
    expect(fin).toMatchObject({ family: 6, seq: add32(iss, 9), ack: 110, flags: FIN | ACK });
    rig.send(seg(110, iss + 10, ACK));
    expect(rig.engine.tcp.count).toBe(1);
    // The guest's FIN: EOF at the server, our last ACK, and the flow is gone.
    rig.send(seg(110, iss + 10, FIN | ACK));
    const last = await rig.next((s) => s.ack === 111);
    expect(last).toMatchObject({ family: 6, flags: ACK, seq: add32(iss, 10) });
    await server.readUntil((p) => p.eof, 'EOF at the server');
    expect(rig.engine.tcp.count).toBe(0);
    expect(rig.engine.stats().tcp).toMatchObject({ opened: 1, closed: 1, bytesFromTap: 9, bytesToTap: 8 });
  });

  it('answers segments of unknown IPv6 connections with a RST from the address they were sent to', async () => {
    const rig = await newRig();
    rig.send(V6.ack({ dport: 9999, seq: 1, ack: 0x12345678, flags: ACK }));
    const rst = await rig.next(isRst);
    expect(rst).toMatchObject({ family: 6, srcIp: '2001:db8::1', dstIp: '2001:db8::2', sport: 9999, dport: 40000, seq: 0x12345678, flags: RST });
  });
});

describe('TCP: the guest\'s window', () => {
  it('stops sending at a zero window, probes it after the ACK timeout, and goes on from the right byte once it opens', async () => {
    const rig = await newRig();
    const c = await openFromGuest(rig);
    const { iss } = c;
    c.host.write('first');
    expect((await rig.next(hasData)).payload.toString()).toBe('first');
    // The guest takes it and closes its window.
    rig.send(c.seg({ ack: iss + 6, flags: ACK, window: 0 }));
    c.host.write('second');
    await c.host.flushed();
    // In the socket, not sent: the window is zero.
    expect((await rig.barrier()).filter(hasData)).toEqual([]);

    // Not before the ACK timeout ...
    rig.advance(ACK_TIMEOUT - 1);
    expect(await rig.barrier()).toEqual([]);
    // ... then a window probe: an ACK of old data (sequence number one below the next), no payload.
    rig.advance(1);
    const probe = await rig.next();
    expect(probe).toMatchObject({ flags: ACK, seq: add32(iss, 5), ack: 101 });
    expect(probe.payload.length).toBe(0);
    expect(await rig.barrier()).toEqual([]);
    // Probes go on at twice the timeout while the window stays shut.
    rig.send(c.seg({ ack: iss + 6, flags: ACK, window: 0 }));
    rig.advance(2 * ACK_TIMEOUT - 1);
    expect(await rig.barrier()).toEqual([]);
    rig.advance(1);
    expect(await rig.next()).toMatchObject({ flags: ACK, seq: add32(iss, 5) });

    // The window opens: the data that waited, from the next sequence number.
    rig.send(c.seg({ ack: iss + 6, flags: ACK, window: 512 }));
    const d2 = await rig.next(hasData);
    expect(d2.seq).toBe(add32(iss, 6));
    expect(d2.payload.toString()).toBe('second');
    expect(rig.engine.stats().tcp.retransmits).toBe(0);
  });

  it('sends no more than the window the guest offers, and the rest when it opens', async () => {
    const rig = await newRig();
    // Window 1, scaled by the guest's 7: 128 bytes.
    const c = await openFromGuest(rig, V4, { window: 1 });
    const data = Buffer.alloc(300);
    for (let i = 0; i < data.length; i++) data[i] = i & 0xff;
    c.host.write(data);
    await c.host.flushed();
    const d1 = await rig.next(hasData);
    expect(d1.seq).toBe(add32(c.iss, 1));
    expect(d1.payload).toEqual(data.subarray(0, 128));
    expect((await rig.barrier()).filter(hasData)).toEqual([]);
    // Acknowledged, the window still 128 bytes: the next 128.
    rig.send(c.seg({ ack: d1.seq + 128, flags: ACK, window: 1 }));
    const d2 = await rig.next(hasData);
    expect(d2.seq).toBe(add32(c.iss, 129));
    expect(d2.payload).toEqual(data.subarray(128, 256));
    // A larger window without a new acknowledgement: the rest.
    rig.send(c.seg({ ack: d1.seq + 128, flags: ACK, window: 4 }));
    const d3 = await rig.next(hasData);
    expect(d3.seq).toBe(add32(c.iss, 257));
    expect(d3.payload).toEqual(data.subarray(256));
  });

  it('changes nothing in epoll while each ACK opens the window and the next peek fills it again', async () => {
    const rig = await newRig();
    // Window 1, scaled by the guest's 7: 128 bytes at a time.
    const c = await openFromGuest(rig, V4, { window: 1 });
    const data = Buffer.alloc(128 * 12);
    for (let i = 0; i < data.length; i++) data[i] = (i * 13) & 0xff;
    c.host.write(data);
    await c.host.flushed();
    let seg = await rig.next(hasData);
    expect(seg.payload).toEqual(data.subarray(0, 128));
    await rig.barrier();
    // From now on the socket stays readable and the window full after every peek: the
    // connection's epoll registration stays what it is (before, each ACK took two epoll_ctl),
    // and with nothing written to the socket its send buffer is not asked again for our window.
    const loop = rig.engine.loop;
    const mod = loop.mod.bind(loop);
    let mods = 0;
    loop.mod = (...a) => (mods++, mod(...a));
    const sendSpace = native.sendSpace;
    let asked = 0;
    native.sendSpace = (...a) => (asked++, sendSpace(...a));
    const got = [seg.payload];
    try {
      for (let k = 1; k < 12; k++) {
        rig.send(c.seg({ ack: seg.seq + 128, flags: ACK, window: 1 }));
        seg = await rig.next(hasData);
        expect(seg.seq).toBe(add32(c.iss, 1 + 128 * k));
        got.push(seg.payload);
      }
    } finally {
      // The addon's exports are shared with the tests after this one.
      native.sendSpace = sendSpace;
      loop.mod = mod;
    }
    expect(Buffer.concat(got)).toEqual(data);
    expect(mods).toBe(0);
    expect(asked).toBe(0);
    // The last ACK empties what was sent; new data from the host still reaches the guest.
    rig.send(c.seg({ ack: seg.seq + 128, flags: ACK, window: 4 }));
    await rig.barrier();
    c.host.write(Buffer.from('more'));
    const last = await rig.next(hasData);
    expect(last.payload.toString()).toBe('more');
    expect(last.seq).toBe(add32(c.iss, 1 + data.length));
  });

  it('advertises the room of the host socket: takes no more than fits, and sends a window update when the socket drains', async () => {
    const rig = await newRig();
    // A server that does not read for now, with a small receive buffer.
    const c = await openFromGuest(rig, V4, { rcvbuf: 4096 });
    const { iss } = c;
    const total = 16 << 20;
    const data = Buffer.alloc(total);
    for (let i = 0; i < total; i++) data[i] = (i * 7) & 0xff;
    const chunk = 16384;
    let sent = 0;
    /** The guest sends `len` bytes from `from` on; what the engine answers, all pure ACKs of this connection. */
    const sendFrom = async (from: number, len: number) => {
      const answer = await rig.exchange(c.seg({ seq: 101 + from, ack: iss + 1, flags: ACK | PSH, payload: data.subarray(from, from + len) }));
      sent = Math.max(sent, from + len);
      expect(answer.length).toBeGreaterThan(0);
      for (const a of answer) expect(c.mine(a) && a.flags === ACK && !hasData(a)).toBe(true);
      return answer;
    };

    // The guest sends while everything is acknowledged, and again from where it was acknowledged
    // when the socket made room by itself (the kernel moving data on), until the socket is full
    // and stays so: a segment only partly acknowledged, and no window update after it.
    let acked = 0;
    let first = 0;
    let last = 0;
    for (;;) {
      expect(acked + chunk).toBeLessThanOrEqual(total);
      const [a, ...dups] = await sendFrom(acked, chunk);
      first ||= a.window;
      last = a.window;
      const now = (a.ack - 101) >>> 0;
      const short = now !== acked + chunk;
      acked = now;
      if (!short) {
        expect(dups).toEqual([]);
        continue;
      }
      // The socket took less than the segment: the rest is not acknowledged, and three
      // duplicate ACKs ask the guest to send it again at once.
      expect(dups.map((d) => [d.ack, d.window])).toEqual(Array(3).fill([a.ack, a.window]));
      const later = (await rig.barrier()).filter(c.mine);
      if (!later.some((s) => s.window > last)) break;
      // The socket made room by itself: go on from the acknowledged byte.
    }
    // The window we advertised shrank as the socket filled.
    expect(last).toBeLessThan(first);

    // Nothing more from the guest. The server reads: a window update comes by itself.
    const update = rig.next((s) => c.mine(s) && s.flags === ACK && s.window > last);
    let updated = false;
    void update.then(() => (updated = true), () => (updated = true));
    await c.host.readUntil(() => updated, 'a window update');
    const u = await update;
    expect(u.ack).toBe(add32(101, acked));
    expect(u.window << 8).toBeGreaterThanOrEqual(chunk);

    // The guest sends the rest from where it was acknowledged, as the window allows; all of
    // it arrives once, in order.
    const end = sent;
    let window = u.window << 8;
    while (acked < end) {
      c.host.read();
      const [a] = await sendFrom(acked, Math.min(end - acked, Math.max(window, 1)));
      acked = (a.ack - 101) >>> 0;
      window = a.window << 8;
    }
    await c.host.readUntil((p) => p.bytes === end, 'every byte at the server');
    expect(Buffer.concat(c.host.got).equals(data.subarray(0, end))).toBe(true);
  });
});

describe('TCP: retransmission from any offset', () => {
  const kinds: Array<[string, () => Promise<Conn>]> = [
    ['a connection from the guest (SO_PEEK_OFF)', async () => openFromGuest(await newRig())],
    ['a connection from a -t port (SO_PEEK_OFF)', openFromHost],
    ['a connection on a socket without SO_PEEK_OFF (MSG_PEEK past what is in flight)', openWithoutPeekOffset],
  ];
  for (const [name, open] of kinds) {
    it(`${name}: partial ACKs, the ACK timeout and duplicate ACKs resend exactly from the acknowledged byte`, async () => {
      const c = await open();
      const { rig, iss } = c;
      const mineWithData = (s: Seg) => c.mine(s) && hasData(s);
      // Two writes, two segments: the second is peeked past the first, still in flight.
      c.host.write('abcdefghij');
      expect(await rig.next(mineWithData)).toMatchObject({ seq: add32(iss, 1), payload: Buffer.from('abcdefghij') });
      c.host.write('KLMNOP');
      expect(await rig.next(mineWithData)).toMatchObject({ seq: add32(iss, 11), payload: Buffer.from('KLMNOP') });

      // The guest acknowledges 4 bytes, in the middle of the first segment.
      rig.send(c.seg({ ack: iss + 5, flags: ACK }));
      rig.advance(ACK_TIMEOUT - 1);
      expect((await rig.barrier()).filter(mineWithData)).toEqual([]);
      // The ACK timeout: everything from the acknowledged byte on, in one segment.
      rig.advance(1);
      expect(await rig.next(mineWithData)).toMatchObject({ seq: add32(iss, 5), payload: Buffer.from('efghijKLMNOP') });
      // Without an answer, again after twice the timeout, and then four times.
      rig.advance(2 * ACK_TIMEOUT);
      expect(await rig.next(mineWithData)).toMatchObject({ seq: add32(iss, 5), payload: Buffer.from('efghijKLMNOP') });
      rig.advance(4 * ACK_TIMEOUT - 1);
      expect((await rig.barrier()).filter(mineWithData)).toEqual([]);
      rig.advance(1);
      expect(await rig.next(mineWithData)).toMatchObject({ seq: add32(iss, 5) });
      expect(rig.engine.stats().tcp.retransmits).toBe(3);

      // Two more bytes acknowledged, then three duplicates of that ACK: a fast retransmit from there.
      rig.send(c.seg({ ack: iss + 7, flags: ACK }));
      rig.send(c.seg({ ack: iss + 7, flags: ACK }), c.seg({ ack: iss + 7, flags: ACK }));
      expect((await rig.barrier()).filter(mineWithData)).toEqual([]);
      rig.send(c.seg({ ack: iss + 7, flags: ACK }));
      expect(await rig.next(mineWithData)).toMatchObject({ seq: add32(iss, 7), payload: Buffer.from('ghijKLMNOP') });
      expect(rig.engine.stats().tcp.retransmits).toBe(4);

      // All of it acknowledged; new data follows at the right sequence number, from the right byte.
      rig.send(c.seg({ ack: iss + 17, flags: ACK }));
      c.host.write('qrs');
      expect(await rig.next(mineWithData)).toMatchObject({ seq: add32(iss, 17), payload: Buffer.from('qrs') });
      rig.send(c.seg({ ack: iss + 20, flags: ACK }));
      // Only the acknowledged bytes were taken from the socket: the end comes as a FIN right after them.
      c.host.shutdownWrite();
      expect(await rig.next((s) => c.mine(s) && (s.flags & FIN) !== 0)).toMatchObject({ seq: add32(iss, 20), flags: FIN | ACK });
      // And the guest's data reaches the host.
      rig.send(c.seg({ ack: iss + 21, flags: ACK | PSH, payload: 'from the guest' }));
      await c.host.readUntil((p) => p.text === 'from the guest', 'the guest\'s data at the host');
    });
  }

  it('gives up after eight retransmissions: RST to the guest, and the host side reset', async () => {
    const rig = await newRig();
    const c = await openFromGuest(rig);
    c.host.write('never acknowledged');
    await rig.next(hasData);
    let timeout = ACK_TIMEOUT;
    for (let k = 1; k <= 8; k++) {
      rig.advance(timeout);
      expect(await rig.next(hasData)).toMatchObject({ seq: add32(c.iss, 1) });
      timeout = Math.min(ACK_TIMEOUT << k, 30_000);
    }
    expect(rig.engine.tcp.count).toBe(1);
    rig.advance(timeout);
    expect(await rig.next(isRst)).toMatchObject({ flags: RST | ACK, ack: 101 });
    expect(rig.engine.tcp.count).toBe(0);
    expect(await c.host.errorSeen()).toBe(E.ECONNRESET);
  });

  it('resends the SYN-ACK with backoff, and gives up after four times', async () => {
    const rig = await newRig();
    const listener = keep(new Listener(4));
    rig.send(V4.syn({ dport: listener.port, seq: 100, ack: 0, flags: SYN }));
    const synAck = await rig.next(hasFlags(SYN | ACK));
    const server = keep(await listener.accept());
    let timeout = ACK_TIMEOUT;
    for (let k = 1; k <= 4; k++) {
      rig.advance(timeout - 1);
      expect(await rig.barrier()).toEqual([]);
      rig.advance(1);
      expect(await rig.next()).toMatchObject({ flags: SYN | ACK, seq: synAck.seq, ack: 101 });
      timeout = ACK_TIMEOUT << k;
    }
    rig.advance(timeout);
    expect(await rig.next()).toMatchObject({ flags: RST | ACK, seq: add32(synAck.seq, 1) });
    expect(rig.engine.tcp.count).toBe(0);
    expect(await server.errorSeen()).toBe(E.ECONNRESET);
  });
});

describe('TCP: RST in every state', () => {
  /** The guest's FIN: acknowledged, and EOF at the host. */
  async function finFromGuest(c: Conn): Promise<void> {
    c.rig.send(c.seg({ ack: c.iss + 1, flags: FIN | ACK }));
    expect(await c.rig.next(c.mine)).toMatchObject({ flags: ACK, ack: add32(c.seq, 1) });
    await c.host.readUntil((p) => p.eof, 'EOF at the host');
  }

  /**
   * Data both ways: `down` from the host reaches the guest (which acknowledges it if
   * `ackDown`, else it stays in flight), `up` from the guest reaches the host.
   */
  async function dataBothWays(c: Conn, down: string, up: string, ackDown: boolean): Promise<void> {
    c.host.write(down);
    await c.rig.next(hasData);
    c.rig.send(c.seg({ ack: c.iss + 1 + (ackDown ? down.length : 0), flags: ACK | PSH, payload: up }));
    await c.host.readUntil((p) => p.text === up, 'the data at the host');
    await c.rig.next((s) => c.mine(s) && s.ack === add32(c.seq, up.length));
  }

  /** A RST (with ACK) reaches the guest at these sequence numbers, and the flow is gone. */
  async function rstToGuest(c: Conn, seq: number, ack: number): Promise<void> {
    expect(await c.rig.next(isRst)).toMatchObject({ flags: RST | ACK, seq: seq >>> 0, ack });
    expect(c.rig.engine.tcp.count).toBe(0);
  }

  /** The guest resets the connection with `seg`: the flow is gone at once, and nothing answers the RST. */
  async function resetFromGuest(rig: Rig, seg: Buffer): Promise<void> {
    rig.send(seg);
    expect(rig.engine.tcp.count).toBe(0);
    expect(await rig.barrier()).toEqual([]);
  }

  /**
   * A listener whose accept queue is full (backlog 0, one connection waiting):
   * the kernel drops further SYNs, so a connect() to it stays in progress.
   */
  function stuckListener(): Listener {
    const l = keep(new Listener(4));
    expect(native.listen(l.fd, 0)).toBe(0);
    const filler = keep(connectTo(4, l.port));
    void filler;
    return l;
  }

  it('guest RST while the host connect() is in progress: no SYN-ACK, nothing reaches the host', async () => {
    const rig = await newRig();
    const l = stuckListener();
    await until(() => native.pollFd(l.fd, 1, 0) === 1, 'the filler connection');
    rig.send(V4.syn({ dport: l.port, seq: 100, ack: 0, flags: SYN }));
    expect(rig.engine.tcp.count).toBe(1);
    // Neither a SYN-ACK nor a RST in answer to the RST.
    await resetFromGuest(rig, V4.ack({ dport: l.port, seq: 101, ack: 0, flags: RST }));
    // The filler is the only connection the listener ever had.
    expect(l.acceptNow()).not.toBeNull();
    expect(l.acceptNow()).toBeNull();
    expect(rig.engine.stats().tcp).toMatchObject({ opened: 1, closed: 1 });
  });

  it('a connect() that does not complete is given up after 10 s with a RST to the guest', async () => {
    const rig = await newRig();
    const l = stuckListener();
    await until(() => native.pollFd(l.fd, 1, 0) === 1, 'the filler connection');
    rig.send(V4.syn({ dport: l.port, seq: 100, ack: 0, flags: SYN }));
    rig.advance(9_999);
    expect(await rig.barrier()).toEqual([]);
    rig.advance(1);
    expect(await rig.next()).toMatchObject({ flags: RST | ACK, ack: 101, sport: l.port, dport: 40000 });
    expect(rig.engine.tcp.count).toBe(0);
  });

  it('guest RST after our SYN-ACK: the host side is reset', async () => {
    const rig = await newRig();
    const listener = keep(new Listener(4));
    rig.send(V4.syn({ dport: listener.port, seq: 100, ack: 0, flags: SYN }));
    await rig.next(hasFlags(SYN | ACK));
    const server = keep(await listener.accept());
    await resetFromGuest(rig, V4.ack({ dport: listener.port, seq: 101, ack: 0, flags: RST }));
    expect(await server.errorSeen()).toBe(E.ECONNRESET);
  });

  it('guest RST on an established connection with data in flight both ways: the host side is reset', async () => {
    const rig = await newRig();
    const c = await openFromGuest(rig);
    await dataBothWays(c, 'unacknowledged', 'to the host', false);
    await resetFromGuest(rig, c.seg({ seq: 112, ack: c.iss + 1, flags: RST | ACK }));
    expect(await c.host.errorSeen()).toBe(E.ECONNRESET);
  });

  it("guest RST after the guest's FIN: the host side, which saw EOF, is reset", async () => {
    const rig = await newRig();
    const c = await openFromGuest(rig);
    await finFromGuest(c);
    await resetFromGuest(rig, c.seg({ seq: 102, ack: c.iss + 1, flags: RST }));
    // The server, in CLOSE_WAIT, is reset: the kernel closes it.
    await until(() => c.host.state === TCP_CLOSE, 'the server socket to be reset');
    expect(c.host.write('too late')).toBe(-E.EPIPE);
  });

  it('guest RST after our FIN (the host closed first), acknowledged or not: the host side is reset', async () => {
    for (const finAcked of [false, true]) {
      const rig = await newRig();
      const c = await openFromGuest(rig);
      c.host.shutdownWrite();
      expect(await rig.next(hasFlags(FIN))).toMatchObject({ seq: add32(c.iss, 1) });
      if (finAcked) rig.send(c.seg({ ack: c.iss + 2, flags: ACK }));
      await resetFromGuest(rig, c.seg({ ack: c.iss + (finAcked ? 2 : 1), flags: RST | ACK }));
      expect(await c.host.errorSeen()).toBe(E.ECONNRESET);
    }
  });

  it('guest RST after both FINs, instead of the last ACK: the flow is gone', async () => {
    const rig = await newRig();
    const c = await openFromGuest(rig);
    await finFromGuest(c);
    c.host.shutdownWrite();
    expect(await rig.next(hasFlags(FIN))).toMatchObject({ seq: add32(c.iss, 1), ack: 102 });
    await resetFromGuest(rig, c.seg({ seq: 102, ack: c.iss + 1, flags: RST }));
  });

  it('host reset while connecting: a RST to the guest instead of the SYN-ACK', async () => {
    const rig = await newRig();
    const listener = keep(new Listener(4));
    rig.send(V4.syn({ dport: listener.port, seq: 100, ack: 0, flags: SYN }));
    // On loopback the handshake is done by now; the engine has not heard of it yet.
    const server = listener.acceptNow();
    expect(server).not.toBeNull();
    server!.reset();
    const first = await rig.next();
    expect(first).toMatchObject({ flags: RST | ACK, ack: 101, sport: listener.port, dport: 40000 });
    expect(rig.engine.tcp.count).toBe(0);
    expect(rig.engine.stats().tcp.refused).toBe(1);
  });

  it('host reset after our SYN-ACK: a RST to the guest, by its ACK at the latest', async () => {
    const rig = await newRig();
    const listener = keep(new Listener(4));
    rig.send(V4.syn({ dport: listener.port, seq: 100, ack: 0, flags: SYN }));
    const synAck = await rig.next(hasFlags(SYN | ACK));
    (await listener.accept()).reset();
    rig.send(V4.ack({ dport: listener.port, seq: 101, ack: synAck.seq + 1, flags: ACK }));
    expect(await rig.next(isRst)).toMatchObject({ seq: add32(synAck.seq, 1) });
    await until(() => rig.engine.tcp.count === 0, 'the flow to go');
  });

  it('host reset on an established connection: a RST to the guest at the current sequence numbers', async () => {
    const rig = await newRig();
    const c = await openFromGuest(rig);
    await dataBothWays(c, 'data', 'xyz', true);
    c.host.reset();
    await rstToGuest(c, c.iss + 5, 104);
  });

  it("host reset after the guest's FIN: a RST to the guest", async () => {
    const rig = await newRig();
    const c = await openFromGuest(rig);
    await finFromGuest(c);
    c.host.reset();
    await rstToGuest(c, c.iss + 1, 102);
  });

  it('host reset after the host closed (our FIN sent): a RST to the guest, by its next segment at the latest', async () => {
    const rig = await newRig();
    const c = await openFromGuest(rig);
    c.host.shutdownWrite();
    expect(await rig.next(hasFlags(FIN))).toMatchObject({ seq: add32(c.iss, 1) });
    rig.send(c.seg({ ack: c.iss + 2, flags: ACK }));
    c.host.reset();
    rig.send(c.seg({ ack: c.iss + 2, flags: ACK | PSH, payload: 'anyone there?' }));
    await rstToGuest(c, c.iss + 2, 101);
  });
});

describe('TCP: reset generation for segments of no connection (RFC 9293 3.10.7.1)', () => {
  it('with ACK: a RST whose sequence number is that ACK; without: a RST-ACK covering the segment', async () => {
    const rig = await newRig();
    const from = { srcIp: GATEWAY4, dstIp: GUEST4, sport: 9999, dport: 40000 };
    // ACK, with and without data: <SEQ=SEG.ACK><CTL=RST>.
    rig.send(V4.ack({ dport: 9999, seq: 1, ack: 77, flags: ACK | PSH, payload: Buffer.from('data') }));
    expect(await rig.next()).toMatchObject({ ...from, seq: 77, ack: 0, flags: RST });
    // SYN-ACK (nothing of ours it could answer).
    rig.send(V4.syn({ dport: 9999, seq: 1, ack: 0xfffffff0, flags: SYN | ACK }));
    expect(await rig.next()).toMatchObject({ ...from, seq: 0xfffffff0, flags: RST });
    // No ACK: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, a FIN counting one.
    rig.send(V4.ack({ dport: 9999, seq: 1000, ack: 0, flags: PSH, payload: Buffer.from('12345') }));
    expect(await rig.next()).toMatchObject({ ...from, seq: 0, ack: 1005, flags: RST | ACK });
    rig.send(V4.ack({ dport: 9999, seq: 0xffffffff, ack: 0, flags: FIN }));
    expect(await rig.next()).toMatchObject({ ...from, seq: 0, ack: 0, flags: RST | ACK });
    // A RST is never answered.
    rig.send(V4.ack({ dport: 9999, seq: 5, ack: 6, flags: RST | ACK }), V4.ack({ dport: 9999, seq: 5, ack: 0, flags: RST }));
    expect(await rig.barrier()).toEqual([]);
    expect(rig.engine.tcp.count).toBe(0);
  });
});
