/**
 * --config-net's plan and its execution (src/confignet.ts): which addresses
 * and routes of the host's template interface go to the namespace, in which
 * order, set from which configuration fields; and how the requests are
 * sent — routes retried while others are missing, the link-local address
 * made NODAD — against a fake kernel. Host dumps are literal bytes laid out
 * as in linux/if_addr.h and linux/rtnetlink.h (little-endian host).
 */
import { describe, expect, it } from 'vitest';
import {
  LOOPBACK_IFINDEX,
  planNamespace,
  runNamespacePlan,
  templateAddrs,
  templateRoutes,
  type NsStep,
  type TemplateDump,
} from '../../src/confignet.js';
import type { Config, Ip4Config, Ip6Config } from '../../src/conf.js';
import {
  NLMSG_DONE,
  NLMSG_ERROR,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_MULTI,
  NLM_F_REPLACE,
  Netlink,
  RTM_DELADDR,
  RTM_GETADDR,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWROUTE,
  addrCopyPayload,
  addrNodadPayload,
  encodeMessage,
  parseMessages,
  routeCopyPayload,
  type NetlinkMessage,
  type NetlinkTransport,
} from '../../src/netlink.js';
import { parseIPv4, parseIPv6 } from '../../src/inet.js';

function hex(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text.replace(/[\s|]+/g, ''), 'hex'));
}
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const v4 = (s: string): Uint8Array => parseIPv4(s)!;
const v6 = (s: string): Uint8Array => parseIPv6(s)!;

const msg = (type: number, payload: Uint8Array): NetlinkMessage => ({ type, flags: NLM_F_MULTI, seq: 1, pid: 0, payload });
const addr = (text: string): NetlinkMessage => msg(RTM_NEWADDR, hex(text));
const route = (text: string): NetlinkMessage => msg(RTM_NEWROUTE, hex(text));

// The host: eth0 is index 2 (the template), peer0 index 3. The tap is index 5.
const ETH0 = 2;
const TAP = 5;

/** 198.51.100.2/24 on eth0, label eth0, permanent. */
const a4first = addr('02 18 80 00 02000000 | 0800 0100 c6336402 | 0800 0200 c6336402 | 0900 0300 65746830 00 000000 | 0800 0800 80000000');
/** 192.0.2.5/25 on eth0. */
const a4second = addr('02 19 80 00 02000000 | 0800 0100 c0000205 | 0800 0200 c0000205');
/** 10.0.0.1/8 on peer0: another interface. */
const a4other = addr('02 08 80 00 03000000 | 0800 0100 0a000001 | 0800 0200 0a000001');
/** 2001:db8::2/64 on eth0, with IFA_CACHEINFO. */
const a6global = addr('0a 40 80 00 02000000 | 1400 0100 20010db8 00000000 00000000 00000002 | 1400 0600 ffffffff ffffffff 64000000 64000000 | 0800 0800 80000000');
/** fe80::1/64 on eth0, scope link: never copied. */
const a6linklocal = addr('0a 40 80 fd 02000000 | 1400 0100 fe800000 00000000 00000000 00000001 | 0800 0800 80000000');
/** 2001:db8::3/64 on eth0, deprecated (in IFA_FLAGS only, as the kernel reports flags above 0xff). */
const a6deprecated = addr('0a 40 00 00 02000000 | 1400 0100 20010db8 00000000 00000000 00000003 | 0800 0800 a0000000');

/** default via 198.51.100.1 dev eth0, proto boot, main table. */
const r4default = route('02 00 00 00 fe 03 00 01 00000000 | 0800 0f00 fe000000 | 0800 0500 c6336401 | 0800 0400 02000000');
/** 10.30.0.0/16 via 198.51.100.253 dev eth0 src 192.0.2.5 metric 50. */
const r4prefsrc = route('02 10 00 00 fe 03 00 01 00000000 | 0800 0f00 fe000000 | 0800 0100 0a1e0000 | 0800 0600 32000000 | 0800 0700 c0000205 | 0800 0500 c63364fd | 0800 0400 02000000');
/** 10.99.0.0/16 dev peer0. */
const r4other = route('02 10 00 00 fe 03 fd 01 00000000 | 0800 0f00 fe000000 | 0800 0100 0a630000 | 0800 0400 03000000');
/** local 198.51.100.2 dev eth0, local table. */
const r4local = route('02 20 00 00 ff 02 fe 02 00000000 | 0800 0f00 ff000000 | 0800 0100 c6336402 | 0800 0400 02000000');
/** A cached (RTM_F_CLONED) exception for 203.0.113.1 dev eth0. */
const r4cloned = route('02 20 00 00 fe 03 00 01 00020000 | 0800 0f00 fe000000 | 0800 0100 cb007101 | 0800 0400 02000000');
/** unreachable 10.91.0.0/16: no interface. */
const r4unreachable = route('02 10 00 00 fe 03 00 07 00000000 | 0800 0f00 fe000000 | 0800 0100 0a5b0000');
/** 10.50.0.0/16 multipath, one hop on eth0, one on peer0: not copied. */
const r4mixed = route('02 10 00 00 fe 03 00 01 00000000 | 0800 0f00 fe000000 | 0800 0100 0a320000 | 1c00 0900 | 1000 00 00 02000000 | 0800 0500 c633640c | 0800 00 00 03000000');
/** 10.20.0.0/16 via 198.51.100.254 dev eth0 in table 100 (RTA_TABLE): not main. */
const r4table100 = route('02 10 00 00 64 03 00 01 00000000 | 0800 0f00 64000000 | 0800 0100 0a140000 | 0800 0500 c63364fe | 0800 0400 02000000');
/** default via 2001:db8::1 dev eth0 metric 1024, proto boot. */
const r6default = route('0a 00 00 00 fe 03 00 01 00000000 | 0800 0f00 fe000000 | 0800 0600 00040000 | 1400 0500 20010db8 00000000 00000000 00000001 | 0800 0400 02000000 | 0500 1400 00 000000');

const host: { 4: TemplateDump; 6: TemplateDump } = {
  4: { addrs: [a4first, a4other, a4second], routes: [r4default, r4local, r4prefsrc, r4other, r4cloned, r4unreachable, r4mixed, r4table100] },
  6: { addrs: [a6linklocal, a6global, a6deprecated], routes: [r6default] },
};

function ip4(fields: Partial<Ip4Config> = {}): Ip4Config {
  return { addr: v4('198.51.100.2'), prefixLen: 24, gateway: v4('198.51.100.1'), hostIfname: 'eth0', hostIfindex: ETH0, copyAddrs: true, copyRoutes: true, ...fields };
}

function ip6(fields: Partial<Ip6Config> = {}): Ip6Config {
  return { addr: v6('2001:db8::2'), prefixLen: 64, gateway: v6('2001:db8::1'), hostIfname: 'eth0', hostIfindex: ETH0, copyAddrs: true, copyRoutes: true, ...fields };
}

/** The fields planNamespace reads; the rest of Config does not matter here. */
function config(fields: Partial<Config>): Config {
  return { configNet: true, mtu: 65520, nsMac: null, nsIfname: 'eth0', ip4: ip4(), ip6: ip6(), ...fields } as Config;
}

/** One line per step, for comparing plans. */
function summary(steps: NsStep[]): string[] {
  return steps.map((step) => {
    if (step.kind === 'request') return step.what + (step.flags === NLM_F_CREATE ? ' (create)' : step.flags === (NLM_F_CREATE | NLM_F_EXCL) ? ' (excl)' : '');
    if (step.kind === 'routes') return `routes: ${step.routes.map((r) => r.what).join('; ')}`;
    return `link-local nodad on index ${step.index}`;
  });
}

describe('planNamespace', () => {
  it('copies every usable address and route of the template interface, in upstream order', () => {
    const steps = planNamespace(config({}), TAP, host);
    expect(summary(steps)).toEqual([
      'RTM_NEWLINK index 1 up',
      'RTM_NEWLINK index 5 mtu 65520',
      'RTM_NEWLINK index 5 up noarp',
      'RTM_NEWADDR 198.51.100.2/24 on index 5 (create)',
      'RTM_NEWADDR 192.0.2.5/25 on index 5 (create)',
      'routes: RTM_NEWROUTE default via 198.51.100.1 on index 5; RTM_NEWROUTE 10.30.0.0/16 via 198.51.100.253 on index 5 metric 50',
      'link-local nodad on index 5',
      'RTM_NEWLINK index 5 arp on',
      'RTM_NEWADDR 2001:db8::2/64 on index 5 (create)',
      'routes: RTM_NEWROUTE default via 2001:db8::1 on index 5 metric 1024',
    ]);
    const requests = steps.filter((s) => s.kind === 'request');
    expect(toHex(requests[0]!.payload)).toBe(toHex(hex('00 00 0000 01000000 01000000 01000000')));
    expect(toHex(requests[2]!.payload)).toBe(toHex(hex('00 00 0000 05000000 81000000 81000000')));
    expect(toHex(requests[3]!.payload)).toBe(toHex(addrCopyPayload(a4first.payload, TAP)!));
    expect(toHex(requests[5]!.payload)).toBe(toHex(hex('00 00 0000 05000000 00000000 80000000')));
    const routes = steps.filter((s) => s.kind === 'routes');
    expect(routes.map((s) => s.family)).toEqual([4, 6]);
    expect(toHex(routes[0]!.routes[1]!.payload)).toBe(toHex(routeCopyPayload(r4prefsrc.payload, ETH0, TAP)!));
  });

  it('sets addr and a default route via gateway when told not to copy (-a, -g); IPv6 with prefix length 64', () => {
    const steps = planNamespace(
      config({
        mtu: 0,
        ip4: ip4({ addr: v4('198.51.100.77'), copyAddrs: false, copyRoutes: false }),
        ip6: ip6({ addr: v6('2001:db8::77'), prefixLen: 80, copyAddrs: false, copyRoutes: false }),
      }),
      TAP,
      host,
    );
    expect(summary(steps)).toEqual([
      'RTM_NEWLINK index 1 up',
      'RTM_NEWLINK index 5 up noarp',
      'RTM_NEWADDR 198.51.100.77/24 on index 5 (excl)',
      'RTM_NEWROUTE default via 198.51.100.1 on index 5 (excl)',
      'link-local nodad on index 5',
      'RTM_NEWLINK index 5 arp on',
      'RTM_NEWADDR 2001:db8::77/64 on index 5 (excl)',
      'RTM_NEWROUTE default via 2001:db8::1 on index 5 (excl)',
    ]);
    const requests = steps.filter((s) => s.kind === 'request');
    // nl_addr_set(): IFA_LOCAL and IFA_ADDRESS; IPv6 NODAD.
    expect(toHex(requests[2]!.payload)).toBe(toHex(hex('02 18 00 00 05000000 | 0800 0200 c633644d | 0800 0100 c633644d')));
    expect(toHex(requests[5]!.payload)).toBe(
      toHex(hex('0a 40 02 00 05000000 | 1400 0100 20010db8 00000000 00000000 00000077 | 0800 0800 02000000')),
    );
    // nl_route_set_def(): main table, proto boot, scope universe, unicast; gateway and output interface.
    expect(toHex(requests[3]!.payload)).toBe(toHex(hex('02 00 00 00 fe 03 00 01 00000000 | 0800 0500 c6336401 | 0800 0400 05000000')));
    // Copying addresses but not routes, and the other way round.
    expect(summary(planNamespace(config({ ip4: ip4({ copyRoutes: false }), ip6: null }), TAP, host)).slice(3)).toEqual([
      'RTM_NEWADDR 198.51.100.2/24 on index 5 (create)',
      'RTM_NEWADDR 192.0.2.5/25 on index 5 (create)',
      'RTM_NEWROUTE default via 198.51.100.1 on index 5 (excl)',
    ]);
    expect(summary(planNamespace(config({ ip4: ip4({ copyAddrs: false }), ip6: null }), TAP, host)).slice(3, 4)).toEqual([
      'RTM_NEWADDR 198.51.100.2/24 on index 5 (excl)',
    ]);
  });

  it('local mode: 169.254.2.1/16 via 169.254.2.2, no IPv6 address, IPv6 default via fe80::1; nothing copied', () => {
    const local4 = ip4({ addr: v4('169.254.2.1'), prefixLen: 16, gateway: v4('169.254.2.2'), hostIfname: '', hostIfindex: 0, copyAddrs: false, copyRoutes: false });
    const local6 = ip6({ addr: new Uint8Array(16), gateway: v6('fe80::1'), hostIfname: '', hostIfindex: 0, copyAddrs: false, copyRoutes: false });
    const steps = planNamespace(config({ nsIfname: 'tap0', ip4: local4, ip6: local6 }), TAP, host);
    expect(summary(steps)).toEqual([
      'RTM_NEWLINK index 1 up',
      'RTM_NEWLINK index 5 mtu 65520',
      'RTM_NEWLINK index 5 up noarp',
      'RTM_NEWADDR 169.254.2.1/16 on index 5 (excl)',
      'RTM_NEWROUTE default via 169.254.2.2 on index 5 (excl)',
      'link-local nodad on index 5',
      'RTM_NEWLINK index 5 arp on',
      'RTM_NEWROUTE default via fe80::1 on index 5 (excl)',
    ]);
    const requests = steps.filter((s) => s.kind === 'request');
    expect(requests.map((s) => s.unsupportedSkips)).toEqual([undefined, undefined, undefined, 4, undefined, undefined, 6]);
    // No template interface: nothing is copied even if the flags say so.
    expect(summary(planNamespace(config({ ip4: { ...local4, copyAddrs: true, copyRoutes: true }, ip6: null }), TAP, host))).toEqual([
      'RTM_NEWLINK index 1 up',
      'RTM_NEWLINK index 5 mtu 65520',
      'RTM_NEWLINK index 5 up',
      'RTM_NEWADDR 169.254.2.1/16 on index 5 (excl)',
      'RTM_NEWROUTE default via 169.254.2.2 on index 5 (excl)',
    ]);
  });

  it('IPv4 only: no NOARP, no link-local step; a missing gateway adds no route', () => {
    expect(summary(planNamespace(config({ ip6: null, ip4: ip4({ copyRoutes: false, gateway: null }) }), TAP, host))).toEqual([
      'RTM_NEWLINK index 1 up',
      'RTM_NEWLINK index 5 mtu 65520',
      'RTM_NEWLINK index 5 up',
      'RTM_NEWADDR 198.51.100.2/24 on index 5 (create)',
      'RTM_NEWADDR 192.0.2.5/25 on index 5 (create)',
    ]);
  });

  it('loopback and --ns-mac-addr on every run; nothing else without --config-net', () => {
    const mac = hex('02000000abcd');
    const steps = planNamespace(config({ configNet: false, nsMac: mac }), TAP, host);
    expect(summary(steps)).toEqual(['RTM_NEWLINK index 1 up', 'RTM_NEWLINK index 5 address 02:00:00:00:ab:cd']);
    expect(toHex((steps[1] as { payload: Uint8Array }).payload)).toBe(toHex(hex('00 00 0000 05000000 00000000 00000000 | 0a00 0100 02000000abcd 0000')));
    expect(summary(planNamespace(config({ configNet: false }), TAP, host))).toEqual(['RTM_NEWLINK index 1 up']);
    expect(summary(planNamespace(config({ nsMac: mac }), TAP, host)).slice(0, 3)).toEqual([
      'RTM_NEWLINK index 1 up',
      'RTM_NEWLINK index 5 address 02:00:00:00:ab:cd',
      'RTM_NEWLINK index 5 mtu 65520',
    ]);
    expect(LOOPBACK_IFINDEX).toBe(1);
  });

  it('selects template addresses and routes as upstream does', () => {
    expect(templateAddrs(host[4].addrs, ETH0, 4)).toEqual([a4first, a4second]);
    expect(templateAddrs(host[4].addrs, 3, 4)).toEqual([a4other]);
    expect(templateAddrs(host[6].addrs, ETH0, 6)).toEqual([a6global]);
    expect(templateAddrs(host[6].addrs, ETH0, 4)).toEqual([]);
    // Main table, unicast, not cloned, through eth0 (the mixed multipath route too: routeCopyPayload drops it).
    expect(templateRoutes(host[4].routes, ETH0, 4)).toEqual([r4default, r4prefsrc, r4mixed]);
    expect(templateRoutes(host[4].routes, 3, 4)).toEqual([r4other, r4mixed]);
    expect(templateRoutes(host[6].routes, ETH0, 6)).toEqual([r6default]);
    expect(routeCopyPayload(r4mixed.payload, ETH0, TAP)).toBeUndefined();
  });
});

// --- running a plan against a fake kernel -----------------------------------------

function reply(type: number, flags: number, seq: number, payload: Uint8Array): Uint8Array {
  return encodeMessage(type, flags, seq, payload);
}

function ack(seq: number, errno = 0): Uint8Array {
  const payload = new Uint8Array(20);
  new DataView(payload.buffer).setInt32(0, -errno, true);
  return reply(NLMSG_ERROR, 0x100, seq, payload);
}

/** Answers each request with `answer(request)` (an errno, or dump payloads); records what was sent. */
class FakeKernel implements NetlinkTransport {
  readonly sent: NetlinkMessage[] = [];
  private pending: Uint8Array[] = [];

  constructor(private readonly answer: (request: NetlinkMessage) => number | NetlinkMessage[]) {}

  send(message: Uint8Array): void {
    const [request] = parseMessages(message.slice());
    this.sent.push(request!);
    const answer = this.answer(request!);
    if (typeof answer === 'number') {
      this.pending.push(ack(request!.seq, answer));
    } else {
      const done = new Uint8Array(4);
      this.pending.push(new Uint8Array([...answer.flatMap((m) => [...reply(m.type, NLM_F_MULTI, request!.seq, m.payload)]), ...reply(NLMSG_DONE, NLM_F_MULTI, request!.seq, done)]));
    }
  }

  recv(): Uint8Array[] {
    const next = this.pending.shift();
    if (!next) throw new Error('no reply');
    return [next];
  }
}

class Log {
  readonly debugs: string[] = [];
  readonly warnings: string[] = [];
  debug(message: string): void {
    this.debugs.push(message);
  }
  warn(message: string): void {
    this.warnings.push(message);
  }
}

const routeStep = (family: 4 | 6, names: string[]): NsStep => ({
  kind: 'routes',
  family,
  context: `cannot set IPv${family} route(s) in the namespace`,
  routes: names.map((name, i) => ({ payload: hex(`02 10 00 00 fe 03 00 01 00000000 | 0800 0100 0a${i.toString(16).padStart(2, '0')}0000`), what: name })),
});

/** Which route a sent RTM_NEWROUTE was (by the second byte of its RTA_DST). */
const routeName = (names: string[], message: NetlinkMessage): string => names[message.payload[17]!]!;

describe('runNamespacePlan', () => {
  it('sends copied routes again while a pass adds some; EEXIST is done', () => {
    const names = ['A', 'B', 'C', 'D'];
    // A needs B (unreachable until B is in); C exists already; D is never reachable.
    const added = new Set<string>();
    const kernel = new FakeKernel((request) => {
      const name = routeName(names, request);
      if (name === 'A' && !added.has('B')) return 101;
      if (name === 'C') return 17;
      if (name === 'D') return 113;
      added.add(name);
      return 0;
    });
    const log = new Log();
    runNamespacePlan(new Netlink(3, kernel), [routeStep(4, names)], log);
    expect(kernel.sent.map((m) => routeName(names, m))).toEqual(['A', 'B', 'C', 'D', 'A', 'D', 'D']);
    expect(kernel.sent.every((m) => m.type === RTM_NEWROUTE && m.flags === (NLM_F_CREATE | 0x5))).toBe(true);
    expect([...added]).toEqual(['B', 'A']);
    expect(log.debugs.at(-1)).toBe('namespace: left out, its gateway is unreachable: D');
    expect(log.warnings).toEqual([]);
  });

  it('stops with the context on any other refusal', () => {
    const kernel = new FakeKernel(() => 22);
    expect(() => runNamespacePlan(new Netlink(3, kernel), [routeStep(6, ['A'])], new Log())).toThrow(
      'cannot set IPv6 route(s) in the namespace: netlink A: Invalid argument (EINVAL)',
    );
    const steps = planNamespace(config({ ip6: null }), TAP, host);
    const failing = new FakeKernel((request) => (request.type === RTM_NEWADDR ? 17 : 0));
    expect(() => runNamespacePlan(new Netlink(3, failing), steps, new Log())).toThrow(
      'cannot set IPv4 address(es) in the namespace: netlink RTM_NEWADDR 198.51.100.2/24 on index 5: File exists (EEXIST)',
    );
  });

  it('warns on the MTU and NOARP requests, as upstream ignores them', () => {
    const steps = planNamespace(config({ ip4: null, ip6: ip6({ copyAddrs: false, copyRoutes: false }) }), TAP, host);
    const kernel = new FakeKernel((request) => {
      if (request.type === RTM_GETADDR) return [];
      if (request.type === RTM_NEWLINK && request.payload.length > 16) return 22; // mtu
      if (request.type === RTM_NEWLINK && request.payload[12] === 0x80) return 1; // arp on
      return 0;
    });
    const log = new Log();
    runNamespacePlan(new Netlink(3, kernel), steps, log);
    expect(log.warnings).toEqual([
      'cannot set the MTU in the namespace: netlink RTM_NEWLINK index 5 mtu 65520: Invalid argument (EINVAL)',
      'cannot clear NOARP on the interface in the namespace: netlink RTM_NEWLINK index 5 arp on: Operation not permitted (EPERM)',
    ]);
    expect(kernel.sent.map((m) => m.type)).toEqual([RTM_NEWLINK, RTM_NEWLINK, RTM_NEWLINK, RTM_GETADDR, RTM_NEWLINK, RTM_NEWADDR, RTM_NEWROUTE]);
  });

  it('local mode: an IP version the kernel does not support is left out with a warning', () => {
    const local4 = ip4({ addr: v4('169.254.2.1'), prefixLen: 16, gateway: v4('169.254.2.2'), hostIfindex: 0, copyAddrs: false, copyRoutes: false });
    const steps = planNamespace(config({ ip4: local4, ip6: null }), TAP, host);
    const kernel = new FakeKernel((request) => (request.type === RTM_NEWADDR ? 95 : 0));
    const log = new Log();
    runNamespacePlan(new Netlink(3, kernel), steps, log);
    expect(log.warnings).toEqual(['IPv4 not supported, disabling']);
    expect(kernel.sent.map((m) => m.type)).toEqual([RTM_NEWLINK, RTM_NEWLINK, RTM_NEWLINK, RTM_NEWADDR]);
  });

  it('makes the link-local address NODAD: replaced in place, or deleted and added again while tentative', () => {
    /** fe80::2/64 on the tap, tentative and permanent, with IFA_CACHEINFO, IFA_FLAGS and IFA_PROTO (kernel_ll). */
    const tentative = addr('0a 40 c0 fd 05000000 | 1400 0100 fe800000 00000000 00000000 00000002 | 1400 0600 ffffffff ffffffff 64000000 64000000 | 0800 0800 c0000000 | 0500 0b00 01 000000');
    /** fe80::3/64 on the tap, not tentative. */
    const settled = addr('0a 40 80 fd 05000000 | 1400 0100 fe800000 00000000 00000000 00000003 | 0800 0800 80000000');
    /** fe80::4/64 on another link, and a global address on the tap: left alone. */
    const elsewhere = addr('0a 40 c0 fd 06000000 | 1400 0100 fe800000 00000000 00000000 00000004 | 0800 0800 c0000000');
    const global = addr('0a 40 80 00 05000000 | 1400 0100 20010db8 00000000 00000000 00000002 | 0800 0800 80000000');
    const kernel = new FakeKernel((request) => (request.type === RTM_GETADDR ? [tentative, elsewhere, global, settled] : 0));
    const log = new Log();
    runNamespacePlan(new Netlink(3, kernel), [{ kind: 'linkLocalNodad', index: TAP }], log);
    expect(kernel.sent.map((m) => [m.type, m.flags, toHex(m.payload)])).toEqual([
      [RTM_GETADDR, 0x305, toHex(hex('0a 00 00 00 00000000'))],
      [RTM_DELADDR, 0x5, toHex(tentative.payload)],
      // Added again: NODAD, lifetimes (IFA_CACHEINFO) dropped, IFA_PROTO kept.
      [RTM_NEWADDR, 0x5 | NLM_F_CREATE | NLM_F_EXCL, toHex(hex('0a 40 c2 fd 05000000 | 1400 0100 fe800000 00000000 00000000 00000002 | 0800 0800 c2000000 | 0500 0b00 01 000000'))],
      [RTM_NEWADDR, 0x5 | NLM_F_REPLACE, toHex(addrNodadPayload(settled.payload)!)],
    ]);
    expect(log.debugs).toEqual([
      'namespace: link-local fe80::2/64 on index 5 added again, nodad (it was tentative)',
      'namespace: link-local fe80::3/64 on index 5 nodad',
    ]);
    // A failure there is only a warning, as upstream's.
    const refusing = new FakeKernel((request) => (request.type === RTM_GETADDR ? [settled] : 1));
    const warned = new Log();
    runNamespacePlan(new Netlink(3, refusing), [{ kind: 'linkLocalNodad', index: TAP }], warned);
    expect(warned.warnings).toEqual([
      'cannot set nodad for the link-local address in the namespace: netlink RTM_NEWADDR fe80::3/64 on index 5 nodad: Operation not permitted (EPERM)',
    ]);
  });
});
