import { describe, expect, it } from 'vitest';
import { parseArgs, helpText, OPTIONS, UsageError } from '../../src/options.js';
import { buildConfig, parseNetmask, parseResolvConf, type HostNet } from '../../src/conf.js';
import { parseIPv4, parseIPv6, formatIP } from '../../src/inet.js';

const v4 = (s: string) => parseIPv4(s)!;
const v6 = (s: string) => parseIPv6(s)!;

/** A host like the test topology: eth0 with 198.51.100.2/24 and 2001:db8::2/64, default routes. */
const host: HostNet = {
  links: [
    { index: 1, name: 'lo', flags: 9, mtu: 65536, up: true },
    { index: 2, name: 'eth0', flags: 0x1003, mtu: 65520, up: true },
    { index: 3, name: 'wlan0', flags: 0x1003, mtu: 1500, up: true },
  ],
  addrs4: [
    { family: 4, index: 1, prefixLen: 8, addr: v4('127.0.0.1'), scope: 254, flags: 0 },
    { family: 4, index: 2, prefixLen: 24, addr: v4('198.51.100.2'), scope: 0, flags: 0 },
    { family: 4, index: 3, prefixLen: 16, addr: v4('10.9.0.5'), scope: 0, flags: 0 },
  ],
  addrs6: [
    { family: 6, index: 1, prefixLen: 128, addr: v6('::1'), scope: 254, flags: 0 },
    { family: 6, index: 2, prefixLen: 64, addr: v6('fe80::1234'), scope: 253, flags: 0 },
    { family: 6, index: 2, prefixLen: 64, addr: v6('2001:db8::2'), scope: 0, flags: 0 },
  ],
  routes4: [
    { family: 4, table: 254, dst: null, dstLen: 0, gateway: v4('10.9.0.1'), oif: 3, priority: 600, protocol: 4, scope: 0, type: 1 },
    { family: 4, table: 254, dst: null, dstLen: 0, gateway: v4('198.51.100.1'), oif: 2, priority: 100, protocol: 4, scope: 0, type: 1 },
    { family: 4, table: 254, dst: v4('198.51.100.0'), dstLen: 24, gateway: null, oif: 2, protocol: 2, scope: 253, type: 1 },
  ],
  routes6: [{ family: 6, table: 254, dst: null, dstLen: 0, gateway: v6('2001:db8::1'), oif: 2, priority: 1024, protocol: 4, scope: 0, type: 1 }],
};

const conf = (...argv: string[]) => buildConfig(parseArgs(argv, 'pasta'), host);

describe('option parsing (getopt_long compatible)', () => {
  it('parses short, grouped, attached and long forms', () => {
    expect(parseArgs(['-4', '-m1500', '--mtu=1400', '-I', 'x', '--', 'ls', '-l'], 'pasta')).toEqual({
      options: [['ipv4-only', true], ['mtu', '1500'], ['mtu', '1400'], ['ns-ifname', 'x']],
      rest: ['ls', '-l'],
    });
    expect(parseArgs(['-dq'], 'pasta').options).toEqual([['debug', true], ['quiet', true]]);
    expect(parseArgs(['--config-net', 'sh', '-c', 'echo -4'], 'pasta')).toEqual({ options: [['config-net', true]], rest: ['sh', '-c', 'echo -4'] });
    expect(parseArgs(['--conf'], 'pasta').options).toEqual([['config-net', true]]); // unambiguous abbreviation
  });

  it('reports errors in getopt words', () => {
    expect(() => parseArgs(['--frobnicate'], 'pasta')).toThrow("unrecognized option '--frobnicate'");
    expect(() => parseArgs(['-Z'], 'pasta')).toThrow("invalid option -- 'Z'");
    expect(() => parseArgs(['--mtu'], 'pasta')).toThrow("option '--mtu' requires an argument");
    expect(() => parseArgs(['-m'], 'pasta')).toThrow("option requires an argument -- 'm'");
    expect(() => parseArgs(['--debug=1'], 'pasta')).toThrow("option '--debug' doesn't allow an argument");
    expect(() => parseArgs(['--i'], 'pasta')).toThrow("option '--i' is ambiguous");
    expect(() => parseArgs(['--config-net'], 'passt')).toThrow(UsageError);
  });

  it('help lists every option of the table', () => {
    const help = helpText('pasta');
    for (const o of OPTIONS.filter((o) => o.modes.includes('pasta'))) expect(help).toContain(`--${o.long}`);
  });
});

describe('configuration from the host', () => {
  it('takes addresses, prefix, gateway and name from the default-route interface', () => {
    const c = conf('--config-net');
    expect(c.nsIfname).toBe('eth0');
    expect(c.mtu).toBe(65520);
    expect(formatIP(c.ip4!.addr)).toBe('198.51.100.2');
    expect(c.ip4!.prefixLen).toBe(24);
    expect(formatIP(c.ip4!.gateway!)).toBe('198.51.100.1');
    expect(formatIP(c.ip6!.addr)).toBe('2001:db8::2');
    expect(c.ip6!.prefixLen).toBe(64);
    expect(formatIP(c.ip6!.gateway!)).toBe('2001:db8::1');
    expect(c.mapGateway).toBe(true);
    expect(c.configNet).toBe(true);
    expect(c.logLevel).toBe('info');
    expect(c.command).toEqual([]);
  });

  it('honours -a -n -g -i -I -m -4 -6 --no-map-gw and log levels', () => {
    const c = conf('-a', '192.0.2.7', '-n', '255.255.0.0', '-g', '192.0.2.1', '-I', 'ns0', '-m', '1500', '--no-map-gw', '-d', 'true');
    expect(formatIP(c.ip4!.addr)).toBe('192.0.2.7');
    expect(c.ip4!.prefixLen).toBe(16);
    expect(formatIP(c.ip4!.gateway!)).toBe('192.0.2.1');
    expect(c.nsIfname).toBe('ns0');
    expect(c.mtu).toBe(1500);
    expect(c.mapGateway).toBe(false);
    expect(c.logLevel).toBe('debug');
    expect(c.command).toEqual(['true']);
    expect(conf('-4').ip6).toBeNull();
    expect(conf('-6').ip4).toBeNull();
    expect(conf('--trace').logLevel).toBe('trace');
    expect(conf('-q').logLevel).toBe('warn');
    const w = conf('-i', 'wlan0');
    expect(formatIP(w.ip4!.addr)).toBe('10.9.0.5');
    expect(w.ip4!.prefixLen).toBe(16);
    expect(formatIP(w.ip4!.gateway!)).toBe('10.9.0.1');
    expect(w.nsIfname).toBe('wlan0');
    expect(conf('-a', '2001:db8:5::9').ip6!.addr).toEqual(v6('2001:db8:5::9'));
    expect(conf('-m', '1000').ip6).toBeNull(); // IPv6 needs an MTU of at least 1280
  });

  it('falls back to tap0 with no default route', () => {
    const c = buildConfig(parseArgs([], 'pasta'), { ...host, routes4: [], routes6: [] });
    expect(c.nsIfname).toBe('tap0');
    expect(c.ip4).toBeNull();
    expect(c.ip6).toBeNull();
  });

  it.each([
    [['-m', '0'], '--mtu must be between 68 and 65520'],
    [['-m', '70000'], '--mtu must be between 68 and 65520'],
    [['-m', 'x'], "invalid value for --mtu: 'x'"],
    [['-a', 'banana'], "--address: invalid address 'banana'"],
    [['-a', '1.2.3.4', '-a', '5.6.7.8'], 'IPv4 address given twice'],
    [['-a', '224.0.0.1'], 'invalid IPv4 address'],
    [['-n', '255.0.255.0'], "--netmask: invalid netmask '255.0.255.0'"],
    [['-n', '33'], '--netmask: invalid netmask'],
    [['-g', '::1'], 'invalid IPv6 gateway'],
    [['-i', 'nonexistent0'], "--interface: no such host interface 'nonexistent0'"],
    [['-I', 'a/b'], '--ns-ifname: invalid interface name'],
    [['-I', 'abcdefghijklmnopq'], '--ns-ifname: invalid interface name'],
    [['-4', '-6'], 'mutually exclusive'],
    [['-q', '-d'], '--quiet conflicts'],
  ])('rejects %j', (argv, message) => {
    expect(() => conf(...argv)).toThrow(UsageError);
    expect(() => conf(...argv)).toThrow(message);
  });

  it('parses netmasks in both forms', () => {
    expect(parseNetmask('24')).toBe(24);
    expect(parseNetmask('0')).toBe(0);
    expect(parseNetmask('255.255.255.0')).toBe(24);
    expect(parseNetmask('255.255.255.255')).toBe(32);
    expect(parseNetmask('0.0.0.0')).toBe(0);
    expect(parseNetmask('255.255.128.0')).toBe(17);
    expect(parseNetmask('255.255.0.255')).toBeUndefined();
  });
});

describe('DNS options', () => {
  const resolv = '# generated\nnameserver 127.0.0.53\nnameserver 2001:db8::53 # v6\noptions edns0\nsearch example.org lab.example.org\n';
  const dconf = (...argv: string[]) => buildConfig(parseArgs(argv, 'pasta'), host, 'pasta', resolv);

  it('reads resolvers and search domains from resolv.conf', () => {
    const r = parseResolvConf(resolv);
    expect(r.nameservers.map(formatIP)).toEqual(['127.0.0.53', '2001:db8::53']);
    expect(r.search).toEqual(['example.org', 'lab.example.org']);
    const c = dconf();
    expect(c.dns.map(formatIP)).toEqual(['127.0.0.53', '2001:db8::53']);
    expect(c.search).toEqual(['example.org', 'lab.example.org']);
    expect(c.dnsForward4).toBeNull();
  });

  it('maps --dns-forward to the first resolver of its family, or --dns-host', () => {
    const c = dconf('--dns-forward', '169.254.1.1', '--dns-forward', 'fd00::53');
    expect(formatIP(c.dnsForward4!.addr)).toBe('169.254.1.1');
    expect(formatIP(c.dnsForward4!.to)).toBe('127.0.0.53');
    expect(formatIP(c.dnsForward6!.to)).toBe('2001:db8::53');
    const h = dconf('--dns-forward', '169.254.1.1', '--dns-host', '127.0.0.1');
    expect(formatIP(h.dnsForward4!.to)).toBe('127.0.0.1');
    const d = dconf('-D', '192.0.2.53', '--dns-forward', '169.254.1.1', '-S', 'a.test b.test');
    expect(d.dns.map(formatIP)).toEqual(['192.0.2.53']);
    expect(formatIP(d.dnsForward4!.to)).toBe('192.0.2.53');
    expect(d.search).toEqual(['a.test', 'b.test']);
    expect(dconf('-D', 'none', '-S', 'none').dns).toEqual([]);
  });

  it('warns when there is nothing to forward to', () => {
    const c = buildConfig(parseArgs(['--dns-forward', '169.254.1.1'], 'pasta'), host, 'pasta', '');
    expect(c.dnsForward4).toBeNull();
    expect(c.warnings[0]).toContain('no resolver');
  });

  it('switches protocols off', () => {
    const c = dconf('--no-tcp', '--no-udp', '--no-icmp');
    expect([c.tcp, c.udp, c.icmp]).toEqual([false, false, false]);
    expect(dconf().tcp && dconf().udp && dconf().icmp).toBe(true);
  });

  it.each([
    [['--dns-forward', 'x'], "--dns-forward: invalid address 'x'"],
    [['--dns-forward', '1.2.3.4', '--dns-forward', '1.2.3.5'], 'IPv4 address given twice'],
    [['--dns-forward', '127.0.0.1'], "--dns-forward: invalid address '127.0.0.1'"],
    [['--dns-host', 'nope'], "--dns-host: invalid address 'nope'"],
    [['-D', '300.1.1.1'], "--dns: invalid address '300.1.1.1'"],
    [['-S', 'bad/domain'], "--search: invalid domain 'bad/domain'"],
  ])('rejects %j', (argv, message) => {
    expect(() => dconf(...argv)).toThrow(message);
  });
});

describe('port forwarding options', () => {
  it('turns -t values into one spec and none into no forwarding', () => {
    const c = conf('-t', '8080:80', '-t', '127.0.0.1/8081-8081:80-80', '-u', 'none', '-T', 'none', '-U', 'none');
    expect(c.tcpForward?.mode).toBe('ports');
    expect(c.tcpForward?.rules).toHaveLength(2);
    expect([c.udpForward, c.tcpNsForward, c.udpNsForward]).toEqual([null, null, null]);
    expect(conf('-t', 'none').tcpForward).toBeNull();
  });

  it('defaults to auto for all four in pasta, none in passt', () => {
    const c = conf();
    expect([c.tcpForward?.mode, c.udpForward?.mode, c.tcpNsForward?.mode, c.udpNsForward?.mode]).toEqual(['auto', 'auto', 'auto', 'auto']);
    const p = buildConfig(parseArgs([], 'passt'), host, 'passt', '');
    expect([p.tcpForward, p.udpForward, p.tcpNsForward, p.udpNsForward]).toEqual([null, null, null, null]);
  });

  it('takes interface bindings for -t and -u', () => {
    const c = conf('-t', '%eth0/22', '-u', '192.0.2.1%eth0/53');
    expect(c.tcpForward?.rules[0]).toMatchObject({ ifname: 'eth0', from: 22 });
    expect(c.udpForward?.rules[0]).toMatchObject({ ifname: 'eth0', from: 53, family: 4 });
  });

  it('takes -u and -U specs', () => {
    const c = conf('-u', '5353', '-u', '6000-6001:7000-7001', '-U', '5432');
    expect(c.udpForward?.mode).toBe('ports');
    expect(c.udpForward?.rules.map((r) => [r.from, r.to, r.targetFrom])).toEqual([[5353, 5353, 5353], [6000, 6001, 7000]]);
    expect(c.udpNsForward?.rules.map((r) => [r.from, r.targetFrom])).toEqual([[5432, 5432]]);
  });

  it('forwards UDP on the TCP port numbers, untranslated and best effort, unless -u is given (pasta(1))', () => {
    const c = conf('-t', '8080:80', '-T', '5432');
    expect(c.udpForward?.option).toBe('-u');
    expect(c.udpForward?.rules.map((r) => [r.from, r.targetFrom, r.weak])).toEqual([[8080, 8080, true]]);
    expect(c.udpNsForward?.rules.map((r) => [r.from, r.targetFrom, r.weak])).toEqual([[5432, 5432, true]]);
    expect(conf('-t', '8080:80', '-u', 'none').udpForward).toBeNull();
    // -t auto (the default) leaves -u auto.
    expect(conf('-t', 'auto').udpForward?.mode).toBe('auto');
  });

  it('forwards nothing for switched-off protocols', () => {
    const c = conf('--no-udp', '-t', '80');
    expect(c.udpForward).toBeNull();
    expect(c.udpNsForward).toBeNull();
    expect(conf('--no-tcp').tcpForward).toBeNull();
  });

  it.each([
    [['-T', '%eth0/22'], '-T: listening address or interface'],
    [['-U', '%eth0/53'], '-U: listening address or interface'],
    [['-u', 'auto', '-u', '53'], "-u: '53' cannot be combined with 'auto'"],
    [['-U', 'x'], '-U'],
    [['-t', '70000'], '-t: invalid port'],
  ])('rejects %j', (argv, message) => {
    expect(() => conf(...argv)).toThrow(message);
  });

  it('rejects -T and -U and auto for passt', () => {
    expect(() => buildConfig(parseArgs(['-t', 'auto'], 'passt'), host, 'passt', '')).toThrow("-t: 'auto' is only supported by pasta");
  });
});

describe('attach and mapping options', () => {
  it('takes --netns (path or name), a PID, --userns, -P, and the address maps', () => {
    const c = conf('--netns', '/run/user/1000/netns/netns-1', '-P', '/tmp/p', '--map-guest-addr', '169.254.1.2', '--map-host-loopback', '169.254.1.3', '--map-host-loopback', 'fd00::3');
    expect(c.netns).toBe('/run/user/1000/netns/netns-1');
    expect(c.netnsQuit).toBe(true);
    expect(c.pidFile).toBe('/tmp/p');
    expect(formatIP(c.mapGuestAddr4!)).toBe('169.254.1.2');
    expect(formatIP(c.mapHostLoopback4!)).toBe('169.254.1.3');
    expect(formatIP(c.mapHostLoopback6!)).toBe('fd00::3');
    expect(conf('--netns', 'blue').netns).toBe('/run/netns/blue');
    expect(conf('--no-netns-quit', '--netns', 'x').netnsQuit).toBe(false);
    const p = conf('--netns-only', '1234');
    expect(p.attachPid).toBe(1234);
    expect(p.netnsOnly).toBe(true);
    expect(p.command).toEqual([]);
    expect(conf('ls', '-l').attachPid).toBeNull();
  });

  it.each([
    [['--netns', 'x', '42'], '--netns cannot be combined with a PID'],
    [['--netns', 'x', 'true'], "a command cannot be given with --netns: 'true'"],
    [['--userns', '/proc/1/ns/user'], '--userns needs --netns or a PID'],
    [['--map-guest-addr', '127.0.0.1'], "--map-guest-addr: invalid address '127.0.0.1'"],
    [['--map-host-loopback', '1.2.3.4', '--map-host-loopback', '1.2.3.5'], 'IPv4 address given twice'],
    [['0'], "invalid PID '0'"],
  ])('rejects %j', (argv, message) => {
    expect(() => conf(...argv)).toThrow(message);
  });
});
