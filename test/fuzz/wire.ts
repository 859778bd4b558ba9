/**
 * The seed corpus, frame builders and the checks every frame we send must
 * pass, for the fuzz targets. The builders and checks use the reference
 * checksum of test/unit/wire-frames.ts, never src/.
 *
 * Corpus files (test/fuzz/corpus/): `*.hex` hold entries, each a `# name
 * (source): what it is` line and the bytes in hex on the lines after it;
 * `procnet.txt` holds /proc/net tables, each after a `## tcp 4` line.
 * frames.hex holds the literal frames of the DHCP, DHCPv6 and router
 * advertisement unit tests; the frames test/unit/wire-frames.ts exports are
 * imported, not copied; fragments, echo requests and data segments are
 * built here.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { place } from './harness.js';
import { ARP_REPLY, ARP_REQUEST, DAD_NS, DNS_QUERY, NA, NS, SYN4, SYN6, pseudo4, pseudo6, referenceChecksum } from '../unit/wire-frames.js';

const CORPUS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'corpus');

/** The entries of a corpus .hex file, by name. */
export function loadHex(file: string): Map<string, Buffer> {
  const entries = new Map<string, Buffer>();
  let name = '';
  let hex = '';
  const flush = (): void => {
    if (name) entries.set(name, Buffer.from(hex, 'hex'));
  };
  for (const line of fs.readFileSync(path.join(CORPUS, file), 'utf8').split('\n')) {
    if (line.startsWith('#')) {
      flush();
      name = line.slice(1).trim().split(/\s/)[0];
      hex = '';
    } else hex += line.replace(/\s+/g, '');
  }
  flush();
  return entries;
}

/** The /proc/net tables of procnet.txt: protocol, family and text. */
export function loadProcNet(): Array<{ proto: 'tcp' | 'udp'; family: 4 | 6; text: string }> {
  const out: Array<{ proto: 'tcp' | 'udp'; family: 4 | 6; text: string }> = [];
  for (const section of fs.readFileSync(path.join(CORPUS, 'procnet.txt'), 'latin1').split(/^## /m).slice(1)) {
    const [head, ...lines] = section.split('\n');
    const [proto, family] = head.trim().split(' ');
    out.push({ proto: proto as 'tcp' | 'udp', family: Number(family) as 4 | 6, text: lines.join('\n') });
  }
  return out;
}

// --- addresses of the test topology (doc/design.md) ----------------------------

export const GUEST_MAC = Buffer.from('5e8a3c112233', 'hex');
export const OUR_MAC = Buffer.from('9a559a559a55', 'hex');
export const GUEST4 = Buffer.from('c6336402', 'hex'); // 198.51.100.2
export const GATEWAY4 = Buffer.from('c6336401', 'hex'); // 198.51.100.1
export const REMOTE4 = Buffer.from('cb00710a', 'hex'); // 203.0.113.10
export const GUEST6 = Buffer.from('20010db8000000000000000000000002', 'hex');
export const GATEWAY6 = Buffer.from('20010db8000000000000000000000001', 'hex');
export const GUEST_LL = Buffer.from('fe800000000000005c8a3cfffe112233', 'hex');
export const OUR_LL = Buffer.from('fe8000000000000098559afffe559a55', 'hex');

// --- builders --------------------------------------------------------------------

export function ethernet(dst: Uint8Array, src: Uint8Array, type: number, payload: Uint8Array): Buffer {
  const h = Buffer.alloc(14);
  h.set(dst, 0);
  h.set(src, 6);
  h.writeUInt16BE(type, 12);
  return Buffer.concat([h, payload]);
}

/** An IPv4 packet (checksummed header, DF unless `fragment` gives the flags/offset word). */
export function ipv4(src: Uint8Array, dst: Uint8Array, proto: number, payload: Uint8Array, fragment = 0x4000, id = 0x1c46, ttl = 64): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + payload.length, 2);
  h.writeUInt16BE(id, 4);
  h.writeUInt16BE(fragment, 6);
  h[8] = ttl;
  h[9] = proto;
  h.set(src, 12);
  h.set(dst, 16);
  h.writeUInt16BE(referenceChecksum(h), 10);
  return Buffer.concat([h, payload]);
}

export function ipv6(src: Uint8Array, dst: Uint8Array, next: number, payload: Uint8Array, hops = 64): Buffer {
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(payload.length, 4);
  h[6] = next;
  h[7] = hops;
  h.set(src, 8);
  h.set(dst, 24);
  return Buffer.concat([h, payload]);
}

/** A layer-4 message with its checksum (field at `field`) over the pseudo-header of `src`/`dst` (none for ICMP over IPv4). */
export function l4(family: 4 | 6, proto: number, src: Uint8Array, dst: Uint8Array, message: Buffer, field: number): Buffer {
  const m = Buffer.from(message);
  m.writeUInt16BE(0, field);
  const pseudo = family === 6 ? pseudo6(src, dst, proto, m.length) : proto === 1 ? Buffer.alloc(0) : pseudo4(src, dst, proto, m.length);
  m.writeUInt16BE(referenceChecksum(pseudo, m), field);
  return m;
}

export function udp(sport: number, dport: number, data: Uint8Array): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt16BE(8 + data.length, 4);
  return Buffer.concat([h, data]);
}

export function tcp(sport: number, dport: number, seq: number, ack: number, flags: number, data: Uint8Array = Buffer.alloc(0), window = 0xffff): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt32BE(seq >>> 0, 4);
  h.writeUInt32BE(ack >>> 0, 8);
  h[12] = 0x50;
  h[13] = flags;
  h.writeUInt16BE(window, 14);
  return Buffer.concat([h, data]);
}

/** A whole frame from the guest: Ethernet, IP, and a checksummed layer-4 message. */
export function guestFrame(family: 4 | 6, proto: number, src: Uint8Array, dst: Uint8Array, message: Buffer): Buffer {
  const field = proto === 6 ? 16 : proto === 17 ? 6 : 2;
  const m = l4(family, proto, src, dst, message, field);
  return family === 4 ? ethernet(OUR_MAC, GUEST_MAC, 0x0800, ipv4(src, dst, proto, m)) : ethernet(OUR_MAC, GUEST_MAC, 0x86dd, ipv6(src, dst, proto, m));
}

/** The fragments of a datagram of `proto` carrying `payload`, cut every `size` bytes (a multiple of 8). */
export function fragments(family: 4 | 6, proto: number, payload: Uint8Array, size: number, id: number): Buffer[] {
  const out: Buffer[] = [];
  for (let start = 0; start < payload.length; start += size) {
    const piece = payload.subarray(start, start + size);
    const more = start + size < payload.length;
    if (family === 4) {
      out.push(ethernet(OUR_MAC, GUEST_MAC, 0x0800, ipv4(GUEST4, REMOTE4, proto, piece, (more ? 0x2000 : 0) | (start >> 3), id & 0xffff)));
    } else {
      const fh = Buffer.alloc(8);
      fh[0] = proto;
      fh.writeUInt16BE(start | (more ? 1 : 0), 2);
      fh.writeUInt32BE(id >>> 0, 4);
      out.push(ethernet(OUR_MAC, GUEST_MAC, 0x86dd, ipv6(GUEST6, GATEWAY6, 44, Buffer.concat([fh, piece]))));
    }
  }
  return out;
}

/** An echo request (ICMP or ICMPv6). */
export function echoRequest(family: 4 | 6, id: number, seq: number, data: Uint8Array): Buffer {
  const m = Buffer.alloc(8 + data.length);
  m[0] = family === 4 ? 8 : 128;
  m.writeUInt16BE(id, 4);
  m.writeUInt16BE(seq, 6);
  m.set(data, 8);
  return family === 4 ? guestFrame(4, 1, GUEST4, REMOTE4, m) : guestFrame(6, 58, GUEST6, GATEWAY6, m);
}

/**
 * An IPv6 packet with extension headers before `next`: each of `headers` is
 * [type, body] (the body padded to a multiple of 8 with its 2-byte head).
 */
export function ipv6Chain(src: Uint8Array, dst: Uint8Array, headers: Array<[number, Uint8Array]>, next: number, payload: Uint8Array, hops = 1): Buffer {
  const parts = headers.map(([, body], i) => {
    const h = Buffer.alloc(Math.ceil((body.length + 2) / 8) * 8);
    h[0] = i + 1 < headers.length ? headers[i + 1][0] : next;
    h[1] = h.length / 8 - 1;
    h.set(body, 2);
    return h;
  });
  return ipv6(src, dst, headers.length ? headers[0][0] : next, Buffer.concat([...parts, payload]), hops);
}

// --- the corpus ---------------------------------------------------------------------

const datagram = Buffer.concat([Buffer.from('9c4000350bb00000', 'hex'), Buffer.alloc(2992, 0x5a)]);

/** Every guest frame of the seed corpus. */
export const FRAMES: Buffer[] = [
  SYN4,
  SYN6,
  DNS_QUERY,
  ARP_REQUEST,
  ARP_REPLY,
  NS,
  NA,
  DAD_NS,
  ...loadHex('frames.hex').values(),
  guestFrame(4, 6, GUEST4, GATEWAY4, tcp(40000, 8080, 1001, 5001, 0x18, Buffer.from('GET / HTTP/1.0\r\n\r\n'))),
  guestFrame(6, 6, GUEST6, GATEWAY6, tcp(40002, 8080, 1001, 5001, 0x11)),
  guestFrame(6, 17, GUEST6, GATEWAY6, udp(40003, 53, Buffer.from('query'))),
  echoRequest(4, 0x1234, 1, Buffer.from('ping')),
  echoRequest(6, 0x1234, 1, Buffer.from('ping')),
  // An MLDv2 report as Linux sends it: hop-by-hop options with a router alert, then ICMPv6 type 143.
  ethernet(Buffer.from('333300000016', 'hex'), GUEST_MAC, 0x86dd, ipv6Chain(GUEST_LL, Buffer.from('ff020000000000000000000000000016', 'hex'), [[0, Buffer.from('05020000 0100', 'hex')]], 58,
    l4(6, 58, GUEST_LL, Buffer.from('ff020000000000000000000000000016', 'hex'), Buffer.from('8f000000 00000001 04000000 ff0200000000000000000001ff112233', 'hex'), 2))),
  // UDP behind destination options and a routing header (type 0, segments left 0).
  ethernet(OUR_MAC, GUEST_MAC, 0x86dd, ipv6Chain(GUEST6, GATEWAY6, [[60, Buffer.from('010400000000', 'hex')], [43, Buffer.from('000000000000', 'hex')]], 17,
    l4(6, 17, GUEST6, GATEWAY6, udp(40004, 53, Buffer.from('query')), 6))),
  ...fragments(4, 17, datagram, 1480, 0x1c46),
  ...fragments(6, 17, datagram, 1448, 0xdeadbeef),
  ...fragments(4, 1, Buffer.concat([Buffer.from('0800000012340001', 'hex'), Buffer.alloc(1600, 0x61)]), 1480, 0x77),
];

// --- the frames we send --------------------------------------------------------------

/** What checkFrame found in a frame. */
export interface FrameInfo {
  type: number;
  /** IP version, or 0 for ARP. */
  family: 0 | 4 | 6;
  proto: number;
  l4Off: number;
  l4Len: number;
}

function fail(why: string, frame: Uint8Array): never {
  throw new Error(`malformed frame to the guest: ${why}\n${Buffer.from(frame).toString('hex')}`);
}

/**
 * Throw unless `frame` is a well-formed frame for the guest: from `ourMac`,
 * no larger than 65535 bytes of IP, ARP of 28 bytes, or an option-less IPv4
 * header with the right total length and checksum, or an IPv6 header with
 * the right payload length; then a UDP, TCP, ICMP or ICMPv6 message with a
 * correct checksum (and a UDP length that matches).
 */
export function checkFrame(frame: Uint8Array, ourMac: Uint8Array = OUR_MAC): FrameInfo {
  const b = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  if (b.length < 14) fail('shorter than an Ethernet header', b);
  if (!b.subarray(6, 12).equals(ourMac)) fail('not from our MAC', b);
  if (b.length > 14 + 65535) fail(`${b.length} bytes`, b);
  const type = b.readUInt16BE(12);
  if (type === 0x0806) {
    if (b.length !== 42 || b.readUInt16BE(14) !== 1 || b.readUInt16BE(16) !== 0x0800 || b[18] !== 6 || b[19] !== 4) fail('ARP', b);
    return { type, family: 0, proto: 0, l4Off: 14, l4Len: 28 };
  }
  let proto: number;
  let l4Off: number;
  let l4Len: number;
  let pseudo: Buffer;
  let family: 4 | 6;
  if (type === 0x0800) {
    family = 4;
    if (b.length < 34 || b[14] !== 0x45) fail('IPv4 header', b);
    if (b.readUInt16BE(16) !== b.length - 14) fail(`IPv4 total length ${b.readUInt16BE(16)} in a ${b.length}-byte frame`, b);
    if (referenceChecksum(b.subarray(14, 34)) !== 0) fail('IPv4 header checksum', b);
    if (b.readUInt16BE(20) & 0x3fff) fail('an IPv4 fragment', b);
    proto = b[23];
    l4Off = 34;
    l4Len = b.length - 34;
    pseudo = proto === 1 ? Buffer.alloc(0) : pseudo4(b.subarray(26, 30), b.subarray(30, 34), proto, l4Len);
  } else if (type === 0x86dd) {
    family = 6;
    if (b.length < 54 || b[14] >> 4 !== 6) fail('IPv6 header', b);
    if (b.readUInt16BE(18) !== b.length - 54) fail(`IPv6 payload length ${b.readUInt16BE(18)} in a ${b.length}-byte frame`, b);
    proto = b[20];
    l4Off = 54;
    l4Len = b.length - 54;
    pseudo = pseudo6(b.subarray(22, 38), b.subarray(38, 54), proto, l4Len);
  } else fail(`ethertype 0x${type.toString(16)}`, b);
  const m = b.subarray(l4Off);
  if (proto === 17) {
    if (l4Len < 8 || m.readUInt16BE(4) !== l4Len) fail('UDP length', b);
    if (!(family === 4 && m.readUInt16BE(6) === 0) && referenceChecksum(pseudo, m) !== 0) fail('UDP checksum', b);
  } else if (proto === 6) {
    if (l4Len < 20 || (m[12] >> 4) * 4 < 20 || (m[12] >> 4) * 4 > l4Len) fail('TCP header', b);
    if (referenceChecksum(pseudo, m) !== 0) fail('TCP checksum', b);
  } else if (proto === 1 || proto === 58) {
    if (l4Len < 8 || referenceChecksum(pseudo, m) !== 0) fail('ICMP checksum', b);
  } else fail(`protocol ${proto}`, b);
  return { type, family, proto, l4Off, l4Len };
}

// --- responders: ARP, NDP, router advertisements, DHCP, DHCPv6 ---------------------

/** A link-layer responder: a reply to the frame at frame[off, off+len) written at out[outOff], its length returned (0: none). */
export type Responder = (frame: Buffer, off: number, len: number, out: Buffer, outOff: number) => number;

/** Room after the reply's offset, the same in every placement: more than any frame can take. */
const ROOM = 70_000;
const CANARY = 0xa5;
const OUT = Buffer.alloc(256 + ROOM);
const CANARIES = Buffer.alloc(256 + ROOM, CANARY);

/**
 * Run `handler` on `input` three ways and check what every responder
 * promises: placed among bytes of `where.fills[0]` with a separate output
 * buffer, then among `where.fills[1]`, then answering in place (output at
 * the request's own offset). The three replies must be equal (nothing read
 * outside the request, every request field read before the reply is
 * written); the request and the bytes around it, and every output byte but
 * the reply's, must be left alone; a reply must pass checkFrame(). Returns
 * the reply, or undefined for none.
 */
export function respond(handler: Responder, input: Uint8Array, where: { before: number; after: number; fills: readonly number[] }): Buffer | undefined {
  const outOff = where.before + 3;
  const replies: Buffer[] = [];
  for (const fill of where.fills.slice(0, 2)) {
    const p = place(input, where.before, where.after, fill);
    const before = Buffer.from(p.buf);
    const out = OUT.subarray(0, outOff + ROOM).fill(CANARY);
    const r = handler(p.buf, p.off, p.len, out, outOff);
    if (!Number.isInteger(r) || r < 0 || r > ROOM) throw new Error(`responder returned ${r}`);
    if (!p.buf.equals(before)) throw new Error('responder changed its input');
    if (!out.subarray(0, outOff).equals(CANARIES.subarray(0, outOff)) || !out.subarray(outOff + r).equals(CANARIES.subarray(0, ROOM - r))) {
      throw new Error(`responder wrote outside its ${r}-byte reply`);
    }
    replies.push(Buffer.from(out.subarray(outOff, outOff + r)));
  }
  const inPlace = OUT.subarray(0, where.before + ROOM).fill(where.fills[0]);
  inPlace.set(input, where.before);
  const r = handler(inPlace, where.before, input.length, inPlace, where.before);
  replies.push(Buffer.from(inPlace.subarray(where.before, where.before + r)));
  if (!replies[0].equals(replies[1])) throw new Error(`reply depends on bytes outside the request:\n${replies[0].toString('hex')}\n${replies[1].toString('hex')}`);
  if (!replies[0].equals(replies[2])) throw new Error(`reply differs when answering in place:\n${replies[0].toString('hex')}\n${replies[2].toString('hex')}`);
  if (replies[0].length === 0) return undefined;
  checkFrame(replies[0]);
  return replies[0];
}
