/**
 * Literal frames shared by the wire, checksum and ARP/NDP tests, with a
 * checksum reference implementation that shares no code with src/.
 *
 * Every frame is written out as hex. Checksums in them were computed with a
 * separate Python routine (RFC 1071, folding after every word) and are
 * re-verified here by `referenceChecksum`, a byte-at-a-time implementation.
 * Addresses follow the test topology of doc/design.md: the guest is
 * 198.51.100.2 / 2001:db8::2 with MAC 5e:8a:3c:11:22:33, the gateway
 * 198.51.100.1 / 2001:db8::1, a server 203.0.113.10 / 2001:db8:1::10; our MAC
 * is 9a:55:9a:55:9a:55.
 */

/** Buffer from a hex string; whitespace is ignored. */
export function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

/**
 * Internet checksum of the concatenation of `parts`, the slow and obvious
 * way: 16-bit words, end-around carry folded after every addition.
 */
export function referenceChecksum(...parts: Uint8Array[]): number {
  const bytes: number[] = [];
  for (const p of parts) for (const b of p) bytes.push(b);
  if (bytes.length % 2) bytes.push(0);
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) {
    sum += bytes[i] * 256 + bytes[i + 1];
    if (sum > 0xffff) sum -= 0xffff;
  }
  return 0xffff - sum;
}

/** IPv4 pseudo-header bytes. */
export function pseudo4(src: Uint8Array, dst: Uint8Array, protocol: number, length: number): Buffer {
  const b = Buffer.alloc(12);
  b.set(src, 0);
  b.set(dst, 4);
  b[9] = protocol;
  b.writeUInt16BE(length, 10);
  return b;
}

/** IPv6 pseudo-header bytes. */
export function pseudo6(src: Uint8Array, dst: Uint8Array, protocol: number, length: number): Buffer {
  const b = Buffer.alloc(40);
  b.set(src, 0);
  b.set(dst, 16);
  b.writeUInt32BE(length, 32);
  b[39] = protocol;
  return b;
}

/** Deterministic PRNG (mulberry32) for randomised tests. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const GUEST_MAC = hex('5e8a3c112233');
export const OUR_MAC_BYTES = hex('9a559a559a55');

/**
 * IPv4 TCP SYN as Linux sends it, 198.51.100.2:40000 -> 203.0.113.10:8080:
 * DF, TTL 64, window 64240, options MSS 1460, SACK permitted, timestamps
 * (TSval 0xa1b2c3d4, TSecr 0), NOP, window scale 7. IPv4 checksum 0xb835,
 * TCP checksum 0xab3a.
 */
export const SYN4 = hex(`
  9a559a559a55 5e8a3c112233 0800
  4500 003c 1c46 4000 4006 b835 c6336402 cb00710a
  9c40 1f90 7b2d9f0e 00000000 a002 faf0 ab3a 0000
  020405b4 0402080a a1b2c3d4 00000000 01030307`);

/**
 * IPv6 TCP SYN, [2001:db8::2]:40002 -> [2001:db8:1::10]:8080, flow label
 * 0x5a3b1, hop limit 64, window 64800, options MSS 1440, SACK permitted,
 * timestamps (0x0badf00d, 0), NOP, window scale 7. TCP checksum 0x9a43.
 */
export const SYN6 = hex(`
  9a559a559a55 5e8a3c112233 86dd
  6005a3b1 0028 06 40
  20010db8000000000000000000000002
  20010db8000100000000000000000010
  9c42 1f90 deadbeef 00000000 a002 fd20 9a43 0000
  020405a0 0402080a 0badf00d 00000000 01030307`);

/**
 * UDP DNS query for example.com/A, 198.51.100.2:53211 -> 198.51.100.1:53.
 * IPv4 checksum 0x590b, UDP checksum 0xf18f.
 */
export const DNS_QUERY = hex(`
  9a559a559a55 5e8a3c112233 0800
  4500 0039 8d3e 4000 4011 590b c6336402 c6336401
  cfdb 0035 0025 f18f
  1a2b 0100 0001 0000 0000 0000 076578616d706c6503636f6d00 0001 0001`);

/** ARP request (broadcast) from 198.51.100.2 for 198.51.100.1, unpadded as from a tap. */
export const ARP_REQUEST = hex(`
  ffffffffffff 5e8a3c112233 0806
  0001 0800 06 04 0001 5e8a3c112233 c6336402 000000000000 c6336401`);

/** The proxy ARP reply expected for ARP_REQUEST. */
export const ARP_REPLY = hex(`
  5e8a3c112233 9a559a559a55 0806
  0001 0800 06 04 0002 9a559a559a55 c6336401 5e8a3c112233 c6336402`);

/**
 * Neighbor Solicitation from 2001:db8::2 to the solicited-node group
 * ff02::1:ff00:1 for target 2001:db8::1, with a source link-layer address
 * option (the guest's MAC). ICMPv6 checksum 0x615a.
 */
export const NS = hex(`
  3333ff000001 5e8a3c112233 86dd
  60000000 0020 3a ff
  20010db8000000000000000000000002
  ff0200000000000000000001ff000001
  87 00 615a 00000000
  20010db8000000000000000000000001
  01 01 5e8a3c112233`);

/**
 * The Neighbor Advertisement expected for NS: from 2001:db8::1 (the target)
 * to 2001:db8::2, flags R|S|O, target link-layer option 9a:55:9a:55:9a:55.
 * ICMPv6 checksum 0x3d73.
 */
export const NA = hex(`
  5e8a3c112233 9a559a559a55 86dd
  60000000 0020 3a ff
  20010db8000000000000000000000001
  20010db8000000000000000000000002
  88 00 3d73 e0000000
  20010db8000000000000000000000001
  02 01 9a559a559a55`);

/**
 * Duplicate address detection probe: NS from :: to ff02::1:ff00:2 for the
 * guest's tentative 2001:db8::2, no options. ICMPv6 checksum 0x4ceb.
 */
export const DAD_NS = hex(`
  3333ff000002 5e8a3c112233 86dd
  60000000 0018 3a ff
  00000000000000000000000000000000
  ff0200000000000000000001ff000002
  87 00 4ceb 00000000
  20010db8000000000000000000000002`);
