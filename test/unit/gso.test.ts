// Segmentation offload on the tap (src/l2/tapio.ts, src/tap.ts, src/tcp, src/udp), with
// literal frames through an engine on a fake tap that carries virtio-net headers:
// - towards the guest, TCP data leaves as super-frames with GSO type, segment size (the
//   guest's MSS), header length and a partial checksum, which the namespace's kernel cuts,
//   and so do runs of equal-size UDP datagrams from a host socket (USO);
// - from the guest, TCP super-frames are written to the socket whole, UDP super-datagrams
//   (USO) are split into datagrams of their segment size, and a frame whose GSO description
//   does not match what it is gets dropped.
import { describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import { PROTO_UDP } from '../../src/flow.js';
import { fold, sum16 } from '../../src/l2/checksum.js';
import { VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_GSO_TCPV6, VIRTIO_NET_HDR_GSO_UDP_L4 } from '../../src/l2/tapio.js';
import { referenceChecksum } from './wire-frames.js';
import { GW, GW6, batch, connect, frameFrom, ipFrame, l4Of, listen, makeRig, tcpFlags, tcpPorts, tcpSegment, udpDatagram, type Rig } from './tap-rig.js';

const TSO = { tso4: true, tso6: true, uso: false };

/** virtio_net_hdr fields of a frame's header (little-endian). */
function vnetOf(h: Buffer): { flags: number; gsoType: number; hdrLen: number; gsoSize: number; csumStart: number; csumOffset: number } {
  return { flags: h[0], gsoType: h[1], hdrLen: h.readUInt16LE(2), gsoSize: h.readUInt16LE(4), csumStart: h.readUInt16LE(6), csumOffset: h.readUInt16LE(8) };
}

/**
 * The partial checksum the kernel expects with NEEDS_CSUM (TCP, or `proto`):
 * the folded pseudo-header sum over the whole layer-4 length, not inverted.
 */
function partialChecksum(f: Buffer, proto = 6): number {
  const v4 = f.readUInt16BE(12) === 0x0800;
  const l4 = l4Of(f);
  const len = f.length - l4;
  return fold(v4 ? sum16(f, 26, 8, proto + len) : sum16(f, 22, 32, proto + len));
}

describe('TSO towards the guest', () => {
  for (const v6 of [false, true]) {
    it(`sends a window of data as one super-frame cut at the guest's MSS, then the rest (IPv${v6 ? 6 : 4})`, async () => {
      const r = await makeRig({ vnetHdrLen: 10, offloads: TSO });
      const srv = await listen(v6);
      const iss = await connect(r, 42001, srv.port, v6);
      const peer = await srv.accepted;
      // The guest's SYN had no MSS option: 536 (IPv4) or 1220 (IPv6); no window scaling: 65535 bytes of window.
      const mss = v6 ? 1220 : 536;
      const data = Buffer.alloc(70_000);
      for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
      peer.write(data);
      const first = await frameFrom(r, (f) => tcpPorts(f)[1] === 42001 && f.length > 1000);
      const payloadMax = (v6 ? 65535 - 20 : 65535 - 40);
      const superLen = Math.floor(payloadMax / mss) * mss;
      const l4 = l4Of(first);
      expect(first.length - l4 - 20).toBe(superLen);
      expect(vnetOf(r.vnet.get(first)!)).toEqual({
        flags: 1, // NEEDS_CSUM
        gsoType: v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4,
        hdrLen: l4 + 20,
        gsoSize: mss,
        csumStart: l4,
        csumOffset: 16,
      });
      if (!v6) expect(first.readUInt16BE(16)).toBe(20 + 20 + superLen);
      else expect(first.readUInt16BE(18)).toBe(20 + superLen);
      expect(first.readUInt16BE(l4 + 16)).toBe(partialChecksum(first));
      expect(first.readUInt32BE(l4 + 4)).toBe(iss);
      expect(first.subarray(l4 + 20).equals(data.subarray(0, superLen))).toBe(true);
      // What is left of the window: one frame of a single segment, no GSO.
      const second = await frameFrom(r, (f) => tcpPorts(f)[1] === 42001 && (tcpFlags(f) & 0x08) !== 0);
      expect(second.length - l4 - 20).toBe(65535 - superLen);
      expect(vnetOf(r.vnet.get(second)!).gsoType).toBe(0);
      expect(second.readUInt32BE(l4 + 4)).toBe((iss + superLen) >>> 0);
    });
  }

  it('cuts nothing itself without TSO: frames of one MSS each', async () => {
    const r = await makeRig({ vnetHdrLen: 10 });
    const srv = await listen();
    await connect(r, 42003, srv.port);
    (await srv.accepted).write(Buffer.alloc(5000, 1));
    const f = await frameFrom(r, (x) => tcpPorts(x)[1] === 42003 && (tcpFlags(x) & 0x08) !== 0);
    expect(f.length - 54).toBe(536);
    expect(vnetOf(r.vnet.get(f)!).gsoType).toBe(0);
  });
});

describe('super-frames from the guest', () => {
  it('writes a TCP super-frame to the socket whole and acknowledges it at once', async () => {
    const r = await makeRig({ vnetHdrLen: 10, offloads: TSO });
    const srv = await listen();
    const iss = await connect(r, 42010, srv.port);
    const data = Buffer.alloc(60_000);
    for (let i = 0; i < data.length; i++) data[i] = i & 0xff;
    batch(r, [tcpSegment(42010, srv.port, 1001, iss, 0x18, data)], [[VIRTIO_NET_HDR_GSO_TCPV4, 1448]]);
    const ack = await frameFrom(r, (f) => tcpPorts(f)[1] === 42010 && f.readUInt32BE(42) === 1001 + 60_000);
    expect(tcpFlags(ack) & 0x10).toBe(0x10);
    await expect.poll(() => Buffer.concat(srv.got).length).toBe(60_000);
    expect(Buffer.concat(srv.got).equals(data)).toBe(true);
  });

  it('splits a UDP super-datagram (USO) into datagrams of its segment size, in order', async () => {
    const r = await makeRig({ vnetHdrLen: 10, offloads: { ...TSO, uso: true } });
    const sink = dgram.createSocket('udp6');
    const got: Buffer[] = [];
    sink.on('message', (m) => got.push(m));
    await new Promise<void>((res) => sink.bind(0, '::1', res));
    try {
      const port = sink.address().port;
      const payload = Buffer.alloc(3500);
      for (let i = 0; i < payload.length; i++) payload[i] = (i * 13) & 0xff;
      const u = Buffer.alloc(8);
      u.writeUInt16BE(42020, 0);
      u.writeUInt16BE(port, 2);
      u.writeUInt16BE(8 + payload.length, 4);
      batch(r, [ipFrame(PROTO_UDP, GW6, Buffer.concat([u, payload]), 6)], [[VIRTIO_NET_HDR_GSO_UDP_L4, 1000]]);
      await expect.poll(() => got.length).toBe(4);
      expect(got.map((m) => m.length)).toEqual([1000, 1000, 1000, 500]);
      expect(Buffer.concat(got).equals(payload)).toBe(true);
    } finally {
      sink.close();
    }
  });

  it('sends a run of equal-size datagrams (and a shorter last one) with UDP GSO, every boundary kept', async () => {
    const r = await makeRig({ vnetHdrLen: 10, offloads: TSO });
    const sink = dgram.createSocket('udp4');
    const got: Buffer[] = [];
    sink.on('message', (m) => got.push(m));
    await new Promise<void>((res) => sink.bind(0, '127.0.0.1', res));
    try {
      const port = sink.address().port;
      const sizes = [1400, 1400, 1400, 1400, 1400, 1400, 1400, 1400, 1400, 700, 1400, 3];
      const payloads = sizes.map((n, k) => Buffer.alloc(n, k + 1));
      const frames = payloads.map((p) => {
        const u = Buffer.alloc(8);
        u.writeUInt16BE(42040, 0);
        u.writeUInt16BE(port, 2);
        u.writeUInt16BE(8 + p.length, 4);
        return ipFrame(PROTO_UDP, GW, Buffer.concat([u, p]), 6);
      });
      batch(r, frames);
      await expect.poll(() => got.length).toBe(sizes.length);
      expect(got.map((m) => m.length)).toEqual(sizes);
      got.forEach((m, k) => expect(m.equals(payloads[k])).toBe(true));
      expect(r.engine.stats().udp.datagramsFromTap).toBe(sizes.length);
      // 9×1400 + 700 in one send, then 1400 + 3 in another: two sends the kernel segmented.
      expect(r.engine.udp!.gsoSends).toBe(2);
    } finally {
      sink.close();
    }
  });

  it('drops frames whose GSO description does not match them, and the flow goes on', async () => {
    const r = await makeRig({ vnetHdrLen: 10, offloads: TSO });
    const srv = await listen();
    const iss = await connect(r, 42030, srv.port);
    const dropped = r.engine.stats().droppedFromTap;
    const seg = (text: string): Buffer => tcpSegment(42030, srv.port, 1001, iss, 0x18, Buffer.from(text));
    // TCPV6 on an IPv4 segment, UDP_L4 on TCP, an unknown type, UDP_L4 with no segment size on UDP.
    batch(r, [seg('a'), seg('b'), seg('c')], [[VIRTIO_NET_HDR_GSO_TCPV6, 1448], [VIRTIO_NET_HDR_GSO_UDP_L4, 100], [3, 1448]]);
    batch(r, [ipFrame(PROTO_UDP, GW, Buffer.from('a0a1000000090000ff', 'hex'), 6)], [[VIRTIO_NET_HDR_GSO_UDP_L4, 0]]);
    expect(r.engine.stats().droppedFromTap - dropped).toBe(4);
    expect(r.engine.stats().udp.opened).toBe(0);
    // The connection took none of it and still works.
    batch(r, [seg('ok')]);
    await expect.poll(() => Buffer.concat(srv.got).toString()).toBe('ok');
  });

  it('drops an IPv4 fragment that claims a GSO type (as an IPv6 one): no datagram is reassembled from it', async () => {
    const r = await makeRig({ vnetHdrLen: 10, offloads: { ...TSO, uso: true } });
    const udp = Buffer.alloc(16, 0x5a);
    udp.writeUInt16BE(42050, 0);
    udp.writeUInt16BE(53, 2);
    udp.writeUInt16BE(16, 4);
    const whole = ipFrame(PROTO_UDP, GW, udp, 6);
    /** The 8 bytes of the datagram from `at` as a fragment (offset in units of 8 bytes, `more`: MF). */
    const fragment = (at: number, more: boolean): Buffer => {
      const f = Buffer.concat([whole.subarray(0, 34), whole.subarray(34 + at, 34 + at + 8)]);
      f.writeUInt16BE(28, 16);
      f.writeUInt16BE(0x1c46, 18);
      f.writeUInt16BE((more ? 0x2000 : 0) | (at >> 3), 20);
      f.writeUInt16BE(0, 24);
      f.writeUInt16BE(referenceChecksum(f.subarray(14, 34)), 24);
      return f;
    };
    const dropped = r.engine.stats().droppedFromTap;
    batch(r, [fragment(0, true), fragment(8, false)], [undefined, [VIRTIO_NET_HDR_GSO_UDP_L4, 1]]);
    expect(r.engine.stats().droppedFromTap - dropped).toBe(1);
    expect(r.engine.stats().udp.opened).toBe(0);
  });
});

describe('USO towards the guest', () => {
  /**
   * The guest sends one datagram to a host socket, which answers with a
   * datagram of each of `sizes` in one go (each send reaches the flow's
   * socket before the engine reads it): the frames to the guest, in order.
   */
  async function replies(uso: boolean, v6: boolean, sizes: number[], count: number): Promise<{ r: Rig; frames: Buffer[]; payloads: Buffer[] }> {
    const r = await makeRig({ vnetHdrLen: 10, offloads: { ...TSO, uso } });
    const host = dgram.createSocket(v6 ? 'udp6' : 'udp4');
    await new Promise<void>((res) => host.bind(0, v6 ? '::1' : '127.0.0.1', res));
    const payloads = sizes.map((n, k) => {
      const p = Buffer.alloc(n);
      for (let i = 0; i < n; i++) p[i] = (k * 31 + i) & 0xff;
      return p;
    });
    try {
      const asked = new Promise<dgram.RemoteInfo>((res) => host.once('message', (_m, rinfo) => res(rinfo)));
      batch(r, [udpDatagram(42060, host.address().port, Buffer.from('go'), v6)]);
      const to = await asked;
      for (const p of payloads) host.send(p, to.port, to.address);
      const frames: Buffer[] = [];
      for (let k = 0; k < count; k++) frames.push(await frameFrom(r, (f) => f.readUInt16BE(l4Of(f) + 2) === 42060));
      return { r, frames, payloads };
    } finally {
      host.close();
    }
  }

  for (const v6 of [false, true]) {
    it(`sends a run of equal-size datagrams and a shorter last one as one super-frame cut at their size, every boundary kept (IPv${v6 ? 6 : 4})`, async () => {
      const sizes = [1000, 1000, 1000, 1000, 1000, 300, 700, 700, 5, 9];
      const { r, frames, payloads } = await replies(true, v6, sizes, 3);
      const l4 = v6 ? 54 : 34;
      const expected: Array<{ from: number; to: number; segment: number }> = [
        { from: 0, to: 6, segment: 1000 },
        { from: 6, to: 9, segment: 700 },
      ];
      expected.forEach(({ from, to, segment }, k) => {
        const f = frames[k];
        const payload = Buffer.concat(payloads.slice(from, to));
        expect(vnetOf(r.vnet.get(f)!)).toEqual({ flags: 1, gsoType: VIRTIO_NET_HDR_GSO_UDP_L4, hdrLen: l4 + 8, gsoSize: segment, csumStart: l4, csumOffset: 6 });
        expect(f.length).toBe(l4 + 8 + payload.length);
        if (v6) expect(f.readUInt16BE(18)).toBe(8 + payload.length);
        else {
          expect(f.readUInt16BE(16)).toBe(20 + 8 + payload.length);
          expect(referenceChecksum(f.subarray(14, 34))).toBe(0);
        }
        expect(f.readUInt16BE(l4 + 4)).toBe(8 + payload.length);
        expect(f.readUInt16BE(l4 + 6)).toBe(partialChecksum(f, PROTO_UDP));
        expect(f.subarray(l4 + 8).equals(payload)).toBe(true);
      });
      // The last datagram, longer than the one that ended the run before it and alone: a frame of its own, no GSO.
      expect(vnetOf(r.vnet.get(frames[2])!)).toMatchObject({ gsoType: 0, gsoSize: 0, flags: 1 });
      expect(frames[2].subarray(l4 + 8).equals(payloads[9])).toBe(true);
      expect(r.engine.udp!.gsoFramesToTap).toBe(2);
      expect(r.engine.stats().udp.datagramsToTap).toBe(sizes.length);
      expect(r.engine.stats().udp.bytesToTap).toBe(sizes.reduce((a, b) => a + b, 0));
    });
  }

  it('starts a new super-frame at a longer datagram and after a shorter one, never with empty ones, and not across receives', async () => {
    // One receive takes at most 32 datagrams:
    // 100 | 200 200 | 0 | 0 | 10 × 10 | 20 5 | 15 × 10 || 10 7
    const sizes = [100, 200, 200, 0, 0, ...Array<number>(10).fill(10), 20, 5, ...Array<number>(16).fill(10), 7];
    const { r, frames, payloads } = await replies(true, false, sizes, 8);
    expect(frames.map((f) => f.length - 42)).toEqual([100, 400, 0, 0, 100, 25, 150, 17]);
    expect(frames.map((f) => vnetOf(r.vnet.get(f)!).gsoSize)).toEqual([0, 200, 0, 0, 10, 20, 10, 10]);
    expect(Buffer.concat(frames.map((f) => f.subarray(42))).equals(Buffer.concat(payloads))).toBe(true);
    expect(r.engine.udp!.gsoFramesToTap).toBe(5);
  });

  it('without USO on the tap: a frame per datagram', async () => {
    const sizes = [1000, 1000, 1000];
    const { r, frames } = await replies(false, false, sizes, 3);
    expect(frames.map((f) => f.length - 42)).toEqual(sizes);
    for (const f of frames) expect(vnetOf(r.vnet.get(f)!).gsoType).toBe(0);
    expect(r.engine.udp!.gsoFramesToTap).toBe(0);
  });
});
