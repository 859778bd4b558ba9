// Address translation (src/fwd/nat.ts), both directions, as a table: each row is an option
// line, what the guest sends to (or the host peer it comes from), and where it goes. The
// host is 198.51.100.2/24 via 198.51.100.1 and 2001:db8::2/64 via 2001:db8::1 on eth0
// (index 2), with 127.0.0.53 as its resolver, as in test/unit/conf.test.ts.
import { describe, expect, it } from 'vitest';
import { buildConfig, type Config, type HostNet } from '../../src/conf.js';
import { parseArgs } from '../../src/options.js';
import { natFromHost, natFromTap, spliceDestination } from '../../src/fwd/nat.js';
import { PROTO_ICMP, PROTO_TCP, PROTO_UDP } from '../../src/flow.js';
import { formatIP, parseIPv4, parseIPv6 } from '../../src/inet.js';

const ip = (s: string): Uint8Array => (s.includes(':') ? parseIPv6(s)! : parseIPv4(s)!);

const HOST: HostNet = {
  links: [
    { index: 1, name: 'lo', flags: 0x49, mtu: 65536, up: true },
    { index: 2, name: 'eth0', flags: 0x1003, mtu: 1500, up: true },
  ],
  addrs4: [{ family: 4, index: 2, prefixLen: 24, addr: ip('198.51.100.2'), scope: 0, flags: 0 }],
  addrs6: [
    { family: 6, index: 2, prefixLen: 64, addr: ip('2001:db8::2'), scope: 0, flags: 0x80 },
    { family: 6, index: 2, prefixLen: 64, addr: ip('fe80::2'), scope: 253, flags: 0x80 },
  ],
  routes4: [{ family: 4, table: 254, dst: null, dstLen: 0, gateway: ip('198.51.100.1'), oif: 2, protocol: 4, scope: 0, type: 1 }],
  routes6: [{ family: 6, table: 254, dst: null, dstLen: 0, gateway: ip('2001:db8::1'), oif: 2, protocol: 4, scope: 0, type: 1 }],
};

function config(args: string): Config {
  return buildConfig(parseArgs(args ? args.split(' ') : [], 'pasta'), HOST, 'pasta', 'nameserver 127.0.0.53\n');
}

/** natFromTap's answer as text: "ADDR port P" plus scope, source and interface when set; "refused" for null. */
function fromTap(args: string, proto: number, dst: string, port: number): string {
  const family = dst.includes(':') ? 6 : 4;
  const t = natFromTap(config(args), family, proto, ip(dst), port);
  if (!t) return 'refused';
  let text = `${formatIP(t.addr)} port ${t.port}`;
  if (t.scopeId) text += ` scope ${t.scopeId}`;
  if (t.source) text += ` from ${formatIP(t.source)}`;
  if (t.ifname) text += ` on ${t.ifname}`;
  return text;
}

describe('natFromTap: where the guest\'s traffic goes on the host', () => {
  const rows: Array<[string, number, string, number, string]> = [
    // options, protocol, destination, port => where
    ['', PROTO_TCP, '203.0.113.10', 80, '203.0.113.10 port 80'],
    ['', PROTO_UDP, '2001:db8:1::10', 53, '2001:db8:1::10 port 53'],
    ['', PROTO_ICMP, '203.0.113.10', 0, '203.0.113.10 port 0'],
    // The gateway stands for the host's loopback (--map-host-loopback defaults to it) ...
    ['', PROTO_TCP, '198.51.100.1', 8080, '127.0.0.1 port 8080'],
    ['', PROTO_UDP, '2001:db8::1', 5353, '::1 port 5353'],
    ['', PROTO_ICMP, '198.51.100.1', 0, '127.0.0.1 port 0'],
    // ... unless --no-map-gw, and another address can be chosen.
    ['--no-map-gw', PROTO_TCP, '198.51.100.1', 8080, '198.51.100.1 port 8080'],
    ['--map-host-loopback 169.254.1.3', PROTO_TCP, '169.254.1.3', 8080, '127.0.0.1 port 8080'],
    ['--map-host-loopback 169.254.1.3', PROTO_TCP, '198.51.100.1', 8080, '198.51.100.1 port 8080'],
    ['--map-host-loopback none', PROTO_UDP, '198.51.100.1', 53, '198.51.100.1 port 53'],
    // --map-guest-addr: the host's own address (Podman's host.containers.internal).
    ['--map-guest-addr 169.254.1.2', PROTO_TCP, '169.254.1.2', 22, '198.51.100.2 port 22'],
    ['--map-guest-addr 169.254.1.2', PROTO_ICMP, '169.254.1.2', 0, '198.51.100.2 port 0'],
    // --dns-forward: DNS (TCP or UDP, 53 or 853) to the host's resolver; not other ports or protocols.
    ['--dns-forward 169.254.1.1', PROTO_UDP, '169.254.1.1', 53, '127.0.0.53 port 53'],
    ['--dns-forward 169.254.1.1', PROTO_TCP, '169.254.1.1', 853, '127.0.0.53 port 853'],
    ['--dns-forward 169.254.1.1', PROTO_UDP, '169.254.1.1', 80, '169.254.1.1 port 80'],
    ['--dns-forward 169.254.1.1', PROTO_ICMP, '169.254.1.1', 0, '169.254.1.1 port 0'],
    ['--dns-forward 169.254.1.1 --dns-host 198.51.100.53', PROTO_UDP, '169.254.1.1', 53, '198.51.100.53 port 53'],
    // A link-local destination is scoped to the template interface.
    ['', PROTO_UDP, 'fe80::1234', 547, 'fe80::1234 port 547 scope 2'],
    // -o and --outbound-if4/6 bind the host socket, but not towards the host's loopback.
    ['-o 198.51.100.2 --outbound-if4 eth0', PROTO_TCP, '203.0.113.10', 80, '203.0.113.10 port 80 from 198.51.100.2 on eth0'],
    ['-o 198.51.100.2 --outbound-if4 eth0', PROTO_TCP, '198.51.100.1', 80, '127.0.0.1 port 80 from 198.51.100.2'],
    ['--outbound-if6 eth0', PROTO_UDP, '2001:db8:1::10', 53, '2001:db8:1::10 port 53 on eth0'],
  ];
  it.each(rows)('%s: %s to %s port %s => %s', (args, proto, dst, port, want) => {
    expect(fromTap(args, proto, dst, port)).toBe(want);
  });
});

describe('natFromHost: what a forwarded flow looks like in the guest', () => {
  const rows: Array<[string, string, string | null, string]> = [
    // options, peer, rule's target address => "from REMOTE to DEST"
    ['', '203.0.113.10', null, 'from 203.0.113.10 to 198.51.100.2'],
    ['', '2001:db8:1::10', null, 'from 2001:db8:1::10 to 2001:db8::2'],
    // The host's loopback shows as the address that stands for it ...
    ['', '127.0.0.1', null, 'from 198.51.100.1 to 198.51.100.2'],
    ['', '::1', null, 'from 2001:db8::1 to 2001:db8::2'],
    ['--map-host-loopback 169.254.1.3', '127.0.0.1', null, 'from 169.254.1.3 to 198.51.100.2'],
    // ... and other sources the guest cannot answer as the gateway.
    ['', '127.0.0.2', null, 'from 198.51.100.1 to 198.51.100.2'],
    ['--no-map-gw', '127.0.0.1', null, 'from 198.51.100.1 to 198.51.100.2'],
    ['', '198.51.100.2', null, 'from 198.51.100.1 to 198.51.100.2'],
    ['', '0.0.0.0', null, 'from 198.51.100.1 to 198.51.100.2'],
    // The host's own address as --map-guest-addr's.
    ['--map-guest-addr 169.254.1.2', '198.51.100.2', null, 'from 169.254.1.2 to 198.51.100.2'],
    // A rule's target address.
    ['', '203.0.113.10', '198.51.100.7', 'from 203.0.113.10 to 198.51.100.7'],
    // No IPv6 in the guest: not forwarded.
    ['-4', '2001:db8:1::10', null, 'not forwarded'],
  ];
  it.each(rows)('%s: from %s (target %s) => %s', (args, peer, target, want) => {
    const n = natFromHost(config(args), ip(peer), target ? ip(target) : null);
    expect(n ? `from ${formatIP(n.remote)} to ${formatIP(n.dest)}` : 'not forwarded').toBe(want);
  });

  it('is the inverse of natFromTap for the mapped addresses', () => {
    const c = config('--map-guest-addr 169.254.1.2');
    // The guest reaches the host's loopback at the gateway; a host loopback peer shows as the gateway.
    expect(formatIP(natFromTap(c, 4, PROTO_TCP, natFromHost(c, ip('127.0.0.1'), null)!.remote, 80)!.addr)).toBe('127.0.0.1');
    expect(formatIP(natFromTap(c, 4, PROTO_TCP, natFromHost(c, ip('198.51.100.2'), null)!.remote, 80)!.addr)).toBe('198.51.100.2');
  });
});

describe('spliceDestination: where pasta splices a host loopback connection in its namespace', () => {
  const rows: Array<[string, 4 | 6, string | null, string]> = [
    ['', 4, '127.0.0.1', '198.51.100.2'],
    ['', 6, '::1', '2001:db8::2'],
    ['--host-lo-to-ns-lo', 4, '127.0.0.1', '127.0.0.1'],
    ['--host-lo-to-ns-lo', 4, '127.0.0.5', '127.0.0.5'],
    ['--host-lo-to-ns-lo', 6, null, '::1'],
    ['--host-lo-to-ns-lo', 4, '198.51.100.2', '127.0.0.1'],
  ];
  it.each(rows)('%s: IPv%s, came to %s => %s', (args, family, local, want) => {
    expect(formatIP(spliceDestination(config(args), family, local ? ip(local) : null))).toBe(want);
  });

  it("is the namespace's loopback before it has an address (local mode)", () => {
    const local = buildConfig(parseArgs([], 'pasta'), { links: [], addrs4: [], addrs6: [], routes4: [], routes6: [] }, 'pasta', '');
    expect(formatIP(spliceDestination(local, 6, ip('::1')))).toBe('::1');
  });
});
