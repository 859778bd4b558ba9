// createPasst()'s options, without sockets: each field's type check names the field;
// the options become the passt command line; and an error from the configuration code
// (run on a host snapshot like the test topology's) names the field the bad value came from.
import { describe, expect, it } from 'vitest';
import { passtConfig, passtOptionsToArgs, type PasstOptions } from '../../src/api-passt.js';
import { PastaOptionError } from '../../src/api.js';
import type { HostNet } from '../../src/conf.js';
import { formatIP, parseIPv4, parseIPv6 } from '../../src/inet.js';

const v4 = (s: string) => parseIPv4(s)!;
const v6 = (s: string) => parseIPv6(s)!;

/** A host like the test topology: eth0 with 198.51.100.2/24 and 2001:db8::2/64, default routes. */
const host: HostNet = {
  links: [
    { index: 1, name: 'lo', flags: 9, mtu: 65536, up: true },
    { index: 2, name: 'eth0', flags: 0x1003, mtu: 65520, up: true },
  ],
  addrs4: [
    { family: 4, index: 1, prefixLen: 8, addr: v4('127.0.0.1'), scope: 254, flags: 0 },
    { family: 4, index: 2, prefixLen: 24, addr: v4('198.51.100.2'), scope: 0, flags: 0 },
  ],
  addrs6: [
    { family: 6, index: 1, prefixLen: 128, addr: v6('::1'), scope: 254, flags: 0 },
    { family: 6, index: 2, prefixLen: 64, addr: v6('2001:db8::2'), scope: 0, flags: 0 },
  ],
  routes4: [{ family: 4, table: 254, dst: null, dstLen: 0, gateway: v4('198.51.100.1'), oif: 2, priority: 100, protocol: 4, scope: 0, type: 1 }],
  routes6: [{ family: 6, table: 254, dst: null, dstLen: 0, gateway: v6('2001:db8::1'), oif: 2, priority: 1024, protocol: 4, scope: 0, type: 1 }],
};
/** The same host with no IPv6 at all. */
const host4: HostNet = { ...host, addrs6: host.addrs6.slice(0, 1), routes6: [] };
const RESOLV = 'nameserver 192.0.2.53\nsearch example.test\n';

/** The field a PastaOptionError names, or what else happened. */
function fieldOf(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    if (err instanceof PastaOptionError) {
      expect(err.message.startsWith(`${err.field}: `)).toBe(true);
      return err.field;
    }
    return `not a PastaOptionError: ${String(err)}`;
  }
  return 'no error';
}

describe('passtOptionsToArgs', () => {
  it('makes the passt command line, field by field', () => {
    const args = passtOptionsToArgs({
      socketPath: '/run/vm.socket',
      mtu: 1500,
      ipv6: false,
      addresses: ['192.0.2.7'],
      netmask: '24',
      gateways: ['192.0.2.1'],
      interface: 'eth0',
      mapGateway: false,
      mapHostLoopback: ['169.254.1.2'],
      mapGuestAddr: ['169.254.1.3'],
      dns: ['192.0.2.53'],
      dnsForward: ['169.254.1.1'],
      dnsHost: '127.0.0.53',
      search: ['a.test', 'b.test'],
      ports: { tcp: ['2222:22', '8080'], udp: ['5353'] },
      protocols: { icmp: false },
      log: { level: 'debug', file: '/tmp/passt.log' },
      oneOff: true,
      pcap: '/tmp/vm.pcap',
      vhostUser: true,
    });
    const pairs = (name: string): string[] => args.flatMap((a, i) => (a === name ? [args[i + 1]] : []));
    expect(pairs('--socket')).toEqual(['/run/vm.socket']);
    expect(pairs('--mtu')).toEqual(['1500']);
    expect(args).toContain('--ipv4-only');
    expect(args).not.toContain('--ipv6-only');
    expect(pairs('--address')).toEqual(['192.0.2.7']);
    expect(pairs('--netmask')).toEqual(['24']);
    expect(pairs('--gateway')).toEqual(['192.0.2.1']);
    expect(pairs('--interface')).toEqual(['eth0']);
    expect(args).toContain('--no-map-gw');
    expect(pairs('--map-host-loopback')).toEqual(['169.254.1.2']);
    expect(pairs('--map-guest-addr')).toEqual(['169.254.1.3']);
    expect(pairs('--dns')).toEqual(['192.0.2.53']);
    expect(pairs('--dns-forward')).toEqual(['169.254.1.1']);
    expect(pairs('--dns-host')).toEqual(['127.0.0.53']);
    expect(pairs('--search')).toEqual(['a.test b.test']);
    expect(pairs('--tcp-ports')).toEqual(['2222:22', '8080']);
    expect(pairs('--udp-ports')).toEqual(['5353']);
    expect(args).toContain('--no-icmp');
    expect(args).not.toContain('--no-tcp');
    expect(pairs('--log-file')).toEqual(['/tmp/passt.log']);
    expect(args).toContain('--one-off');
    expect(pairs('--pcap')).toEqual(['/tmp/vm.pcap']);
    expect(args).toContain('--vhost-user');
    // Nothing of pasta's own: no namespace to configure.
    expect(args).not.toContain('--config-net');
    expect(passtOptionsToArgs({})).toEqual([]);
    expect(passtOptionsToArgs({ oneOff: false, ports: {}, vhostUser: false })).toEqual([]);
  });

  it('names the field of a value of the wrong type', () => {
    const cases: Array<[unknown, string]> = [
      [null, 'options'],
      [[], 'options'],
      [{ bogus: 1 }, 'bogus'],
      [{ configNet: true }, 'configNet'], // pasta's, not passt's
      [{ nsIfname: 'eth0' }, 'nsIfname'],
      [{ socketPath: '' }, 'socketPath'],
      [{ socketPath: 7 }, 'socketPath'],
      [{ mtu: 'x' }, 'mtu'],
      [{ mtu: 1500.5 }, 'mtu'],
      [{ ipv4: 'no' }, 'ipv4'],
      [{ ipv4: false, ipv6: false }, 'ipv4'],
      [{ addresses: '192.0.2.7' }, 'addresses'],
      [{ addresses: ['192.0.2.7', 3] }, 'addresses[1]'],
      [{ gateways: [''] }, 'gateways[0]'],
      [{ mapGateway: 0 }, 'mapGateway'],
      [{ dnsForward: [1] }, 'dnsForward[0]'],
      [{ dnsHost: ['x'] }, 'dnsHost'],
      [{ search: 'a.test' }, 'search'],
      [{ ports: ['80'] }, 'ports'],
      [{ ports: { sctp: ['80'] } }, 'ports.sctp'],
      [{ ports: { tcp: '80' } }, 'ports.tcp'],
      [{ ports: { udp: [53] } }, 'ports.udp[0]'],
      [{ protocols: { tcp: 'off' } }, 'protocols.tcp'],
      [{ protocols: { sctp: false } }, 'protocols.sctp'],
      [{ log: 'debug' }, 'log'],
      [{ log: { level: 'loud' } }, 'log.level'],
      [{ log: { colour: true } }, 'log.colour'],
      [{ log: { file: '' } }, 'log.file'],
      [{ oneOff: 'yes' }, 'oneOff'],
      [{ pcap: true }, 'pcap'],
      [{ vhostUser: 'yes' }, 'vhostUser'],
    ];
    for (const [options, field] of cases) expect([options, fieldOf(() => passtOptionsToArgs(options as PasstOptions))]).toEqual([options, field]);
  });
});

describe('passtConfig', () => {
  it("builds passt's configuration: the host's addresses by default, the socket, one-off, capture and ports as given", () => {
    const c = passtConfig({}, host, RESOLV);
    expect(c.mode).toBe('passt');
    expect(formatIP(c.ip4!.addr)).toBe('198.51.100.2');
    expect(formatIP(c.ip4!.gateway!)).toBe('198.51.100.1');
    expect(formatIP(c.ip6!.addr)).toBe('2001:db8::2');
    expect(c.socketPath).toBeNull(); // the first free /tmp/passt_N.socket
    expect(c.socketFd).toBeNull();
    expect(c.oneOff).toBe(false);
    expect(c.pcap).toBeNull();
    expect(c.vhostUser).toBe(false);
    expect(passtConfig({ vhostUser: true }, host, RESOLV).vhostUser).toBe(true);
    expect(c.tcpForward).toBeNull();
    expect(c.dhcpDns).toBe(true); // passt hands resolvers to the guest
    expect(c.dns.map(formatIP)).toEqual(['192.0.2.53']);
    expect(c.search).toEqual(['example.test']);

    const d = passtConfig(
      { socketPath: '/run/vm.socket', oneOff: true, pcap: '/tmp/vm.pcap', mtu: 1500, ipv6: false, addresses: ['192.0.2.7'], gateways: ['192.0.2.1'], ports: { tcp: ['2222:22'] }, protocols: { udp: false }, dnsForward: ['169.254.1.1'] },
      host,
      RESOLV,
    );
    expect(d.socketPath).toBe('/run/vm.socket');
    expect(d.oneOff).toBe(true);
    expect(d.pcap).toBe('/tmp/vm.pcap');
    expect(d.mtu).toBe(1500);
    expect(d.ip6).toBeNull();
    expect(formatIP(d.ip4!.addr)).toBe('192.0.2.7');
    expect(formatIP(d.ip4!.gateway!)).toBe('192.0.2.1');
    expect(d.udp).toBe(false);
    expect(d.tcpForward?.rules.length).toBe(1);
    expect(d.udpForward).toBeNull(); // protocols.udp false

    const u = passtConfig({ ports: { tcp: ['2222:22'], udp: ['5353:53'] } }, host, RESOLV);
    expect(u.tcpForward?.rules.length).toBe(1);
    expect(u.udpForward?.rules.length).toBe(1);
    expect(u.udpForward?.mode).toBe('ports');
    expect(d.dnsForward4 && formatIP(d.dnsForward4.addr)).toBe('169.254.1.1');
  });

  it('names the field whose value the configuration code refuses', () => {
    // Upstream's words seldom name the option ("Invalid MTU: x"): the field is found by replaying the fields in order.
    const cases: Array<[PasstOptions, string, HostNet?]> = [
      [{ mtu: 70000 }, 'mtu'],
      [{ addresses: ['192.0.2.7'], mtu: 70000 }, 'mtu'],
      [{ socketPath: `/tmp/${'x'.repeat(120)}` }, 'socketPath'],
      [{ addresses: ['192.0.2.7', '0.0.0.0'] }, 'addresses'],
      [{ addresses: ['not an address'] }, 'addresses'],
      [{ netmask: '255.0.255.0' }, 'netmask'],
      [{ gateways: ['127.0.0.1'] }, 'gateways'],
      [{ gateways: ['255.255.255.255'], ipv6: false }, 'gateways', { ...host4, addrs4: host4.addrs4.slice(0, 1), routes4: [] }],
      [{ interface: 'nope0' }, 'interface'],
      [{ interface: 'nope0', ipv6: false }, 'interface', host4],
      [{ mapHostLoopback: ['127.0.0.1'] }, 'mapHostLoopback'],
      [{ mapGuestAddr: ['ff02::1'] }, 'mapGuestAddr'],
      [{ dns: ['resolver.test'] }, 'dns'],
      [{ dnsForward: ['127.0.0.1'] }, 'dnsForward'],
      [{ dnsHost: '0.0.0.0' }, 'dnsHost'],
      [{ search: ['a.test', 'b.test', 'c.test', 'd.test', 'e.test', 'f.test', 'g.test'] }, 'search'], // at most six
      [{ ports: { tcp: ['80-22'] } }, 'ports.tcp'],
      [{ ports: { tcp: ['22', '22'] } }, 'ports.tcp'],
      [{ ports: { udp: ['70000'] } }, 'ports.udp'],
      [{ ports: { udp: ['53', '50-60'] } }, 'ports.udp'],
      [{ log: { file: '' } }, 'log.file'],
      [{ pcap: '' }, 'pcap'],
    ];
    for (const [options, field, h] of cases) expect([options, fieldOf(() => passtConfig(options, h ?? host, RESOLV))]).toEqual([options, field]);
  });

  it("keeps the configuration code's words (upstream's) after the field", () => {
    try {
      passtConfig({ mtu: 70000 }, host, RESOLV);
      expect.unreachable('mtu 70000 was accepted');
    } catch (err) {
      expect(err).toBeInstanceOf(PastaOptionError);
      expect((err as Error).message).toBe('mtu: MTU 70000 too large (max 65521)');
    }
  });

  it('takes what upstream takes, with its warnings: a small MTU, a multicast gateway, IPv6 alone in local mode', () => {
    expect(passtConfig({ mtu: 10 }, host, RESOLV).warnings).toContain('MTU 10 is too small for IPv4 (minimum 68)');
    expect(formatIP(passtConfig({ gateways: ['224.0.0.1'] }, host, RESOLV).ip4!.gateway!)).toBe('224.0.0.1');
    const v6 = passtConfig({ ipv4: false }, host4, RESOLV); // IPv6 only, on a host without IPv6: local mode
    expect(v6.ip4).toBeNull();
    expect(v6.ip6!.hostIfname).toBe('');
    expect(formatIP(v6.ip6!.gateway!)).toBe('fe80::1');
    expect(v6.notices).toContain('IPv6: no external interface as template, use local mode');
  });
});
