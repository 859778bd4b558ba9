import { describe, expect, it } from 'vitest';
import { Reassembler, MAX_REASSEMBLIES, REASM_TIMEOUT_MS } from '../../src/l2/reasm.js';

/**
 * Literal headers: Ethernet (guest -> us), IPv4 198.51.100.2 -> 203.0.113.10,
 * protocol UDP, id 0x1c46; and IPv6 2001:db8::2 -> 2001:db8:1::10 with a
 * fragment header (next header UDP, id 0xdeadbeef).
 */
const ETH4 = '9a559a559a55' + '02aabbccddee' + '0800';
const ETH6 = '9a559a559a55' + '02aabbccddee' + '86dd';

/** The datagram under test: an 8-byte UDP header and 3000 bytes of a pattern. */
const UDP = Buffer.concat([Buffer.from('9c400007' + '0bc0' + '0000', 'hex'), Buffer.from(Array.from({ length: 3000 }, (_, i) => i & 0xff))]);

function frag4(start: number, len: number, more: boolean, id = 0x1c46): Buffer {
  const ip = Buffer.from('4500' + '0000' + id.toString(16).padStart(4, '0') + '0000' + '4011' + '0000' + 'c6336402' + 'cb00710a', 'hex');
  ip.writeUInt16BE(20 + len, 2);
  ip.writeUInt16BE((more ? 0x2000 : 0) | (start / 8), 6);
  return Buffer.concat([Buffer.from(ETH4, 'hex'), ip, UDP.subarray(start, start + len)]);
}

function frag6(start: number, len: number, more: boolean): Buffer {
  const ip = Buffer.from('60000000' + '0000' + '2c40' + '20010db8000000000000000000000002' + '20010db8000100000000000000000010', 'hex');
  ip.writeUInt16BE(8 + len, 4);
  const fh = Buffer.from('11000000deadbeef', 'hex');
  fh.writeUInt16BE(start | (more ? 1 : 0), 2);
  return Buffer.concat([Buffer.from(ETH6, 'hex'), ip, fh, UDP.subarray(start, start + len)]);
}

const v4 = (r: Reassembler, f: Buffer, now = 0) => r.ipv4(f, 0, 20, f.length - 14, now);
const v6 = (r: Reassembler, f: Buffer, now = 0) => r.ipv6(f, 0, 14 + 40, f.length, now);

describe('fragment reassembly', () => {
  it('puts an IPv4 datagram back together in any order, with a valid header', () => {
    const r = new Reassembler();
    expect(v4(r, frag4(1480, 1480, true))).toBeUndefined();
    expect(v4(r, frag4(2960, 48, false))).toBeUndefined();
    const whole = v4(r, frag4(0, 1480, true))!;
    expect(whole.protocol).toBe(17);
    expect(whole.l4Off).toBe(34);
    expect(whole.frame.subarray(whole.l4Off).equals(UDP)).toBe(true);
    expect(whole.frame.readUInt16BE(14 + 2)).toBe(20 + UDP.length);
    expect(whole.frame.readUInt16BE(14 + 6)).toBe(0); // no fragment fields left
    let sum = 0;
    for (let i = 14; i < 34; i += 2) sum += whole.frame.readUInt16BE(i);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    expect(sum).toBe(0xffff);
    expect(r.count).toBe(0);
    expect(r.completed).toBe(1);
  });

  it('puts an IPv6 datagram back together without its fragment header', () => {
    const r = new Reassembler();
    expect(v6(r, frag6(0, 1448, true))).toBeUndefined();
    expect(v6(r, frag6(1448, 1448, true))).toBeUndefined();
    const whole = v6(r, frag6(2896, UDP.length - 2896, false))!;
    expect(whole.protocol).toBe(17);
    expect(whole.l4Off).toBe(54);
    expect(whole.frame[14 + 6]).toBe(17);
    expect(whole.frame.readUInt16BE(14 + 4)).toBe(UDP.length);
    expect(whole.frame.subarray(54).equals(UDP)).toBe(true);
  });

  it('discards overlapping fragments, a second last fragment, and bad lengths', () => {
    const r = new Reassembler();
    v4(r, frag4(0, 1480, true));
    expect(v4(r, frag4(8, 1480, true))).toBeUndefined(); // overlaps: the reassembly is gone
    expect(r.count).toBe(0);
    expect(r.discarded).toBe(1);
    v4(r, frag4(0, 1480, true));
    v4(r, frag4(2960, 48, false));
    expect(v4(r, frag4(1480, 40, false))).toBeUndefined(); // a second end
    expect(r.count).toBe(0);
    expect(v4(r, frag4(0, 100, true))).toBeUndefined(); // not a multiple of 8 with more to come
    expect(v6(r, frag6(0, 7, true))).toBeUndefined();
    expect(r.count).toBe(0);
  });

  it('discards an IPv4 datagram whose fragments add up to more than an IPv4 packet holds (20 + 65516 bytes), without throwing', () => {
    // Found by test/fuzz/reasm.test.ts: 65516 bytes of payload fit the reassembly buffer, but not
    // the total length field with the 20-byte header (65536), which threw a RangeError.
    const head = (total: string, frag: string): string => ETH4 + '4500' + total + 'beef' + frag + '4011' + '0000' + 'c6336402' + 'cb00710a';
    const fragments = [
      Buffer.concat([Buffer.from(head('8014', '2000'), 'hex'), Buffer.alloc(32768, 0x61)]), // offset 0, MF
      Buffer.concat([Buffer.from(head('7ffc', '3000'), 'hex'), Buffer.alloc(32744, 0x62)]), // offset 32768, MF
      Buffer.concat([Buffer.from(head('0018', '1ffd'), 'hex'), Buffer.alloc(4, 0x63)]), // offset 65512, the last
    ];
    const r = new Reassembler();
    for (const f of fragments) expect(v4(r, f)).toBeUndefined();
    expect(r.count).toBe(0);
    expect(r.discarded).toBe(1);
  });

  it('bounds memory: old reassemblies expire and the oldest is evicted', () => {
    const r = new Reassembler();
    for (let id = 0; id < MAX_REASSEMBLIES + 5; id++) v4(r, frag4(0, 1480, true, id), id);
    expect(r.count).toBe(MAX_REASSEMBLIES);
    r.expire(REASM_TIMEOUT_MS + 100);
    expect(r.count).toBe(0);
    // A late fragment after the timeout starts afresh instead of completing a stale datagram.
    v4(r, frag4(0, 1480, true, 7), 0);
    expect(v4(r, frag4(1480, 1528, false, 7), REASM_TIMEOUT_MS + 1)).toBeUndefined();
  });
});
