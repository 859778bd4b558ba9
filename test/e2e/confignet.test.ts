// `pasta --config-net` configures the namespace as upstream pasta(1) does.
//
// Fake hosts are network namespaces made here, below the topology's private
// "host" user namespace (see topology-core.js); each gets its uplink eth0 (a
// veth whose peer, peer0, stays in the same namespace), addresses and
// routes, and no traffic leaves it:
//
//   A  two and more addresses per IP version on eth0 (a labelled one, a
//      secondary one with lifetimes, a deprecated and a noprefixroute IPv6
//      one), default routes, a /16 via a gateway, host routes, a preferred
//      source, metrics, onlink, multipath, realms, a route whose gateway is
//      reachable only through another route listed after it, and routes that
//      must not be copied (other interface, other table, unreachable,
//      blackhole, multipath through peer0);
//   B  addresses but no default route;
//   C  no interface but loopback (local mode);
//   D  IPv4 only (no IPv6 address but eth0's link-local one).
//
// In each, pasta runs `ip -j` inside its namespace and the result is
// compared with what upstream pasta (passt 2026_07_16.090d739-11-g37a73a2)
// made in the same fake hosts: the literal expectations below, recorded with
// its binary (CI has none). Set NODE_PASST_UPSTREAM_PASTA to the path of an
// upstream `pasta` binary to run it again here and check the literals.
//
// Where ours differs, on purpose (src/confignet.ts says why):
// - upstream's link-local address is still "tentative" when the command
//   starts (the kernel's DAD work runs up to 1 s later): ours never is, so
//   the expectations leave that flag out and every run asserts that no
//   address is tentative;
// - the tap's MAC address is the kernel's random one in both (checked only
//   with --ns-mac-addr), and so is the link-local address made from it.
//
// Cases B, C, D and --ns-mac-addr depend on what conf.ts puts in Config
// (template interface without a default route, local mode, nsMac). Each is
// run twice: through the command line, and through a small driver that
// builds the Config the same way and then sets those fields as upstream's
// conf.c would (configureNamespace's inputs), so that this file checks the
// namespace configuration itself whatever state conf.ts is in.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTopology, type Namespace, type Topology } from './topology.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const PASTA = path.join(root, 'bin', 'pasta.js');
const DIST = path.join(root, 'dist');
const NODE = process.execPath;
const UPSTREAM = process.env.NODE_PASST_UPSTREAM_PASTA;

/** `ip -batch` input building each fake host; eth0 and peer0 are a veth pair, both up. */
const UPLINK = ['link add eth0 mtu 1500 type veth peer name peer0 mtu 1500', 'link set peer0 up', 'link set eth0 up'];
const HOSTS: Record<'A' | 'B' | 'C' | 'D', string[]> = {
  A: [
    ...UPLINK,
    'address add 198.51.100.2/24 dev eth0',
    'address add 192.0.2.5/25 dev eth0 label eth0:x',
    'address add 198.51.100.9/24 dev eth0 valid_lft 1000 preferred_lft 1000',
    'address add 2001:db8::2/64 dev eth0 nodad',
    'address add 2001:db8:5::9/80 dev eth0 nodad',
    'address add 2001:db8::3/64 dev eth0 nodad preferred_lft 0',
    'address add 2001:db8:6::1/64 dev eth0 nodad noprefixroute',
    'route add default via 198.51.100.1 dev eth0',
    'route add 10.20.0.0/16 via 198.51.100.254 dev eth0',
    'route add 203.0.113.7 dev eth0',
    'route add 10.30.0.0/16 via 198.51.100.253 dev eth0 src 192.0.2.5 metric 50',
    'route add 10.40.0.0/16 nexthop via 198.51.100.10 dev eth0 nexthop via 198.51.100.11 dev eth0',
    'route add 10.50.0.0/16 nexthop via 198.51.100.12 dev eth0 nexthop dev peer0',
    'route add 10.60.0.0/16 via 203.0.113.7 dev eth0',
    'route add 10.70.0.0/16 via 198.51.100.1 dev eth0 table 100',
    'route add 10.80.0.0/16 via 192.168.255.1 dev eth0 onlink',
    'route add 10.99.0.0/16 dev peer0',
    'route add default via 198.51.100.1 dev eth0 metric 300 mtu 1400',
    'route add 10.90.0.0/16 dev eth0 metric 7 advmss 1000 initcwnd 20',
    'route add unreachable 10.91.0.0/16',
    'route add blackhole 10.92.0.0/16',
    'route add 10.93.0.0/16 dev eth0 proto static',
    'route add 10.94.0.0/16 via 198.51.100.200 dev eth0 proto 99',
    'route add 10.95.0.0/16 via 198.51.100.201 dev eth0 metric 5',
    'route add 10.95.0.0/16 via 198.51.100.202 dev eth0 metric 6',
    'route add 10.96.0.0/16 via 198.51.100.203 dev eth0 tos 0x10',
    'route add 10.98.0.0/16 via 198.51.100.1 dev eth0 realms 3 rtt 100ms',
    'route add 2001:db8:77::/48 via 2001:db8::fe dev eth0',
    'route add 2001:db8:99::1 dev eth0',
    'route add 2001:db8:55::/48 via 2001:db8:99::1 dev eth0',
    'route add 2001:db8:88::/48 via 2001:db8::fd dev eth0 src 2001:db8::2',
    'route add 2001:db8:66::/48 nexthop via 2001:db8::a dev eth0 nexthop via 2001:db8::b dev eth0',
    'route add 2001:db8:44::/48 via 2001:db8::c dev eth0 metric 10 pref high mtu 1400',
    'route add 2001:db8:33::/48 via 2001:db8::c dev eth0 expires 600',
    'route add 2001:db8:22::/48 via fe80::1 dev eth0',
    'route add 2001:db8:11::/48 dev peer0',
    'route add unreachable 2001:db8:f::/48',
    'route add default via 2001:db8::1 dev eth0',
    'route add default via 2001:db8::99 dev eth0 metric 2048',
  ],
  B: [...UPLINK, 'address add 198.51.100.2/24 dev eth0', 'address add 2001:db8::2/64 dev eth0 nodad'],
  C: [],
  D: [...UPLINK, 'address add 198.51.100.2/24 dev eth0', 'route add default via 198.51.100.1 dev eth0'],
};

/** Run inside pasta's namespace: links, addresses, routes of both versions, every table. */
const INSPECT = 'ip -j link show; echo @@; ip -j address show; echo @@; ip -4 -d -j route show table all; echo @@; ip -6 -d -j route show table all';

type Json = Record<string, unknown>;

/** What is compared: the tap's link, its addresses, the routes of every table but `local`. */
interface NsView {
  link: { ifname: string; mtu: number; flags: string[] };
  addrs: Json[];
  routes4: Json[];
  routes6: Json[];
}

/** Everything read, for the checks beyond the comparison. */
interface Inspected {
  view: NsView;
  mac: string;
  lo: Json;
  /** Every address of every link, as `ip -j` reports them. */
  allAddrs: Json[];
}

/** A link-local address stands in the expectations as this (the kernel makes it from the random MAC). */
const KERNEL_LL = 'fe80::(kernel)';

function inspect(stdout: string): Inspected {
  const [links, addrs, routes4, routes6] = stdout.split('@@\n').map((part) => JSON.parse(part) as Json[]);
  const tap = links!.find((l) => l.ifname !== 'lo')!;
  const lo = links!.find((l) => l.ifname === 'lo')!;
  const tapAddrs = (addrs!.find((l) => l.ifname === tap.ifname)?.addr_info ?? []) as Json[];
  const notLocal = (r: Json): boolean => r.table !== 'local';
  return {
    view: {
      link: { ifname: tap.ifname as string, mtu: tap.mtu as number, flags: tap.flags as string[] },
      addrs: tapAddrs.map((a) => (a.scope === 'link' && String(a.local).startsWith('fe80:') ? { ...a, local: KERNEL_LL } : a)),
      routes4: routes4!.filter(notLocal),
      routes6: routes6!.filter(notLocal),
    },
    mac: tap.address as string,
    lo: { flags: lo.flags, addrs: ((addrs!.find((l) => l.ifname === 'lo')?.addr_info ?? []) as Json[]).map((a) => `${a.local}/${a.prefixlen}`) },
    allAddrs: addrs!.flatMap((l) => (l.addr_info ?? []) as Json[]),
  };
}

// --- upstream's results (normalised as above; the link-local address without "tentative") ---

const forever = { valid_life_time: 4294967295, preferred_life_time: 4294967295 };
const inet = (local: string, prefixlen: number, label: string, extra: Json = {}): Json => ({ family: 'inet', local, prefixlen, scope: 'global', ...extra, label, ...forever });
const inet6 = (local: string, prefixlen: number, extra: Json = {}): Json => ({ family: 'inet6', local, prefixlen, scope: 'global', nodad: true, ...extra, ...forever });
const linkLocal: Json = { family: 'inet6', local: KERNEL_LL, prefixlen: 64, scope: 'link', nodad: true, ...forever };
const UP = ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'];

/** An IPv4 route as `ip -4 -d -j route` prints one of the main table. */
const r4 = (fields: Json): Json => ({ type: 'unicast', ...fields });
/** An IPv6 route as `ip -6 -d -j route` prints one of the main table. */
const r6 = (fields: Json): Json => ({ type: 'unicast', ...fields });
const kernel4 = (dst: string, dev: string, prefsrc?: string): Json =>
  r4({ dst, dev, table: 'main', protocol: 'kernel', scope: 'link', ...(prefsrc ? { prefsrc } : {}), flags: [] });
const kernel6 = (dst: string, dev: string): Json => r6({ dst, dev, table: 'main', protocol: 'kernel', scope: 'global', metric: 256, flags: [], pref: 'medium' });
const boot6 = (dst: string, dev: string, fields: Json = {}): Json =>
  r6({ dst, ...fields, dev, table: 'main', protocol: 'boot', scope: 'global', metric: 1024, flags: [], pref: 'medium' });

const EXPECTED: Record<'A' | 'B' | 'C' | 'D' | 'A-set', NsView> = {
  // Host A: every address but the deprecated one, label and lifetimes gone
  // (198.51.100.9 stays secondary); every route through eth0 in the main
  // table, preferred sources gone — and each IPv4 prefix route twice, as the
  // copy without its preferred source is another route for the kernel.
  A: {
    link: { ifname: 'eth0', mtu: 65520, flags: UP },
    addrs: [
      inet('198.51.100.2', 24, 'eth0'),
      inet('192.0.2.5', 25, 'eth0'),
      inet('198.51.100.9', 24, 'eth0', { secondary: true }),
      inet6('2001:db8::2', 64),
      inet6('2001:db8:5::9', 80),
      inet6('2001:db8:6::1', 64, { noprefixroute: true }),
      linkLocal,
    ],
    routes4: [
      r4({ dst: 'default', gateway: '198.51.100.1', dev: 'eth0', table: 'main', protocol: 'boot', scope: 'global', flags: [] }),
      r4({ dst: 'default', gateway: '198.51.100.1', dev: 'eth0', table: 'main', protocol: 'boot', scope: 'global', metric: 300, flags: [], metrics: [{ mtu: 1400 }] }),
      r4({ dst: '10.20.0.0/16', gateway: '198.51.100.254', dev: 'eth0', table: 'main', protocol: 'boot', scope: 'global', flags: [] }),
      r4({ dst: '10.30.0.0/16', gateway: '198.51.100.253', dev: 'eth0', table: 'main', protocol: 'boot', scope: 'global', metric: 50, flags: [] }),
      r4({
        dst: '10.40.0.0/16', table: 'main', protocol: 'boot', scope: 'global', flags: [],
        nexthops: [{ gateway: '198.51.100.10', dev: 'eth0', weight: 1, flags: [] }, { gateway: '198.51.100.11', dev: 'eth0', weight: 1, flags: [] }],
      }),
      r4({ dst: '10.60.0.0/16', gateway: '203.0.113.7', dev: 'eth0', table: 'main', protocol: 'boot', scope: 'global', flags: [] }),
      r4({ dst: '10.80.0.0/16', gateway: '192.168.255.1', dev: 'eth0', table: 'main', protocol: 'boot', scope: 'global', flags: ['onlink'] }),
      r4({ dst: '10.90.0.0/16', dev: 'eth0', table: 'main', protocol: 'boot', scope: 'link', metric: 7, flags: [], metrics: [{ advmss: 1000, initcwnd: 20 }] }),
      r4({ dst: '10.93.0.0/16', dev: 'eth0', table: 'main', protocol: 'static', scope: 'link', flags: [] }),
      r4({ dst: '10.94.0.0/16', gateway: '198.51.100.200', dev: 'eth0', table: 'main', protocol: 'openr', scope: 'global', flags: [] }),
      r4({ dst: '10.95.0.0/16', gateway: '198.51.100.201', dev: 'eth0', table: 'main', protocol: 'boot', scope: 'global', metric: 5, flags: [] }),
      r4({ dst: '10.95.0.0/16', gateway: '198.51.100.202', dev: 'eth0', table: 'main', protocol: 'boot', scope: 'global', metric: 6, flags: [] }),
      r4({ dst: '10.96.0.0/16', tos: '0x10', gateway: '198.51.100.203', dev: 'eth0', table: 'main', protocol: 'boot', scope: 'global', flags: [] }),
      r4({ dst: '10.98.0.0/16', gateway: '198.51.100.1', dev: 'eth0', table: 'main', protocol: 'boot', scope: 'global', flags: [], flow: { to: '3' }, metrics: [{ rtt: 100 }] }),
      kernel4('192.0.2.0/25', 'eth0'),
      kernel4('192.0.2.0/25', 'eth0', '192.0.2.5'),
      kernel4('198.51.100.0/24', 'eth0'),
      kernel4('198.51.100.0/24', 'eth0', '198.51.100.2'),
      r4({ dst: '203.0.113.7', dev: 'eth0', table: 'main', protocol: 'boot', scope: 'link', flags: [] }),
    ],
    routes6: [
      kernel6('2001:db8::/64', 'eth0'),
      kernel6('2001:db8:5::/80', 'eth0'),
      boot6('2001:db8:22::/48', 'eth0', { gateway: 'fe80::1' }),
      // The host's route expires in 600 s; the copy does not (upstream sends the
      // expiry in RTA_CACHEINFO, which the kernel ignores in a new route).
      boot6('2001:db8:33::/48', 'eth0', { gateway: '2001:db8::c' }),
      r6({ dst: '2001:db8:44::/48', gateway: '2001:db8::c', dev: 'eth0', table: 'main', protocol: 'boot', scope: 'global', metric: 10, flags: [], metrics: [{ mtu: 1400 }], pref: 'high' }),
      boot6('2001:db8:55::/48', 'eth0', { gateway: '2001:db8:99::1' }),
      r6({
        dst: '2001:db8:66::/48', table: 'main', protocol: 'boot', scope: 'global', metric: 1024, flags: [], pref: 'medium',
        nexthops: [{ gateway: '2001:db8::a', dev: 'eth0', weight: 1, flags: [] }, { gateway: '2001:db8::b', dev: 'eth0', weight: 1, flags: [] }],
      }),
      boot6('2001:db8:77::/48', 'eth0', { gateway: '2001:db8::fe' }),
      boot6('2001:db8:88::/48', 'eth0', { gateway: '2001:db8::fd' }),
      boot6('2001:db8:99::1', 'eth0'),
      kernel6('fe80::/64', 'eth0'),
      boot6('default', 'eth0', { gateway: '2001:db8::1' }),
      r6({ dst: 'default', gateway: '2001:db8::99', dev: 'eth0', table: 'main', protocol: 'boot', scope: 'global', metric: 2048, flags: [], pref: 'medium' }),
    ],
  },
  // Host B: eth0 is the template even without a default route (upstream takes
  // the first interface with any route); no default route in the namespace.
  B: {
    link: { ifname: 'eth0', mtu: 65520, flags: UP },
    addrs: [inet('198.51.100.2', 24, 'eth0'), inet6('2001:db8::2', 64), linkLocal],
    routes4: [kernel4('198.51.100.0/24', 'eth0'), kernel4('198.51.100.0/24', 'eth0', '198.51.100.2')],
    routes6: [kernel6('2001:db8::/64', 'eth0'), kernel6('fe80::/64', 'eth0')],
  },
  // Host C: local mode, interface tap0.
  C: {
    link: { ifname: 'tap0', mtu: 65520, flags: UP },
    addrs: [inet('169.254.2.1', 16, 'tap0'), linkLocal],
    routes4: [
      r4({ dst: 'default', gateway: '169.254.2.2', dev: 'tap0', table: 'main', protocol: 'boot', scope: 'global', flags: [] }),
      kernel4('169.254.0.0/16', 'tap0', '169.254.2.1'),
    ],
    routes6: [kernel6('fe80::/64', 'tap0'), boot6('default', 'tap0', { gateway: 'fe80::1' })],
  },
  // Host D: IPv4 copied from eth0, IPv6 in local mode (a default route via fe80::1).
  D: {
    link: { ifname: 'eth0', mtu: 65520, flags: UP },
    addrs: [inet('198.51.100.2', 24, 'eth0'), linkLocal],
    routes4: [
      r4({ dst: 'default', gateway: '198.51.100.1', dev: 'eth0', table: 'main', protocol: 'boot', scope: 'global', flags: [] }),
      kernel4('198.51.100.0/24', 'eth0'),
      kernel4('198.51.100.0/24', 'eth0', '198.51.100.2'),
    ],
    routes6: [kernel6('fe80::/64', 'eth0'), boot6('default', 'eth0', { gateway: 'fe80::1' })],
  },
  // Host A with -a, -n, -g for both versions and -m 1500: addresses and default routes set, nothing copied.
  'A-set': {
    link: { ifname: 'eth0', mtu: 1500, flags: UP },
    addrs: [inet('198.51.100.77', 24, 'eth0'), inet6('2001:db8::77', 64), linkLocal],
    routes4: [
      r4({ dst: 'default', gateway: '198.51.100.1', dev: 'eth0', table: 'main', protocol: 'boot', scope: 'global', flags: [] }),
      kernel4('198.51.100.0/24', 'eth0', '198.51.100.77'),
    ],
    routes6: [kernel6('2001:db8::/64', 'eth0'), kernel6('fe80::/64', 'eth0'), boot6('default', 'eth0', { gateway: '2001:db8::1' })],
  },
};

const SET_ARGS = ['-a', '198.51.100.77', '-n', '24', '-g', '198.51.100.1', '-a', '2001:db8::77', '-g', '2001:db8::1', '-m', '1500'];

/** Lo as pasta leaves it in every case. */
const LO = { flags: ['LOOPBACK', 'UP', 'LOWER_UP'], addrs: ['127.0.0.1/8', '::1/128'] };

/**
 * The driver: builds the Config as bin/pasta.js does, then sets the fields
 * given as JSON in argv[1] (addresses as text, `hostIfname` also setting
 * `hostIfindex` from the host's links) and runs the command with PastaRun.
 * Usage: node --input-type=module -e DRIVER PATCH [OPTIONS] -- COMMAND...
 */
const DRIVER = `
const dist = ${JSON.stringify(DIST)};
const load = (name) => import(dist + '/' + name);
const [{ parseArgs }, { buildConfig }, { readHostNet }, hostfiles, { createLogger }, { PastaRun }, inet] = await Promise.all(
  ['options.js', 'conf.js', 'hostnet.js', 'hostfiles.js', 'log.js', 'pasta.js', 'inet.js'].map(load));
const patch = JSON.parse(process.argv[1]);
const rest = process.argv.slice(2);
const dash = rest.indexOf('--');
const host = readHostNet();
const config = buildConfig(parseArgs(rest.slice(0, dash), 'pasta'), host, 'pasta', hostfiles.readResolvConf(), hostfiles.readEphemeralPorts());
const ip = (s) => (s === null ? null : inet.parseIPv4(s) ?? inet.parseIPv6(s));
for (const [key, value] of Object.entries(patch)) {
  if ((key === 'ip4' || key === 'ip6') && value) {
    const v = { ...(config[key] ?? {}), ...value };
    for (const f of ['addr', 'gateway']) if (f in value) v[f] = ip(value[f]);
    if ('hostIfname' in value && !('hostIfindex' in value)) v.hostIfindex = host.links.find((l) => l.name === value.hostIfname)?.index ?? 0;
    config[key] = v;
  } else if (key === 'nsMac') {
    config.nsMac = Uint8Array.from(value.split(':').map((b) => parseInt(b, 16)));
  } else {
    config[key] = value;
  }
}
const log = createLogger({ name: 'pasta', level: 'warn' });
const run = new PastaRun(config, log, { argv: rest.slice(dash + 1), env: Object.entries(process.env).map(([k, v]) => k + '=' + v), cwd: process.cwd() });
run.exited.then((code) => process.exit(code));
`;

/** Config fields as upstream's conf.c sets them for these hosts (what conf.ts is to fill). */
const LOCAL4 = { addr: '169.254.2.1', prefixLen: 16, gateway: '169.254.2.2', hostIfname: '', hostIfindex: 0, copyAddrs: false, copyRoutes: false };
const LOCAL6 = { addr: '::', prefixLen: 64, gateway: 'fe80::1', hostIfname: '', hostIfindex: 0, copyAddrs: false, copyRoutes: false };
const PATCHES: Record<'B' | 'C' | 'D', Json> = {
  B: {
    nsIfname: 'eth0',
    ip4: { addr: '198.51.100.2', prefixLen: 24, gateway: null, hostIfname: 'eth0', copyAddrs: true, copyRoutes: true },
    ip6: { addr: '2001:db8::2', prefixLen: 64, gateway: null, hostIfname: 'eth0', copyAddrs: true, copyRoutes: true },
  },
  C: { nsIfname: 'tap0', ip4: LOCAL4, ip6: LOCAL6 },
  D: { ip6: LOCAL6 },
};

let topo: Topology;
const hosts = {} as Record<keyof typeof HOSTS, Namespace>;

beforeAll(async () => {
  topo = await createTopology();
  for (const name of Object.keys(HOSTS) as (keyof typeof HOSTS)[]) {
    const ns = await topo.createNetns({ name: `host${name}`, loopbackUp: true });
    if (HOSTS[name].length) {
      const r = await ns.exec(['ip', '-batch', '-'], { input: HOSTS[name].join('\n') + '\n' });
      if (!r.ok) throw new Error(`fake host ${name}: ${r.stderr.toString()}`);
    }
    hosts[name] = ns;
  }
});

afterAll(async () => {
  await topo?.close();
});

/** Run `argv` (a pasta) in fake host `name` with INSPECT as its command; fail with its stderr. */
async function runIn(name: keyof typeof HOSTS, argv: string[]): Promise<Inspected> {
  const r = await hosts[name].exec([...argv, '--', 'sh', '-c', INSPECT], { timeoutMs: 15_000 });
  if (!r.ok) throw new Error(`${argv.slice(1, 3).join(' ')}... in host ${name} exited ${r.code ?? r.signal}: ${r.stderr.toString().trim()}`);
  return inspect(r.stdout.toString());
}

const ours = (name: keyof typeof HOSTS, args: string[]): Promise<Inspected> => runIn(name, [NODE, PASTA, ...args]);
const driven = (name: keyof typeof HOSTS, patch: Json, args: string[]): Promise<Inspected> =>
  runIn(name, [NODE, '--input-type=module', '-e', DRIVER, JSON.stringify(patch), ...args]);

/** The checks of every run: the expected view, loopback, and not one tentative address. */
function check(got: Inspected, expected: NsView): void {
  expect(got.view).toEqual(expected);
  expect(got.lo).toEqual(LO);
  expect(got.allAddrs.filter((a) => a.tentative || a.dadfailed)).toEqual([]);
}

/** Upstream, when its binary is there: the literals must still be what it does (its link-local address may be tentative). */
async function checkUpstream(name: keyof typeof HOSTS, args: string[], expected: NsView): Promise<void> {
  if (!UPSTREAM) return;
  const got = await runIn(name, [UPSTREAM, '--runas', '0', '-q', ...args]);
  got.view.addrs = got.view.addrs.map((a) => {
    if (a.local !== KERNEL_LL) return a;
    const { tentative: _tentative, ...rest } = a;
    return rest;
  });
  expect(got.view).toEqual(expected);
}

describe('pasta --config-net configures the namespace as upstream pasta', () => {
  it('A: copies every address and route of the template interface', async () => {
    check(await ours('A', ['--config-net']), EXPECTED.A);
    await checkUpstream('A', ['--config-net'], EXPECTED.A);
  });

  it('A with -a, -n, -g, -m: sets the addresses, default routes and MTU given instead', async () => {
    check(await ours('A', ['--config-net', ...SET_ARGS]), EXPECTED['A-set']);
    await checkUpstream('A', ['--config-net', ...SET_ARGS], EXPECTED['A-set']);
  });

  for (const name of ['B', 'C', 'D'] as const) {
    it(`${name}: from the command line`, async () => {
      await checkUpstream(name, ['--config-net'], EXPECTED[name]);
      check(await ours(name, ['--config-net']), EXPECTED[name]);
    });

    it(`${name}: with the Config fields upstream's conf.c would set`, async () => {
      check(await driven(name, PATCHES[name], ['--config-net']), EXPECTED[name]);
    });
  }

  const MAC = '02:00:00:0a:0b:0c';
  /** Without --config-net: the MAC address set, the link left down, nothing else. */
  const MAC_ONLY = { link: { ifname: 'eth0', mtu: 1500, flags: ['BROADCAST', 'MULTICAST'] }, addrs: [], routes4: [], routes6: [] };

  it('--ns-mac-addr sets the MAC address on the tap, also without --config-net (Config.nsMac)', async () => {
    if (UPSTREAM) {
      const up = await runIn('A', [UPSTREAM, '--runas', '0', '-q', '--ns-mac-addr', MAC]);
      expect([up.view, up.mac]).toEqual([MAC_ONLY, MAC]);
    }
    const alone = await driven('A', { nsMac: MAC }, []);
    expect([alone.view, alone.mac, alone.lo]).toEqual([MAC_ONLY, MAC, LO]);
    // With --config-net: the same address, and the link-local address made from it.
    const configured = await driven('A', { nsMac: MAC }, ['--config-net']);
    check(configured, EXPECTED.A);
    expect(configured.mac).toBe(MAC);
    expect(configured.allAddrs.find((a) => a.scope === 'link' && a.family === 'inet6')?.local).toBe('fe80::ff:fe0a:b0c');
  });

  it('--ns-mac-addr: from the command line', async () => {
    const got = await ours('A', ['--ns-mac-addr', MAC]);
    expect([got.view, got.mac, got.lo]).toEqual([MAC_ONLY, MAC, LO]);
  });
});
