/**
 * IP address text forms and small address predicates.
 *
 * Theory of operation: an address is a `Uint8Array` in network byte order,
 * 4 bytes for IPv4 and 16 for IPv6 — the same bytes that appear on the wire,
 * in netlink attributes and in the native addon's sockaddr arguments, so no
 * conversion happens between layers. This file turns such bytes into text
 * and back and answers simple questions about them (loopback? link-local?
 * same prefix?).
 *
 * Parsing is strict and never throws: it returns `undefined` for anything
 * that is not an address. IPv4 takes exactly four decimal octets without
 * leading zeros (as inet_pton(3) does, so "010.0.0.1" is not silently read as
 * octal or decimal). IPv6 takes every text form of RFC 4291 section 2.2:
 * eight groups of one to four hex digits, one "::" standing for one or more
 * zero groups, and a dotted IPv4 address in the last 32 bits
 * ("::ffff:192.0.2.1"). Zone identifiers ("fe80::1%eth0"), brackets and
 * prefix lengths are rejected: they are not part of an address and callers
 * split them off themselves.
 *
 * Formatting of IPv6 follows RFC 5952: lowercase, no leading zeros in a
 * group, the longest run of two or more zero groups (the first of equal runs)
 * shortened to "::", and IPv4-mapped addresses (::ffff:0:0/96) written with a
 * dotted IPv4 tail, as inet_ntop(3) does.
 */

/** An address with its family, as returned by {@link parseIP}. */
export interface IPAddress {
  family: 4 | 6;
  /** 4 bytes (IPv4) or 16 bytes (IPv6), network byte order. */
  addr: Uint8Array;
}

const decimalOctet = /^(?:0|[1-9][0-9]{0,2})$/;
const hexGroup = /^[0-9a-fA-F]{1,4}$/;

/**
 * Parse dotted-quad IPv4 text ("198.51.100.2") into 4 bytes.
 * Returns `undefined` for anything else (short forms, leading zeros, octets > 255).
 */
export function parseIPv4(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    if (!decimalOctet.test(part)) return undefined;
    const value = Number(part);
    if (value > 255) return undefined;
    out[i] = value;
  }
  return out;
}

/**
 * Parse the groups on one side of "::" into 16-bit words. The last group may
 * be dotted IPv4 when `allowIPv4Tail` is set. Returns `undefined` on any
 * malformed group.
 */
function parseGroups(text: string, allowIPv4Tail: boolean): number[] | undefined {
  if (text === '') return [];
  const groups = text.split(':');
  const words: number[] = [];
  for (let i = 0; i < groups.length; i++) {
    const group = groups[i]!;
    if (allowIPv4Tail && i === groups.length - 1 && group.includes('.')) {
      const v4 = parseIPv4(group);
      if (!v4) return undefined;
      words.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      continue;
    }
    if (!hexGroup.test(group)) return undefined;
    words.push(parseInt(group, 16));
  }
  return words;
}

/**
 * Parse IPv6 text in any RFC 4291 form ("2001:db8::2", "::", "::ffff:1.2.3.4")
 * into 16 bytes. Returns `undefined` for anything else, including zone ids
 * ("fe80::1%eth0"), brackets and prefix lengths.
 */
export function parseIPv6(text: string): Uint8Array | undefined {
  if (text.length < 2 || text.length > 45) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;

  let words: number[];
  if (halves.length === 1) {
    const all = parseGroups(text, true);
    if (!all || all.length !== 8) return undefined;
    words = all;
  } else {
    const head = parseGroups(halves[0]!, false);
    const tail = parseGroups(halves[1]!, true);
    if (!head || !tail) return undefined;
    // "::" stands for at least one zero group.
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return undefined;
    words = [...head, ...new Array<number>(missing).fill(0), ...tail];
  }

  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = words[i]! >> 8;
    out[2 * i + 1] = words[i]! & 0xff;
  }
  return out;
}

/** Parse IPv4 or IPv6 text; the family follows from the form. */
export function parseIP(text: string): IPAddress | undefined {
  const v4 = parseIPv4(text);
  if (v4) return { family: 4, addr: v4 };
  const v6 = parseIPv6(text);
  if (v6) return { family: 6, addr: v6 };
  return undefined;
}

/** "198.51.100.2" for 4 bytes. */
export function formatIPv4(addr: Uint8Array): string {
  return `${addr[0]}.${addr[1]}.${addr[2]}.${addr[3]}`;
}

/** RFC 5952 canonical text for 16 bytes ("2001:db8::2", "::ffff:192.0.2.1"), as glibc's inet_ntop() prints it ("::192.0.2.1"). */
export function formatIPv6(addr: Uint8Array): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((addr[2 * i]! << 8) | addr[2 * i + 1]!);

  // IPv4-mapped: ::ffff:a.b.c.d (RFC 5952 section 5).
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    return `::ffff:${formatIPv4(addr.subarray(12, 16))}`;
  }

  // Longest run of zero groups, the first one on ties; a single zero group
  // is never shortened (RFC 5952 section 4.2.2).
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }

  // As glibc's inet_ntop(), which upstream's messages use: an IPv4-compatible
  // address (::a.b.c.d, RFC 4291 section 2.5.5.1, deprecated) in dotted form
  // when exactly its first six groups are zero (so "::2", but "::1.2.0.0").
  if (bestStart === 0 && bestLength === 6) {
    return `::${formatIPv4(addr.subarray(12, 16))}`;
  }

  const hex = (ws: number[]): string => ws.map((w) => w.toString(16)).join(':');
  if (bestStart < 0) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLength))}`;
}

/**
 * Text for an address of either family, chosen by length. Never throws:
 * other lengths give "<invalid address: N bytes>" so that tracing a bad
 * value cannot crash the caller.
 */
export function formatIP(addr: Uint8Array): string {
  if (addr.length === 4) return formatIPv4(addr);
  if (addr.length === 16) return formatIPv6(addr);
  return `<invalid address: ${addr.length} bytes>`;
}

/** True for 0.0.0.0 and ::. */
export function isUnspecified(addr: Uint8Array): boolean {
  if (addr.length !== 4 && addr.length !== 16) return false;
  return addr.every((b) => b === 0);
}

/** True for 127.0.0.0/8 and ::1. */
export function isLoopback(addr: Uint8Array): boolean {
  if (addr.length === 4) return addr[0] === 127;
  if (addr.length === 16) {
    for (let i = 0; i < 15; i++) if (addr[i] !== 0) return false;
    return addr[15] === 1;
  }
  return false;
}

/** True for fe80::/10 (IPv6 link-local unicast). */
export function isLinkLocal6(addr: Uint8Array): boolean {
  return addr.length === 16 && addr[0] === 0xfe && (addr[1]! & 0xc0) === 0x80;
}

/** True for 169.254.0.0/16 (IPv4 link-local). */
export function isLinkLocal4(addr: Uint8Array): boolean {
  return addr.length === 4 && addr[0] === 169 && addr[1] === 254;
}

/** True for 224.0.0.0/4 and ff00::/8. */
export function isMulticast(addr: Uint8Array): boolean {
  if (addr.length === 4) return (addr[0]! & 0xf0) === 0xe0;
  if (addr.length === 16) return addr[0] === 0xff;
  return false;
}

/** True if both addresses have the same length and bytes. */
export function addressEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * True if `a` and `b` are of the same family and agree in their first
 * `prefixLength` bits. A prefix length of 0 matches any two addresses of one
 * family; lengths beyond the address size are clamped to it.
 */
export function prefixMatch(a: Uint8Array, b: Uint8Array, prefixLength: number): boolean {
  if (a.length !== b.length) return false;
  const bits = Math.max(0, Math.min(prefixLength, a.length * 8));
  const wholeBytes = bits >> 3;
  for (let i = 0; i < wholeBytes; i++) if (a[i] !== b[i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (a[wholeBytes]! & mask) === (b[wholeBytes]! & mask);
}

/**
 * A copy of `addr` with every bit after the first `prefixLength` cleared:
 * the network address ("198.51.100.0" for 198.51.100.2 and 24). The input is
 * not modified.
 */
export function applyPrefix(addr: Uint8Array, prefixLength: number): Uint8Array {
  const out = new Uint8Array(addr);
  const bits = Math.max(0, Math.min(prefixLength, addr.length * 8));
  const wholeBytes = bits >> 3;
  const rest = bits & 7;
  if (rest !== 0) out[wholeBytes] = out[wholeBytes]! & ((0xff << (8 - rest)) & 0xff);
  out.fill(0, rest !== 0 ? wholeBytes + 1 : wholeBytes);
  return out;
}
