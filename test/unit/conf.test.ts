// Options and configuration (conf.ts) with upstream pasta(1)/passt(1)'s meaning.
//
// Three parts:
// 1. Parity with upstream: for fake hosts (below, literal snapshots of what readHostNet()
//    reports in them) and resolv.conf texts, upstream passt/pasta were run with many option
//    lines and their start-up output (conf_print() and the messages before it) and errors were
//    recorded: every expectation in PARITY and UPSTREAM_ERRORS is upstream's output, from
//    upstream passt 2026_07_16 (37a73a2), `passt 2026_07_16.090d739-11-g37a73a2`. Each host was
//    built in a private user, network and mount namespace (`unshare -rnm`: veth pairs `ethN` /
//    `pethN` with addresses and routes, resolv.conf bind-mounted), then
//    `passt -f -s SOCKET OPTIONS` or `pasta -f --netns NS OPTIONS` ran there. The same option
//    lines, hosts and texts go through buildConfig() here and must print the same:
//    - upstream prints its notices and warnings interleaved as it goes, ours collects them in
//      Config.warnings and Config.notices: compared as sorted lists;
//    - then conf_print()'s lines, which describeConfig() prints, except ours' own
//      "DNS forwarder A -> B" lines (checked in the DNS tests); where upstream printed its
//      template interface's link-local address ("our link-local:"), which the kernel made up
//      anew for each capture, the expectation says (HOST_LL): that of the host's snapshot;
//    - rules of -t/-u print in upstream's command-line order within a table; ours TCP first.
//    Where ours deliberately differs, the case says why and gives ours' output too.
// 2. Every option of the table in options.ts, one test each: accepted values as upstream
//    reads them, rejected ones in upstream's words, "the last one wins" where it does.
// 3. The host's side: template interface, local mode, DNS, --runas, ports, describeConfig().
import { describe, expect, it } from 'vitest';
import { GetoptError, OPTIONS, UsageError, helpText, parseArgs } from '../../src/options.js';
import {
  DEFAULT_MTU,
  buildConfig,
  describeConfig,
  externalInterface,
  parseNetmask,
  parseOptions,
  parseResolvConf,
  type Config,
  type HostEnv,
  type HostNet,
} from '../../src/conf.js';
import { formatIP, parseIPv4, parseIPv6 } from '../../src/inet.js';

const v4 = (s: string): Uint8Array => parseIPv4(s)!;
const v6 = (s: string): Uint8Array => parseIPv6(s)!;
const ip = (a: Uint8Array | null | undefined): string | null => (a ? formatIP(a) : null);

/**
 * The fake hosts, as readHostNet() reported them in the namespaces the upstream runs used
 * (main-table routes only, as our netlink dump asks for; link-local addresses are the kernel's
 * own, random, and were different in the upstream runs: nothing printed depends on them).
 *   std:        eth0 198.51.100.2/24 via 198.51.100.1, 2001:db8::2/64 via 2001:db8::1
 *   v4only:     std without IPv6 addresses and routes (link-local only)
 *   v6only:     std without IPv4
 *   noroutes:   eth0 up, no address (link-local only): no usable route at all
 *   nolinks:    loopback alone
 *   nodefault:  std's addresses, no default route (prefix routes only)
 *   nodefault2: eth0 198.51.100.2/24 and eth1 203.0.113.7/25, no default route
 *   twodef:     as nodefault2, default via 203.0.113.1 (eth1, metric 50) and via 198.51.100.1
 *               (eth0, metric 100); IPv6 as std on eth0
 *   noll:       std with no IPv6 link-local address on eth0 (addrgenmode none)
 *   gwll:       IPv6 only, no link-local address, default via fe80::1 dev eth0
 *   twoaddr:    std plus 198.51.100.40/28 and 10.1.2.3/8, 2001:db8:1::9/56
 *   nogw:       std with gateway-less default routes (`default dev eth0`)
 *   noaddr:     default dev eth0 (no address on eth0), 198.51.100.2/24 on eth1
 */
type HostName = 'std' | 'v4only' | 'v6only' | 'noroutes' | 'nolinks' | 'nodefault' | 'nodefault2' | 'twodef' | 'noll' | 'gwll' | 'twoaddr' | 'nogw' | 'noaddr';
const HOSTS: Record<HostName, HostNet> = {
  std: {
    links: [
      { index: 1, name: 'lo', flags: 0x10049, mtu: 65536, up: true, type: 772 },
      { index: 2, name: 'peth0', flags: 0x11043, mtu: 1500, up: true, type: 1 },
      { index: 3, name: 'eth0', flags: 0x11043, mtu: 1500, up: true, type: 1 },
    ],
    addrs4: [
      { family: 4, index: 1, prefixLen: 8, addr: v4('127.0.0.1'), scope: 254, flags: 0x80 },
      { family: 4, index: 3, prefixLen: 24, addr: v4('198.51.100.2'), scope: 0, flags: 0x80 },
    ],
    addrs6: [
      { family: 6, index: 1, prefixLen: 128, addr: v6('::1'), scope: 254, flags: 0x80 },
      { family: 6, index: 2, prefixLen: 64, addr: v6('fe80::a40a:79ff:fe67:e443'), scope: 253, flags: 0xc0 },
      { family: 6, index: 3, prefixLen: 64, addr: v6('2001:db8::2'), scope: 0, flags: 0x82 },
      { family: 6, index: 3, prefixLen: 64, addr: v6('fe80::c070:56ff:fed0:1db3'), scope: 253, flags: 0xc0 },
    ],
    routes4: [
      { family: 4, table: 254, dst: null, dstLen: 0, gateway: v4('198.51.100.1'), oif: 3, protocol: 3, scope: 0, type: 1, flags: 0 },
      { family: 4, table: 254, dst: v4('198.51.100.0'), dstLen: 24, gateway: null, oif: 3, protocol: 2, scope: 253, type: 1, flags: 0 },
    ],
    routes6: [
      { family: 6, table: 254, dst: v6('2001:db8::'), dstLen: 64, gateway: null, oif: 3, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
      { family: 6, table: 254, dst: v6('fe80::'), dstLen: 64, gateway: null, oif: 3, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
      { family: 6, table: 254, dst: v6('fe80::'), dstLen: 64, gateway: null, oif: 2, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
      { family: 6, table: 254, dst: null, dstLen: 0, gateway: v6('2001:db8::1'), oif: 3, priority: 1024, protocol: 3, scope: 0, type: 1, flags: 0 },
    ],
  },
  v4only: {
    links: [
      { index: 1, name: 'lo', flags: 0x10049, mtu: 65536, up: true, type: 772 },
      { index: 2, name: 'peth0', flags: 0x11043, mtu: 1500, up: true, type: 1 },
      { index: 3, name: 'eth0', flags: 0x11043, mtu: 1500, up: true, type: 1 },
    ],
    addrs4: [
      { family: 4, index: 1, prefixLen: 8, addr: v4('127.0.0.1'), scope: 254, flags: 0x80 },
      { family: 4, index: 3, prefixLen: 24, addr: v4('198.51.100.2'), scope: 0, flags: 0x80 },
    ],
    addrs6: [
      { family: 6, index: 1, prefixLen: 128, addr: v6('::1'), scope: 254, flags: 0x80 },
      { family: 6, index: 2, prefixLen: 64, addr: v6('fe80::49d:33ff:fec7:8733'), scope: 253, flags: 0x80 },
      { family: 6, index: 3, prefixLen: 64, addr: v6('fe80::2f:51ff:fea9:bf9a'), scope: 253, flags: 0xc0 },
    ],
    routes4: [
      { family: 4, table: 254, dst: null, dstLen: 0, gateway: v4('198.51.100.1'), oif: 3, protocol: 3, scope: 0, type: 1, flags: 0 },
      { family: 4, table: 254, dst: v4('198.51.100.0'), dstLen: 24, gateway: null, oif: 3, protocol: 2, scope: 253, type: 1, flags: 0 },
    ],
    routes6: [
      { family: 6, table: 254, dst: v6('fe80::'), dstLen: 64, gateway: null, oif: 3, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
      { family: 6, table: 254, dst: v6('fe80::'), dstLen: 64, gateway: null, oif: 2, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
    ],
  },
  v6only: {
    links: [
      { index: 1, name: 'lo', flags: 0x10049, mtu: 65536, up: true, type: 772 },
      { index: 2, name: 'peth0', flags: 0x11043, mtu: 1500, up: true, type: 1 },
      { index: 3, name: 'eth0', flags: 0x11043, mtu: 1500, up: true, type: 1 },
    ],
    addrs4: [
      { family: 4, index: 1, prefixLen: 8, addr: v4('127.0.0.1'), scope: 254, flags: 0x80 },
    ],
    addrs6: [
      { family: 6, index: 1, prefixLen: 128, addr: v6('::1'), scope: 254, flags: 0x80 },
      { family: 6, index: 2, prefixLen: 64, addr: v6('fe80::f081:40ff:fe8a:23f5'), scope: 253, flags: 0xc0 },
      { family: 6, index: 3, prefixLen: 64, addr: v6('2001:db8::2'), scope: 0, flags: 0x82 },
      { family: 6, index: 3, prefixLen: 64, addr: v6('fe80::9486:a9ff:fe1d:e484'), scope: 253, flags: 0x80 },
    ],
    routes4: [],
    routes6: [
      { family: 6, table: 254, dst: v6('2001:db8::'), dstLen: 64, gateway: null, oif: 3, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
      { family: 6, table: 254, dst: v6('fe80::'), dstLen: 64, gateway: null, oif: 3, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
      { family: 6, table: 254, dst: v6('fe80::'), dstLen: 64, gateway: null, oif: 2, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
      { family: 6, table: 254, dst: null, dstLen: 0, gateway: v6('2001:db8::1'), oif: 3, priority: 1024, protocol: 3, scope: 0, type: 1, flags: 0 },
    ],
  },
  noroutes: {
    links: [
      { index: 1, name: 'lo', flags: 0x10049, mtu: 65536, up: true, type: 772 },
      { index: 2, name: 'peth0', flags: 0x11043, mtu: 1500, up: true, type: 1 },
      { index: 3, name: 'eth0', flags: 0x11043, mtu: 1500, up: true, type: 1 },
    ],
    addrs4: [
      { family: 4, index: 1, prefixLen: 8, addr: v4('127.0.0.1'), scope: 254, flags: 0x80 },
    ],
    addrs6: [
      { family: 6, index: 1, prefixLen: 128, addr: v6('::1'), scope: 254, flags: 0x80 },
      { family: 6, index: 2, prefixLen: 64, addr: v6('fe80::a067:b1ff:fe61:4c37'), scope: 253, flags: 0x80 },
      { family: 6, index: 3, prefixLen: 64, addr: v6('fe80::8896:5dff:fe9d:fcf7'), scope: 253, flags: 0xc0 },
    ],
    routes4: [],
    routes6: [
      { family: 6, table: 254, dst: v6('fe80::'), dstLen: 64, gateway: null, oif: 3, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
      { family: 6, table: 254, dst: v6('fe80::'), dstLen: 64, gateway: null, oif: 2, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
    ],
  },
  nolinks: {
    links: [
      { index: 1, name: 'lo', flags: 0x10049, mtu: 65536, up: true, type: 772 },
    ],
    addrs4: [
      { family: 4, index: 1, prefixLen: 8, addr: v4('127.0.0.1'), scope: 254, flags: 0x80 },
    ],
    addrs6: [
      { family: 6, index: 1, prefixLen: 128, addr: v6('::1'), scope: 254, flags: 0x80 },
    ],
    routes4: [],
    routes6: [],
  },
  nodefault: {
    links: [
      { index: 1, name: 'lo', flags: 0x10049, mtu: 65536, up: true, type: 772 },
      { index: 2, name: 'peth0', flags: 0x11043, mtu: 1500, up: true, type: 1 },
      { index: 3, name: 'eth0', flags: 0x11043, mtu: 1500, up: true, type: 1 },
    ],
    addrs4: [
      { family: 4, index: 1, prefixLen: 8, addr: v4('127.0.0.1'), scope: 254, flags: 0x80 },
      { family: 4, index: 3, prefixLen: 24, addr: v4('198.51.100.2'), scope: 0, flags: 0x80 },
    ],
    addrs6: [
      { family: 6, index: 1, prefixLen: 128, addr: v6('::1'), scope: 254, flags: 0x80 },
      { family: 6, index: 2, prefixLen: 64, addr: v6('fe80::c419:37ff:fec1:3a2e'), scope: 253, flags: 0x80 },
      { family: 6, index: 3, prefixLen: 64, addr: v6('2001:db8::2'), scope: 0, flags: 0x82 },
      { family: 6, index: 3, prefixLen: 64, addr: v6('fe80::9843:1aff:fe5c:5d2c'), scope: 253, flags: 0x80 },
    ],
    routes4: [
      { family: 4, table: 254, dst: v4('198.51.100.0'), dstLen: 24, gateway: null, oif: 3, protocol: 2, scope: 253, type: 1, flags: 0 },
    ],
    routes6: [
      { family: 6, table: 254, dst: v6('2001:db8::'), dstLen: 64, gateway: null, oif: 3, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
      { family: 6, table: 254, dst: v6('fe80::'), dstLen: 64, gateway: null, oif: 3, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
      { family: 6, table: 254, dst: v6('fe80::'), dstLen: 64, gateway: null, oif: 2, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
    ],
  },
  nodefault2: {
    links: [
      { index: 1, name: 'lo', flags: 0x10049, mtu: 65536, up: true, type: 772 },
      { index: 2, name: 'peth0', flags: 0x11043, mtu: 1500, up: true, type: 1 },
      { index: 3, name: 'eth0', flags: 0x11043, mtu: 1500, up: true, type: 1 },
      { index: 4, name: 'peth1', flags: 0x11043, mtu: 1500, up: true, type: 1 },
      { index: 5, name: 'eth1', flags: 0x11043, mtu: 1500, up: true, type: 1 },
    ],
    addrs4: [
      { family: 4, index: 1, prefixLen: 8, addr: v4('127.0.0.1'), scope: 254, flags: 0x80 },
      { family: 4, index: 3, prefixLen: 24, addr: v4('198.51.100.2'), scope: 0, flags: 0x80 },
      { family: 4, index: 5, prefixLen: 25, addr: v4('203.0.113.7'), scope: 0, flags: 0x80 },
    ],
    addrs6: [
      { family: 6, index: 1, prefixLen: 128, addr: v6('::1'), scope: 254, flags: 0x80 },
      { family: 6, index: 2, prefixLen: 64, addr: v6('fe80::4022:17ff:fe83:f192'), scope: 253, flags: 0x80 },
      { family: 6, index: 3, prefixLen: 64, addr: v6('fe80::bc38:a5ff:fe08:4ead'), scope: 253, flags: 0x80 },
      { family: 6, index: 4, prefixLen: 64, addr: v6('fe80::ccbe:3aff:febd:4efa'), scope: 253, flags: 0xc0 },
      { family: 6, index: 5, prefixLen: 64, addr: v6('fe80::7826:b5ff:fec6:8a3d'), scope: 253, flags: 0x80 },
    ],
    routes4: [
      { family: 4, table: 254, dst: v4('198.51.100.0'), dstLen: 24, gateway: null, oif: 3, protocol: 2, scope: 253, type: 1, flags: 0 },
      { family: 4, table: 254, dst: v4('203.0.113.0'), dstLen: 25, gateway: null, oif: 5, protocol: 2, scope: 253, type: 1, flags: 0 },
    ],
    routes6: [
      { family: 6, table: 254, dst: v6('fe80::'), dstLen: 64, gateway: null, oif: 3, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
      { family: 6, table: 254, dst: v6('fe80::'), dstLen: 64, gateway: null, oif: 2, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
      { family: 6, table: 254, dst: v6('fe80::'), dstLen: 64, gateway: null, oif: 5, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
      { family: 6, table: 254, dst: v6('fe80::'), dstLen: 64, gateway: null, oif: 4, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
    ],
  },
  twodef: {
    links: [
      { index: 1, name: 'lo', flags: 0x10049, mtu: 65536, up: true, type: 772 },
      { index: 2, name: 'peth0', flags: 0x11043, mtu: 1500, up: true, type: 1 },
      { index: 3, name: 'eth0', flags: 0x11043, mtu: 1500, up: true, type: 1 },
      { index: 4, name: 'peth1', flags: 0x11043, mtu: 1500, up: true, type: 1 },
      { index: 5, name: 'eth1', flags: 0x11043, mtu: 1500, up: true, type: 1 },
    ],
    addrs4: [
      { family: 4, index: 1, prefixLen: 8, addr: v4('127.0.0.1'), scope: 254, flags: 0x80 },
      { family: 4, index: 3, prefixLen: 24, addr: v4('198.51.100.2'), scope: 0, flags: 0x80 },
      { family: 4, index: 5, prefixLen: 25, addr: v4('203.0.113.7'), scope: 0, flags: 0x80 },
    ],
    addrs6: [
      { family: 6, index: 1, prefixLen: 128, addr: v6('::1'), scope: 254, flags: 0x80 },
      { family: 6, index: 2, prefixLen: 64, addr: v6('fe80::842b:10ff:fec0:8227'), scope: 253, flags: 0xc0 },
      { family: 6, index: 3, prefixLen: 64, addr: v6('2001:db8::2'), scope: 0, flags: 0x82 },
      { family: 6, index: 3, prefixLen: 64, addr: v6('fe80::30a0:3fff:fe90:a78'), scope: 253, flags: 0x80 },
      { family: 6, index: 4, prefixLen: 64, addr: v6('fe80::a0f6:2bff:fe95:7670'), scope: 253, flags: 0x80 },
      { family: 6, index: 5, prefixLen: 64, addr: v6('fe80::102a:f8ff:fee7:2494'), scope: 253, flags: 0xc0 },
    ],
    routes4: [
      { family: 4, table: 254, dst: null, dstLen: 0, gateway: v4('203.0.113.1'), oif: 5, priority: 50, protocol: 3, scope: 0, type: 1, flags: 0 },
      { family: 4, table: 254, dst: null, dstLen: 0, gateway: v4('198.51.100.1'), oif: 3, priority: 100, protocol: 3, scope: 0, type: 1, flags: 0 },
      { family: 4, table: 254, dst: v4('198.51.100.0'), dstLen: 24, gateway: null, oif: 3, protocol: 2, scope: 253, type: 1, flags: 0 },
      { family: 4, table: 254, dst: v4('203.0.113.0'), dstLen: 25, gateway: null, oif: 5, protocol: 2, scope: 253, type: 1, flags: 0 },
    ],
    routes6: [
      { family: 6, table: 254, dst: v6('2001:db8::'), dstLen: 64, gateway: null, oif: 3, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
      { family: 6, table: 254, dst: v6('fe80::'), dstLen: 64, gateway: null, oif: 3, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
      { family: 6, table: 254, dst: v6('fe80::'), dstLen: 64, gateway: null, oif: 2, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
      { family: 6, table: 254, dst: v6('fe80::'), dstLen: 64, gateway: null, oif: 5, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
      { family: 6, table: 254, dst: v6('fe80::'), dstLen: 64, gateway: null, oif: 4, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
      { family: 6, table: 254, dst: null, dstLen: 0, gateway: v6('2001:db8::1'), oif: 3, priority: 1024, protocol: 3, scope: 0, type: 1, flags: 0 },
    ],
  },
  noll: {
    links: [
      { index: 1, name: 'lo', flags: 0x10049, mtu: 65536, up: true, type: 772 },
      { index: 2, name: 'peth0', flags: 0x11043, mtu: 1500, up: true, type: 1 },
      { index: 3, name: 'eth0', flags: 0x11043, mtu: 1500, up: true, type: 1 },
    ],
    addrs4: [
      { family: 4, index: 1, prefixLen: 8, addr: v4('127.0.0.1'), scope: 254, flags: 0x80 },
      { family: 4, index: 3, prefixLen: 24, addr: v4('198.51.100.2'), scope: 0, flags: 0x80 },
    ],
    addrs6: [
      { family: 6, index: 1, prefixLen: 128, addr: v6('::1'), scope: 254, flags: 0x80 },
      { family: 6, index: 2, prefixLen: 64, addr: v6('fe80::c11:b7ff:fe4f:815b'), scope: 253, flags: 0xc0 },
      { family: 6, index: 3, prefixLen: 64, addr: v6('2001:db8::2'), scope: 0, flags: 0x82 },
    ],
    routes4: [
      { family: 4, table: 254, dst: null, dstLen: 0, gateway: v4('198.51.100.1'), oif: 3, protocol: 3, scope: 0, type: 1, flags: 0 },
      { family: 4, table: 254, dst: v4('198.51.100.0'), dstLen: 24, gateway: null, oif: 3, protocol: 2, scope: 253, type: 1, flags: 0 },
    ],
    routes6: [
      { family: 6, table: 254, dst: v6('2001:db8::'), dstLen: 64, gateway: null, oif: 3, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
      { family: 6, table: 254, dst: v6('fe80::'), dstLen: 64, gateway: null, oif: 2, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
      { family: 6, table: 254, dst: null, dstLen: 0, gateway: v6('2001:db8::1'), oif: 3, priority: 1024, protocol: 3, scope: 0, type: 1, flags: 0 },
    ],
  },
  gwll: {
    links: [
      { index: 1, name: 'lo', flags: 0x10049, mtu: 65536, up: true, type: 772 },
      { index: 2, name: 'peth0', flags: 0x11043, mtu: 1500, up: true, type: 1 },
      { index: 3, name: 'eth0', flags: 0x11043, mtu: 1500, up: true, type: 1 },
    ],
    addrs4: [
      { family: 4, index: 1, prefixLen: 8, addr: v4('127.0.0.1'), scope: 254, flags: 0x80 },
    ],
    addrs6: [
      { family: 6, index: 1, prefixLen: 128, addr: v6('::1'), scope: 254, flags: 0x80 },
      { family: 6, index: 2, prefixLen: 64, addr: v6('fe80::ccc4:4aff:fec9:6935'), scope: 253, flags: 0x80 },
      { family: 6, index: 3, prefixLen: 64, addr: v6('2001:db8::2'), scope: 0, flags: 0x82 },
    ],
    routes4: [],
    routes6: [
      { family: 6, table: 254, dst: v6('2001:db8::'), dstLen: 64, gateway: null, oif: 3, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
      { family: 6, table: 254, dst: v6('fe80::'), dstLen: 64, gateway: null, oif: 2, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
      { family: 6, table: 254, dst: null, dstLen: 0, gateway: v6('fe80::1'), oif: 3, priority: 1024, protocol: 3, scope: 0, type: 1, flags: 0 },
    ],
  },
  twoaddr: {
    links: [
      { index: 1, name: 'lo', flags: 0x10049, mtu: 65536, up: true, type: 772 },
      { index: 2, name: 'peth0', flags: 0x11043, mtu: 1500, up: true, type: 1 },
      { index: 3, name: 'eth0', flags: 0x11043, mtu: 1500, up: true, type: 1 },
    ],
    addrs4: [
      { family: 4, index: 1, prefixLen: 8, addr: v4('127.0.0.1'), scope: 254, flags: 0x80 },
      { family: 4, index: 3, prefixLen: 24, addr: v4('198.51.100.2'), scope: 0, flags: 0x80 },
      { family: 4, index: 3, prefixLen: 28, addr: v4('198.51.100.40'), scope: 0, flags: 0x80 },
      { family: 4, index: 3, prefixLen: 8, addr: v4('10.1.2.3'), scope: 0, flags: 0x80 },
    ],
    addrs6: [
      { family: 6, index: 1, prefixLen: 128, addr: v6('::1'), scope: 254, flags: 0x80 },
      { family: 6, index: 2, prefixLen: 64, addr: v6('fe80::28c9:ff:fed8:4e31'), scope: 253, flags: 0x80 },
      { family: 6, index: 3, prefixLen: 56, addr: v6('2001:db8:1::9'), scope: 0, flags: 0x82 },
      { family: 6, index: 3, prefixLen: 64, addr: v6('2001:db8::2'), scope: 0, flags: 0x82 },
      { family: 6, index: 3, prefixLen: 64, addr: v6('fe80::e800:91ff:fe7e:24bb'), scope: 253, flags: 0x80 },
    ],
    routes4: [
      { family: 4, table: 254, dst: null, dstLen: 0, gateway: v4('198.51.100.1'), oif: 3, protocol: 3, scope: 0, type: 1, flags: 0 },
      { family: 4, table: 254, dst: v4('10.0.0.0'), dstLen: 8, gateway: null, oif: 3, protocol: 2, scope: 253, type: 1, flags: 0 },
      { family: 4, table: 254, dst: v4('198.51.100.0'), dstLen: 24, gateway: null, oif: 3, protocol: 2, scope: 253, type: 1, flags: 0 },
      { family: 4, table: 254, dst: v4('198.51.100.32'), dstLen: 28, gateway: null, oif: 3, protocol: 2, scope: 253, type: 1, flags: 0 },
    ],
    routes6: [
      { family: 6, table: 254, dst: v6('2001:db8::'), dstLen: 64, gateway: null, oif: 3, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
      { family: 6, table: 254, dst: v6('2001:db8:1::'), dstLen: 56, gateway: null, oif: 3, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
      { family: 6, table: 254, dst: v6('fe80::'), dstLen: 64, gateway: null, oif: 3, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
      { family: 6, table: 254, dst: v6('fe80::'), dstLen: 64, gateway: null, oif: 2, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
      { family: 6, table: 254, dst: null, dstLen: 0, gateway: v6('2001:db8::1'), oif: 3, priority: 1024, protocol: 3, scope: 0, type: 1, flags: 0 },
    ],
  },
  nogw: {
    links: [
      { index: 1, name: 'lo', flags: 0x10049, mtu: 65536, up: true, type: 772 },
      { index: 2, name: 'peth0', flags: 0x11043, mtu: 1500, up: true, type: 1 },
      { index: 3, name: 'eth0', flags: 0x11043, mtu: 1500, up: true, type: 1 },
    ],
    addrs4: [
      { family: 4, index: 1, prefixLen: 8, addr: v4('127.0.0.1'), scope: 254, flags: 0x80 },
      { family: 4, index: 3, prefixLen: 24, addr: v4('198.51.100.2'), scope: 0, flags: 0x80 },
    ],
    addrs6: [
      { family: 6, index: 1, prefixLen: 128, addr: v6('::1'), scope: 254, flags: 0x80 },
      { family: 6, index: 2, prefixLen: 64, addr: v6('fe80::20df:68ff:fee5:54d1'), scope: 253, flags: 0xc0 },
      { family: 6, index: 3, prefixLen: 64, addr: v6('2001:db8::2'), scope: 0, flags: 0x82 },
      { family: 6, index: 3, prefixLen: 64, addr: v6('fe80::ecc4:a9ff:fedf:51a3'), scope: 253, flags: 0x80 },
    ],
    routes4: [
      { family: 4, table: 254, dst: null, dstLen: 0, gateway: null, oif: 3, protocol: 3, scope: 253, type: 1, flags: 0 },
      { family: 4, table: 254, dst: v4('198.51.100.0'), dstLen: 24, gateway: null, oif: 3, protocol: 2, scope: 253, type: 1, flags: 0 },
    ],
    routes6: [
      { family: 6, table: 254, dst: v6('2001:db8::'), dstLen: 64, gateway: null, oif: 3, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
      { family: 6, table: 254, dst: v6('fe80::'), dstLen: 64, gateway: null, oif: 3, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
      { family: 6, table: 254, dst: v6('fe80::'), dstLen: 64, gateway: null, oif: 2, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
      { family: 6, table: 254, dst: null, dstLen: 0, gateway: null, oif: 3, priority: 1024, protocol: 3, scope: 0, type: 1, flags: 0 },
    ],
  },
  noaddr: {
    links: [
      { index: 1, name: 'lo', flags: 0x10049, mtu: 65536, up: true, type: 772 },
      { index: 2, name: 'peth0', flags: 0x11043, mtu: 1500, up: true, type: 1 },
      { index: 3, name: 'eth0', flags: 0x11043, mtu: 1500, up: true, type: 1 },
      { index: 4, name: 'peth1', flags: 0x11043, mtu: 1500, up: true, type: 1 },
      { index: 5, name: 'eth1', flags: 0x11043, mtu: 1500, up: true, type: 1 },
    ],
    addrs4: [
      { family: 4, index: 1, prefixLen: 8, addr: v4('127.0.0.1'), scope: 254, flags: 0x80 },
      { family: 4, index: 5, prefixLen: 24, addr: v4('198.51.100.2'), scope: 0, flags: 0x80 },
    ],
    addrs6: [
      { family: 6, index: 1, prefixLen: 128, addr: v6('::1'), scope: 254, flags: 0x80 },
      { family: 6, index: 2, prefixLen: 64, addr: v6('fe80::a0c1:bdff:fe61:b804'), scope: 253, flags: 0x80 },
      { family: 6, index: 3, prefixLen: 64, addr: v6('fe80::70dc:fdff:fe6d:89b5'), scope: 253, flags: 0xc0 },
      { family: 6, index: 4, prefixLen: 64, addr: v6('fe80::a08d:67ff:fed9:855'), scope: 253, flags: 0xc0 },
      { family: 6, index: 5, prefixLen: 64, addr: v6('fe80::8460:30ff:fe5d:298b'), scope: 253, flags: 0xc0 },
    ],
    routes4: [
      { family: 4, table: 254, dst: null, dstLen: 0, gateway: null, oif: 3, protocol: 3, scope: 253, type: 1, flags: 0 },
      { family: 4, table: 254, dst: v4('198.51.100.0'), dstLen: 24, gateway: null, oif: 5, protocol: 2, scope: 253, type: 1, flags: 0 },
    ],
    routes6: [
      { family: 6, table: 254, dst: v6('fe80::'), dstLen: 64, gateway: null, oif: 3, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
      { family: 6, table: 254, dst: v6('fe80::'), dstLen: 64, gateway: null, oif: 2, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
      { family: 6, table: 254, dst: v6('fe80::'), dstLen: 64, gateway: null, oif: 5, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
      { family: 6, table: 254, dst: v6('fe80::'), dstLen: 64, gateway: null, oif: 4, priority: 256, protocol: 2, scope: 0, type: 1, flags: 0 },
    ],
  },
};

/** The resolv.conf texts of the upstream runs. */
const RESOLV = {
  /** systemd-resolved's stub: a loopback resolver. */
  loopback: 'nameserver 127.0.0.53\nsearch example.test\n',
  /** The default gateways are the resolvers. */
  gateway: 'nameserver 198.51.100.1\nnameserver 2001:db8::1\n',
  /** Both families, and loopback resolvers of both. */
  mixed: 'nameserver 192.0.2.53\nnameserver 2001:db8::53\nnameserver 127.0.0.1\nnameserver ::1\nsearch a.test b.test\n',
  none: '',
  /** More than MAXNS resolvers, more than five search domains, a second search line. */
  many: 'nameserver 192.0.2.1\nnameserver 192.0.2.2\nnameserver 192.0.2.3\nnameserver 192.0.2.4\nsearch d1 d2 d3 d4 d5 d6 d7\nsearch other\n',
  v4: 'nameserver 192.0.2.53\n',
} as const;

const PASSWD = 'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nalice:x:1000:1001:Alice:/home/alice:/bin/sh\n';
const GROUP = 'root:x:0:\nstaff:x:50:\nnogroup:x:65534:\n';
/** Root in the initial user namespace (upstream's ns_is_init()): switches to nobody. */
const ROOT_INIT: HostEnv = { euid: 0, egid: 0, initUserns: true, passwd: PASSWD, group: GROUP };
/** Root in a user namespace (the upstream runs: `unshare -r`): stays. */
const ROOT_USERNS: HostEnv = { ...ROOT_INIT, initUserns: false };
const USER: HostEnv = { euid: 1000, egid: 1001, initUserns: false, passwd: PASSWD, group: GROUP };

interface Opts {
  host?: HostName | HostNet;
  resolv?: string;
  env?: HostEnv;
}
function config(mode: 'pasta' | 'passt', args: string[], { host = 'std', resolv = RESOLV.loopback, env = USER }: Opts = {}): Config {
  return buildConfig(parseArgs(args, mode), typeof host === 'string' ? HOSTS[host] : host, mode, resolv, undefined, env);
}
const pasta = (...args: string[]): Config => config('pasta', args);
const passt = (...args: string[]): Config => config('passt', args);

/** The message of the UsageError the options give (as the front end prints it: getopt's after the program's name). */
function error(mode: 'pasta' | 'passt', args: string[], opts: Opts = {}): string {
  try {
    config(mode, args, opts);
  } catch (err) {
    if (err instanceof GetoptError) return `${mode}: ${err.message}`;
    if (err instanceof UsageError) return err.message;
    throw err;
  }
  return 'no error';
}
const pastaError = (...args: string[]): string => error('pasta', args);
const passtError = (...args: string[]): string => error('passt', args);

/** What ours prints at start, comparable with upstream's (see the top of this file). */
function startup(c: Config): { log: string[]; print: string[] } {
  const quiet = c.logLevel === 'warn';
  return {
    log: [...c.warnings, ...(quiet ? [] : c.notices)].sort(),
    print: quiet ? [] : describeConfig(c).filter((l) => !l.startsWith('DNS forwarder ')),
  };
}
/** The link-local address of a host snapshot's IPv6 template interface (eth0, index 3). */
function templateLinkLocal(host: HostName): string {
  const a = HOSTS[host].addrs6.find((x) => x.index === 3 && x.scope === 253);
  if (!a) throw new Error(`host ${host} has no link-local address on eth0`);
  return formatIP(a.addr);
}
const lines = (text: string): string[] => (text === '' ? [] : text.replace(/^\n/, '').split('\n'));

interface ParityCase {
  host: HostName;
  resolv: string;
  mode: 'pasta' | 'passt';
  /** Run as root in the initial user namespace (no -r). */
  root?: boolean;
  args: string[];
  /** Upstream's messages before conf_print(), sorted. */
  upstreamLog: string[];
  /** Upstream's conf_print() output. */
  upstream: string;
  /** Why ours prints something else; then ours' output. */
  deviation?: string;
  oursLog?: string[];
  ours?: string;
}

// Upstream passt 2026_07_16 (37a73a2): start-up output for each host, resolv.conf and option line.
const PARITY: ParityCase[] = [
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'passt', args: [],
    upstreamLog: ['No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'passt', args: ['--dns-forward', '169.254.1.1'],
    upstreamLog: ['No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    169.254.1.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'passt', args: ['--no-map-gw'],
    upstreamLog: ['Couldn\'t get any nameserver address', 'No IPv4 nameserver available for DHCP', 'No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS search list:
    example.test
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'passt', args: ['--no-map-gw', '--dns-forward', '169.254.1.1'],
    upstreamLog: ['No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    169.254.1.1
DNS search list:
    example.test
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'passt', args: ['-D', '192.0.2.9', '-D', 'none'],
    upstreamLog: [],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'passt', args: ['--dns-forward', '169.254.1.1', '-D', 'none'],
    upstreamLog: [],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'passt', args: ['-D', '192.0.2.9', '-D', '2001:db8::99', '-S', 'x.test'],
    upstreamLog: [],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    192.0.2.9
DNS search list:
    x.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS:
    2001:db8::99
DNS search list:
    x.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'passt', args: ['-D', '0.0.0.0'],
    upstreamLog: ['No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'passt', args: ['-a', '192.0.2.7', '-n', '16', '-g', '192.0.2.1', '-M', '02:00:00:00:00:01'],
    upstreamLog: ['No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 02:00:00:00:00:01
    NAT to host 127.0.0.1: 192.0.2.1
DHCP:
    assign: 192.0.2.7
    mask: 255.255.0.0
    router: 192.0.2.1
DNS:
    192.0.2.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'passt', args: ['-a', '2001:db8:5::9', '-g', '2001:db8:5::1'],
    upstreamLog: ['No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8:5::1
NDP/DHCPv6:
    assign: 2001:db8:5::9
    router: 2001:db8:5::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'passt', args: ['-n', '16'],
    upstreamLog: ['No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'passt', args: ['-a', '10.0.0.5'],
    upstreamLog: ['No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 10.0.0.5
    mask: 255.0.0.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'passt', args: ['-a', '172.16.0.5'],
    upstreamLog: ['No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 172.16.0.5
    mask: 255.255.0.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'passt', args: ['-a', '192.0.2.5/20'],
    upstreamLog: ['No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 192.0.2.5
    mask: 255.255.240.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'passt', args: ['-n', '8', '-a', '198.51.100.7'],
    upstreamLog: ['No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.7
    mask: 255.0.0.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'passt', args: ['-a', '198.51.100.7', '-n', '255.255.255.128'],
    upstreamLog: ['No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.7
    mask: 255.255.255.128
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'passt', args: ['-a', '198.51.100.7', '-n', '8', '-a', '198.51.100.8'],
    upstreamLog: ['No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.8
    mask: 255.0.0.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'passt', args: ['-a', '[10.0.0.1]'],
    upstreamLog: ['No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 10.0.0.1
    mask: 255.0.0.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'passt', args: ['-a', '::ffff:10.0.0.1/120'],
    upstreamLog: ['No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 10.0.0.1
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'passt', args: ['-4'],
    upstreamLog: [],
    upstream: `
Template interface: eth0 (IPv4)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'passt', args: ['-6'],
    upstreamLog: ['Couldn\'t get any nameserver address', 'No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'passt', args: ['-4', '-6'],
    upstreamLog: ['Couldn\'t get any nameserver address', 'No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'passt', args: ['-6', '-4'],
    upstreamLog: [],
    upstream: `
Template interface: eth0 (IPv4)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'passt', args: ['-q'],
    upstreamLog: ['No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: '',
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'passt', args: ['-m', '1000'],
    upstreamLog: ['MTU 1000 is too small for IPv6 (minimum 1280)', 'No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'passt', args: ['-m', '0'],
    upstreamLog: ['MTU 0 is too small for IPv4 (minimum 68)', 'MTU 0 is too small for IPv6 (minimum 1280)', 'No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'passt', args: ['-m', '010'],
    upstreamLog: ['MTU 8 is too small for IPv4 (minimum 68)', 'MTU 8 is too small for IPv6 (minimum 1280)', 'No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'passt', args: ['--map-host-loopback', '169.254.1.1', '--map-host-loopback', 'fd00::1'],
    upstreamLog: ['No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 169.254.1.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    169.254.1.1
DNS search list:
    example.test
    NAT to host ::1: fd00::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'passt', args: ['--map-host-loopback', 'none'],
    upstreamLog: ['Couldn\'t get any nameserver address', 'No IPv4 nameserver available for DHCP', 'No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS search list:
    example.test
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'passt', args: ['-g', '198.51.100.99', '--map-host-loopback', 'none'],
    upstreamLog: ['Couldn\'t get any nameserver address', 'No IPv4 nameserver available for DHCP', 'No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.99
DNS search list:
    example.test
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'passt', args: ['--no-dhcp', '--no-dhcpv6', '--no-ndp'],
    upstreamLog: [],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'passt', args: ['-o', '192.0.2.99', '-o', '2001:db8::99', '--outbound-if4', 'eth0', '--outbound-if6', 'eth0'],
    upstreamLog: ['No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
Outbound interface: eth0 (IPv4), eth0 (IPv6)
Outbound IPv4 address: 192.0.2.99
Outbound IPv6 address: 2001:db8::99
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'passt', args: ['-t', '10-20,~15', '-u', '53:5353'],
    upstreamLog: ['No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):
    TCP [*]:10-14  =>  10-14 
    TCP [*]:16-20  =>  16-20 
    UDP [*]:53  =>  5353 `,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'passt', root: true, args: [],
    upstreamLog: ['No IPv6 nameserver available for NDP/DHCPv6', 'Started as root, will change to nobody.'],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'passt', root: true, args: ['-q'],
    upstreamLog: ['No IPv6 nameserver available for NDP/DHCPv6', 'Started as root, will change to nobody.'],
    upstream: '',
  },
  {
    host: 'std', resolv: RESOLV.gateway, mode: 'passt', args: [],
    upstreamLog: [],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    198.51.100.1
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS:
    2001:db8::1
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.gateway, mode: 'passt', args: ['--no-map-gw'],
    upstreamLog: [],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    198.51.100.1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS:
    2001:db8::1
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.mixed, mode: 'passt', args: [],
    upstreamLog: [],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    192.0.2.53
    198.51.100.1
DNS search list:
    a.test
    b.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS:
    2001:db8::53
    2001:db8::1
DNS search list:
    a.test
    b.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.mixed, mode: 'passt', args: ['--no-map-gw'],
    upstreamLog: [],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    192.0.2.53
DNS search list:
    a.test
    b.test
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS:
    2001:db8::53
DNS search list:
    a.test
    b.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.mixed, mode: 'passt', args: ['--map-host-loopback', '169.254.1.1'],
    upstreamLog: [],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 169.254.1.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    192.0.2.53
    169.254.1.1
DNS search list:
    a.test
    b.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS:
    2001:db8::53
    2001:db8::1
DNS search list:
    a.test
    b.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.mixed, mode: 'passt', args: ['--dns-forward', '169.254.1.1', '--dns-forward', 'fd00::53'],
    upstreamLog: [],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    192.0.2.53
    169.254.1.1
DNS search list:
    a.test
    b.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS:
    2001:db8::53
    fd00::53
DNS search list:
    a.test
    b.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.mixed, mode: 'passt', args: ['--no-dhcp-dns'],
    upstreamLog: [],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    192.0.2.53
    198.51.100.1
DNS search list:
    a.test
    b.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS:
    2001:db8::53
    2001:db8::1
DNS search list:
    a.test
    b.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.mixed, mode: 'passt', args: ['--no-icmp'],
    upstreamLog: [],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    192.0.2.53
    198.51.100.1
DNS search list:
    a.test
    b.test
    NAT to host ::1: 2001:db8::1
DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS:
    2001:db8::53
    2001:db8::1
DNS search list:
    a.test
    b.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.many, mode: 'passt', args: [],
    upstreamLog: ['No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    192.0.2.1
    192.0.2.2
    192.0.2.3
DNS search list:
    d1
    d2
    d3
    d4
    d5
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    d1
    d2
    d3
    d4
    d5
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.none, mode: 'passt', args: [],
    upstreamLog: ['Couldn\'t get any nameserver address', 'No IPv4 nameserver available for DHCP', 'No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.none, mode: 'passt', args: ['-4'],
    upstreamLog: ['Couldn\'t get any nameserver address', 'No IPv4 nameserver available for DHCP'],
    upstream: `
Template interface: eth0 (IPv4)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.none, mode: 'passt', args: ['-6', '--no-dhcpv6', '--no-ndp'],
    upstreamLog: ['Couldn\'t get any nameserver address'],
    upstream: `
Template interface: eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host ::1: 2001:db8::1
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.none, mode: 'passt', args: ['-6', '--no-dhcpv6', '--no-ra'],
    upstreamLog: ['Couldn\'t get any nameserver address'],
    upstream: `
Template interface: eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host ::1: 2001:db8::1
NDP:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.v4, mode: 'passt', args: ['-6'],
    upstreamLog: ['Couldn\'t get any nameserver address', 'No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'v4only', resolv: RESOLV.loopback, mode: 'passt', args: [],
    upstreamLog: ['IPv6: no external interface as template, use local mode', 'No IPv6 nameserver available for NDP/DHCPv6', 'No interfaces with usable IPv6 routes'],
    upstream: `
Template interface: eth0 (IPv4)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: fe80::1
NDP:
    assign: ::
    router: fe80::1
    our link-local: fe80::1
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'v4only', resolv: RESOLV.loopback, mode: 'passt', args: ['-i', 'eth0'],
    upstreamLog: ['IPv6: no external interface as template, use local mode', 'No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth0 (IPv4)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: fe80::1
NDP:
    assign: ::
    router: fe80::1
    our link-local: fe80::1
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'v6only', resolv: RESOLV.loopback, mode: 'passt', args: [],
    upstreamLog: ['IPv4: no external interface as template, use local mode', 'No IPv6 nameserver available for NDP/DHCPv6', 'No interfaces with usable IPv4 routes'],
    upstream: `
Template interface: eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 169.254.2.2
DHCP:
    assign: 169.254.2.1
    mask: 255.255.0.0
    router: 169.254.2.2
DNS:
    169.254.2.2
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'noroutes', resolv: RESOLV.loopback, mode: 'passt', args: [],
    upstreamLog: ['IPv4: no external interface as template, use local mode', 'IPv6: no external interface as template, use local mode', 'No IPv6 nameserver available for NDP/DHCPv6', 'No interfaces with usable IPv4 routes', 'No interfaces with usable IPv6 routes'],
    upstream: `
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 169.254.2.2
DHCP:
    assign: 169.254.2.1
    mask: 255.255.0.0
    router: 169.254.2.2
DNS:
    169.254.2.2
DNS search list:
    example.test
    NAT to host ::1: fe80::1
NDP:
    assign: ::
    router: fe80::1
    our link-local: fe80::1
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'noroutes', resolv: RESOLV.loopback, mode: 'passt', args: ['-a', '192.0.2.7', '-g', '192.0.2.1'],
    upstreamLog: ['IPv4: no external interface as template, use local mode', 'IPv6: no external interface as template, use local mode', 'No IPv6 nameserver available for NDP/DHCPv6', 'No interfaces with usable IPv4 routes', 'No interfaces with usable IPv6 routes'],
    upstream: `
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 169.254.2.2
DHCP:
    assign: 169.254.2.1
    mask: 255.255.0.0
    router: 169.254.2.2
DNS:
    169.254.2.2
DNS search list:
    example.test
    NAT to host ::1: fe80::1
NDP:
    assign: ::
    router: fe80::1
    our link-local: fe80::1
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
    deviation: 'Deliberate: with no template interface ours keeps -a and -g in local mode; upstream\'s conf_ip4_local() overwrites them with 169.254.2.1/16 via 169.254.2.2.',
    ours: `
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 192.0.2.1
DHCP:
    assign: 192.0.2.7
    mask: 255.255.255.0
    router: 192.0.2.1
DNS:
    192.0.2.1
DNS search list:
    example.test
    NAT to host ::1: fe80::1
NDP:
    assign: ::
    router: fe80::1
    our link-local: fe80::1
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'noroutes', resolv: RESOLV.loopback, mode: 'passt', args: ['-a', '2001:db8::7', '-g', '2001:db8::1'],
    upstreamLog: ['IPv4: no external interface as template, use local mode', 'IPv6: no external interface as template, use local mode', 'No IPv6 nameserver available for NDP/DHCPv6', 'No interfaces with usable IPv4 routes', 'No interfaces with usable IPv6 routes'],
    upstream: `
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 169.254.2.2
DHCP:
    assign: 169.254.2.1
    mask: 255.255.0.0
    router: 169.254.2.2
DNS:
    169.254.2.2
DNS search list:
    example.test
    NAT to host ::1: fe80::1
NDP/DHCPv6:
    assign: 2001:db8::7
    router: fe80::1
    our link-local: fe80::1
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
    deviation: 'Deliberate: with no template interface ours keeps -g in local mode; upstream\'s conf_ip6_local() overwrites it with fe80::1 (both keep -a).',
    ours: `
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 169.254.2.2
DHCP:
    assign: 169.254.2.1
    mask: 255.255.0.0
    router: 169.254.2.2
DNS:
    169.254.2.2
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::7
    router: 2001:db8::1
    our link-local: fe80::1
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'nolinks', resolv: RESOLV.mixed, mode: 'passt', args: [],
    upstreamLog: ['IPv4: no external interface as template, use local mode', 'IPv6: no external interface as template, use local mode', 'No interfaces with usable IPv4 routes', 'No interfaces with usable IPv6 routes'],
    upstream: `
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 169.254.2.2
DHCP:
    assign: 169.254.2.1
    mask: 255.255.0.0
    router: 169.254.2.2
DNS:
    192.0.2.53
    169.254.2.2
DNS search list:
    a.test
    b.test
    NAT to host ::1: fe80::1
NDP:
    assign: ::
    router: fe80::1
    our link-local: fe80::1
DNS:
    2001:db8::53
    fe80::1
DNS search list:
    a.test
    b.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'nodefault', resolv: RESOLV.loopback, mode: 'passt', args: [],
    upstreamLog: ['Couldn\'t get any nameserver address', 'No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
DNS search list:
    example.test
NDP/DHCPv6:
    assign: 2001:db8::2
    router: ::
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'nodefault2', resolv: RESOLV.loopback, mode: 'passt', args: [],
    upstreamLog: ['Couldn\'t get any nameserver address', 'IPv6: no external interface as template, use local mode', 'Multiple interfaces with IPv4 routes, picked first', 'No IPv6 nameserver available for NDP/DHCPv6', 'No interfaces with usable IPv6 routes'],
    upstream: `
Template interface: eth0 (IPv4)
MAC:
    host: 9a:55:9a:55:9a:55
DNS search list:
    example.test
    NAT to host ::1: fe80::1
NDP:
    assign: ::
    router: fe80::1
    our link-local: fe80::1
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'twodef', resolv: RESOLV.loopback, mode: 'passt', args: [],
    upstreamLog: ['Multiple default IPv4 routes, picked first', 'No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth1 (IPv4), eth1 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 203.0.113.1
DHCP:
    assign: 203.0.113.7
    mask: 255.255.255.128
    router: 203.0.113.1
DNS:
    203.0.113.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
    deviation: 'Upstream\'s conf_print() formats both names into one if_indextoname() buffer, so it prints the IPv4 template\'s name twice: ours names eth0, the IPv6 template upstream uses too (see -i eth0 below).',
    ours: `
Template interface: eth1 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 203.0.113.1
DHCP:
    assign: 203.0.113.7
    mask: 255.255.255.128
    router: 203.0.113.1
DNS:
    203.0.113.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'twodef', resolv: RESOLV.loopback, mode: 'passt', args: ['-i', 'eth0'],
    upstreamLog: ['No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'twodef', resolv: RESOLV.loopback, mode: 'passt', args: ['--outbound-if4', 'eth0', '-i', 'eth1'],
    upstreamLog: ['IPv6: no external interface as template, use local mode', 'No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth1 (IPv4)
Outbound interface: eth0 (IPv4)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 203.0.113.1
DHCP:
    assign: 203.0.113.7
    mask: 255.255.255.128
    router: 203.0.113.1
DNS:
    203.0.113.1
DNS search list:
    example.test
    NAT to host ::1: fe80::1
NDP:
    assign: ::
    router: fe80::1
    our link-local: fe80::1
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'noll', resolv: RESOLV.loopback, mode: 'passt', args: [],
    upstreamLog: ['IPv6: no external interface as template, use local mode', 'No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth0 (IPv4)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: fe80::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: fe80::1
    our link-local: fe80::1
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'gwll', resolv: RESOLV.loopback, mode: 'passt', args: [],
    upstreamLog: ['IPv4: no external interface as template, use local mode', 'No IPv6 nameserver available for NDP/DHCPv6', 'No interfaces with usable IPv4 routes'],
    upstream: `
Template interface: eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 169.254.2.2
DHCP:
    assign: 169.254.2.1
    mask: 255.255.0.0
    router: 169.254.2.2
DNS:
    169.254.2.2
DNS search list:
    example.test
    NAT to host ::1: fe80::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: fe80::1
    our link-local: fe80::1
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'twoaddr', resolv: RESOLV.loopback, mode: 'passt', args: [],
    upstreamLog: ['No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.40
    mask: 255.255.255.240
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'nogw', resolv: RESOLV.loopback, mode: 'passt', args: [],
    upstreamLog: ['Couldn\'t get any nameserver address', 'No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
MAC:
    host: 9a:55:9a:55:9a:55
DNS search list:
    example.test
NDP/DHCPv6:
    assign: 2001:db8::2
    router: ::
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'noaddr', resolv: RESOLV.loopback, mode: 'passt', args: [],
    upstreamLog: ['IPv4: no external interface as template, use local mode', 'IPv6: no external interface as template, use local mode', 'No IPv6 nameserver available for NDP/DHCPv6', 'No interfaces with usable IPv6 routes'],
    upstream: `
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 169.254.2.2
DHCP:
    assign: 169.254.2.1
    mask: 255.255.0.0
    router: 169.254.2.2
DNS:
    169.254.2.2
DNS search list:
    example.test
    NAT to host ::1: fe80::1
NDP:
    assign: ::
    router: fe80::1
    our link-local: fe80::1
DNS search list:
    example.test
Inbound forwarding rules (HOST):`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'pasta', args: [],
    upstreamLog: [],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
Namespace interface: eth0
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):
    TCP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)
    TCP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)
    UDP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)
Outbound forwarding rules (SPLICE):
    TCP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    TCP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)
    UDP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'pasta', args: ['-I', 'ns0', '-t', '8080', '-T', '5432', '-u', '5353', '-U', '53'],
    upstreamLog: [],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
Namespace interface: ns0
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):
    TCP [*]:8080  =>  8080 
    UDP [*]:5353  =>  5353 
Outbound forwarding rules (SPLICE):
    TCP [*]%lo:5432  =>  5432 
    UDP [*]%lo:53  =>  53 `,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'pasta', args: ['-t', 'none', '-u', 'none', '-T', 'none', '-U', 'none'],
    upstreamLog: [],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
Namespace interface: eth0
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):
Outbound forwarding rules (SPLICE):`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'pasta', args: ['-t', '22', '-t', '80:8080'],
    upstreamLog: [],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
Namespace interface: eth0
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):
    TCP [*]:22  =>  22 
    TCP [*]:80  =>  8080 
    UDP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)
Outbound forwarding rules (SPLICE):
    TCP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    TCP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)
    UDP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'pasta', args: ['-t', '127.0.0.1/80', '-t', '::1/81', '-t', '%eth0/82', '-t', '198.51.100.2%eth0/83', '-u', '22-25,~23'],
    upstreamLog: [],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
Namespace interface: eth0
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):
    TCP [127.0.0.1]:80  =>  80 
    TCP [::1]:81  =>  81 
    TCP [*]%eth0:82  =>  82 
    TCP [198.51.100.2]%eth0:83  =>  83 
    UDP [*]:22  =>  22 
    UDP [*]:24-25  =>  24-25 
Outbound forwarding rules (SPLICE):
    TCP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    TCP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)
    UDP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'pasta', args: ['-t', '80,auto'],
    upstreamLog: [],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
Namespace interface: eth0
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):
    TCP [*]:80  =>  80  (auto-scan)
    UDP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)
Outbound forwarding rules (SPLICE):
    TCP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    TCP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)
    UDP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'pasta', args: ['-4', '-t', '80'],
    upstreamLog: [],
    upstream: `
Template interface: eth0 (IPv4)
Namespace interface: eth0
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
Inbound forwarding rules (HOST):
    TCP [0.0.0.0]:80  =>  80 
    UDP [0.0.0.0]:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [0.0.0.0]:61000-65535  =>  61000-65535  (best effort) (auto-scan)
Outbound forwarding rules (SPLICE):
    TCP [0.0.0.0]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    TCP [0.0.0.0]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)
    UDP [0.0.0.0]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [0.0.0.0]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'pasta', args: ['-6', '-t', '80'],
    upstreamLog: ['Couldn\'t get any nameserver address'],
    upstream: `
Template interface: eth0 (IPv6)
Namespace interface: eth0
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):
    TCP [::]:80  =>  80 
    UDP [::]:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [::]:61000-65535  =>  61000-65535  (best effort) (auto-scan)
Outbound forwarding rules (SPLICE):
    TCP [::]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    TCP [::]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)
    UDP [::]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [::]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'pasta', args: ['--no-tcp'],
    upstreamLog: ['Can\'t add TCP forwarding rule, TCP not enabled', 'Unable to add rule TCP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)'],
    upstream: '',
    deviation: 'Deliberate: upstream applies pasta\'s default \'-t auto\' although TCP is off, then refuses its own default; ours forwards nothing for TCP.',
    oursLog: [],
    ours: `
Template interface: eth0 (IPv4), eth0 (IPv6)
Namespace interface: eth0
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):
    UDP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)
Outbound forwarding rules (SPLICE):
    UDP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'pasta', args: ['--splice-only'],
    upstreamLog: [],
    upstream: `
MAC:
    host: 9a:55:9a:55:9a:55
Inbound forwarding rules (HOST):
    TCP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)
    TCP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)
    UDP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)
Outbound forwarding rules (SPLICE):
    TCP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    TCP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)
    UDP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'pasta', args: ['--splice-only', '-4'],
    upstreamLog: [],
    upstream: `
MAC:
    host: 9a:55:9a:55:9a:55
Inbound forwarding rules (HOST):
    TCP [0.0.0.0]:1-32767  =>  1-32767  (best effort) (auto-scan)
    TCP [0.0.0.0]:61000-65535  =>  61000-65535  (best effort) (auto-scan)
    UDP [0.0.0.0]:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [0.0.0.0]:61000-65535  =>  61000-65535  (best effort) (auto-scan)
Outbound forwarding rules (SPLICE):
    TCP [0.0.0.0]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    TCP [0.0.0.0]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)
    UDP [0.0.0.0]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [0.0.0.0]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'pasta', args: ['--splice-only', '-t', '80', '-T', '81'],
    upstreamLog: [],
    upstream: `
MAC:
    host: 9a:55:9a:55:9a:55
Inbound forwarding rules (HOST):
    TCP [*]:80  =>  80 
    UDP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)
Outbound forwarding rules (SPLICE):
    TCP [*]%lo:81  =>  81 
    UDP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'pasta', args: ['--host-lo-to-ns-lo'],
    upstreamLog: [],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
Namespace interface: eth0
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):
    TCP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)
    TCP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)
    UDP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)
Outbound forwarding rules (SPLICE):
    TCP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    TCP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)
    UDP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'pasta', args: ['--no-splice'],
    upstreamLog: [],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
Namespace interface: eth0
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):
    TCP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)
    TCP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)
    UDP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)
Outbound forwarding rules (SPLICE):
    TCP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    TCP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)
    UDP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'pasta', args: ['--dhcp-dns', '--dhcp-search'],
    upstreamLog: ['No IPv6 nameserver available for NDP/DHCPv6'],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
Namespace interface: eth0
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):
    TCP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)
    TCP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)
    UDP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)
Outbound forwarding rules (SPLICE):
    TCP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    TCP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)
    UDP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'pasta', args: ['--config-net'],
    upstreamLog: [],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
Namespace interface: eth0
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):
    TCP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)
    TCP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)
    UDP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)
Outbound forwarding rules (SPLICE):
    TCP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    TCP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)
    UDP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'pasta', args: ['-D', '192.0.2.9', '--dns-forward', '169.254.1.1'],
    upstreamLog: ['Couldn\'t get any nameserver address'],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
Namespace interface: eth0
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    192.0.2.9
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):
    TCP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)
    TCP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)
    UDP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)
Outbound forwarding rules (SPLICE):
    TCP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    TCP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)
    UDP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)`,
  },
  {
    host: 'std', resolv: RESOLV.loopback, mode: 'pasta', args: ['--ns-mac-addr', '02:00:00:00:00:09'],
    upstreamLog: [],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
Namespace interface: eth0
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):
    TCP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)
    TCP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)
    UDP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)
Outbound forwarding rules (SPLICE):
    TCP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    TCP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)
    UDP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)`,
  },
  {
    host: 'std', resolv: RESOLV.gateway, mode: 'pasta', args: ['--dhcp-dns'],
    upstreamLog: [],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
Namespace interface: eth0
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    198.51.100.1
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS:
    2001:db8::1
Inbound forwarding rules (HOST):
    TCP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)
    TCP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)
    UDP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)
Outbound forwarding rules (SPLICE):
    TCP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    TCP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)
    UDP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)`,
  },
  {
    host: 'std', resolv: RESOLV.gateway, mode: 'pasta', args: ['--no-map-gw'],
    upstreamLog: [],
    upstream: `
Template interface: eth0 (IPv4), eth0 (IPv6)
Namespace interface: eth0
MAC:
    host: 9a:55:9a:55:9a:55
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    198.51.100.1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS:
    2001:db8::1
Inbound forwarding rules (HOST):
    TCP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)
    TCP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)
    UDP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)
Outbound forwarding rules (SPLICE):
    TCP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    TCP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)
    UDP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)`,
  },
  {
    host: 'noroutes', resolv: RESOLV.loopback, mode: 'pasta', args: [],
    upstreamLog: ['IPv4: no external interface as template, use local mode', 'IPv6: no external interface as template, use local mode', 'No interfaces with usable IPv4 routes', 'No interfaces with usable IPv6 routes'],
    upstream: `
Namespace interface: tap0
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 169.254.2.2
DHCP:
    assign: 169.254.2.1
    mask: 255.255.0.0
    router: 169.254.2.2
DNS:
    169.254.2.2
DNS search list:
    example.test
    NAT to host ::1: fe80::1
NDP:
    assign: ::
    router: fe80::1
    our link-local: fe80::1
DNS search list:
    example.test
Inbound forwarding rules (HOST):
    TCP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)
    TCP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)
    UDP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)
Outbound forwarding rules (SPLICE):
    TCP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    TCP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)
    UDP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)`,
  },
  {
    host: 'v4only', resolv: RESOLV.loopback, mode: 'pasta', args: ['--config-net', '-I', 'tap9'],
    upstreamLog: ['IPv6: no external interface as template, use local mode', 'No interfaces with usable IPv6 routes'],
    upstream: `
Template interface: eth0 (IPv4)
Namespace interface: tap9
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 198.51.100.1
DHCP:
    assign: 198.51.100.2
    mask: 255.255.255.0
    router: 198.51.100.1
DNS:
    198.51.100.1
DNS search list:
    example.test
    NAT to host ::1: fe80::1
NDP:
    assign: ::
    router: fe80::1
    our link-local: fe80::1
DNS search list:
    example.test
Inbound forwarding rules (HOST):
    TCP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)
    TCP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)
    UDP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)
Outbound forwarding rules (SPLICE):
    TCP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    TCP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)
    UDP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)`,
  },
  {
    host: 'v6only', resolv: RESOLV.loopback, mode: 'pasta', args: [],
    upstreamLog: ['IPv4: no external interface as template, use local mode', 'No interfaces with usable IPv4 routes'],
    upstream: `
Template interface: eth0 (IPv6)
Namespace interface: eth0
MAC:
    host: 9a:55:9a:55:9a:55
    NAT to host 127.0.0.1: 169.254.2.2
DHCP:
    assign: 169.254.2.1
    mask: 255.255.0.0
    router: 169.254.2.2
DNS:
    169.254.2.2
DNS search list:
    example.test
    NAT to host ::1: 2001:db8::1
NDP/DHCPv6:
    assign: 2001:db8::2
    router: 2001:db8::1
    our link-local: (HOST_LL)
DNS search list:
    example.test
Inbound forwarding rules (HOST):
    TCP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)
    TCP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)
    UDP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)
Outbound forwarding rules (SPLICE):
    TCP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    TCP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)
    UDP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)
    UDP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)`,
  },
];

const A254 = 'a'.repeat(254);
const LONG_SOCKET = `/tmp/${'p'.repeat(103)}`;
const IF16 = 'abcdefghijklmnop';

// Upstream passt 2026_07_16 (37a73a2): the error it prints for an option line and quits with
// (on the std host unless named). Where upstream prints a second line ("Unable to add rule ..."),
// ours prints one line with both, the first one first. Upstream's getopt messages start with
// argv[0]; here as the front end prints them, with the program's name.
const UPSTREAM_ERRORS: Array<[mode: 'pasta' | 'passt', args: string[], upstream: string[], host?: HostName]> = [
  ['passt', ['-m', 'x'], ['Invalid MTU: x']],
  ['passt', ['-m', '-1'], ['MTU 18446744073709551615 too large (max 65521)']],
  ['passt', ['-m', '70000'], ['MTU 70000 too large (max 65521)']],
  ['passt', ['-m', '0x'], ['Invalid MTU: 0x']],
  ['passt', ['-a', 'banana'], ['Invalid guest address: banana']],
  ['passt', ['-a', '224.0.0.1'], ['Invalid guest address: 224.0.0.1']],
  ['passt', ['-a', '0.0.0.0'], ['Invalid guest address: 0.0.0.0']],
  ['passt', ['-a', '127.0.0.1'], ['Invalid guest address: 127.0.0.1']],
  ['passt', ['-a', '::1'], ['Invalid guest address: ::1']],
  ['passt', ['-a', 'ff02::1'], ['Invalid guest address: ff02::1']],
  ['passt', ['-a', '255.255.255.255'], ['Invalid guest address: 255.255.255.255']],
  ['passt', ['-a', '10.0.0.1/33'], ['Invalid prefix length: 10.0.0.1/33']],
  ['passt', ['-a', '10.0.0.1/24x'], ['Invalid guest address: 10.0.0.1/24x']],
  ['passt', ['-a', '10.0.0.1/'], ['Invalid guest address: 10.0.0.1/']],
  ['passt', ['-a', '10.0.0.1/-1'], ['Invalid prefix length: 10.0.0.1/-1']],
  ['passt', ['-a', '2001:db8::1/129'], ['Invalid prefix length: 2001:db8::1/129']],
  ['passt', ['-n', '33'], ['Invalid prefix length: 33']],
  ['passt', ['-n', '255.0.255.0'], ['Invalid prefix length: 255.0.255.0']],
  ['passt', ['-n', 'x'], ['Invalid prefix length: x']],
  ['passt', ['-n', '0', '-a', '10.0.0.1/8'], ['Redundant prefix length specification']],
  ['passt', ['-a', '10.0.0.1/8', '-n', '24'], ['Redundant prefix length specification']],
  ['passt', ['-n', '24', '-a', '10.0.0.1/8'], ['Redundant prefix length specification']],
  ['passt', ['-n', '24', '-a', '10.0.0.1/24x'], ['Redundant prefix length specification']],
  ['passt', ['-a', '2001:db8::1/64', '-n', '24'], ['Redundant prefix length specification']],
  ['passt', ['-M', 'zz'], ['Invalid MAC address: zz']],
  ['passt', ['-M', '00:11:22:33:44'], ['Invalid MAC address: 00:11:22:33:44']],
  ['passt', ['-M', '00:11:22:33:44:5g'], ['Invalid MAC address: 00:11:22:33:44:5g']],
  ['passt', ['-M', '0:1:2:3:4:5'], ['Invalid MAC address: 0:1:2:3:4:5']],
  ['passt', ['-g', '::1'], ['Invalid gateway address: ::1']],
  ['passt', ['-g', '0.0.0.0'], ['Invalid gateway address: 0.0.0.0']],
  ['passt', ['-g', '255.255.255.255'], ['Invalid gateway address: 255.255.255.255']],
  ['passt', ['-g', '127.0.0.1'], ['Invalid gateway address: 127.0.0.1']],
  ['passt', ['-g', 'x'], ['Invalid gateway address: x']],
  ['passt', ['-g', '::'], ['Invalid gateway address: ::']],
  ['passt', ['-i', 'nope0'], ['Invalid interface name nope0: No such device']],
  ['passt', ['-i', ''], ['Invalid interface name : No such device']],
  ['passt', ['-i', IF16], [`Invalid interface name ${IF16}: No such device`]],
  ['passt', ['-o', '0.0.0.0'], ['Invalid or redundant outbound address: 0.0.0.0']],
  ['passt', ['-o', '::ffff:1.2.3.4'], ['Invalid or redundant outbound address: ::ffff:1.2.3.4']],
  ['passt', ['-o', 'ff02::1'], ['Invalid or redundant outbound address: ff02::1']],
  ['passt', ['-o', '224.0.0.1'], ['Invalid or redundant outbound address: 224.0.0.1']],
  ['passt', ['-o', 'x'], ['Invalid or redundant outbound address: x']],
  ['passt', ['-o', '::1'], ['Invalid or redundant outbound address: ::1']],
  ['passt', ['--outbound-if4', ''], ['Invalid interface name: ']],
  ['passt', ['--outbound-if6', IF16], [`Invalid interface name: ${IF16}`]],
  ['passt', ['--outbound-if4', 'eth0'], ['External interface not usable'], 'v6only'],
  ['passt', ['--outbound-if6', 'eth0'], ['External interface not usable'], 'v4only'],
  ['passt', ['-6', '--outbound-if4', 'eth0'], ['External interface not usable']],
  ['passt', ['-D', 'x'], ['Cannot use DNS address x']],
  ['passt', ['-D', '300.1.1.1'], ['Cannot use DNS address 300.1.1.1']],
  ['passt', ['-D', ''], ['Cannot use DNS address ']],
  ['passt', ['-S', ''], ['Cannot use DNS search domain ']],
  ['passt', ['-S', '1', '-S', '2', '-S', '3', '-S', '4', '-S', '5', '-S', '6', '-S', '7'], ['Cannot use DNS search domain 7']],
  ['passt', ['-H', A254], [`Invalid hostname: ${A254}`]],
  ['passt', ['--fqdn', A254], [`Invalid FQDN: ${A254}`]],
  ['passt', ['--dns-forward', '127.0.0.1'], ['Invalid DNS forwarding address: 127.0.0.1']],
  ['passt', ['--dns-forward', '::1'], ['Invalid DNS forwarding address: ::1']],
  ['passt', ['--dns-forward', '0.0.0.0'], ['Invalid DNS forwarding address: 0.0.0.0']],
  ['passt', ['--dns-forward', '255.255.255.255'], ['Invalid DNS forwarding address: 255.255.255.255']],
  ['passt', ['--dns-forward', 'x'], ['Invalid DNS forwarding address: x']],
  ['passt', ['--dns-host', '0.0.0.0'], ['Invalid host nameserver address: 0.0.0.0']],
  ['passt', ['--dns-host', '::'], ['Invalid host nameserver address: ::']],
  ['passt', ['--dns-host', '255.255.255.255'], ['Invalid host nameserver address: 255.255.255.255']],
  ['passt', ['--dns-host', 'x'], ['Invalid host nameserver address: x']],
  ['passt', ['--map-host-loopback', '127.0.0.1'], ['Invalid address to remap to host: 127.0.0.1']],
  ['passt', ['--map-host-loopback', '::1'], ['Invalid address to remap to host: ::1']],
  ['passt', ['--map-host-loopback', '224.0.0.1'], ['Invalid address to remap to host: 224.0.0.1']],
  ['passt', ['--map-host-loopback', '0.0.0.0'], ['Invalid address to remap to host: 0.0.0.0']],
  ['passt', ['--map-host-loopback', 'x'], ['Invalid address to remap to host: x']],
  ['passt', ['--map-guest-addr', '127.0.0.1'], ['Invalid address to remap to host: 127.0.0.1']],
  ['passt', ['--map-guest-addr', 'ff02::1'], ['Invalid address to remap to host: ff02::1']],
  ['passt', ['--log-size', '10'], ['Invalid --log-size: 10']],
  ['passt', ['--log-size', 'x'], ['Invalid --log-size: x']],
  ['passt', ['--log-size', '40959'], ['Invalid --log-size: 40959']],
  ['passt', ['-l', ''], ['Couldn\'t open log file : No such file or directory']],
  ['passt', ['-l', '', '-m', 'x'], ['Invalid MTU: x']],
  ['passt', ['--runas', 'nosuch', '-l', ''], ['Invalid --runas option: nosuch']],
  ['passt', ['-p', ''], ['Invalid pcap path: ']],
  ['passt', ['-P', ''], ['Invalid PID file: ']],
  ['passt', ['-s', ''], ['Invalid socket path: ']],
  ['passt', ['-s', LONG_SOCKET], [`Invalid socket path: ${LONG_SOCKET}`]],
  ['passt', ['-F', 'x'], ['Invalid --fd: x']],
  ['passt', ['-F', '2147483648'], ['Invalid --fd: 2147483648']],
  ['passt', ['-m', 'x', '-F', 'y'], ['Invalid --fd: y']],
  ['passt', ['--help', '-F', 'y'], ['Invalid --fd: y']],
  ['passt', ['--runas', 'nosuchuser'], ['Invalid --runas option: nosuchuser']],
  ['passt', ['--runas', 'root'], ['Invalid --runas option: root']],
  ['passt', ['--runas', '1000:nosuchgroup'], ['Invalid --runas option: 1000']],
  ['passt', ['--netns', 'x'], ['--netns is for pasta mode only']],
  ['passt', ['-1', '--netns', 'x'], ['--netns is for pasta mode only']],
  ['passt', ['-I', 'x'], ['-I is for pasta mode only']],
  ['passt', ['-T', '80'], ['-T is for pasta mode only']],
  ['passt', ['-U', '80'], ['-U is for pasta mode only']],
  ['passt', ['--userns', 'x'], ['--userns is for pasta mode only']],
  ['passt', ['--ns-mac-addr', '00:11:22:33:44:55'], ['--ns-mac-addr is for pasta mode only']],
  ['passt', ['--splice-only'], ['--splice-only is for pasta mode only']],
  ['passt', ['--host-lo-to-ns-lo'], ['--host-lo-to-ns-lo is for pasta mode only']],
  ['passt', ['--config-net'], ['--config-net is for pasta mode only']],
  ['passt', ['--no-copy-routes'], ['--no-copy-routes is for pasta mode only']],
  ['passt', ['--no-copy-addrs'], ['--no-copy-addrs is for pasta mode only']],
  ['passt', ['--netns-only'], ['--netns-only is for pasta mode only']],
  ['passt', ['--no-netns-quit'], ['--no-netns-quit is for pasta mode only']],
  ['passt', ['--dhcp-dns'], ['--dhcp-dns is for pasta mode only']],
  ['passt', ['--dhcp-search'], ['--dhcp-search is for pasta mode only']],
  ['passt', ['--repair-path', 'x'], ['--repair-path is for vhost-user mode only']],
  ['passt', ['--migrate-exit'], ['--migrate-exit is for vhost-user mode only']],
  ['passt', ['--migrate-no-linger'], ['--migrate-no-linger is for vhost-user mode only']],
  ['passt', ['-m', 'x', '--help'], ['Invalid MTU: x']],
  ['passt', ['-m', 'x', '--version'], ['Invalid MTU: x']],
  ['passt', ['foo'], ['Extra non-option argument: foo']],
  ['passt', ['-t', 'auto'], ['\'auto\' port forwarding is only allowed for pasta']],
  ['passt', ['-t', '22-'], ['Invalid port specifier \'22-\'']],
  ['passt', ['-t', '22', '-t', 'none'], ['-t none conflicts with previous options']],
  ['passt', ['-t', '22', '-t', '22'], ['Forwarding configuration conflict: TCP [*]:22  =>  22  versus TCP [*]:22  =>  22 ', 'Unable to add rule TCP [*]:22  =>  22 ']],
  ['passt', ['-4', '-t', '::1/22'], ['IPv6 forward, but IPv6 not enabled', 'Unable to add rule TCP [::1]:22  =>  22 ']],
  ['passt', ['--frobnicate'], ['passt: unrecognized option \'--frobnicate\'']],
  ['passt', ['-Z'], ['passt: invalid option -- \'Z\'']],
  ['passt', ['--mtu'], ['passt: option \'--mtu\' requires an argument']],
  ['passt', ['-m'], ['passt: option requires an argument -- \'m\'']],
  ['passt', ['--debug=1'], ['passt: option \'--debug\' doesn\'t allow an argument']],
  ['passt', ['--i'], ['passt: option \'--i\' is ambiguous; possibilities: \'--interface\' \'--ipv4-only\' \'--ipv6-only\'']],
  ['pasta', ['-1'], ['--one-off is for passt mode only']],
  ['pasta', ['-s', '/tmp/x'], ['-s is for passt / vhost-user mode only']],
  ['pasta', ['--no-dhcp-dns'], ['--no-dhcp-dns is for passt mode only']],
  ['pasta', ['--no-dhcp-search'], ['--no-dhcp-search is for passt mode only']],
  ['pasta', ['--no-copy-routes'], ['--no-copy-routes needs --config-net']],
  ['pasta', ['--no-copy-addrs'], ['--no-copy-addrs needs --config-net']],
  ['pasta', ['--splice-only', '--no-splice'], ['--splice-only is incompatible with --no-splice']],
  ['pasta', ['--no-splice', '--host-lo-to-ns-lo'], ['--host-lo-to-ns-lo is incompatible with --no-splice']],
  ['pasta', ['--ns-mac-addr', 'x'], ['Invalid MAC address: x']],
  ['pasta', ['-I', ''], ['Invalid interface name: ']],
  ['pasta', ['-I', IF16], [`Invalid interface name: ${IF16}`]],
  ['pasta', ['--userns', ''], ['Invalid userns: ']],
  ['pasta', ['foo'], ['Both --netns and PID or command given']],
  ['pasta', ['1234'], ['Both --netns and PID or command given']],
  ['pasta', ['-T', '127.0.0.1/80'], ['Listening address not allowed for -T 127.0.0.1/80']],
];

describe('parity with upstream passt 2026_07_16 (37a73a2)', () => {
  it.each(PARITY.map((c) => [`${c.mode} ${c.args.join(' ')} (${c.host}${c.root ? ', root' : ''})`, c] as const))('start-up output: %s', (_, c) => {
    const prefix = c.mode === 'passt' ? ['-f', '-s', '/tmp/x.sock'] : ['-f', '--netns', '/run/netns/x'];
    const ours = startup(config(c.mode, [...prefix, ...c.args], { host: c.host, resolv: c.resolv, env: c.root ? ROOT_INIT : ROOT_USERNS }));
    // (HOST_LL): upstream printed its template interface's own link-local address, which the
    // kernel made up anew for each capture; here, that of the host's snapshot.
    const hostLL = (text: string): string[] => lines(text).map((l) => l.replace('(HOST_LL)', () => templateLinkLocal(c.host)));
    if (c.deviation) {
      // Ours differs from upstream here, on purpose (see `deviation`): upstream's output is kept for the record.
      expect(c.ours ?? c.oursLog).toBeDefined();
      expect({ log: ours.log, print: ours.print }).toEqual({ log: c.oursLog ?? c.upstreamLog, print: hostLL(c.ours ?? c.upstream) });
      expect({ log: c.oursLog ?? c.upstreamLog, print: c.ours ?? c.upstream }).not.toEqual({ log: c.upstreamLog, print: c.upstream });
    } else {
      expect(ours).toEqual({ log: c.upstreamLog, print: hostLL(c.upstream) });
    }
  });

  it.each(UPSTREAM_ERRORS.map(([mode, args, upstream, host]) => [`${mode} ${args.join(' ')}`.slice(0, 80), mode, args, upstream, host] as const))(
    'error: %s',
    (_, mode, args, upstream, host) => {
      const prefix = mode === 'passt' ? ['-f', '-s', '/tmp/x.sock'] : ['-f', '--netns', '/run/netns/x'];
      const message = error(mode, [...prefix, ...args], { host: host ?? 'std', env: ROOT_USERNS });
      if (upstream.length === 1) expect(message).toBe(upstream[0]);
      else expect(message.startsWith(`${upstream[0]}; ${upstream[1]}`)).toBe(true);
    },
  );
});

describe('option parsing (getopt_long)', () => {
  it('parses short, grouped, attached and long forms, and abbreviations', () => {
    expect(parseArgs(['-4', '-m1500', '--mtu=1400', '-I', 'x', '--', 'ls', '-l'], 'pasta')).toEqual({
      options: [['ipv4-only', true], ['mtu', '1500'], ['mtu', '1400'], ['ns-ifname', 'x']],
      rest: ['ls', '-l'],
    });
    expect(parseArgs(['-dq'], 'pasta').options).toEqual([['debug', true], ['quiet', true]]);
    expect(parseArgs(['--config-net', 'sh', '-c', 'echo -4'], 'pasta')).toEqual({ options: [['config-net', true]], rest: ['sh', '-c', 'echo -4'] });
    expect(parseArgs(['--config'], 'pasta').options).toEqual([['config-net', true]]); // unambiguous abbreviation
    expect(() => parseArgs(['--conf'], 'pasta')).toThrow("option '--conf' is ambiguous; possibilities: '--conf-path' '--config-net'");
    expect(parseArgs(['--socket-path', '/s'], 'passt').options).toEqual([['socket', '/s']]);
  });

  it("reports errors in getopt's words", () => {
    expect(() => parseArgs(['--frobnicate'], 'pasta')).toThrow("unrecognized option '--frobnicate'");
    expect(() => parseArgs(['-Z'], 'pasta')).toThrow("invalid option -- 'Z'");
    expect(() => parseArgs(['--mtu'], 'pasta')).toThrow("option '--mtu' requires an argument");
    expect(() => parseArgs(['-m'], 'pasta')).toThrow("option requires an argument -- 'm'");
    expect(() => parseArgs(['--debug=1'], 'pasta')).toThrow("option '--debug' doesn't allow an argument");
    expect(() => parseArgs(['--i'], 'pasta')).toThrow("option '--i' is ambiguous; possibilities: '--interface' '--ipv4-only' '--ipv6-only'");
  });

  it('parses every option in both front ends: the configuration refuses the other front end\'s', () => {
    expect(parseArgs(['--config-net'], 'passt').options).toEqual([['config-net', true]]);
    expect(passtError('--config-net')).toBe('--config-net is for pasta mode only');
  });

  it('help lists every option of the front end', () => {
    for (const mode of ['pasta', 'passt'] as const) {
      const help = helpText(mode);
      for (const o of OPTIONS.filter((o) => o.modes.includes(mode))) expect(help).toContain(`--${o.long}`);
    }
  });
});

describe('every option, one by one', () => {
  const covered = new Set<string>();
  /** A test for options (as `--long`), registered as covered. */
  const option = (names: string, fn: () => void): void => {
    for (const name of names.split(' ')) covered.add(name);
    it(names, fn);
  };

  option('--debug --trace --quiet', () => {
    expect(pasta().logLevel).toBe('info');
    expect(pasta('-d').logLevel).toBe('debug');
    expect(pasta('--trace').logLevel).toBe('trace');
    expect(pasta('-q').logLevel).toBe('warn');
    // The last one wins: -q clears -d and --trace, -d and --trace clear -q.
    expect(pasta('-q', '-d').logLevel).toBe('debug');
    expect(pasta('-d', '-q').logLevel).toBe('warn');
    expect(pasta('--trace', '-q').logLevel).toBe('warn');
    expect(pasta('-q', '--trace').logLevel).toBe('trace');
    expect(pasta('--trace', '-d').logLevel).toBe('trace'); // -d does not clear --trace
  });

  option('--stats', () => {
    expect(pasta('-f', '--stats', '5').stats).toBe(5);
    expect(pasta('-f', '--stats', '0x10').stats).toBe(16); // strtol(, , 0)
    expect(pasta('-f', '--stats', 'x').stats).toBe(0); // unchecked, as upstream
    expect(pasta().stats).toBe(0);
    // -f must come first: upstream checks at --stats.
    expect(pastaError('--stats', '5', '-f')).toBe("Can't display statistics if not running in foreground");
    expect(pastaError('--stats', '5')).toBe("Can't display statistics if not running in foreground");
  });

  option('--foreground', () => {
    expect(pasta().foreground).toBe(false);
    expect(pasta('-f').foreground).toBe(true);
  });

  option('--stderr', () => {
    const c = pasta('-e');
    expect(c.warnings).toEqual(['--stderr will be dropped soon']);
    expect(c.logFile).toBeUndefined();
  });

  option('--log-file --log-size', () => {
    expect(pasta('-l', '/tmp/pasta.log').logFile).toBe('/tmp/pasta.log');
    expect(pasta('-l', '/a', '-l', '/b').logFile).toBe('/b');
    expect(pasta().logSize).toBe(1 << 20);
    expect(pasta('--log-size', '40960').logSize).toBe(40960); // LOGFILE_SIZE_MIN: 5 * max(BUFSIZ, PAGE_SIZE)
    expect(pasta('--log-size', '0x100000').logSize).toBe(0x100000);
    expect(pastaError('--log-size', '40959')).toBe('Invalid --log-size: 40959');
    expect(pastaError('--log-size', '1k')).toBe('Invalid --log-size: 1k');
    // The file is opened after the walk and --runas: what open(2) says of a path it can't take.
    expect(pastaError('-l', '')).toBe("Couldn't open log file : No such file or directory");
    expect(pastaError('-l', '', '-m', 'x')).toBe('Invalid MTU: x');
    expect(pastaError('-l', `/${'x'.repeat(4096)}`)).toBe(`Couldn't open log file /${'x'.repeat(4096)}: File name too long`);
  });

  option('--runas', () => {
    const runas = (value: string, env: HostEnv = USER): Config['runAs'] => config('passt', ['--runas', value], { env }).runAs;
    expect(runas('1000')).toEqual({ uid: 1000, gid: 1000 });
    expect(runas('1000:50')).toEqual({ uid: 1000, gid: 50 });
    expect(runas('0x3e8:0x3e9')).toEqual({ uid: 1000, gid: 1001 }); // strtol(, , 0)
    expect(runas('alice')).toEqual({ uid: 1000, gid: 1001 }); // from /etc/passwd
    expect(runas('alice:staff')).toEqual({ uid: 1000, gid: 50 }); // and /etc/group
    expect(runas('nobody:nogroup', ROOT_INIT)).toEqual({ uid: 65534, gid: 65534 });
    expect(runas('0')).toEqual({ uid: 0, gid: 0 }); // a number may be 0, a name may not be root's
    expect(runas(':5')).toEqual({ uid: 0, gid: 5 }); // an empty user is strtol()'s 0
    expect(passtError('--runas', 'root')).toBe('Invalid --runas option: root');
    expect(passtError('--runas', 'nosuchuser')).toBe('Invalid --runas option: nosuchuser');
    // Upstream has cut the option at ':' when it prints it.
    expect(passtError('--runas', '1000:nosuchgroup')).toBe('Invalid --runas option: 1000');
    // The last one wins.
    expect(config('passt', ['--runas', 'nosuchuser', '--runas', '1000']).runAs).toEqual({ uid: 1000, gid: 1000 });
    // Without --runas: root in the initial user namespace becomes nobody, with upstream's warning; anyone else stays.
    const root = config('passt', [], { env: ROOT_INIT });
    expect(root.runAs).toEqual({ uid: 65534, gid: 65534 });
    expect(root.warnings).toContain('Started as root, will change to nobody.');
    const userns = config('passt', [], { env: ROOT_USERNS });
    expect(userns.runAs).toBeNull();
    expect(userns.warnings).not.toContain('Started as root, will change to nobody.');
    expect(config('passt', [], { env: USER }).runAs).toBeNull();
    // No nobody in /etc/passwd: upstream's fallback (its static build's) 65534.
    expect(config('passt', [], { env: { ...ROOT_INIT, passwd: 'root:x:0:0::/:/bin/sh\n' } }).runAs).toEqual({ uid: 65534, gid: 65534 });
  });

  option('--conf-path', () => {
    // pesto(1)'s configuration socket: experimental upstream, not implemented here.
    expect(pastaError('-c', '/tmp/conf.sock')).toMatch(/^--conf-path is not supported/);
  });

  option('--help --version', () => {
    expect(parseOptions(parseArgs(['--help'], 'pasta'), 'pasta').exit).toBe('help');
    expect(parseOptions(parseArgs(['-h'], 'passt'), 'passt').exit).toBe('help');
    expect(parseOptions(parseArgs(['--version'], 'pasta'), 'pasta').exit).toBe('version');
    expect(pasta('--help').help).toBe(true);
    expect(passt('--version').version).toBe(true);
    // They end the walk where they appear: an error before them counts, one after them is never reached.
    expect(pastaError('-m', 'x', '--help')).toBe('Invalid MTU: x');
    expect(pasta('--help', '-m', 'x').help).toBe(true);
    expect(pasta('--version', '--help').version).toBe(true);
    expect(pasta('--help', '--version').help).toBe(true);
    expect(pasta('--help', '--frobnicate').help).toBe(true); // getopt never reaches it either
    expect(pastaError('-m', 'x', '--version')).toBe('Invalid MTU: x');
    // -F is read before anything else (upstream's isolate_fds()), --help included.
    expect(pastaError('--help', '-F', 'y')).toBe('Invalid --fd: y');
  });

  option('--pcap --pid', () => {
    const c = pasta('-p', '/tmp/a.pcap', '-P', '/tmp/pasta.pid');
    expect([c.pcap, c.pidFile]).toEqual(['/tmp/a.pcap', '/tmp/pasta.pid']);
    expect([pasta().pcap, pasta().pidFile]).toEqual([null, null]);
    expect(pasta('-p', '/a', '-p', '/b').pcap).toBe('/b');
    expect(pastaError('-p', '')).toBe('Invalid pcap path: ');
    expect(pastaError('-P', '')).toBe('Invalid PID file: ');
    expect(pastaError('-p', `/${'x'.repeat(4095)}`)).toBe(`Invalid pcap path: /${'x'.repeat(4095)}`);
  });

  option('--mtu', () => {
    expect(pasta().mtu).toBe(DEFAULT_MTU);
    expect(DEFAULT_MTU).toBe(65520);
    expect(pasta('-m', '1500').mtu).toBe(1500);
    expect(pasta('-m', '1500', '-m', '9000').mtu).toBe(9000);
    // strtoul(, , 0): hex, octal, leading blanks and sign.
    expect(pasta('-m', '0x5dc').mtu).toBe(1500);
    expect(pasta('-m', '010').mtu).toBe(8);
    expect(pasta('-m', ' +1500').mtu).toBe(1500);
    expect(pasta('-m', '65521').mtu).toBe(65521); // 64 KiB less the Ethernet header
    expect(pastaError('-m', '65522')).toBe('MTU 65522 too large (max 65521)');
    expect(pastaError('-m', '-1')).toBe('MTU 18446744073709551615 too large (max 65521)');
    expect(pastaError('-m', 'x')).toBe('Invalid MTU: x');
    expect(pastaError('-m', '0x')).toBe('Invalid MTU: 0x');
    expect(pastaError('-m', '')).toBe('Invalid MTU: ');
    // Too small is a warning, per IP version with a template interface; 0 assigns no MTU.
    expect(pasta('-m', '1000').warnings).toEqual(['MTU 1000 is too small for IPv6 (minimum 1280)']);
    expect(pasta('-m', '0').warnings).toEqual(['MTU 0 is too small for IPv4 (minimum 68)', 'MTU 0 is too small for IPv6 (minimum 1280)']);
    expect(pasta('-m', '0').mtu).toBe(0);
    expect(config('pasta', ['-m', '1000'], { host: 'noroutes' }).warnings).toEqual([]); // local mode: no check
  });

  option('--address --netmask', () => {
    // Per family, the last one wins; the prefix is the class's without -n or /PREFIX.
    const c = pasta('-a', '192.0.2.7', '-a', '2001:db8:5::9', '-a', '10.0.0.5');
    expect([ip(c.ip4!.addr), c.ip4!.prefixLen, ip(c.ip6!.addr), c.ip6!.prefixLen]).toEqual(['10.0.0.5', 8, '2001:db8:5::9', 64]);
    expect(pasta('-a', '172.16.0.5').ip4!.prefixLen).toBe(16);
    expect(pasta('-a', '192.0.2.5').ip4!.prefixLen).toBe(24);
    expect(pasta('-a', '240.0.0.1').ip4!.prefixLen).toBe(32); // class E
    expect(pasta('-a', '192.0.2.5/20').ip4!.prefixLen).toBe(20);
    expect(pasta('-a', '10.0.0.1/0').ip4!.prefixLen).toBe(8); // 0: the class's
    expect(pasta('-a', '::ffff:10.0.0.1/120').ip4!.prefixLen).toBe(24); // IPv4-mapped: an IPv6 prefix length
    expect(ip(pasta('-a', '[10.0.0.1]').ip4!.addr)).toBe('10.0.0.1'); // brackets, as parse_inany()
    expect(ip(pasta('-a', '[2001:db8::7]/64').ip6!.addr)).toBe('2001:db8::7');
    expect(pasta('-a', '10.0.0.1/ 24').ip4!.prefixLen).toBe(24); // strtoul() skips blanks
    // -a sets the address, not copied from the host (--config-net).
    expect([c.ip4!.copyAddrs, c.ip6!.copyAddrs, pasta().ip4!.copyAddrs]).toEqual([false, false, true]);
    // -n: dot-decimal or bits, for IPv4.
    expect(pasta('-a', '192.0.2.7', '-n', '255.255.0.0').ip4!.prefixLen).toBe(16);
    expect(pasta('-n', '16', '-a', '192.0.2.7').ip4!.prefixLen).toBe(16);
    expect(pasta('-a', '198.51.100.7', '-n', '8', '-a', '198.51.100.8').ip4!.prefixLen).toBe(8);
    expect(pasta('-a', '2001:db8::7', '-n', '16').ip6!.prefixLen).toBe(64);
    // -n alone: the host's address comes with the host's prefix length, which wins (upstream's nl_addr_get()).
    expect(pasta('-n', '16').ip4!.prefixLen).toBe(24);
    // -a ADDR/PREFIX and -n: redundant, in both orders, even -n 0; a later -a without /PREFIX resets it.
    expect(pastaError('-a', '10.0.0.1/8', '-n', '24')).toBe('Redundant prefix length specification');
    expect(pastaError('-n', '24', '-a', '10.0.0.1/8')).toBe('Redundant prefix length specification');
    expect(pastaError('-n', '0', '-a', '10.0.0.1/8')).toBe('Redundant prefix length specification');
    expect(pastaError('-a', '2001:db8::1/64', '-n', '24')).toBe('Redundant prefix length specification');
    expect(pasta('-a', '10.0.0.1/8', '-a', '10.0.0.2', '-n', '24').ip4!.prefixLen).toBe(24);
    expect(pastaError('-n', '24', '-a', '10.0.0.1/24x')).toBe('Redundant prefix length specification'); // checked before the rest
    for (const bad of ['banana', '224.0.0.1', '0.0.0.0', '127.0.0.1', '::1', '::', 'ff02::1', '255.255.255.255', '10.0.0.1/24x', '10.0.0.1/', '10.0.0.1 ']) {
      expect(pastaError('-a', bad)).toBe(`Invalid guest address: ${bad}`);
    }
    expect(pastaError('-a', '10.0.0.1/33')).toBe('Invalid prefix length: 10.0.0.1/33');
    expect(pastaError('-a', '10.0.0.1/-1')).toBe('Invalid prefix length: 10.0.0.1/-1');
    expect(pastaError('-a', '2001:db8::1/129')).toBe('Invalid prefix length: 2001:db8::1/129');
    for (const bad of ['33', '255.0.255.0', 'x', '']) expect(pastaError('-n', bad)).toBe(`Invalid prefix length: ${bad}`);
  });

  option('--mac-addr', () => {
    expect(formatMac(pasta().ourMac)).toBe('9a:55:9a:55:9a:55');
    expect(formatMac(pasta('-M', '02:00:00:00:00:01').ourMac)).toBe('02:00:00:00:00:01');
    expect(formatMac(pasta('-M', '02:00:00:00:00:01', '-M', '02:AB:00:00:00:02').ourMac)).toBe('02:ab:00:00:00:02');
    for (const bad of ['zz', '00:11:22:33:44', '00:11:22:33:44:5g', '0:1:2:3:4:5', '00-11-22-33-44-55', '00:11:22:33:44:55:66']) {
      expect(pastaError('-M', bad)).toBe(`Invalid MAC address: ${bad}`);
    }
  });

  option('--gateway', () => {
    // Per family, the last one wins; pasta then sets a default route via it rather than copying the host's routes.
    const c = pasta('-g', '192.0.2.1', '-g', '2001:db8::fe', '-g', '192.0.2.254');
    expect([ip(c.ip4!.gateway), ip(c.ip6!.gateway)]).toEqual(['192.0.2.254', '2001:db8::fe']);
    expect([c.ip4!.copyRoutes, c.ip6!.copyRoutes, pasta().ip4!.copyRoutes]).toEqual([false, false, true]);
    expect(ip(pasta('-g', '224.0.0.1').ip4!.gateway)).toBe('224.0.0.1'); // upstream takes a multicast gateway
    expect(ip(pasta('-g', 'fe80::1').ip6!.gateway)).toBe('fe80::1');
    // The gateway stands for the host (--map-host-loopback's default).
    expect(ip(pasta('-g', '198.51.100.99').mapHostLoopback4)).toBe('198.51.100.99');
    for (const bad of ['::1', '::', '0.0.0.0', '255.255.255.255', '127.0.0.1', 'x', '']) expect(pastaError('-g', bad)).toBe(`Invalid gateway address: ${bad}`);
  });

  option('--interface', () => {
    const c = config('pasta', ['-i', 'eth0'], { host: 'twodef' });
    expect([c.ip4!.hostIfname, ip(c.ip4!.addr), ip(c.ip4!.gateway), c.ip6!.hostIfname]).toEqual(['eth0', '198.51.100.2', '198.51.100.1', 'eth0']);
    expect(config('pasta', ['-i', 'eth0', '-i', 'eth1'], { host: 'twodef' }).ip4!.hostIfname).toBe('eth1');
    // -i for both IP versions: eth1 has no IPv6 address, so IPv6 is in local mode.
    const eth1 = config('pasta', ['-i', 'eth1'], { host: 'twodef' });
    expect([eth1.ip4!.hostIfname, eth1.ip6!.hostIfname]).toEqual(['eth1', '']);
    expect(pastaError('-i', 'nope0')).toBe('Invalid interface name nope0: No such device');
    expect(pastaError('-i', '')).toBe('Invalid interface name : No such device');
    expect(pastaError('-i', IF16)).toBe(`Invalid interface name ${IF16}: No such device`);
  });

  option('--outbound', () => {
    const c = pasta('-o', '192.0.2.99', '-o', '2001:db8::99');
    expect([ip(c.outbound4), ip(c.outbound6)]).toEqual(['192.0.2.99', '2001:db8::99']);
    expect(ip(pasta('-o', '192.0.2.99', '-o', '192.0.2.98').outbound4)).toBe('192.0.2.98');
    expect(ip(pasta('-o', '127.0.0.1').outbound4)).toBe('127.0.0.1'); // IPv4 loopback is fine, IPv6's is not
    expect([pasta().outbound4, pasta().outbound6]).toEqual([null, null]);
    for (const bad of ['0.0.0.0', '::', '::1', '::ffff:1.2.3.4', '::1.2.3.4', 'ff02::1', '224.0.0.1', '255.255.255.255', 'x']) {
      expect(pastaError('-o', bad)).toBe(`Invalid or redundant outbound address: ${bad}`);
    }
  });

  option('--outbound-if4 --outbound-if6', () => {
    // The template interface too, unless -i.
    const c = config('pasta', ['--outbound-if4', 'eth0', '--outbound-if6', 'eth0'], { host: 'twodef' });
    expect([c.outboundIf4, c.outboundIf6, c.ip4!.hostIfname, c.ip6!.hostIfname]).toEqual(['eth0', 'eth0', 'eth0', 'eth0']);
    expect(config('pasta', ['--outbound-if4', 'eth0', '-i', 'eth1'], { host: 'twodef' }).ip4!.hostIfname).toBe('eth1');
    expect(config('pasta', ['--outbound-if4', 'eth1', '--outbound-if4', 'eth0'], { host: 'twodef' }).ip4!.hostIfname).toBe('eth0');
    // An interface that does not exist is no template (upstream's if_nametoindex() gives 0): the default route's is.
    expect(pasta('--outbound-if4', 'nope0').ip4!.hostIfname).toBe('eth0');
    // One that leaves the IP version without a template interface is refused.
    expect(error('pasta', ['--outbound-if4', 'eth0'], { host: 'v6only' })).toBe('External interface not usable');
    expect(error('pasta', ['--outbound-if6', 'eth0'], { host: 'v4only' })).toBe('External interface not usable');
    expect(error('pasta', ['--outbound-if6', 'nope0'], { host: 'v4only' })).toBe('External interface not usable');
    expect(pastaError('-6', '--outbound-if4', 'eth0')).toBe('External interface not usable');
    expect(pastaError('--outbound-if4', '')).toBe('Invalid interface name: ');
    expect(pastaError('--outbound-if6', IF16)).toBe(`Invalid interface name: ${IF16}`);
  });

  option('--dns', () => {
    // Adds up, at most three per family; replaces resolv.conf's resolvers for its family.
    const c = config('passt', ['-D', '192.0.2.9', '-D', '2001:db8::99', '-D', '192.0.2.10'], { resolv: RESOLV.mixed });
    expect(c.dns.map(formatIP)).toEqual(['192.0.2.9', '192.0.2.10', '2001:db8::99']);
    expect(passt('-D', '192.0.2.1', '-D', '192.0.2.2', '-D', '192.0.2.3', '-D', '192.0.2.4').dns.map(formatIP)).toEqual(['192.0.2.1', '192.0.2.2', '192.0.2.3']);
    expect(passt('-D', '224.0.0.1').dns.map(formatIP)).toEqual(['224.0.0.1']); // anything inet_pton() takes
    // 0.0.0.0 ends upstream's list: as if -D was not given.
    expect(passt('-D', '0.0.0.0').dns.map(formatIP)).toEqual(['198.51.100.1']);
    // none: no resolver at all, not even resolv.conf's, and --dns-forward and --dns-host given before are forgotten.
    const none = passt('--dns-forward', '169.254.1.1', '--dns-host', '192.0.2.53', '-D', '192.0.2.9', '-D', 'none');
    expect([none.dns, none.dnsForward4, none.warnings]).toEqual([[], null, []]);
    // ... and -D after none adds again.
    expect(passt('-D', 'none', '-D', '192.0.2.9').dns.map(formatIP)).toEqual(['192.0.2.9']);
    for (const bad of ['x', '300.1.1.1', '', 'resolver.test']) expect(passtError('-D', bad)).toBe(`Cannot use DNS address ${bad}`);
  });

  option('--dns-forward --dns-host', () => {
    // Per family, the last one wins. The loopback resolver is advertised as the --dns-forward address.
    const c = passt('--dns-forward', '169.254.1.1', '--dns-forward', '169.254.1.2');
    expect(c.dns.map(formatIP)).toEqual(['169.254.1.2']);
    expect([ip(c.dnsForward4!.addr), ip(c.dnsForward4!.to)]).toEqual(['169.254.1.2', '127.0.0.53']);
    const both = config('passt', ['--dns-forward', '169.254.1.1', '--dns-forward', 'fd00::53'], { resolv: RESOLV.mixed });
    expect([ip(both.dnsForward4!.to), ip(both.dnsForward6!.addr), ip(both.dnsForward6!.to)]).toEqual(['192.0.2.53', 'fd00::53', '2001:db8::53']);
    // --dns-host: where forwarded queries go instead of the first resolver (of resolv.conf), per family.
    const h = passt('--dns-forward', '169.254.1.1', '--dns-host', '192.0.2.53', '--dns-host', '127.0.0.1');
    expect(ip(h.dnsForward4!.to)).toBe('127.0.0.1');
    expect(ip(passt('--dns-forward', '224.0.0.1').dnsForward4!.addr)).toBe('224.0.0.1'); // multicast is not refused
    for (const bad of ['127.0.0.1', '::1', '0.0.0.0', '::', '255.255.255.255', 'x']) expect(passtError('--dns-forward', bad)).toBe(`Invalid DNS forwarding address: ${bad}`);
    for (const bad of ['0.0.0.0', '::', '255.255.255.255', 'x']) expect(passtError('--dns-host', bad)).toBe(`Invalid host nameserver address: ${bad}`);
  });

  option('--search', () => {
    expect(passt().search).toEqual(['example.test']);
    // Adds up; replaces resolv.conf's; 'none' clears (and a later -S adds again).
    expect(passt('-S', 'a.test', '-S', 'b.test').search).toEqual(['a.test', 'b.test']);
    expect(passt('-S', 'a.test', '-S', 'none').search).toEqual([]);
    expect(passt('-S', 'none', '-S', 'c.test').search).toEqual(['c.test']);
    // At most six.
    expect(passt('-S', '1', '-S', '2', '-S', '3', '-S', '4', '-S', '5', '-S', '6').search).toHaveLength(6);
    expect(passtError('-S', '1', '-S', '2', '-S', '3', '-S', '4', '-S', '5', '-S', '6', '-S', '7')).toBe('Cannot use DNS search domain 7');
    expect(passtError('-S', '')).toBe('Cannot use DNS search domain ');
    // Deliberate: a space-separated list, as the manuals say ("LIST"); upstream's code keeps the value as one domain.
    expect(passt('-S', 'a.test b.test').search).toEqual(['a.test', 'b.test']);
    // Deliberate: a domain name has at most 253 characters; upstream takes up to 1024.
    expect(passtError('-S', A254)).toBe(`Cannot use DNS search domain ${A254}`);
  });

  option('--dhcp-dns --no-dhcp-dns --dhcp-search --no-dhcp-search', () => {
    // pasta hands resolvers and search domains to the namespace only when asked, passt unless told not to.
    expect([pasta().dhcpDns, pasta().dhcpSearch, passt().dhcpDns, passt().dhcpSearch]).toEqual([false, false, true, true]);
    expect([pasta('--dhcp-dns').dhcpDns, pasta('--dhcp-search').dhcpSearch]).toEqual([true, true]);
    expect([passt('--no-dhcp-dns').dhcpDns, passt('--no-dhcp-search').dhcpSearch]).toEqual([false, false]);
    // Which changes upstream's warnings about a missing resolver for DHCP.
    expect(pasta().warnings).toEqual([]);
    expect(pasta('--dhcp-dns').warnings).toEqual(['No IPv6 nameserver available for NDP/DHCPv6']);
    expect(passt('--no-dhcp-dns').warnings).toEqual([]);
    expect(passtError('--dhcp-dns')).toBe('--dhcp-dns is for pasta mode only');
    expect(passtError('--dhcp-search')).toBe('--dhcp-search is for pasta mode only');
    expect(pastaError('--no-dhcp-dns')).toBe('--no-dhcp-dns is for passt mode only');
    expect(pastaError('--no-dhcp-search')).toBe('--no-dhcp-search is for passt mode only');
  });

  option('--no-tcp --no-udp --no-icmp', () => {
    expect([pasta().tcp, pasta().udp, pasta().icmp]).toEqual([true, true, true]);
    const c = pasta('--no-tcp', '--no-udp', '--no-icmp');
    expect([c.tcp, c.udp, c.icmp]).toEqual([false, false, false]);
    // No forwarding for a protocol that is off (deliberate: upstream refuses its own default -t auto then).
    expect([c.tcpForward, c.udpForward, c.tcpNsForward, c.udpNsForward]).toEqual([null, null, null, null]);
    expect(pasta('--no-udp', '-t', '22').tcpForward!.rules).toHaveLength(1);
    // --no-icmp implies --no-ndp.
    expect(pasta('--no-icmp').ndp).toBe(false);
  });

  option('--no-dhcp --no-ndp --no-dhcpv6 --no-ra', () => {
    expect([passt().dhcp, passt().ndp, passt().dhcpv6, passt().ra]).toEqual([true, true, true, true]);
    expect(passt('--no-dhcp').dhcp).toBe(false);
    expect(passt('--no-dhcpv6').dhcpv6).toBe(false);
    const ndp = passt('--no-ndp');
    expect([ndp.ndp, ndp.ra]).toEqual([false, false]);
    const ra = passt('--no-ra');
    expect([ra.ndp, ra.ra]).toEqual([true, false]);
    // --config-net: pasta sets the addresses itself, no router advertisements.
    expect(pasta('--config-net').ra).toBe(false);
    // No gateway: no DHCP (upstream: nothing to hand out as router).
    expect(config('passt', [], { host: 'nogw' }).dhcp).toBe(false);
  });

  option('--freebind --chroot-fallback', () => {
    expect([pasta().freebind, pasta('--freebind').freebind]).toEqual([false, true]);
    expect([pasta().chrootFallback, pasta('--chroot-fallback').chrootFallback]).toEqual([false, true]);
  });

  option('--map-host-loopback --no-map-gw', () => {
    // Default: the gateway stands for the host's loopback, per family.
    expect([ip(passt().mapHostLoopback4), ip(passt().mapHostLoopback6)]).toEqual(['198.51.100.1', '2001:db8::1']);
    // Per family, the last one wins.
    const c = passt('--map-host-loopback', '169.254.1.1', '--map-host-loopback', 'fd00::1', '--map-host-loopback', '169.254.1.3');
    expect([ip(c.mapHostLoopback4), ip(c.mapHostLoopback6)]).toEqual(['169.254.1.3', 'fd00::1']);
    // 'none' for both families (and no gateway mapping): a later address maps its family again.
    const none = passt('--map-host-loopback', '169.254.1.1', '--map-host-loopback', 'none');
    expect([none.mapHostLoopback4, none.mapHostLoopback6]).toEqual([null, null]);
    const again = passt('--map-host-loopback', 'none', '--map-host-loopback', '169.254.1.1');
    expect([ip(again.mapHostLoopback4), again.mapHostLoopback6]).toEqual(['169.254.1.1', null]);
    // --no-map-gw: no default mapping; a given address stays, wherever --no-map-gw is.
    expect([passt('--no-map-gw').mapHostLoopback4, passt('--no-map-gw').mapHostLoopback6]).toEqual([null, null]);
    expect(ip(passt('--map-host-loopback', '169.254.1.1', '--no-map-gw').mapHostLoopback4)).toBe('169.254.1.1');
    expect(ip(passt('--map-host-loopback', '255.255.255.255').mapHostLoopback4)).toBe('255.255.255.255'); // not refused upstream
    for (const bad of ['127.0.0.1', '::1', '224.0.0.1', 'ff02::1', '0.0.0.0', '::', 'x']) {
      expect(passtError('--map-host-loopback', bad)).toBe(`Invalid address to remap to host: ${bad}`);
    }
  });

  option('--map-guest-addr', () => {
    expect([passt().mapGuestAddr4, passt().mapGuestAddr6]).toEqual([null, null]);
    const c = passt('--map-guest-addr', '169.254.1.2', '--map-guest-addr', 'fd00::2', '--map-guest-addr', '169.254.1.3');
    expect([ip(c.mapGuestAddr4), ip(c.mapGuestAddr6)]).toEqual(['169.254.1.3', 'fd00::2']);
    const none = passt('--map-guest-addr', '169.254.1.2', '--map-guest-addr', 'none', '--map-guest-addr', 'fd00::2');
    expect([none.mapGuestAddr4, ip(none.mapGuestAddr6)]).toEqual([null, 'fd00::2']);
    // 'none' here leaves the gateway mapping alone.
    expect(ip(passt('--map-guest-addr', 'none').mapHostLoopback4)).toBe('198.51.100.1');
    // Upstream's message names the host for both options.
    for (const bad of ['127.0.0.1', 'ff02::1', '0.0.0.0', 'x']) expect(passtError('--map-guest-addr', bad)).toBe(`Invalid address to remap to host: ${bad}`);
  });

  option('--ipv4-only --ipv6-only', () => {
    const four = pasta('-4');
    expect([four.ip4 !== null, four.ip6]).toEqual([true, null]);
    const six = pasta('-6');
    expect([six.ip4, six.ip6 !== null]).toEqual([null, true]);
    // The last one wins.
    expect(pasta('-4', '-6').ip4).toBeNull();
    expect(pasta('-6', '-4').ip6).toBeNull();
    expect(pasta('-46').ip4).toBeNull();
  });

  option('--hostname --fqdn', () => {
    const c = passt('-H', 'h1', '--fqdn', 'h1.example.test');
    expect([c.hostname, c.fqdn]).toEqual(['h1', 'h1.example.test']);
    expect([passt().hostname, passt().fqdn]).toEqual([null, null]);
    expect(passt('-H', 'a', '-H', 'b').hostname).toBe('b');
    expect(passt('-H', 'a'.repeat(253)).hostname).toHaveLength(253);
    expect(passtError('-H', A254)).toBe(`Invalid hostname: ${A254}`);
    expect(passtError('--fqdn', A254)).toBe(`Invalid FQDN: ${A254}`);
  });

  option('--tcp-ports --udp-ports', () => {
    // Add up; passt forwards nothing by default, pasta 'auto'.
    const c = passt('-t', '22', '-t', '80:8080', '-u', '53');
    expect(c.tcpForward!.rules.map((r) => [r.from, r.to, r.targetFrom])).toEqual([[22, 22, 22], [80, 80, 8080]]);
    expect(c.udpForward!.rules.map((r) => [r.from, r.targetFrom])).toEqual([[53, 53]]);
    expect([passt().tcpForward, passt().udpForward]).toEqual([null, null]);
    expect(passt('-t', 'none').tcpForward).toBeNull();
    expect(passtError('-t', 'auto')).toBe("'auto' port forwarding is only allowed for pasta");
    expect(passtError('-t', '22-')).toBe("Invalid port specifier '22-'");
    expect(passtError('-t', '22', '-t', 'none')).toBe('-t none conflicts with previous options');
    expect(passtError('-t', '22', '-t', '22')).toMatch(/^Forwarding configuration conflict: TCP \[\*\]:22 {2}=> {2}22 {2}versus TCP \[\*\]:22 {2}=> {2}22 ; Unable to add rule TCP/);
    // A rule of an IP version that is off.
    expect(passtError('-4', '-t', '::1/22')).toMatch(/^IPv6 forward, but IPv6 not enabled; Unable to add rule TCP \[::1\]:22/);
  });

  option('--tcp-ns --udp-ns', () => {
    const c = pasta('-T', '5432', '-U', '53');
    expect(c.tcpNsForward!.rules.map((r) => [r.from, r.targetFrom])).toEqual([[5432, 5432]]);
    expect(c.udpNsForward!.rules.map((r) => [r.from, r.targetFrom])).toEqual([[53, 53]]);
    expect(pasta('-T', 'none').tcpNsForward).toBeNull();
    expect(pastaError('-T', '127.0.0.1/80')).toBe('Listening address not allowed for -T 127.0.0.1/80');
    expect(passtError('-T', '80')).toBe('-T is for pasta mode only');
    expect(passtError('-U', '80')).toBe('-U is for pasta mode only');
  });

  option('--socket --socket-path --fd --one-off', () => {
    expect(passt().socketPath).toBeNull(); // the first free /tmp/passt_N.socket
    expect(passt('-s', '/run/vm.socket').socketPath).toBe('/run/vm.socket');
    expect(passt('--socket-path', '/run/a', '-s', '/run/b').socketPath).toBe('/run/b');
    // -F: an inherited socket; passt quits with its client. The last of -s and -F wins.
    const f = passt('-F', '5');
    expect([f.socketFd, f.socketPath, f.oneOff]).toEqual([5, null, true]);
    const s = passt('-F', '5', '-s', '/run/vm.socket');
    expect([s.socketFd, s.socketPath]).toEqual([null, '/run/vm.socket']);
    // Deliberate: upstream's -s clears the fd it read first and its later -F does not restore it,
    // so it listens on /tmp/passt_1.socket then (seen with upstream 2026_07_16).
    const back = passt('-s', '/run/vm.socket', '-F', '5');
    expect([back.socketFd, back.socketPath]).toEqual([5, null]);
    expect(passt('-F', '0x3').socketFd).toBe(3);
    // -F is read first and the last one counts (upstream's isolate_fds()): an earlier bad one is never looked at.
    expect(passt('-F', 'x', '-F', '5').socketFd).toBe(5);
    expect(passtError('-m', 'x', '-F', 'y')).toBe('Invalid --fd: y');
    expect(passtError('-F', '2147483648')).toBe('Invalid --fd: 2147483648');
    expect(pasta('-F', '7').socketFd).toBe(7); // pasta: a tap device
    expect([passt().oneOff, passt('-1').oneOff]).toEqual([false, true]);
    expect(passtError('-s', '')).toBe('Invalid socket path: ');
    expect(passtError('-s', LONG_SOCKET)).toBe(`Invalid socket path: ${LONG_SOCKET}`); // sun_path: 107 bytes at most
    expect(passt('-s', LONG_SOCKET.slice(0, 107)).socketPath).toHaveLength(107);
    expect(pastaError('-s', '/tmp/x')).toBe('-s is for passt / vhost-user mode only');
    expect(pastaError('-1')).toBe('--one-off is for passt mode only');
  });

  option('--vhost-user --print-capabilities --repair-path --migrate-exit --migrate-no-linger', () => {
    expect([passt().vhostUser, passt('--vhost-user').vhostUser]).toEqual([false, true]);
    // Wherever it is: upstream's conf_mode() looks for it before the walk.
    expect(passt('--repair-path', 'none', '--vhost-user').vhostUser).toBe(true);
    expect(passtError('--vhost-user', '-T', '22')).toBe('-T is for pasta mode only');
    // --print-capabilities ends the walk: what follows is not looked at (the front end prints {"type": "net"}).
    expect(parseOptions(parseArgs(['--vhost-user', '--print-capabilities', '-T', '22'], 'passt'), 'passt').printCapabilities).toBe(true);
    expect(passtError('--repair-path', '/tmp/r')).toBe('--repair-path is for vhost-user mode only');
    expect(passt('--repair-path', 'none').mode).toBe('passt'); // 'none' is fine without vhost-user
    expect(passt('--vhost-user', '--repair-path', 'none').vhostUser).toBe(true);
    // No live migration: a passt-repair socket path is refused, not ignored.
    expect(passtError('--vhost-user', '--repair-path', '/tmp/r')).toBe("--repair-path /tmp/r: live migration (TCP_REPAIR through passt-repair) is not supported by node-passt; only 'none' is accepted");
    expect(passtError('--migrate-exit')).toBe('--migrate-exit is for vhost-user mode only');
    expect(passtError('--migrate-no-linger')).toBe('--migrate-no-linger is for vhost-user mode only');
    expect(passt('--vhost-user', '--migrate-exit', '--migrate-no-linger').vhostUser).toBe(true);
  });

  option('--ns-ifname', () => {
    expect(pasta().nsIfname).toBe('eth0'); // the template interface's name
    expect(config('pasta', [], { host: 'noroutes' }).nsIfname).toBe('tap0');
    expect(pasta('-I', 'ns0', '-I', 'ns1').nsIfname).toBe('ns1');
    expect(pastaError('-I', '')).toBe('Invalid interface name: ');
    expect(pastaError('-I', IF16)).toBe(`Invalid interface name: ${IF16}`);
    expect(passtError('-I', 'x')).toBe('-I is for pasta mode only');
  });

  option('--host-lo-to-ns-lo --no-splice --splice-only', () => {
    expect([pasta().splice, pasta().hostLoToNsLo, passt().splice]).toEqual([true, false, false]);
    expect(pasta('--no-splice').splice).toBe(false);
    expect(pasta('--host-lo-to-ns-lo').hostLoToNsLo).toBe(true);
    expect(pastaError('--no-splice', '--host-lo-to-ns-lo')).toBe('--host-lo-to-ns-lo is incompatible with --no-splice');
    expect(pastaError('--host-lo-to-ns-lo', '--no-splice')).toBe('--host-lo-to-ns-lo is incompatible with --no-splice');
    expect(pastaError('--splice-only', '--no-splice')).toBe('--splice-only is incompatible with --no-splice');
    // --splice-only: no tap, no addresses; implies --host-lo-to-ns-lo, --no-icmp, -D none, -S none.
    const c = config('pasta', ['--splice-only', '-D', '192.0.2.1', '-S', 'x.test'], { resolv: RESOLV.mixed });
    expect([c.spliceOnly, c.hostLoToNsLo, c.icmp, c.ip4, c.ip6, c.search, c.dhcp, c.dhcpv6, c.ndp, c.warnings]).toEqual([true, true, false, null, null, [], false, false, false, []]);
    // Its port rules are for both IP versions (or one, with -4 or -6).
    expect(pasta('--splice-only').tcpForward!.rules.map((r) => r.family)).toEqual([0, 0]);
    expect(pasta('--splice-only', '-4').tcpForward!.rules.map((r) => ip(r.addr))).toEqual(['0.0.0.0', '0.0.0.0']);
    expect(passtError('--splice-only')).toBe('--splice-only is for pasta mode only');
    expect(passtError('--host-lo-to-ns-lo')).toBe('--host-lo-to-ns-lo is for pasta mode only');
    expect(passtError('--no-splice')).toBe('no error'); // implied in passt
  });

  option('--userns --netns --netns-only --no-netns-quit', () => {
    const c = pasta('--netns', '/run/user/1000/netns/n1', '--userns', '/proc/1/ns/user');
    expect([c.netns, c.userns, c.netnsOnly, c.netnsQuit]).toEqual(['/run/user/1000/netns/n1', '/proc/1/ns/user', false, true]);
    expect(pasta('--netns', 'blue').netns).toBe('/run/netns/blue'); // a name: ip-netns(8)'s
    expect(pasta('--netns', '').netns).toBe('/run/netns/'); // fails when opened, as upstream
    // --netns without --userns: no user namespace; --netns-only and --userns, the last wins.
    expect(pasta('--netns', 'blue').netnsOnly).toBe(true);
    expect(pasta('--userns', '/proc/1/ns/user', '--netns-only').userns).toBeNull();
    expect(pasta('--netns-only', '--userns', '/proc/1/ns/user').netnsOnly).toBe(false);
    expect(pasta('--no-netns-quit', '--netns', 'x').netnsQuit).toBe(false);
    // A PID: attach to its namespaces.
    const p = pasta('1234');
    expect([p.attachPid, p.command]).toEqual([1234, []]);
    expect(pasta('ls', '-l').command).toEqual(['ls', '-l']);
    expect(pastaError('2147483648')).toBe('Invalid PID 2147483648');
    expect(pastaError('--netns', 'x', '1234')).toBe('Both --netns and PID or command given');
    expect(pastaError('--netns', 'x', 'true')).toBe('Both --netns and PID or command given');
    expect(pastaError('--userns', '')).toBe('Invalid userns: ');
    expect(pastaError('--netns', `/${'x'.repeat(4096)}`)).toBe(`Network namespace name/path /${'x'.repeat(4096)} too long`);
    expect(passtError('foo')).toBe('Extra non-option argument: foo');
    for (const o of ['--netns x', '--userns x', '--netns-only', '--no-netns-quit']) expect(passtError(...o.split(' '))).toBe(`${o.split(' ')[0]} is for pasta mode only`);
  });

  option('--config-net --no-copy-routes --no-copy-addrs', () => {
    expect([pasta().configNet, pasta('--config-net').configNet]).toEqual([false, true]);
    const c = pasta('--config-net', '--no-copy-routes', '--no-copy-addrs');
    expect([c.ip4!.copyRoutes, c.ip4!.copyAddrs, c.ip6!.copyRoutes, c.ip6!.copyAddrs]).toEqual([false, false, false, false]);
    expect(c.warnings).toEqual(['--no-copy-routes will be dropped soon', '--no-copy-addrs will be dropped soon']);
    expect(pastaError('--no-copy-routes')).toBe('--no-copy-routes needs --config-net');
    expect(pastaError('--no-copy-addrs')).toBe('--no-copy-addrs needs --config-net');
    expect(pasta('--no-copy-routes', '--config-net').configNet).toBe(true); // checked after the walk
    expect(passtError('--config-net')).toBe('--config-net is for pasta mode only');
    expect(passtError('--no-copy-routes')).toBe('--no-copy-routes is for pasta mode only');
  });

  option('--shared-engine', () => {
    // Read by the launcher (native/shared-client.cc) and the engine (src/cli/shared.ts); the configuration only records it.
    expect([pasta().sharedEngine, pasta('--shared-engine').sharedEngine, pasta('--shared').sharedEngine]).toEqual([false, true, true]);
    expect(passtError('--shared-engine')).toBe('--shared-engine is for pasta mode only');
    expect(pastaError('--shared-engine=1')).toBe("pasta: option '--shared-engine' doesn't allow an argument");
  });

  option('--ns-mac-addr', () => {
    expect(pasta().nsMac).toBeNull();
    expect(formatMac(pasta('--ns-mac-addr', '02:00:00:00:00:09', '--ns-mac-addr', '02:00:00:00:00:0a').nsMac!)).toBe('02:00:00:00:00:0a');
    expect(pastaError('--ns-mac-addr', 'x')).toBe('Invalid MAC address: x');
    expect(passtError('--ns-mac-addr', '00:11:22:33:44:55')).toBe('--ns-mac-addr is for pasta mode only');
  });

  it('has a test for every option of the table', () => {
    expect(OPTIONS.map((o) => `--${o.long}`).filter((name) => !covered.has(name))).toEqual([]);
  });
});

function formatMac(mac: Uint8Array): string {
  return [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

describe('template interface', () => {
  it('is the interface of the first default route, per IP version', () => {
    const c = passt();
    expect([c.ip4!.hostIfname, c.ip4!.hostIfindex, c.ip6!.hostIfname]).toEqual(['eth0', 3, 'eth0']);
    expect([ip(c.ip4!.addr), c.ip4!.prefixLen, ip(c.ip4!.gateway), ip(c.ip6!.addr), c.ip6!.prefixLen, ip(c.ip6!.gateway)]).toEqual([
      '198.51.100.2', 24, '198.51.100.1', '2001:db8::2', 64, '2001:db8::1',
    ]);
    // Several default routes: the first in the kernel's order (here the lower metric), as upstream says.
    const two = config('passt', [], { host: 'twodef' });
    expect([two.ip4!.hostIfname, ip(two.ip4!.addr), two.ip4!.prefixLen, two.ip6!.hostIfname]).toEqual(['eth1', '203.0.113.7', 25, 'eth0']);
    expect(two.notices).toEqual(['Multiple default IPv4 routes, picked first']);
  });

  it('is the first interface with any route when there is no default route', () => {
    const c = config('passt', [], { host: 'nodefault' });
    expect([c.ip4!.hostIfname, ip(c.ip4!.gateway), c.dhcp, c.ip6!.hostIfname, ip(c.ip6!.gateway)]).toEqual(['eth0', null, false, 'eth0', null]);
    const two = config('passt', [], { host: 'nodefault2' });
    expect(two.ip4!.hostIfname).toBe('eth0');
    expect(two.notices).toContain('Multiple interfaces with IPv4 routes, picked first');
  });

  it('skips routes through lo, to link-local prefixes, of other tables and types', () => {
    const r = (oif: number, dst: string | null, dstLen: number, extra: object = {}) => ({
      family: 4 as const, table: 254, dst: dst ? v4(dst) : null, dstLen, gateway: null, oif, protocol: 2, scope: 253, type: 1, ...extra,
    });
    expect(externalInterface([r(1, null, 0), r(2, '169.254.0.0', 16), r(3, null, 0, { table: 100 }), r(4, null, 0, { type: 2 }), r(0, null, 0), r(5, '10.0.0.0', 8)], 4)).toEqual({ index: 5, notes: [] });
    expect(externalInterface([], 6)).toEqual({ index: 0, notes: ['No interfaces with usable IPv6 routes'] });
  });

  it('gives the address with the longest prefix, not deprecated, and for IPv6 not link-scoped', () => {
    const c = config('passt', [], { host: 'twoaddr' });
    expect([ip(c.ip4!.addr), c.ip4!.prefixLen, ip(c.ip6!.addr), c.ip6!.prefixLen]).toEqual(['198.51.100.40', 28, '2001:db8::2', 64]);
    const host: HostNet = {
      ...HOSTS.twoaddr,
      addrs4: HOSTS.twoaddr.addrs4.map((a) => (a.prefixLen === 28 ? { ...a, flags: a.flags | 0x20 } : a)), // IFA_F_DEPRECATED
    };
    expect(ip(config('passt', [], { host }).ip4!.addr)).toBe('198.51.100.2');
  });

  it('needs, for IPv6, a link-local address on the interface or a link-local gateway', () => {
    // No link-local address: local mode, keeping the address found (as upstream's conf_ip6() leaves it).
    const noll = config('passt', [], { host: 'noll' });
    expect([noll.ip6!.hostIfname, ip(noll.ip6!.addr), ip(noll.ip6!.gateway), noll.dhcpv6]).toEqual(['', '2001:db8::2', 'fe80::1', true]);
    expect(noll.notices).toContain('IPv6: no external interface as template, use local mode');
    // A link-local gateway will do.
    const gwll = config('passt', [], { host: 'gwll' });
    expect([gwll.ip6!.hostIfname, ip(gwll.ip6!.addr), ip(gwll.ip6!.gateway)]).toEqual(['eth0', '2001:db8::2', 'fe80::1']);
  });

  it('can be an interface without a default gateway: then no DHCP and no mapping', () => {
    const c = config('passt', [], { host: 'nogw' });
    expect([c.ip4!.hostIfname, ip(c.ip4!.gateway), c.dhcp, c.mapHostLoopback4, c.ip6!.hostIfname, ip(c.ip6!.gateway)]).toEqual(['eth0', null, false, null, 'eth0', null]);
  });
});

describe('local mode', () => {
  it('IPv4: 169.254.2.1/16 via 169.254.2.2; IPv6: no address, via fe80::1', () => {
    const c = config('pasta', [], { host: 'noroutes' });
    expect([ip(c.ip4!.addr), c.ip4!.prefixLen, ip(c.ip4!.gateway), c.ip4!.hostIfname, c.ip4!.hostIfindex, c.ip4!.copyAddrs, c.ip4!.copyRoutes]).toEqual([
      '169.254.2.1', 16, '169.254.2.2', '', 0, false, false,
    ]);
    expect([ip(c.ip6!.addr), ip(c.ip6!.gateway), c.ip6!.hostIfname, c.ip6!.copyAddrs, c.ip6!.copyRoutes]).toEqual(['::', 'fe80::1', '', false, false]);
    // The gateways stand for the host; DHCP hands out 169.254.2.1; no DHCPv6 without an address, NDP yes.
    expect([ip(c.mapHostLoopback4), ip(c.mapHostLoopback6), c.dhcp, c.dhcpv6, c.ndp]).toEqual(['169.254.2.2', 'fe80::1', true, false, true]);
    expect(c.notices).toEqual([
      'No interfaces with usable IPv4 routes',
      'No interfaces with usable IPv6 routes',
      'IPv4: no external interface as template, use local mode',
      'IPv6: no external interface as template, use local mode',
    ]);
    expect(c.nsIfname).toBe('tap0');
  });

  it('per IP version', () => {
    const v4only = config('passt', [], { host: 'v4only' });
    expect([v4only.ip4!.hostIfname, v4only.ip6!.hostIfname, ip(v4only.ip6!.gateway)]).toEqual(['eth0', '', 'fe80::1']);
    const v6only = config('passt', [], { host: 'v6only' });
    expect([ip(v6only.ip4!.addr), v6only.ip6!.hostIfname]).toEqual(['169.254.2.1', 'eth0']);
    // An interface with a route but no address: local mode for its IP version.
    const noaddr = config('passt', [], { host: 'noaddr' });
    expect([ip(noaddr.ip4!.addr), noaddr.ip4!.hostIfname]).toEqual(['169.254.2.1', '']);
    expect(config('passt', ['-4'], { host: 'nolinks' }).ip6).toBeNull();
  });

  it('keeps -a and -g (deliberate: upstream overwrites them; for IPv6 it keeps -a)', () => {
    const c = config('passt', ['-a', '192.0.2.7', '-g', '192.0.2.1', '-a', '2001:db8::7', '-g', '2001:db8::1'], { host: 'noroutes' });
    expect([ip(c.ip4!.addr), c.ip4!.prefixLen, ip(c.ip4!.gateway), ip(c.ip6!.addr), ip(c.ip6!.gateway)]).toEqual(['192.0.2.7', 24, '192.0.2.1', '2001:db8::7', '2001:db8::1']);
    expect([ip(c.mapHostLoopback4), ip(c.mapHostLoopback6)]).toEqual(['192.0.2.1', '2001:db8::1']);
  });
});

describe('DNS', () => {
  it('advertises a loopback resolver as the address that maps to the host, and forwards DNS sent there to it', () => {
    const c = passt();
    expect(c.dns.map(formatIP)).toEqual(['198.51.100.1']);
    expect([ip(c.dnsForward4!.addr), ip(c.dnsForward4!.to), c.dnsForward6]).toEqual(['198.51.100.1', '127.0.0.53', null]);
    expect(describeConfig(c)).toContain('DNS forwarder 198.51.100.1 -> 127.0.0.53');
    // Both families' loopback resolvers; at most three per family.
    const m = config('passt', [], { resolv: RESOLV.mixed });
    expect(m.dns.map(formatIP)).toEqual(['192.0.2.53', '198.51.100.1', '2001:db8::53', '2001:db8::1']);
    expect([ip(m.dnsForward4!.to), ip(m.dnsForward6!.addr), ip(m.dnsForward6!.to)]).toEqual(['192.0.2.53', '2001:db8::1', '2001:db8::53']);
    expect(config('passt', [], { resolv: RESOLV.many }).dns.map(formatIP)).toEqual(['192.0.2.1', '192.0.2.2', '192.0.2.3']);
  });

  it('advertises the gateway when it is a resolver, forwarding to it (it stands for the host otherwise)', () => {
    const c = config('passt', [], { resolv: RESOLV.gateway });
    expect(c.dns.map(formatIP)).toEqual(['198.51.100.1', '2001:db8::1']);
    expect([ip(c.dnsForward4!.addr), ip(c.dnsForward4!.to), ip(c.dnsForward6!.addr), ip(c.dnsForward6!.to)]).toEqual(['198.51.100.1', '198.51.100.1', '2001:db8::1', '2001:db8::1']);
    // Without the mapping the gateway is a plain resolver.
    const n = config('passt', ['--no-map-gw'], { resolv: RESOLV.gateway });
    expect([n.dns.map(formatIP), n.dnsForward4, n.dnsForward6]).toEqual([['198.51.100.1', '2001:db8::1'], null, null]);
  });

  it('--dns-forward: advertised instead of a loopback resolver, forwarded to it', () => {
    const c = passt('--dns-forward', '169.254.1.1');
    expect(c.dns.map(formatIP)).toEqual(['169.254.1.1']);
    expect([ip(c.dnsForward4!.addr), ip(c.dnsForward4!.to)]).toEqual(['169.254.1.1', '127.0.0.53']);
    // A resolver that is not on loopback is advertised as it is; --dns-forward still forwards to the first.
    const v4 = config('passt', ['--dns-forward', '169.254.1.1'], { resolv: RESOLV.v4 });
    expect([v4.dns.map(formatIP), ip(v4.dnsForward4!.to)]).toEqual([['192.0.2.53'], '192.0.2.53']);
  });

  it('--no-map-gw: a loopback resolver is unreachable, unless --dns-forward', () => {
    const c = passt('--no-map-gw');
    expect([c.dns, c.dnsForward4]).toEqual([[], null]);
    expect(c.warnings).toEqual(["Couldn't get any nameserver address", 'No IPv4 nameserver available for DHCP', 'No IPv6 nameserver available for NDP/DHCPv6']);
    const f = passt('--no-map-gw', '--dns-forward', '169.254.1.1');
    expect([f.dns.map(formatIP), ip(f.dnsForward4!.to)]).toEqual([['169.254.1.1'], '127.0.0.53']);
  });

  it('-D: as given, for its IP version; resolv.conf for the other', () => {
    const c = passt('-D', '192.0.2.9');
    expect([c.dns.map(formatIP), c.dnsForward4]).toEqual([['192.0.2.9'], null]);
    const m = config('passt', ['-D', '192.0.2.9'], { resolv: RESOLV.mixed });
    expect(m.dns.map(formatIP)).toEqual(['192.0.2.9', '2001:db8::53', '2001:db8::1']);
    // Upstream counts resolv.conf's resolvers only for its warning: -D for IPv4 and none of IPv6 there.
    expect(pasta('-D', '192.0.2.9').warnings).toEqual(["Couldn't get any nameserver address"]);
  });

  it('-D none: no resolver, no forwarding (even --dns-forward given before it), no warning', () => {
    const c = passt('--dns-forward', '169.254.1.1', '-D', 'none');
    expect([c.dns, c.dnsForward4, c.dnsForward6, c.warnings]).toEqual([[], null, null, []]);
    // --dns-forward after -D none: resolv.conf is not read, so there is no resolver to forward to
    // (upstream would forward to 0.0.0.0); ours says so.
    const after = passt('-D', 'none', '--dns-forward', '169.254.1.1');
    expect([after.dns, after.dnsForward4]).toEqual([[], null]);
    expect(after.warnings).toEqual([
      '--dns-forward 169.254.1.1: the host has no resolver to forward to (no nameserver in /etc/resolv.conf, no --dns-host): DNS queries to it will go unanswered',
    ]);
    expect(ip(passt('-D', 'none', '--dns-forward', '169.254.1.1', '--dns-host', '192.0.2.53').dnsForward4!.to)).toBe('192.0.2.53');
  });

  it("--dns-host's default is resolv.conf's first resolver, also with -D (deliberate: upstream's code leaves it unset there)", () => {
    const c = passt('-D', '192.0.2.9', '--dns-forward', '169.254.1.1');
    expect([c.dns.map(formatIP), ip(c.dnsForward4!.to)]).toEqual([['192.0.2.9'], '127.0.0.53']);
  });

  it("--dns-forward of an IP version without a resolver goes to the other's (deliberate: upstream's to 0.0.0.0)", () => {
    const c = config('passt', ['--dns-forward', 'fd00::53'], { resolv: RESOLV.v4 });
    expect([ip(c.dnsForward6!.addr), ip(c.dnsForward6!.to)]).toEqual(['fd00::53', '192.0.2.53']);
    // No resolver at all: nothing to forward to, said once.
    const none = config('passt', ['--dns-forward', '169.254.1.1'], { resolv: RESOLV.none });
    expect(none.dnsForward4).toBeNull();
    expect(none.warnings).toContain('--dns-forward 169.254.1.1: the host has no resolver to forward to (no nameserver in /etc/resolv.conf, no --dns-host): DNS queries to it will go unanswered');
  });

  it("warns as upstream's get_dns()", () => {
    expect(config('passt', [], { resolv: RESOLV.none }).warnings).toEqual([
      "Couldn't get any nameserver address", 'No IPv4 nameserver available for DHCP', 'No IPv6 nameserver available for NDP/DHCPv6',
    ]);
    expect(config('passt', ['--no-dhcp', '--no-dhcpv6', '--no-ra'], { resolv: RESOLV.none }).warnings).toEqual(["Couldn't get any nameserver address"]);
    expect(config('passt', ['--no-dhcp', '--no-dhcpv6', '--no-ndp'], { resolv: RESOLV.none }).warnings).toEqual(["Couldn't get any nameserver address"]);
    expect(config('passt', ['-6'], { resolv: RESOLV.v4 }).warnings).toEqual(["Couldn't get any nameserver address", 'No IPv6 nameserver available for NDP/DHCPv6']);
    expect(config('pasta', [], { resolv: RESOLV.none }).warnings).toEqual(["Couldn't get any nameserver address"]); // no --dhcp-dns: no more
    expect(config('passt', [], { resolv: RESOLV.mixed }).warnings).toEqual([]);
  });

  it('search domains: resolv.conf\'s first search line, at most five; -S instead; -S none or --splice-only: none', () => {
    expect(passt().search).toEqual(['example.test']);
    expect(config('passt', [], { resolv: RESOLV.many }).search).toEqual(['d1', 'd2', 'd3', 'd4', 'd5']);
    expect(config('passt', ['-S', 'x.test'], { resolv: RESOLV.many }).search).toEqual(['x.test']);
    expect(passt('-S', 'none').search).toEqual([]);
    expect(config('passt', [], { resolv: 'search \nsearch late.test\n' }).search).toEqual(['late.test']); // a first line without a domain does not count
  });

  it('reads resolv.conf as upstream: "nameserver " lines, the last word, no %scope', () => {
    const r = parseResolvConf('# c\nnameserver 192.0.2.1\nnameserver\t192.0.2.2\nnameserver fe80::1%eth0\nnameserver 192.0.2.3 # x\n nameserver 192.0.2.4\noptions edns0\nsearch a b\tc\n');
    expect(r.nameservers.map(formatIP)).toEqual(['192.0.2.1', 'fe80::1']);
    expect(r.search).toEqual(['a', 'b', 'c']);
    expect(parseResolvConf('')).toEqual({ nameservers: [], search: [] });
  });
});

describe('port forwarding defaults', () => {
  it("pasta: 'auto' for -t, -u, -T, -U, without the ephemeral ports; -T and -U on the namespace's loopback", () => {
    const c = pasta();
    for (const spec of [c.tcpForward, c.udpForward, c.tcpNsForward, c.udpNsForward]) {
      expect(spec!.mode).toBe('auto');
      expect(spec!.rules.map((r) => [r.from, r.to, r.scan, r.weak])).toEqual([[1, 32767, true, true], [61000, 65535, true, true]]);
    }
    expect(c.tcpNsForward!.rules.every((r) => r.ifname === 'lo' || r.ifname === null)).toBe(true);
    // An option given replaces its default only.
    const t = pasta('-t', '22');
    expect([t.tcpForward!.mode, t.udpForward!.mode, t.tcpNsForward!.mode]).toEqual(['ports', 'auto', 'auto']);
  });

  it('none for a protocol that is off, and none in passt', () => {
    const c = pasta('--no-udp');
    expect([c.tcpForward!.mode, c.udpForward, c.tcpNsForward!.mode, c.udpNsForward]).toEqual(['auto', null, 'auto', null]);
    expect([passt().tcpForward, passt().udpForward, passt().tcpNsForward, passt().udpNsForward]).toEqual([null, null, null, null]);
  });
});

describe('describeConfig()', () => {
  it("prints upstream's conf_print() lines", () => {
    expect(describeConfig(pasta('-I', 'ns0', '-o', '192.0.2.99', '--outbound-if4', 'eth0', '-t', '22', '-U', '53', '--dns-forward', '169.254.1.1', '--no-map-gw'))).toEqual([
      'Template interface: eth0 (IPv4), eth0 (IPv6)',
      'Outbound interface: eth0 (IPv4)',
      'Outbound IPv4 address: 192.0.2.99',
      'Namespace interface: ns0',
      'MAC:',
      '    host: 9a:55:9a:55:9a:55',
      'DHCP:',
      '    assign: 198.51.100.2',
      '    mask: 255.255.255.0',
      '    router: 198.51.100.1',
      'DNS:',
      '    169.254.1.1',
      'DNS search list:',
      '    example.test',
      'NDP/DHCPv6:',
      '    assign: 2001:db8::2',
      '    router: 2001:db8::1',
      `    our link-local: ${templateLinkLocal('std')}`,
      'DNS search list:',
      '    example.test',
      'DNS forwarder 169.254.1.1 -> 127.0.0.53', // ours only
      'Inbound forwarding rules (HOST):',
      '    TCP [*]:22  =>  22 ',
      '    UDP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)',
      '    UDP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)',
      'Outbound forwarding rules (SPLICE):',
      '    TCP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)',
      '    TCP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)',
      '    UDP [*]%lo:53  =>  53 ',
    ]);
  });

  it('cuts a long list of rules', () => {
    const lines = describeConfig(passt('-t', Array.from({ length: 30 }, (_, i) => String(1000 + 2 * i)).join(',')));
    expect(lines.filter((l) => l.startsWith('    TCP'))).toHaveLength(20);
    expect(lines).toContain('    ... (10 more)');
  });
});

describe('parseNetmask()', () => {
  it('takes a contiguous dot-decimal mask or a prefix length as strtoul() reads it', () => {
    expect([parseNetmask('24'), parseNetmask('0'), parseNetmask('0x18'), parseNetmask(' 8'), parseNetmask('32')]).toEqual([24, 0, 24, 8, 32]);
    expect([parseNetmask('255.255.255.0'), parseNetmask('0.0.0.0'), parseNetmask('255.255.128.0'), parseNetmask('[255.255.0.0]')]).toEqual([24, 0, 17, 16]);
    // Upstream refuses 255.255.255.255 (a 32-bit shift by 32 in its check): a valid /32 here.
    expect(parseNetmask('255.255.255.255')).toBe(32);
    expect([parseNetmask('255.255.0.255'), parseNetmask('33'), parseNetmask('x'), parseNetmask('')]).toEqual([undefined, undefined, undefined, undefined]);
  });
});
