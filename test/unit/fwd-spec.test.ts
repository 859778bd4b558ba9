/**
 * The port-forwarding specs of -t, -u, -T and -U (src/fwd/spec.ts): upstream's
 * rule-table semantics (fwd_rule.c fwd_rule_parse(), parse_port_chunk(),
 * parse_addrifname(), fwd_rule_add(), fwd_rule_fmt(); parse.c).
 *
 * The first part is a parity table: what upstream passt/pasta printed for
 * each spec, run in a private user and network namespace, compared with what
 * parsePortSpecs() makes of the same command line. The rest checks the
 * structure of the rules, the lookups and the helpers by hand.
 */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_EPHEMERAL_PORTS,
  defaultPortSpec,
  describePortSpec,
  formatForwardRule,
  forwardRule,
  forwardedPort,
  hasScanRules,
  listeningPorts,
  parsePortSpecs,
  scannedPorts,
  type ForwardRule,
  type PortForwardSpec,
  type PortOption,
  type PortRange,
  type PortSpecContext,
} from '../../src/fwd/spec.js';
import { UsageError } from '../../src/options.js';
import { M } from '../../src/messages.js';
import { parseIPv4, parseIPv6 } from '../../src/inet.js';

const v4 = (s: string): Uint8Array => parseIPv4(s)!;
const v6 = (s: string): Uint8Array => parseIPv6(s)!;
const addr = (s: string): Uint8Array => parseIPv4(s) ?? parseIPv6(s)!;

type Mode = 'pasta' | 'passt';
const PROTO: Record<PortOption, 'TCP' | 'UDP'> = { '-t': 'TCP', '-u': 'UDP', '-T': 'TCP', '-U': 'UDP' };

/** The ephemeral range of the machine upstream ran on (Linux's default), passed to every parse here. */
const EPHEMERAL: PortRange = { first: 32768, last: 60999 };

/** The rules of a spec as upstream's fwd_rule_fmt() prints them. */
const text = (spec: PortForwardSpec): string[] => spec.rules.map((r) => formatForwardRule(r, PROTO[spec.option]));

const parse = (option: PortOption, values: string[], mode: Mode = 'pasta', context: PortSpecContext = {}): PortForwardSpec =>
  parsePortSpecs(option, values, mode, { ephemeral: EPHEMERAL, ...context });

/** The UsageError thrown by `fn`, or a failure. */
function usageError(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).not.toContain('\n');
    return error as UsageError;
  }
  throw new Error('expected a UsageError');
}

// ---------------------------------------------------------------------------
// Parity with upstream

/**
 * Upstream's rule lines by the way they print, for the defaults pasta adds
 * for each option not given (`auto`).
 */
const TCP_AUTO = ['TCP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)', 'TCP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)'];
const UDP_AUTO = ['UDP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)', 'UDP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)'];
const TCP_AUTO_LO = ['TCP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)', 'TCP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)'];
const UDP_AUTO_LO = ['UDP [*]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)', 'UDP [*]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)'];

/**
 * What upstream printed, taken from upstream passt 2026_07_16 (37a73a2)
 * (`passt 2026_07_16.090d739-11-g37a73a2`), run as
 *
 *     unshare -rn sh -c '... veth v0 with 192.0.2.2/24 and 2001:db8::2/64,
 *       default routes via 192.0.2.1 and 2001:db8::1 ...;
 *       timeout 1 passt -f -s SOCK ARGS'          (passt)
 *       timeout 1 pasta -f -d ARGS -- true'       (pasta, whose rules print at debug level)
 *
 * with the namespace's ip_local_port_range at Linux's default 32768-60999,
 * or as given in the fourth column (set with sysctl in the namespace).
 *
 * Each row: mode, argv (the forwarding options, and -4, -6, --no-tcp,
 * --no-udp, which change what a rule may be), and either the rules
 * upstream printed after "Inbound forwarding rules (HOST):" and "Outbound
 * forwarding rules (SPLICE):", or the lines it printed before exiting,
 * joined with "; ".
 */
const UPSTREAM: Array<[Mode, string[], string | [string[], string[]], [number, number]?]> = [
  ['passt', ['-t', 'all'], [['TCP [*]:1-32767  =>  1-32767  (best effort)', 'TCP [*]:61000-65535  =>  61000-65535  (best effort)'], []]],
  ['passt', ['-t', '::1/all'], [['TCP [::1]:1-32767  =>  1-32767  (best effort)', 'TCP [::1]:61000-65535  =>  61000-65535  (best effort)'], []]],
  ['passt', ['-t', '22'], [['TCP [*]:22  =>  22 '], []]],
  ['passt', ['-t', '22:23'], [['TCP [*]:22  =>  23 '], []]],
  ['passt', ['-t', '22,25'], [['TCP [*]:22  =>  22 ', 'TCP [*]:25  =>  25 '], []]],
  ['passt', ['-t', '22-80'], [['TCP [*]:22-80  =>  22-80 '], []]],
  ['passt', ['-t', '22-80:32-90'], [['TCP [*]:22-80  =>  32-90 '], []]],
  ['passt', ['-t', '192.0.2.1/22'], [['TCP [192.0.2.1]:22  =>  22 '], []]],
  ['passt', ['-t', '192.0.2.1%eth0/22'], [['TCP [192.0.2.1]%eth0:22  =>  22 '], []]],
  ['passt', ['-t', '%eth0/22'], [['TCP [*]%eth0:22  =>  22 '], []]],
  ['passt', ['-t', '0.0.0.0/5000:192.0.2.5/6000'], [['TCP [0.0.0.0]:5000  =>  192.0.2.5:6000 '], []]],
  ['passt', ['-t', '127.0.0.6/all:192.0.2.6'], [['TCP [127.0.0.6]:1-32767  =>  192.0.2.6:1-32767  (best effort)', 'TCP [127.0.0.6]:61000-65535  =>  192.0.2.6:61000-65535  (best effort)'], []]],
  ['passt', ['-t', '2000-5000,~3000-3010'], [['TCP [*]:2000-2999  =>  2000-2999 ', 'TCP [*]:3011-5000  =>  3011-5000 '], []]],
  ['passt', ['-t', '192.0.2.1/20-30,~25'], [['TCP [192.0.2.1]:20-24  =>  20-24 ', 'TCP [192.0.2.1]:26-30  =>  26-30 '], []]],
  ['passt', ['-t', '~20000-20010'], [['TCP [*]:1-19999  =>  1-19999  (best effort)', 'TCP [*]:20011-32767  =>  20011-32767  (best effort)', 'TCP [*]:61000-65535  =>  61000-65535  (best effort)'], []]],
  ['pasta', ['-t', 'auto'], [[...TCP_AUTO, ...UDP_AUTO], [...TCP_AUTO_LO, ...UDP_AUTO_LO]]],
  ['pasta', ['-t', '::1/auto'], [['TCP [::1]:1-32767  =>  1-32767  (best effort) (auto-scan)', 'TCP [::1]:61000-65535  =>  61000-65535  (best effort) (auto-scan)', ...UDP_AUTO], [...TCP_AUTO_LO, ...UDP_AUTO_LO]]],
  ['pasta', ['-t', '8000-8010,auto'], [['TCP [*]:8000-8010  =>  8000-8010  (auto-scan)', ...UDP_AUTO], [...TCP_AUTO_LO, ...UDP_AUTO_LO]]],
  ['passt', ['-t', '8080-8080:80-80'], [['TCP [*]:8080  =>  80 '], []]],
  ['passt', ['-t', '127.0.0.1/8081-8081:80-80'], [['TCP [127.0.0.1]:8081  =>  80 '], []]],
  ['passt', ['-u', '9000-9000:9000-9000'], [['UDP [*]:9000  =>  9000 '], []]],
  ['passt', ['-t', '127.0.0.1/8081-8081:80-80', '-t', '7000-7002:8000-8002', '-u', '9000-9000:9000-9000'], [['TCP [127.0.0.1]:8081  =>  80 ', 'TCP [*]:7000-7002  =>  8000-8002 ', 'UDP [*]:9000  =>  9000 '], []]],
  ['pasta', ['-T', '5432'], [[...TCP_AUTO, ...UDP_AUTO], ['TCP [*]%lo:5432  =>  5432 ', ...UDP_AUTO_LO]]],
  ['pasta', ['-t', 'none', '-u', 'none', '-T', 'none', '-U', 'none'], [[], []]],
  ['pasta', ['-t', '8080-8080:80-80', '-u', 'none', '-T', 'none', '-U', 'none'], [['TCP [*]:8080  =>  80 '], []]],
  ['pasta', ['-t', 'none', '-u', 'none', '-T', '5432', '-U', 'none'], [[], ['TCP [*]%lo:5432  =>  5432 ']]],
  ['pasta', [], [[...TCP_AUTO, ...UDP_AUTO], [...TCP_AUTO_LO, ...UDP_AUTO_LO]]],
  ['passt', [], [[], []]],
  ['passt', ['-t', '22:192.0.2.5'], 'Dual stack forward to IPv4 address 192.0.2.5 unsupported; Did you mean 0.0.0.0/... instead?; Unable to add rule TCP [*]:22  =>  192.0.2.5:22 '],
  ['passt', ['-t', '0.0.0.0/22:192.0.2.5'], [['TCP [0.0.0.0]:22  =>  192.0.2.5:22 '], []]],
  ['passt', ['-t', '0.0.0.0/22:[192.0.2.5]'], [['TCP [0.0.0.0]:22  =>  192.0.2.5:22 '], []]],
  ['passt', ['-t', '0.0.0.0/22-24:192.0.2.5/32-34'], [['TCP [0.0.0.0]:22-24  =>  192.0.2.5:32-34 '], []]],
  ['passt', ['-t', '[::]/80:[2001:db8::5]/8080'], [['TCP [::]:80  =>  2001:db8::5:8080 '], []]],
  ['passt', ['-t', '::/80:2001:db8::5'], [['TCP [::]:80  =>  2001:db8::5:80 '], []]],
  ['passt', ['-t', '::/80-81:2001:db8::5/90-91'], [['TCP [::]:80-81  =>  2001:db8::5:90-91 '], []]],
  ['passt', ['-t', '0.0.0.0/80:[2001:db8::5]'], 'Forward from IPv4 (0.0.0.0) to IPv6 (2001:db8::5) unsupported; Unable to add rule TCP [0.0.0.0]:80  =>  2001:db8::5:80 '],
  ['passt', ['-t', '::/80:192.0.2.5'], 'Forward from IPv6 (::) to IPv4 (192.0.2.5) unsupported; Unable to add rule TCP [::]:80  =>  192.0.2.5:80 '],
  ['passt', ['-t', '::1/22:192.0.2.5'], 'Forward from IPv6 (::1) to IPv4 (192.0.2.5) unsupported; Unable to add rule TCP [::1]:22  =>  192.0.2.5:22 '],
  ['passt', ['-t', '22:2001:db8::5'], 'Dual stack forward to IPv6 address 2001:db8::5 unsupported; Did you mean [::]/... instead?; Unable to add rule TCP [*]:22  =>  2001:db8::5:22 '],
  ['passt', ['-t', '0.0.0.0/22:224.0.0.1'], 'Multicast target address 224.0.0.1 for forwarding rule; Unable to add rule TCP [0.0.0.0]:22  =>  224.0.0.1:22 '],
  ['passt', ['-t', '0.0.0.0/22:255.255.255.255'], 'Multicast target address 255.255.255.255 for forwarding rule; Unable to add rule TCP [0.0.0.0]:22  =>  255.255.255.255:22 '],
  ['passt', ['-t', '::/22:ff02::1'], 'Multicast target address ff02::1 for forwarding rule; Unable to add rule TCP [::]:22  =>  ff02::1:22 '],
  ['passt', ['-t', '0.0.0.0/22:0.0.0.0'], [['TCP [0.0.0.0]:22  =>  22 '], []]],
  ['passt', ['-t', '22:::'], [['TCP [*]:22  =>  22 '], []]],
  ['passt', ['-t', '22:0.0.0.0'], [['TCP [*]:22  =>  22 '], []]],
  ['passt', ['-t', '0.0.0.0/all:192.0.2.6'], [['TCP [0.0.0.0]:1-32767  =>  192.0.2.6:1-32767  (best effort)', 'TCP [0.0.0.0]:61000-65535  =>  192.0.2.6:61000-65535  (best effort)'], []]],
  ['passt', ['-t', 'all:192.0.2.6'], 'Dual stack forward to IPv4 address 192.0.2.6 unsupported; Did you mean 0.0.0.0/... instead?; Unable to add rule TCP [*]:1-32767  =>  192.0.2.6:1-32767  (best effort)'],
  ['passt', ['-t', 'all:0.0.0.0'], [['TCP [*]:1-32767  =>  1-32767  (best effort)', 'TCP [*]:61000-65535  =>  61000-65535  (best effort)'], []]],
  ['passt', ['-t', '::/22:2001:db8:0:0:1:0:0:1'], [['TCP [::]:22  =>  2001:db8::1:0:0:1:22 '], []]],
  ['passt', ['-t', '[::ffff:192.0.2.1]/22:192.0.2.9'], [['TCP [192.0.2.1]:22  =>  192.0.2.9:22 '], []]],
  ['passt', ['-t', '0.0.0.0/22:[::ffff:192.0.2.9]/23'], [['TCP [0.0.0.0]:22  =>  192.0.2.9:23 '], []]],
  ['passt', ['-u', '0.0.0.0/53:192.0.2.53'], [['UDP [0.0.0.0]:53  =>  192.0.2.53:53 '], []]],
  ['passt', ['-t', '*/22'], [['TCP [*]:22  =>  22 '], []]],
  ['passt', ['-t', '*%eth0/22'], [['TCP [*]%eth0:22  =>  22 '], []]],
  ['passt', ['-t', '/22'], [['TCP [*]:22  =>  22 '], []]],
  ['passt', ['-t', '[2001:db8::1]%eth0/22'], [['TCP [2001:db8::1]%eth0:22  =>  22 '], []]],
  ['passt', ['-t', 'fe80::1%eth0/22'], [['TCP [fe80::1]%eth0:22  =>  22 '], []]],
  ['passt', ['-t', '[fe80::1]%eth0/22'], [['TCP [fe80::1]%eth0:22  =>  22 '], []]],
  ['passt', ['-t', '::ffff:192.0.2.1/22'], [['TCP [192.0.2.1]:22  =>  22 '], []]],
  ['passt', ['-t', '[192.0.2.1]/22'], [['TCP [192.0.2.1]:22  =>  22 '], []]],
  ['passt', ['-t', '[::1]/22'], [['TCP [::1]:22  =>  22 '], []]],
  ['passt', ['-t', '%./22'], 'Invalid interface name: .'],
  ['passt', ['-t', '%../22'], 'Invalid interface name: ..'],
  ['passt', ['-t', '%abcdefghijklmno/22'], [['TCP [*]%abcdefghijklmno:22  =>  22 '], []]],
  ['passt', ['-t', '%abcdefghijklmnop/22'], 'Invalid port specifier \'%abcdefghijklmnop/22\''],
  ['passt', ['-t', '%/22'], 'Invalid port specifier \'%/22\''],
  ['passt', ['-t', '192.0.2.1/'], 'Invalid port specifier \'\''],
  ['passt', ['-t', '192.0.2.1/22x'], 'Invalid port specifier \'22x\''],
  ['passt', ['-t', '[::1/22'], 'Invalid port specifier \'[::1/22\''],
  ['passt', ['-t', '192.0.2.01/22'], 'Invalid port specifier \'192.0.2.01/22\''],
  ['passt', ['-t', '1.2.3/22'], 'Invalid port specifier \'1.2.3/22\''],
  ['passt', ['-t', '0.0.0.0/22'], [['TCP [0.0.0.0]:22  =>  22 '], []]],
  ['passt', ['-t', '[::]/22'], [['TCP [::]:22  =>  22 '], []]],
  ['passt', ['-t', '127.0.0.1/~1-1023'], [['TCP [127.0.0.1]:1024-32767  =>  1024-32767  (best effort)', 'TCP [127.0.0.1]:61000-65535  =>  61000-65535  (best effort)'], []]],
  ['passt', ['-t', '2001:db8::1/all'], [['TCP [2001:db8::1]:1-32767  =>  1-32767  (best effort)', 'TCP [2001:db8::1]:61000-65535  =>  61000-65535  (best effort)'], []]],
  ['passt', ['-t', '%eth0/all'], [['TCP [*]%eth0:1-32767  =>  1-32767  (best effort)', 'TCP [*]%eth0:61000-65535  =>  61000-65535  (best effort)'], []]],
  ['passt', ['-t', '192.0.2.1%eth0/~22'], [['TCP [192.0.2.1]%eth0:1-21  =>  1-21  (best effort)', 'TCP [192.0.2.1]%eth0:23-32767  =>  23-32767  (best effort)', 'TCP [192.0.2.1]%eth0:61000-65535  =>  61000-65535  (best effort)'], []]],
  ['passt', ['-t', 'auto'], '\'auto\' port forwarding is only allowed for pasta'],
  ['passt', ['-t', '22,auto'], '\'auto\' port forwarding is only allowed for pasta'],
  ['passt', ['-t', 'auto,garbage'], '\'auto\' port forwarding is only allowed for pasta'],
  ['passt', ['-t', 'garbage,auto'], 'Invalid port specifier \'garbage,auto\''],
  ['passt', ['-t', 'auto,~'], '\'auto\' port forwarding is only allowed for pasta'],
  ['pasta', ['-t', 'auto,22'], [['TCP [*]:22  =>  22  (auto-scan)', ...UDP_AUTO], [...TCP_AUTO_LO, ...UDP_AUTO_LO]]],
  ['pasta', ['-t', 'auto,~22'], [['TCP [*]:1-21  =>  1-21  (best effort) (auto-scan)', 'TCP [*]:23-32767  =>  23-32767  (best effort) (auto-scan)', 'TCP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)', ...UDP_AUTO], [...TCP_AUTO_LO, ...UDP_AUTO_LO]]],
  ['pasta', ['-t', '0.0.0.0/auto'], [['TCP [0.0.0.0]:1-32767  =>  1-32767  (best effort) (auto-scan)', 'TCP [0.0.0.0]:61000-65535  =>  61000-65535  (best effort) (auto-scan)', ...UDP_AUTO], [...TCP_AUTO_LO, ...UDP_AUTO_LO]]],
  ['pasta', ['-t', 'auto,auto'], [[...TCP_AUTO, ...UDP_AUTO], [...TCP_AUTO_LO, ...UDP_AUTO_LO]]],
  ['pasta', ['-t', '22', '-t', 'auto'], 'Forwarding configuration conflict: TCP [*]:1-32767  =>  1-32767  (best effort) (auto-scan) versus TCP [*]:22  =>  22 ; Unable to add rule TCP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)'],
  ['pasta', ['-t', 'auto', '-t', '22'], 'Forwarding configuration conflict: TCP [*]:22  =>  22  versus TCP [*]:1-32767  =>  1-32767  (best effort) (auto-scan); Unable to add rule TCP [*]:22  =>  22 '],
  ['pasta', ['-u', 'auto'], [[...UDP_AUTO, ...TCP_AUTO], [...TCP_AUTO_LO, ...UDP_AUTO_LO]]],
  ['pasta', ['-u', '53,auto'], [['UDP [*]:53  =>  53  (auto-scan)', ...TCP_AUTO], [...TCP_AUTO_LO, ...UDP_AUTO_LO]]],
  ['pasta', ['-T', 'auto'], [[...TCP_AUTO, ...UDP_AUTO], [...TCP_AUTO_LO, ...UDP_AUTO_LO]]],
  ['pasta', ['-U', '5353-5360,auto'], [[...TCP_AUTO, ...UDP_AUTO], ['UDP [*]%lo:5353-5360  =>  5353-5360  (auto-scan)', ...TCP_AUTO_LO]]],
  ['pasta', ['-t', 'auto,all'], [[...TCP_AUTO, ...UDP_AUTO], [...TCP_AUTO_LO, ...UDP_AUTO_LO]]],
  ['pasta', ['-t', 'auto junk'], 'Invalid port specifier \'auto junk\''],
  ['pasta', ['-T', '127.0.0.1/5432'], 'Listening address not allowed for -T 127.0.0.1/5432'],
  ['pasta', ['-U', '%lo/53'], 'Listening address not allowed for -U %lo/53'],
  ['pasta', ['-T', '5432:15432'], [[...TCP_AUTO, ...UDP_AUTO], ['TCP [*]%lo:5432  =>  15432 ', ...UDP_AUTO_LO]]],
  ['pasta', ['-T', '5432', '-T', '5432'], 'Forwarding configuration conflict: TCP [*]%lo:5432  =>  5432  versus TCP [*]%lo:5432  =>  5432 ; Unable to add rule TCP [*]%lo:5432  =>  5432 '],
  ['pasta', ['-T', '5432', '-t', '5432'], [['TCP [*]:5432  =>  5432 ', ...UDP_AUTO], ['TCP [*]%lo:5432  =>  5432 ', ...UDP_AUTO_LO]]],
  ['pasta', ['-4', '-T', '5432'], [['TCP [0.0.0.0]:1-32767  =>  1-32767  (best effort) (auto-scan)', 'TCP [0.0.0.0]:61000-65535  =>  61000-65535  (best effort) (auto-scan)', 'UDP [0.0.0.0]:1-32767  =>  1-32767  (best effort) (auto-scan)', 'UDP [0.0.0.0]:61000-65535  =>  61000-65535  (best effort) (auto-scan)'], ['TCP [0.0.0.0]%lo:5432  =>  5432 ', 'UDP [0.0.0.0]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)', 'UDP [0.0.0.0]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)']]],
  ['pasta', ['-6', '-U', '53'], [['TCP [::]:1-32767  =>  1-32767  (best effort) (auto-scan)', 'TCP [::]:61000-65535  =>  61000-65535  (best effort) (auto-scan)', 'UDP [::]:1-32767  =>  1-32767  (best effort) (auto-scan)', 'UDP [::]:61000-65535  =>  61000-65535  (best effort) (auto-scan)'], ['UDP [::]%lo:53  =>  53 ', 'TCP [::]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)', 'TCP [::]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)']]],
  ['pasta', ['-T', 'all'], [[...TCP_AUTO, ...UDP_AUTO], ['TCP [*]%lo:1-32767  =>  1-32767  (best effort)', 'TCP [*]%lo:61000-65535  =>  61000-65535  (best effort)', ...UDP_AUTO_LO]]],
  ['pasta', ['-T', '5432:192.0.2.5'], 'Dual stack forward to IPv4 address 192.0.2.5 unsupported; Did you mean 0.0.0.0/... instead?; Unable to add rule TCP [*]%lo:5432  =>  192.0.2.5:5432 '],
  ['passt', ['-T', '22'], '-T is for pasta mode only'],
  ['passt', ['-U', '22'], '-U is for pasta mode only'],
  ['passt', ['-t', '~22'], [['TCP [*]:1-21  =>  1-21  (best effort)', 'TCP [*]:23-32767  =>  23-32767  (best effort)', 'TCP [*]:61000-65535  =>  61000-65535  (best effort)'], []]],
  ['passt', ['-t', '~1-1023'], [['TCP [*]:1024-32767  =>  1024-32767  (best effort)', 'TCP [*]:61000-65535  =>  61000-65535  (best effort)'], []]],
  ['passt', ['-t', '20-30,~20-30'], [[], []]],
  ['passt', ['-t', '~25,20-30'], [['TCP [*]:20-24  =>  20-24 ', 'TCP [*]:26-30  =>  26-30 '], []]],
  ['passt', ['-t', '20-30,~10-20,~30-40'], [['TCP [*]:21-29  =>  21-29 '], []]],
  ['passt', ['-t', '~0'], [['TCP [*]:1-32767  =>  1-32767  (best effort)', 'TCP [*]:61000-65535  =>  61000-65535  (best effort)'], []]],
  ['passt', ['-t', '~0-65535'], [[], []]],
  ['passt', ['-t', '20-30,~0'], [['TCP [*]:20-30  =>  20-30 '], []]],
  ['passt', ['-t', 'all,22'], [['TCP [*]:22  =>  22 '], []]],
  ['passt', ['-t', '22,all'], [['TCP [*]:22  =>  22 '], []]],
  ['passt', ['-t', 'all,all'], [['TCP [*]:1-32767  =>  1-32767  (best effort)', 'TCP [*]:61000-65535  =>  61000-65535  (best effort)'], []]],
  ['passt', ['-t', 'all,~22'], [['TCP [*]:1-21  =>  1-21  (best effort)', 'TCP [*]:23-32767  =>  23-32767  (best effort)', 'TCP [*]:61000-65535  =>  61000-65535  (best effort)'], []]],
  ['passt', ['-t', '~22,~23'], [['TCP [*]:1-21  =>  1-21  (best effort)', 'TCP [*]:24-32767  =>  24-32767  (best effort)', 'TCP [*]:61000-65535  =>  61000-65535  (best effort)'], []]],
  ['passt', ['-t', '~'], 'Invalid port specifier \'~\''],
  ['passt', ['-t', '~x'], 'Invalid port specifier \'~x\''],
  ['passt', ['-t', '~22-21'], 'Invalid port specifier \'~22-21\''],
  ['passt', ['-t', '32768-32770'], [['TCP [*]:32768-32770  =>  32768-32770 '], []]],
  ['passt', ['-t', 'all', '-t', '22'], 'Forwarding configuration conflict: TCP [*]:22  =>  22  versus TCP [*]:1-32767  =>  1-32767  (best effort); Unable to add rule TCP [*]:22  =>  22 '],
  ['passt', ['-t', '22', '-t', 'all'], 'Forwarding configuration conflict: TCP [*]:1-32767  =>  1-32767  (best effort) versus TCP [*]:22  =>  22 ; Unable to add rule TCP [*]:1-32767  =>  1-32767  (best effort)'],
  ['passt', ['-t', '1,65535'], [['TCP [*]:1  =>  1 ', 'TCP [*]:65535  =>  65535 '], []]],
  ['passt', ['-t', '1-65535'], [['TCP [*]:1-65535  =>  1-65535 '], []]],
  ['passt', ['-t', '8000-8010:80-90'], [['TCP [*]:8000-8010  =>  80-90 '], []]],
  ['passt', ['-t', '20-30,~25:26'], 'Invalid port specifier \'20-30,~25:26\''],
  ['passt', ['-t', 'none'], [[], []]],
  ['passt', ['-t', 'none', '-t', '22'], [['TCP [*]:22  =>  22 '], []]],
  ['passt', ['-t', '22', '-t', 'none'], '-t none conflicts with previous options'],
  ['passt', ['-t', 'none', '-t', 'none'], [[], []]],
  ['passt', ['-t', '22', '-u', 'none'], [['TCP [*]:22  =>  22 '], []]],
  ['passt', ['-t', 'none,22'], 'Invalid port specifier \'none,22\''],
  ['passt', ['-t', 'NONE'], 'Invalid port specifier \'NONE\''],
  ['passt', ['-t', 'none ', '-u', '1'], 'Invalid port specifier \'none \''],
  ['pasta', ['-t', 'none'], [[...UDP_AUTO], [...TCP_AUTO_LO, ...UDP_AUTO_LO]]],
  ['passt', ['-t', '22,22'], 'Forwarding configuration conflict: TCP [*]:22  =>  22  versus TCP [*]:22  =>  22 ; Unable to add rule TCP [*]:22  =>  22 '],
  ['passt', ['-t', '22-30,25'], 'Forwarding configuration conflict: TCP [*]:25  =>  25  versus TCP [*]:22-30  =>  22-30 ; Unable to add rule TCP [*]:25  =>  25 '],
  ['passt', ['-t', '22', '-t', '22'], 'Forwarding configuration conflict: TCP [*]:22  =>  22  versus TCP [*]:22  =>  22 ; Unable to add rule TCP [*]:22  =>  22 '],
  ['passt', ['-t', '22', '-t', '0.0.0.0/22'], 'Forwarding configuration conflict: TCP [0.0.0.0]:22  =>  22  versus TCP [*]:22  =>  22 ; Unable to add rule TCP [0.0.0.0]:22  =>  22 '],
  ['passt', ['-t', '0.0.0.0/22', '-t', '::/22'], [['TCP [0.0.0.0]:22  =>  22 ', 'TCP [::]:22  =>  22 '], []]],
  ['passt', ['-t', '0.0.0.0/22', '-t', '127.0.0.1/22'], 'Forwarding configuration conflict: TCP [127.0.0.1]:22  =>  22  versus TCP [0.0.0.0]:22  =>  22 ; Unable to add rule TCP [127.0.0.1]:22  =>  22 '],
  ['passt', ['-t', '127.0.0.1/22', '-t', '127.0.0.2/22'], [['TCP [127.0.0.1]:22  =>  22 ', 'TCP [127.0.0.2]:22  =>  22 '], []]],
  ['passt', ['-t', '127.0.0.1/22', '-t', '::1/22'], [['TCP [127.0.0.1]:22  =>  22 ', 'TCP [::1]:22  =>  22 '], []]],
  ['passt', ['-t', '%eth0/22', '-t', '%eth1/22'], 'Forwarding configuration conflict: TCP [*]%eth1:22  =>  22  versus TCP [*]%eth0:22  =>  22 ; Unable to add rule TCP [*]%eth1:22  =>  22 '],
  ['passt', ['-t', '22', '-u', '22'], [['TCP [*]:22  =>  22 ', 'UDP [*]:22  =>  22 '], []]],
  ['passt', ['-t', '::/22', '-t', '127.0.0.1/22'], [['TCP [::]:22  =>  22 ', 'TCP [127.0.0.1]:22  =>  22 '], []]],
  ['passt', ['-t', '20-30,~25', '-t', '25'], [['TCP [*]:20-24  =>  20-24 ', 'TCP [*]:26-30  =>  26-30 ', 'TCP [*]:25  =>  25 '], []]],
  ['passt', ['-t', '22-24:32-34', '-t', '23:99'], 'Forwarding configuration conflict: TCP [*]:23  =>  99  versus TCP [*]:22-24  =>  32-34 ; Unable to add rule TCP [*]:23  =>  99 '],
  ['passt', ['-t', '127.0.0.1/22', '-t', '22'], 'Forwarding configuration conflict: TCP [*]:22  =>  22  versus TCP [127.0.0.1]:22  =>  22 ; Unable to add rule TCP [*]:22  =>  22 '],
  ['passt', ['-t', 'all', '-t', '0.0.0.0/80'], 'Forwarding configuration conflict: TCP [0.0.0.0]:80  =>  80  versus TCP [*]:1-32767  =>  1-32767  (best effort); Unable to add rule TCP [0.0.0.0]:80  =>  80 '],
  ['passt', ['-t', '80,80x'], 'Forwarding configuration conflict: TCP [*]:80  =>  80  versus TCP [*]:80  =>  80 ; Unable to add rule TCP [*]:80  =>  80 '],
  ['passt', ['-t', '80,81:90-91,80'], 'Invalid port specifier \'80,81:90-91,80\''],
  ['passt', ['-t', '0'], 'Forwarding rule attempts to map from port 0; Unable to add rule TCP [*]:0  =>  0 '],
  ['passt', ['-t', '22:0'], 'Forwarding rule attempts to map to port 0; Unable to add rule TCP [*]:22  =>  0 '],
  ['passt', ['-t', '0-5'], 'Forwarding rule attempts to map from port 0; Unable to add rule TCP [*]:0-5  =>  0-5 '],
  ['passt', ['-t', '0-5:10-15'], 'Forwarding rule attempts to map from port 0; Unable to add rule TCP [*]:0-5  =>  10-15 '],
  ['passt', ['-t', '65535:1'], [['TCP [*]:65535  =>  1 '], []]],
  ['passt', ['-t', '22-80:32-91'], 'Invalid port specifier \'22-80:32-91\''],
  ['passt', ['-t', '22:32-33'], 'Invalid port specifier \'22:32-33\''],
  ['passt', ['-t', '80-70'], 'Invalid port specifier \'80-70\''],
  ['passt', ['-t', '65536'], 'Invalid port specifier \'65536\''],
  ['passt', ['-t', '1-65536'], 'Invalid port specifier \'1-65536\''],
  ['passt', ['-t', '22:65536'], 'Invalid port specifier \'22:65536\''],
  ['passt', ['-t', '65530-65535:65531-65536'], 'Invalid port specifier \'65530-65535:65531-65536\''],
  ['passt', ['-t', '22x'], 'Invalid port specifier \'22x\''],
  ['passt', ['-t', '22,'], 'Invalid port specifier \'22,\''],
  ['passt', ['-t', ',22'], 'Invalid port specifier \',22\''],
  ['passt', ['-t', '22 '], 'Invalid port specifier \'22 \''],
  ['passt', ['-t', ' 22'], [['TCP [*]:22  =>  22 '], []]],
  ['passt', ['-t', '+22'], [['TCP [*]:22  =>  22 '], []]],
  ['passt', ['-t', '22-+23'], [['TCP [*]:22-23  =>  22-23 '], []]],
  ['passt', ['-t', '22:+23'], [['TCP [*]:22  =>  23 '], []]],
  ['passt', ['-t', '-22'], 'Invalid port specifier \'-22\''],
  ['passt', ['-t', '-0'], 'Forwarding rule attempts to map from port 0; Unable to add rule TCP [*]:0  =>  0 '],
  ['passt', ['-t', '22:-0'], 'Forwarding rule attempts to map to port 0; Unable to add rule TCP [*]:22  =>  0 '],
  ['passt', ['-t', '0x16'], 'Forwarding rule attempts to map from port 0; Unable to add rule TCP [*]:0  =>  0 '],
  ['passt', ['-t', '22:'], 'Invalid port specifier \'22:\''],
  ['passt', ['-t', '22:23:24'], 'Invalid port specifier \'22:23:24\''],
  ['passt', ['-t', ''], 'Invalid port specifier \'\''],
  ['passt', ['-t', '080:0443'], [['TCP [*]:80  =>  443 '], []]],
  ['passt', ['-t', '22-'], 'Invalid port specifier \'22-\''],
  ['passt', ['-t', '22--23'], 'Invalid port specifier \'22--23\''],
  ['passt', ['-t', '22,,23'], 'Invalid port specifier \'22,,23\''],
  ['passt', ['-t', '99999999999999999999'], 'Invalid port specifier \'99999999999999999999\''],
  ['passt', ['-t', '22:abc'], 'Invalid port specifier \'22:abc\''],
  ['passt', ['-t', 'abc'], 'Invalid port specifier \'abc\''],
  ['passt', ['-t', '22/'], 'Invalid port specifier \'22/\''],
  ['passt', ['-t', '2001:db8::1'], 'Dual stack forward to IPv6 address db8::1 unsupported; Did you mean [::]/... instead?; Unable to add rule TCP [*]:2001  =>  db8::1:2001 '],
  ['passt', ['-t', '22:1234'], [['TCP [*]:22  =>  1234 '], []]],
  ['passt', ['-4', '-t', '22'], [['TCP [0.0.0.0]:22  =>  22 '], []]],
  ['passt', ['-4', '-t', 'all'], [['TCP [0.0.0.0]:1-32767  =>  1-32767  (best effort)', 'TCP [0.0.0.0]:61000-65535  =>  61000-65535  (best effort)'], []]],
  ['passt', ['-4', '-t', '::1/22'], 'IPv6 forward, but IPv6 not enabled; Unable to add rule TCP [::1]:22  =>  22 '],
  ['passt', ['-4', '-t', '*/22'], [['TCP [0.0.0.0]:22  =>  22 '], []]],
  ['passt', ['-4', '-t', '%eth0/22'], [['TCP [0.0.0.0]%eth0:22  =>  22 '], []]],
  ['passt', ['-4', '-t', '22:192.0.2.5'], [['TCP [0.0.0.0]:22  =>  192.0.2.5:22 '], []]],
  ['passt', ['-4', '-t', '22:2001:db8::5'], 'Forward from IPv4 (0.0.0.0) to IPv6 (2001:db8::5) unsupported; Unable to add rule TCP [0.0.0.0]:22  =>  2001:db8::5:22 '],
  ['passt', ['-6', '-t', '22'], [['TCP [::]:22  =>  22 '], []]],
  ['passt', ['-6', '-t', '127.0.0.1/22'], 'IPv4 forward, but IPv4 not enabled; Unable to add rule TCP [127.0.0.1]:22  =>  22 '],
  ['passt', ['-6', '-t', '22:2001:db8::5'], [['TCP [::]:22  =>  2001:db8::5:22 '], []]],
  ['passt', ['-6', '-t', '~22'], [['TCP [::]:1-21  =>  1-21  (best effort)', 'TCP [::]:23-32767  =>  23-32767  (best effort)', 'TCP [::]:61000-65535  =>  61000-65535  (best effort)'], []]],
  ['passt', ['-6', '-u', 'all'], [['UDP [::]:1-32767  =>  1-32767  (best effort)', 'UDP [::]:61000-65535  =>  61000-65535  (best effort)'], []]],
  ['pasta', ['-4', '-t', 'auto'], [['TCP [0.0.0.0]:1-32767  =>  1-32767  (best effort) (auto-scan)', 'TCP [0.0.0.0]:61000-65535  =>  61000-65535  (best effort) (auto-scan)', 'UDP [0.0.0.0]:1-32767  =>  1-32767  (best effort) (auto-scan)', 'UDP [0.0.0.0]:61000-65535  =>  61000-65535  (best effort) (auto-scan)'], ['TCP [0.0.0.0]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)', 'TCP [0.0.0.0]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)', 'UDP [0.0.0.0]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)', 'UDP [0.0.0.0]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)']]],
  ['pasta', ['-6'], [['TCP [::]:1-32767  =>  1-32767  (best effort) (auto-scan)', 'TCP [::]:61000-65535  =>  61000-65535  (best effort) (auto-scan)', 'UDP [::]:1-32767  =>  1-32767  (best effort) (auto-scan)', 'UDP [::]:61000-65535  =>  61000-65535  (best effort) (auto-scan)'], ['TCP [::]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)', 'TCP [::]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)', 'UDP [::]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)', 'UDP [::]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)']]],
  ['passt', ['--no-tcp', '-t', '22'], 'Can\'t add TCP forwarding rule, TCP not enabled; Unable to add rule TCP [*]:22  =>  22 '],
  ['passt', ['--no-udp', '-u', '22'], 'Can\'t add UDP forwarding rule, UDP not enabled; Unable to add rule UDP [*]:22  =>  22 '],
  ['passt', ['--no-tcp', '-u', '22'], [['UDP [*]:22  =>  22 '], []]],
  ['passt', ['--no-tcp', '-t', 'none'], [[], []]],
  ['pasta', ['--no-tcp'], 'Can\'t add TCP forwarding rule, TCP not enabled; Unable to add rule TCP [*]:1-32767  =>  1-32767  (best effort) (auto-scan)'],
  ['passt', ['--no-udp', '-u', 'none'], [[], []]],
  ['passt', ['-t', '22- 23'], [['TCP [*]:22-23  =>  22-23 '], []]],
  ['passt', ['-t', '22 ,23'], 'Invalid port specifier \'22 ,23\''],
  ['passt', ['-t', '~ 22'], [['TCP [*]:1-21  =>  1-21  (best effort)', 'TCP [*]:23-32767  =>  23-32767  (best effort)', 'TCP [*]:61000-65535  =>  61000-65535  (best effort)'], []]],
  ['passt', ['-t', '[2001:DB8::1]/22'], [['TCP [2001:db8::1]:22  =>  22 '], []]],
  ['passt', ['-t', '%eth0.100/22'], [['TCP [*]%eth0.100:22  =>  22 '], []]],
  ['passt', ['-t', '*/all'], [['TCP [*]:1-32767  =>  1-32767  (best effort)', 'TCP [*]:61000-65535  =>  61000-65535  (best effort)'], []]],
  ['pasta', ['-t', '*%lo/auto'], [[...TCP_AUTO_LO, ...UDP_AUTO], [...TCP_AUTO_LO, ...UDP_AUTO_LO]]],
  ['passt', ['-t', '192.0.2.1%eth0/'], 'Invalid port specifier \'\''],
  ['passt', ['-t', '127.0.0.1/0x16'], 'Forwarding rule attempts to map from port 0; Unable to add rule TCP [127.0.0.1]:0  =>  0 '],
  ['passt', ['-t', '::1/22,22'], 'Forwarding configuration conflict: TCP [::1]:22  =>  22  versus TCP [::1]:22  =>  22 ; Unable to add rule TCP [::1]:22  =>  22 '],
  ['passt', ['-t', '0.0.0.0/all:0.0.0.0'], [['TCP [0.0.0.0]:1-32767  =>  1-32767  (best effort)', 'TCP [0.0.0.0]:61000-65535  =>  61000-65535  (best effort)'], []]],
  ['passt', ['-t', '::/22:::'], [['TCP [::]:22  =>  22 '], []]],
  ['passt', ['-t', '::/22:[::]/23'], [['TCP [::]:22  =>  23 '], []]],
  ['passt', ['-t', '22,23x,0'], 'Invalid port specifier \'22,23x,0\''],
  ['passt', ['-t', '0,22x'], 'Forwarding rule attempts to map from port 0; Unable to add rule TCP [*]:0  =>  0 '],
  ['passt', ['-t', '22-24,~23,auto'], '\'auto\' port forwarding is only allowed for pasta'],
  ['pasta', ['-t', 'auto,0'], 'Forwarding rule attempts to map from port 0; Unable to add rule TCP [*]:0  =>  0  (auto-scan)'],
  ['pasta', ['-u', '~53,auto'], [['UDP [*]:1-52  =>  1-52  (best effort) (auto-scan)', 'UDP [*]:54-32767  =>  54-32767  (best effort) (auto-scan)', 'UDP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)', ...TCP_AUTO], [...TCP_AUTO_LO, ...UDP_AUTO_LO]]],
  ['passt', ['-u', '~0-1023'], [['UDP [*]:1024-32767  =>  1024-32767  (best effort)', 'UDP [*]:61000-65535  =>  61000-65535  (best effort)'], []]],
  ['passt', ['-t', '::ffff:0.0.0.0/22'], [['TCP [0.0.0.0]:22  =>  22 '], []]],
  ['passt', ['-t', '0.0.0.0/22:127.0.0.1'], [['TCP [0.0.0.0]:22  =>  127.0.0.1:22 '], []]],
  ['passt', ['-t', '::/22:::1'], [['TCP [::]:22  =>  ::1:22 '], []]],
  ['passt', ['-t', '0.0.0.0/all:224.1.1.1'], 'Multicast target address 224.1.1.1 for forwarding rule; Unable to add rule TCP [0.0.0.0]:1-32767  =>  224.1.1.1:1-32767  (best effort)'],
  ['passt', ['-t', '1-5,~1-5,7'], [['TCP [*]:7  =>  7 '], []]],
  ['passt', ['-t', '22', '-u', '22', '-t', '23', '-u', '23'], [['TCP [*]:22  =>  22 ', 'UDP [*]:22  =>  22 ', 'TCP [*]:23  =>  23 ', 'UDP [*]:23  =>  23 '], []]],
  ['passt', ['-t', '0.0.0.0/22', '-t', '[::ffff:127.0.0.1]/22'], 'Forwarding configuration conflict: TCP [127.0.0.1]:22  =>  22  versus TCP [0.0.0.0]:22  =>  22 ; Unable to add rule TCP [127.0.0.1]:22  =>  22 '],
  ['pasta', ['-t', '0.0.0.0/auto', '-t', '::/auto'], [['TCP [0.0.0.0]:1-32767  =>  1-32767  (best effort) (auto-scan)', 'TCP [0.0.0.0]:61000-65535  =>  61000-65535  (best effort) (auto-scan)', 'TCP [::]:1-32767  =>  1-32767  (best effort) (auto-scan)', 'TCP [::]:61000-65535  =>  61000-65535  (best effort) (auto-scan)', ...UDP_AUTO], [...TCP_AUTO_LO, ...UDP_AUTO_LO]]],
  ['pasta', ['-T', '~5432'], [[...TCP_AUTO, ...UDP_AUTO], ['TCP [*]%lo:1-5431  =>  1-5431  (best effort)', 'TCP [*]%lo:5433-32767  =>  5433-32767  (best effort)', 'TCP [*]%lo:61000-65535  =>  61000-65535  (best effort)', ...UDP_AUTO_LO]]],
  ['pasta', ['-U', 'none', '-U', '53'], [[...TCP_AUTO, ...UDP_AUTO], ['UDP [*]%lo:53  =>  53 ', ...TCP_AUTO_LO]]],
  ['passt', ['-t', 'all'], [['TCP [*]:1-39999  =>  1-39999  (best effort)', 'TCP [*]:50001-65535  =>  50001-65535  (best effort)'], []], [40000, 50000]],
  ['passt', ['-t', '~22'], [['TCP [*]:1-21  =>  1-21  (best effort)', 'TCP [*]:23-39999  =>  23-39999  (best effort)', 'TCP [*]:50001-65535  =>  50001-65535  (best effort)'], []], [40000, 50000]],
  ['pasta', ['-t', 'auto'], [['TCP [*]:1-39999  =>  1-39999  (best effort) (auto-scan)', 'TCP [*]:50001-65535  =>  50001-65535  (best effort) (auto-scan)', 'UDP [*]:1-39999  =>  1-39999  (best effort) (auto-scan)', 'UDP [*]:50001-65535  =>  50001-65535  (best effort) (auto-scan)'], ['TCP [*]%lo:1-39999  =>  1-39999  (best effort) (auto-scan)', 'TCP [*]%lo:50001-65535  =>  50001-65535  (best effort) (auto-scan)', 'UDP [*]%lo:1-39999  =>  1-39999  (best effort) (auto-scan)', 'UDP [*]%lo:50001-65535  =>  50001-65535  (best effort) (auto-scan)']], [40000, 50000]],
  ['passt', ['-t', '40000-40001'], [['TCP [*]:40000-40001  =>  40000-40001 '], []], [40000, 50000]],
  ['passt', ['-t', 'all'], [['TCP [*]:1-1023  =>  1-1023  (best effort)'], []], [1024, 65535]],
  ['passt', ['-t', 'all'], [['TCP [*]:1-59999  =>  1-59999  (best effort)', 'TCP [*]:60001-65535  =>  60001-65535  (best effort)'], []], [60000, 60000]],
];

/**
 * parsePortSpecs() on one command line as upstream's conf() does it: the
 * values of each option in order, then pasta's `auto` for each option not
 * given. Returns the message of the UsageError, or the rule lines per table.
 */
function commandLine(mode: Mode, args: string[], eph?: [number, number]): string | [string[], string[]] {
  const context: PortSpecContext = {
    ephemeral: eph ? { first: eph[0], last: eph[1] } : EPHEMERAL,
    ipv4: !args.includes('-6'),
    ipv6: !args.includes('-4'),
  };
  const enabled = { TCP: !args.includes('--no-tcp'), UDP: !args.includes('--no-udp') };
  const values = new Map<PortOption, string[]>();
  for (let i = 0; i < args.length; i++) {
    const option = args[i] as PortOption;
    if (!(option in PROTO)) continue;
    values.set(option, [...(values.get(option) ?? []), args[++i]!]);
  }
  const specs = new Map<PortOption, PortForwardSpec>();
  try {
    for (const [option, list] of values) specs.set(option, parsePortSpecs(option, list, mode, { ...context, enabled: enabled[PROTO[option]] }));
    // As upstream's conf(): -t, -T, -u, -U, each `auto` unless given (pasta only).
    if (mode === 'pasta') {
      for (const option of ['-t', '-T', '-u', '-U'] as const) {
        if (!values.has(option)) specs.set(option, defaultPortSpec(option, mode, { ...context, enabled: enabled[PROTO[option]] }));
      }
    }
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  const lines = (...options: PortOption[]): string[] => options.flatMap((o) => (specs.has(o) ? text(specs.get(o)!) : []));
  return [lines('-t', '-u'), lines('-T', '-U')];
}

/**
 * Upstream keeps TCP and UDP rules in one table per direction, in the order
 * the options came; ours keeps one spec per option. Compare per protocol.
 */
const byProtocol = (lines: string[]): string[] => [...lines.filter((l) => l.startsWith('TCP ')), ...lines.filter((l) => l.startsWith('UDP '))];

describe('parity with upstream passt 2026_07_16 (37a73a2)', () => {
  it.each(UPSTREAM)('%s %j', (mode, args, upstream, eph) => {
    const ours = commandLine(mode, args, eph);
    if (typeof upstream === 'string') {
      expect(typeof ours).toBe('string');
      // Upstream prints the reason and "Unable to add rule ..." as two lines; ours is one, and names the option value.
      if (upstream.includes('Unable to add rule')) expect(ours).toMatch(/ for '-[tuTU] [^']*'$/);
      expect((ours as string).replace(/ for '-[tuTU] [^']*'$/, '')).toBe(upstream);
    } else {
      expect(ours).toEqual([byProtocol(upstream[0]), byProtocol(upstream[1])]);
    }
  });

  // glibc's inet_ntop() prints an IPv4-compatible IPv6 address (::a.b.c.d,
  // deprecated) in dotted form; so does inet.ts's formatIP().
  it('prints ::1.2.3.4 as upstream (glibc) does', () => {
    expect(commandLine('passt', ['-t', '::1.2.3.4/22'])).toEqual([['TCP [::1.2.3.4]:22  =>  22 '], []]);
  });
});

// ---------------------------------------------------------------------------
// By hand: what the rules hold

/** A rule with the defaults of a plain `PORT` value. */
const rule = (fields: Partial<ForwardRule> & Pick<ForwardRule, 'from' | 'to' | 'targetFrom' | 'source'>): ForwardRule => ({
  addr: null,
  family: 0,
  ifname: null,
  targetAddr: null,
  weak: false,
  scan: false,
  ...fields,
});

describe("the manual's examples (passt(1), pasta(1))", () => {
  it('-t 22, 22:23, 22,25, 22-80, 22-80:32-90', () => {
    expect(parse('-t', ['22']).rules).toEqual([rule({ from: 22, to: 22, targetFrom: 22, source: '22' })]);
    expect(parse('-t', ['22:23']).rules).toEqual([rule({ from: 22, to: 22, targetFrom: 23, source: '22:23' })]);
    expect(parse('-t', ['22,25']).rules).toEqual([
      rule({ from: 22, to: 22, targetFrom: 22, source: '22,25' }),
      rule({ from: 25, to: 25, targetFrom: 25, source: '22,25' }),
    ]);
    expect(parse('-t', ['22-80']).rules).toEqual([rule({ from: 22, to: 80, targetFrom: 22, source: '22-80' })]);
    const mapped = parse('-t', ['22-80:32-90']);
    expect(mapped.rules).toEqual([rule({ from: 22, to: 80, targetFrom: 32, source: '22-80:32-90' })]);
    expect([21, 22, 50, 80, 81].map((p) => forwardedPort(mapped, p))).toEqual([-1, 32, 60, 90, -1]);
  });

  it('-t 192.0.2.1/22, 192.0.2.1%eth0/22, %eth0/22', () => {
    expect(parse('-t', ['192.0.2.1/22']).rules).toEqual([rule({ addr: v4('192.0.2.1'), family: 4, from: 22, to: 22, targetFrom: 22, source: '192.0.2.1/22' })]);
    expect(parse('-t', ['192.0.2.1%eth0/22']).rules).toEqual([
      rule({ addr: v4('192.0.2.1'), family: 4, ifname: 'eth0', from: 22, to: 22, targetFrom: 22, source: '192.0.2.1%eth0/22' }),
    ]);
    expect(parse('-t', ['%eth0/22']).rules).toEqual([rule({ ifname: 'eth0', from: 22, to: 22, targetFrom: 22, source: '%eth0/22' })]);
  });

  it('-t 0.0.0.0/5000:192.0.2.5/6000: any IPv4 address, to another address and port', () => {
    const spec = parse('-t', ['0.0.0.0/5000:192.0.2.5/6000'], 'passt');
    expect(spec.rules).toEqual([
      rule({ addr: v4('0.0.0.0'), family: 4, from: 5000, to: 5000, targetFrom: 6000, targetAddr: v4('192.0.2.5'), source: '0.0.0.0/5000:192.0.2.5/6000' }),
    ]);
    expect(forwardRule(spec, 5000, v4('198.51.100.1'))).toBe(spec.rules[0]);
    expect(forwardRule(spec, 5000, v6('2001:db8::1'))).toBeUndefined();
    expect(text(spec)).toEqual(['TCP [0.0.0.0]:5000  =>  192.0.2.5:6000 ']);
  });

  it('-t all, ::1/all, 127.0.0.6/all:192.0.2.6: every non-ephemeral port, best effort', () => {
    const all = parse('-t', ['all'], 'passt');
    expect(all.rules).toEqual([
      rule({ from: 1, to: 32767, targetFrom: 1, weak: true, source: 'all' }),
      rule({ from: 61000, to: 65535, targetFrom: 61000, weak: true, source: 'all' }),
    ]);
    expect(all.mode).toBe('ports');
    expect([...listeningPorts(all)]).toHaveLength(32767 + 4536);
    expect(parse('-t', ['::1/all']).rules.map((r) => [r.family, r.from, r.to])).toEqual([
      [6, 1, 32767],
      [6, 61000, 65535],
    ]);
    const to = parse('-t', ['127.0.0.6/all:192.0.2.6']);
    expect(to.rules.every((r) => r.weak && r.targetAddr !== null && r.targetAddr.join('.') === '192.0.2.6')).toBe(true);
    expect(forwardedPort(to, 8080, v4('127.0.0.6'))).toBe(8080);
    expect(forwardedPort(to, 8080, v4('127.0.0.1'))).toBe(-1);
  });

  it('-t 2000-5000,~3000-3010, 192.0.2.1/20-30,~25, ~20000-20010: exclusions', () => {
    expect(text(parse('-t', ['2000-5000,~3000-3010']))).toEqual(['TCP [*]:2000-2999  =>  2000-2999 ', 'TCP [*]:3011-5000  =>  3011-5000 ']);
    expect(text(parse('-t', ['192.0.2.1/20-30,~25']))).toEqual(['TCP [192.0.2.1]:20-24  =>  20-24 ', 'TCP [192.0.2.1]:26-30  =>  26-30 ']);
    const spec = parse('-t', ['~20000-20010']);
    expect(text(spec)).toEqual([
      'TCP [*]:1-19999  =>  1-19999  (best effort)',
      'TCP [*]:20011-32767  =>  20011-32767  (best effort)',
      'TCP [*]:61000-65535  =>  61000-65535  (best effort)',
    ]);
    expect([19999, 20000, 20010, 20011, 32768, 60999, 61000].map((p) => forwardedPort(spec, p))).toEqual([19999, -1, -1, 20011, -1, -1, 61000]);
  });

  it('-t auto, ::1/auto, 8000-8010,auto: scanned rules, nothing listened on from the start', () => {
    const auto = parse('-t', ['auto']);
    expect(auto.mode).toBe('auto');
    expect(auto.rules).toEqual([
      rule({ from: 1, to: 32767, targetFrom: 1, weak: true, scan: true, source: 'auto' }),
      rule({ from: 61000, to: 65535, targetFrom: 61000, weak: true, scan: true, source: 'auto' }),
    ]);
    expect([...listeningPorts(auto)]).toEqual([]);
    expect(hasScanRules(auto)).toBe(true);
    expect(scannedPorts(auto, 8080)).toEqual([{ rule: auto.rules[0], port: 8080, target: 8080 }]);
    expect(scannedPorts(auto, 40000)).toEqual([]);

    const local = parse('-t', ['::1/auto']);
    expect(local.rules.every((r) => r.scan && r.weak && r.family === 6)).toBe(true);
    expect(scannedPorts(local, 22).map((p) => p.rule.addr)).toEqual([v6('::1')]);

    const some = parse('-t', ['8000-8010,auto']);
    expect(some.mode).toBe('auto');
    expect(some.rules).toEqual([rule({ from: 8000, to: 8010, targetFrom: 8000, scan: true, source: '8000-8010,auto' })]);
    expect([...listeningPorts(some)]).toEqual([]);
    expect(scannedPorts(some, 8010)).toHaveLength(1);
    expect(scannedPorts(some, 8011)).toEqual([]);
  });
});

describe("Podman's forms", () => {
  it('-t 8080-8080:80-80, -t 127.0.0.1/8081-8081:80-80, -u 9000-9000:9000-9000', () => {
    const tcp = parse('-t', ['8080-8080:80-80', '127.0.0.1/8081-8081:80-80']);
    expect(tcp.mode).toBe('ports');
    expect(tcp.values).toEqual(['8080-8080:80-80', '127.0.0.1/8081-8081:80-80']);
    expect(tcp.rules).toEqual([
      rule({ from: 8080, to: 8080, targetFrom: 80, source: '8080-8080:80-80' }),
      rule({ addr: v4('127.0.0.1'), family: 4, from: 8081, to: 8081, targetFrom: 80, source: '127.0.0.1/8081-8081:80-80' }),
    ]);
    expect([...listeningPorts(tcp)].map((p) => [p.port, p.target])).toEqual([
      [8080, 80],
      [8081, 80],
    ]);
    expect(parse('-u', ['9000-9000:9000-9000']).rules).toEqual([rule({ from: 9000, to: 9000, targetFrom: 9000, source: '9000-9000:9000-9000' })]);
  });

  it("-T 5432: the namespace's loopback interface, as upstream", () => {
    const spec = parse('-T', ['5432']);
    expect(spec.rules).toEqual([rule({ ifname: 'lo', from: 5432, to: 5432, targetFrom: 5432, source: '5432' })]);
    expect(text(spec)).toEqual(['TCP [*]%lo:5432  =>  5432 ']);
    expect(text(parse('-T', ['5432'], 'pasta', { ipv6: false }))).toEqual(['TCP [0.0.0.0]%lo:5432  =>  5432 ']);
  });

  it('-t none -u none -T none -U none', () => {
    for (const option of ['-t', '-u', '-T', '-U'] as const) {
      const spec = parse(option, ['none']);
      expect(spec).toEqual({ option, mode: 'none', rules: [], values: ['none'] });
      expect(hasScanRules(spec)).toBe(false);
      expect(describePortSpec(spec)).toEqual([`${option}: none`]);
    }
  });
});

describe('target addresses', () => {
  it('IPv4 and IPv6, with or without brackets and ports', () => {
    const t = (value: string) => parse('-t', [value], 'passt').rules.map((r) => [r.targetAddr && Array.from(r.targetAddr).join(), r.targetFrom]);
    expect(t('0.0.0.0/22:192.0.2.5')).toEqual([['192,0,2,5', 22]]);
    expect(t('0.0.0.0/22:[192.0.2.5]')).toEqual([['192,0,2,5', 22]]);
    expect(t('0.0.0.0/22-24:192.0.2.5/32-34')).toEqual([['192,0,2,5', 32]]);
    expect(t('[::]/80:[2001:db8::5]/8080')).toEqual([[Array.from(v6('2001:db8::5')).join(), 8080]]);
    expect(t('::/80:2001:db8::5')).toEqual([[Array.from(v6('2001:db8::5')).join(), 80]]);
    // An IPv4-mapped target is IPv4.
    expect(t('0.0.0.0/22:[::ffff:192.0.2.9]/23')).toEqual([['192,0,2,9', 23]]);
  });

  it('0.0.0.0 and :: mean no target address (the guest or namespace address), as upstream', () => {
    for (const value of ['0.0.0.0/22:0.0.0.0', '22:::', '22:0.0.0.0', '::/22:[::]/23']) {
      expect(parse('-t', [value], 'passt').rules.map((r) => r.targetAddr)).toEqual([null]);
    }
    expect(parse('-t', ['all:0.0.0.0'], 'passt').rules.map((r) => r.targetAddr)).toEqual([null, null]);
  });

  it('a target address needs a listening address of its family', () => {
    expect(usageError(() => parse('-t', ['22:192.0.2.5'], 'passt')).message).toBe(
      "Dual stack forward to IPv4 address 192.0.2.5 unsupported; Did you mean 0.0.0.0/... instead?; Unable to add rule TCP [*]:22  =>  192.0.2.5:22  for '-t 22:192.0.2.5'",
    );
    expect(usageError(() => parse('-u', ['53:[2001:db8::53]'], 'passt')).message).toBe(
      "Dual stack forward to IPv6 address 2001:db8::53 unsupported; Did you mean [::]/... instead?; Unable to add rule UDP [*]:53  =>  2001:db8::53:53  for '-u 53:[2001:db8::53]'",
    );
    expect(usageError(() => parse('-t', ['::1/22:192.0.2.5'], 'passt')).message).toBe(
      "Forward from IPv6 (::1) to IPv4 (192.0.2.5) unsupported; Unable to add rule TCP [::1]:22  =>  192.0.2.5:22  for '-t ::1/22:192.0.2.5'",
    );
  });

  it('multicast and broadcast targets are refused', () => {
    expect(usageError(() => parse('-t', ['0.0.0.0/22:224.0.0.1'])).message).toBe(
      "Multicast target address 224.0.0.1 for forwarding rule; Unable to add rule TCP [0.0.0.0]:22  =>  224.0.0.1:22  for '-t 0.0.0.0/22:224.0.0.1'",
    );
    expect(usageError(() => parse('-t', ['0.0.0.0/22:255.255.255.255'])).message).toMatch(/^Multicast target address 255\.255\.255\.255 for forwarding rule; /);
    expect(usageError(() => parse('-t', ['::/22:ff02::1'])).message).toMatch(/^Multicast target address ff02::1 for forwarding rule; /);
  });
});

describe('bindings: ADDR[%IF]/, [*][%IF]/', () => {
  it.each<[string, Uint8Array | null, string | null]>([
    ['*/22', null, null],
    ['/22', null, null],
    ['*%eth0/22', null, 'eth0'],
    ['%abcdefghijklmno/22', null, 'abcdefghijklmno'],
    ['%eth0.100/22', null, 'eth0.100'],
    ['[192.0.2.1]/22', v4('192.0.2.1'), null],
    ['::ffff:192.0.2.1/22', v4('192.0.2.1'), null],
    ['[2001:DB8::1]%eth0/22', v6('2001:db8::1'), 'eth0'],
    ['fe80::1%eth0/22', v6('fe80::1'), 'eth0'],
    ['[::]/22', v6('::'), null],
  ])('%s', (value, address, ifname) => {
    const [r] = parse('-t', [value]).rules;
    expect(r!.addr).toEqual(address);
    expect(r!.family).toBe(address === null ? 0 : address.length === 4 ? 4 : 6);
    expect(r!.ifname).toBe(ifname);
  });

  it('refuses . and .., names over 15 bytes and empty names', () => {
    expect(usageError(() => parse('-t', ['%./22'])).message).toBe('Invalid interface name: .');
    expect(usageError(() => parse('-t', ['192.0.2.1%../22'])).message).toBe('Invalid interface name: ..');
    expect(usageError(() => parse('-t', ['%abcdefghijklmnop/22'])).message).toBe("Invalid port specifier '%abcdefghijklmnop/22'");
    expect(usageError(() => parse('-t', ['%/22'])).message).toBe("Invalid port specifier '%/22'");
  });

  it('-T and -U take no binding', () => {
    expect(usageError(() => parse('-T', ['127.0.0.1/5432'])).message).toBe('Listening address not allowed for -T 127.0.0.1/5432');
    expect(usageError(() => parse('-U', ['%lo/53'])).message).toBe('Listening address not allowed for -U %lo/53');
  });
});

describe('auto with other chunks and values', () => {
  it('marks every rule of its value, and only of its value', () => {
    const spec = parse('-t', ['::1/22', '0.0.0.0/auto']);
    expect(spec.mode).toBe('ports');
    expect(hasScanRules(spec)).toBe(true);
    expect(hasScanRules(null)).toBe(false);
    expect(hasScanRules(parse('-t', ['22']))).toBe(false);
    expect([...listeningPorts(spec)].map((p) => p.port)).toEqual([22]);
    expect(spec.rules.map((r) => r.scan)).toEqual([false, true, true]);
  });

  it('auto,~22 and auto,22 and auto,all', () => {
    expect(text(parse('-t', ['auto,~22']))).toEqual([
      'TCP [*]:1-21  =>  1-21  (best effort) (auto-scan)',
      'TCP [*]:23-32767  =>  23-32767  (best effort) (auto-scan)',
      'TCP [*]:61000-65535  =>  61000-65535  (best effort) (auto-scan)',
    ]);
    expect(text(parse('-t', ['auto,22']))).toEqual(['TCP [*]:22  =>  22  (auto-scan)']);
    expect(text(parse('-t', ['auto,all']))).toEqual(TCP_AUTO);
  });

  it('one scanned listener per listening address', () => {
    const spec = parse('-t', ['0.0.0.0/auto', '::/auto']);
    expect(scannedPorts(spec, 8080).map((p) => Array.from(p.rule.addr!).length)).toEqual([4, 16]);
    const mapped = parse('-u', ['5000-5010:6000-6010,auto']);
    expect(scannedPorts(mapped, 5005)).toEqual([{ rule: mapped.rules[0], port: 5005, target: 6005 }]);
  });

  it('is for pasta only', () => {
    for (const value of ['auto', '22,auto', 'auto,garbage']) {
      expect(usageError(() => parse('-t', [value], 'passt')).message).toBe("'auto' port forwarding is only allowed for pasta");
    }
  });
});

describe('all, exclusions and the ephemeral range', () => {
  it('leaves out the ephemeral range given', () => {
    const ephemeral = { first: 40000, last: 50000 };
    expect(text(parse('-t', ['all'], 'passt', { ephemeral }))).toEqual([
      'TCP [*]:1-39999  =>  1-39999  (best effort)',
      'TCP [*]:50001-65535  =>  50001-65535  (best effort)',
    ]);
    expect(text(parse('-t', ['~22'], 'pasta', { ephemeral: { first: 1024, last: 65535 } }))).toEqual([
      'TCP [*]:1-21  =>  1-21  (best effort)',
      'TCP [*]:23-1023  =>  23-1023  (best effort)',
    ]);
    // Explicit ranges are not cut.
    expect(text(parse('-t', ['40000-40001'], 'passt', { ephemeral }))).toEqual(['TCP [*]:40000-40001  =>  40000-40001 ']);
    expect(DEFAULT_EPHEMERAL_PORTS).toEqual({ first: 32768, last: 60999 });
    expect(text(parsePortSpecs('-t', ['all'], 'passt'))).toEqual(text(parse('-t', ['all'], 'passt')));
  });

  it('a range makes `all` of the same value meaningless, as upstream', () => {
    expect(text(parse('-t', ['all,22']))).toEqual(['TCP [*]:22  =>  22 ']);
    expect(text(parse('-t', ['22,all']))).toEqual(['TCP [*]:22  =>  22 ']);
  });

  it('exclusions apply within their value only', () => {
    expect(text(parse('-t', ['20-30,~25', '25']))).toEqual(['TCP [*]:20-24  =>  20-24 ', 'TCP [*]:26-30  =>  26-30 ', 'TCP [*]:25  =>  25 ']);
    expect(text(parse('-t', ['22-80:32-90,~25']))).toEqual(['TCP [*]:22-24  =>  32-34 ', 'TCP [*]:26-80  =>  36-90 ']);
    expect(text(parse('-t', ['1-10,~2-5,~4-6']))).toEqual(['TCP [*]:1  =>  1 ', 'TCP [*]:7-10  =>  7-10 ']);
  });

  it('everything excluded: no rules, no error', () => {
    for (const value of ['20-30,~20-30', '~0-65535']) {
      const spec = parse('-t', [value], 'passt');
      expect(spec.mode).toBe('none');
      expect(spec.rules).toEqual([]);
    }
  });

  it('rejects an invalid ephemeral range as a programming error', () => {
    expect(() => parse('-t', ['all'], 'pasta', { ephemeral: { first: 0, last: 10 } })).toThrow(RangeError);
    expect(() => parse('-t', ['all'], 'pasta', { ephemeral: { first: 20, last: 10 } })).toThrow('parsePortSpecs: invalid ephemeral port range 20-10');
    expect(() => parse('-t', ['all'], 'pasta', { ephemeral: { first: 1, last: 65536 } })).toThrow(RangeError);
  });
});

describe('none', () => {
  it('adds nothing before rules, is an error after them', () => {
    expect(text(parse('-t', ['none', '22']))).toEqual(['TCP [*]:22  =>  22 ']);
    expect(parse('-t', ['none', 'none']).mode).toBe('none');
    expect(usageError(() => parse('-t', ['22', 'none'])).message).toBe('-t none conflicts with previous options');
    expect(usageError(() => parse('-U', ['auto', 'none'])).message).toBe('-U none conflicts with previous options');
    // Only alone, and only in lower case.
    expect(usageError(() => parse('-t', ['none,22'])).message).toBe("Invalid port specifier 'none,22'");
    expect(usageError(() => parse('-t', ['NONE'])).message).toBe("Invalid port specifier 'NONE'");
  });
});

describe('errors, in upstream words', () => {
  it.each<[PortOption, string[], Mode, string]>([
    // Conflicts: any overlap on addresses that could both receive a packet.
    ['-t', ['22,22'], 'passt', "Forwarding configuration conflict: TCP [*]:22  =>  22  versus TCP [*]:22  =>  22 ; Unable to add rule TCP [*]:22  =>  22  for '-t 22,22'"],
    ['-t', ['22-30,25'], 'passt', "Forwarding configuration conflict: TCP [*]:25  =>  25  versus TCP [*]:22-30  =>  22-30 ; Unable to add rule TCP [*]:25  =>  25  for '-t 22-30,25'"],
    ['-u', ['0.0.0.0/53', '127.0.0.1/53'], 'passt', "Forwarding configuration conflict: UDP [127.0.0.1]:53  =>  53  versus UDP [0.0.0.0]:53  =>  53 ; Unable to add rule UDP [127.0.0.1]:53  =>  53  for '-u 127.0.0.1/53'"],
    ['-t', ['%eth0/22', '%eth1/22'], 'passt', "Forwarding configuration conflict: TCP [*]%eth1:22  =>  22  versus TCP [*]%eth0:22  =>  22 ; Unable to add rule TCP [*]%eth1:22  =>  22  for '-t %eth1/22'"],
    ['-t', ['all', '22'], 'passt', "Forwarding configuration conflict: TCP [*]:22  =>  22  versus TCP [*]:1-32767  =>  1-32767  (best effort); Unable to add rule TCP [*]:22  =>  22  for '-t 22'"],
    ['-T', ['5432', '5432'], 'pasta', "Forwarding configuration conflict: TCP [*]%lo:5432  =>  5432  versus TCP [*]%lo:5432  =>  5432 ; Unable to add rule TCP [*]%lo:5432  =>  5432  for '-T 5432'"],
    // Port 0.
    ['-t', ['0'], 'passt', "Forwarding rule attempts to map from port 0; Unable to add rule TCP [*]:0  =>  0  for '-t 0'"],
    ['-t', ['0-5:10-15'], 'passt', "Forwarding rule attempts to map from port 0; Unable to add rule TCP [*]:0-5  =>  10-15  for '-t 0-5:10-15'"],
    ['-t', ['22:0'], 'passt', "Forwarding rule attempts to map to port 0; Unable to add rule TCP [*]:22  =>  0  for '-t 22:0'"],
    // Ranges that do not match, or are not ranges.
    ['-t', ['22-80:32-91'], 'passt', "Invalid port specifier '22-80:32-91'"],
    ['-t', ['22:32-33'], 'passt', "Invalid port specifier '22:32-33'"],
    ['-t', ['80-70'], 'passt', "Invalid port specifier '80-70'"],
    ['-t', ['65536'], 'passt', "Invalid port specifier '65536'"],
    ['-t', ['~22-21'], 'passt', "Invalid port specifier '~22-21'"],
    // Trailing garbage, named without the binding as upstream does.
    ['-t', ['22x'], 'passt', "Invalid port specifier '22x'"],
    ['-t', ['192.0.2.1/22x'], 'passt', "Invalid port specifier '22x'"],
    ['-t', ['192.0.2.1/'], 'passt', "Invalid port specifier ''"],
    ['-t', [''], 'passt', "Invalid port specifier ''"],
    ['-t', ['22,'], 'passt', "Invalid port specifier '22,'"],
    ['-t', ['22 '], 'passt', "Invalid port specifier '22 '"],
    ['-t', ['-22'], 'passt', "Invalid port specifier '-22'"],
    ['-t', ['22:abc'], 'passt', "Invalid port specifier '22:abc'"],
    // Upstream adds a value's ranges before it looks for trailing garbage.
    ['-t', ['80,80x'], 'passt', "Forwarding configuration conflict: TCP [*]:80  =>  80  versus TCP [*]:80  =>  80 ; Unable to add rule TCP [*]:80  =>  80  for '-t 80,80x'"],
    ['-t', ['0x16'], 'passt', "Forwarding rule attempts to map from port 0; Unable to add rule TCP [*]:0  =>  0  for '-t 0x16'"],
    // Options and modes.
    ['-T', ['22'], 'passt', '-T is for pasta mode only'],
    ['-U', [], 'passt', '-U is for pasta mode only'],
  ])('%s %j (%s)', (option, values, mode, message) => {
    expect(usageError(() => parse(option, values, mode)).message).toBe(message);
  });

  it('are built from messages.ts', () => {
    expect(usageError(() => parse('-t', ['22x'])).message).toBe(M.invalidPortSpec('22x'));
    expect(usageError(() => parse('-t', ['22', 'none'])).message).toBe(M.noneConflicts('-t'));
    expect(usageError(() => parse('-t', ['auto'], 'passt')).message).toBe(M.autoOnlyPasta());
    expect(usageError(() => parse('-T', ['::1/22'])).message).toBe(M.addressNotAllowed('-T', '::1/22'));
    expect(usageError(() => parse('-t', ['%../22'])).message).toBe(M.invalidInterface('..'));
    expect(usageError(() => parse('-T', ['1'], 'passt')).message).toBe(M.forPastaOnly('-T'));
    expect(usageError(() => parse('-t', ['22,22'])).message).toBe(
      `${M.ruleConflict('TCP [*]:22  =>  22 ', 'TCP [*]:22  =>  22 ')}; ${M.unableToAddRule('TCP [*]:22  =>  22 ')} for '-t 22,22'`,
    );
  });

  it('numbers as strtoul() reads them: leading zeros, blanks and a sign', () => {
    expect(text(parse('-t', ['080:0443']))).toEqual(['TCP [*]:80  =>  443 ']);
    expect(text(parse('-t', [' 22']))).toEqual(['TCP [*]:22  =>  22 ']);
    expect(text(parse('-t', ['+22']))).toEqual(['TCP [*]:22  =>  22 ']);
    expect(text(parse('-t', ['22- 23']))).toEqual(['TCP [*]:22-23  =>  22-23 ']);
    expect(text(parse('-t', ['22:+23']))).toEqual(['TCP [*]:22  =>  23 ']);
    expect(usageError(() => parse('-t', ['-0'])).message).toMatch(/^Forwarding rule attempts to map from port 0; /);
  });
});

describe('IP versions and protocols', () => {
  it('one IP version: rules without an address are of that version', () => {
    const v4only = { ipv6: false };
    const v6only = { ipv4: false };
    expect(parse('-t', ['22'], 'passt', v4only).rules).toEqual([rule({ addr: v4('0.0.0.0'), family: 4, from: 22, to: 22, targetFrom: 22, source: '22' })]);
    expect(parse('-t', ['%eth0/22'], 'passt', v4only).rules).toEqual([
      rule({ addr: v4('0.0.0.0'), family: 4, ifname: 'eth0', from: 22, to: 22, targetFrom: 22, source: '%eth0/22' }),
    ]);
    expect(text(parse('-t', ['22:192.0.2.5'], 'passt', v4only))).toEqual(['TCP [0.0.0.0]:22  =>  192.0.2.5:22 ']);
    expect(text(parse('-u', ['all'], 'passt', v6only))).toEqual(['UDP [::]:1-32767  =>  1-32767  (best effort)', 'UDP [::]:61000-65535  =>  61000-65535  (best effort)']);
    expect(text(defaultPortSpec('-U', 'pasta', { ephemeral: EPHEMERAL, ...v6only }))).toEqual([
      'UDP [::]%lo:1-32767  =>  1-32767  (best effort) (auto-scan)',
      'UDP [::]%lo:61000-65535  =>  61000-65535  (best effort) (auto-scan)',
    ]);
  });

  it('a rule of a disabled IP version is an error', () => {
    expect(usageError(() => parse('-t', ['::1/22'], 'passt', { ipv6: false })).message).toBe(
      "IPv6 forward, but IPv6 not enabled; Unable to add rule TCP [::1]:22  =>  22  for '-t ::1/22'",
    );
    expect(usageError(() => parse('-u', ['127.0.0.1/53'], 'passt', { ipv4: false })).message).toBe(
      "IPv4 forward, but IPv4 not enabled; Unable to add rule UDP [127.0.0.1]:53  =>  53  for '-u 127.0.0.1/53'",
    );
    expect(usageError(() => parse('-t', ['22:2001:db8::5'], 'passt', { ipv6: false })).message).toBe(
      "Forward from IPv4 (0.0.0.0) to IPv6 (2001:db8::5) unsupported; Unable to add rule TCP [0.0.0.0]:22  =>  2001:db8::5:22  for '-t 22:2001:db8::5'",
    );
  });

  it('enabled: false (--no-tcp, --no-udp): any rule is an error, none is not', () => {
    expect(usageError(() => parse('-t', ['22'], 'passt', { enabled: false })).message).toBe(
      "Can't add TCP forwarding rule, TCP not enabled; Unable to add rule TCP [*]:22  =>  22  for '-t 22'",
    );
    expect(usageError(() => parse('-u', ['53'], 'passt', { enabled: false })).message).toBe(
      "Can't add UDP forwarding rule, UDP not enabled; Unable to add rule UDP [*]:53  =>  53  for '-u 53'",
    );
    expect(parse('-t', ['none'], 'passt', { enabled: false }).mode).toBe('none');
    expect(parse('-t', [], 'passt', { enabled: false }).mode).toBe('none');
    // As upstream, pasta's default `auto` is a rule too: the caller leaves it out for a disabled protocol.
    expect(() => defaultPortSpec('-t', 'pasta', { enabled: false })).toThrow(UsageError);
  });
});

describe('defaults', () => {
  it('pasta: auto for each option; passt: none', () => {
    expect(text(defaultPortSpec('-t', 'pasta', { ephemeral: EPHEMERAL }))).toEqual(TCP_AUTO);
    expect(text(defaultPortSpec('-u', 'pasta', { ephemeral: EPHEMERAL }))).toEqual(UDP_AUTO);
    expect(text(defaultPortSpec('-T', 'pasta', { ephemeral: EPHEMERAL }))).toEqual(TCP_AUTO_LO);
    expect(text(defaultPortSpec('-U', 'pasta', { ephemeral: EPHEMERAL }))).toEqual(UDP_AUTO_LO);
    expect(defaultPortSpec('-t', 'pasta').values).toEqual(['auto']);
    expect(defaultPortSpec('-t', 'passt')).toEqual({ option: '-t', mode: 'none', rules: [], values: [] });
    expect(parse('-u', [])).toEqual({ option: '-u', mode: 'none', rules: [], values: [] });
  });
});

// ---------------------------------------------------------------------------
// Lookups

describe('forwardRule and forwardedPort', () => {
  const values = ['192.0.2.1/80:8080', '192.0.2.2/80:9090', '0.0.0.0/443:8443', '[::]/443:9443', '[2001:db8::1]/2222', '22-25:122-125,~24', '%eth0/3000', '127.0.0.1/7000', '::/7000:7001'];
  const spec = parse('-t', values);

  it.each<[string, number, string | undefined, number]>([
    ['specific IPv4 address', 80, '192.0.2.1', 8080],
    ['another specific IPv4 address', 80, '192.0.2.2', 9090],
    ['an address without a rule', 80, '192.0.2.3', -1],
    ['no address: the first binding that forwards it', 80, undefined, 8080],
    ['IPv4 unspecified binding, IPv4 address', 443, '198.51.100.2', 8443],
    ['IPv6 unspecified binding, IPv6 address', 443, '2001:db8::2', 9443],
    ['IPv4-mapped IPv6 is IPv4', 443, '::ffff:198.51.100.2', 8443],
    ['IPv4-mapped IPv6, specific', 80, '::ffff:192.0.2.2', 9090],
    ['specific IPv6 address', 2222, '2001:db8::1', 2222],
    ['specific IPv6 binding, other address', 2222, '2001:db8::2', -1],
    ['any binding, IPv4', 22, '192.0.2.1', 122],
    ['any binding, other IPv6', 22, '2001:db8::99', 122],
    ['any binding, excluded port', 24, '192.0.2.1', -1],
    ['any binding, after the exclusion', 25, '192.0.2.1', 125],
    ['interface only is on every address', 3000, '10.0.0.1', 3000],
    ['specific IPv4 next to unspecified IPv6: IPv4', 7000, '127.0.0.1', 7000],
    ['specific IPv4 next to unspecified IPv6: IPv6', 7000, '::1', 7001],
    ['specific IPv4 next to unspecified IPv6: other IPv4', 7000, '127.0.0.2', -1],
    ['port not forwarded', 81, '192.0.2.1', -1],
  ])('%s', (_name, port, address, target) => {
    expect(forwardedPort(spec, port, address === undefined ? undefined : addr(address))).toBe(target);
  });

  it('returns the rule itself', () => {
    expect(forwardRule(spec, 80, v4('192.0.2.2'))).toBe(spec.rules[1]);
    expect(forwardRule(spec, 25)).toBe(spec.rules[6]);
    expect(forwardRule(spec, 24)).toBeUndefined();
  });

  it('agrees, port by port, with a search of every rule', () => {
    // The most specific binding first: the address, the unspecified address of its family, no address.
    const key = (x: Uint8Array | null): string => (x === null ? 'any' : Array.from(x).join());
    const ruleKeys = spec.rules.map((r) => key(r.addr));
    const search = (port: number, wanted: string[]): ForwardRule | undefined => {
      for (const want of wanted) {
        for (let i = 0; i < spec.rules.length; i++) {
          const r = spec.rules[i]!;
          if (ruleKeys[i] === want && port >= r.from && port <= r.to) return r;
        }
      }
      return undefined;
    };
    for (const a of ['192.0.2.1', '192.0.2.2', '198.51.100.1', '127.0.0.1', '2001:db8::1', '::1']) {
      const address = addr(a);
      const wanted = [key(address), key(new Uint8Array(address.length)), 'any'];
      for (let port = 1; port < 65536; port++) {
        const expected = search(port, wanted);
        if (forwardRule(spec, port, address) !== expected) expect([a, port, forwardRule(spec, port, address)]).toEqual([a, port, expected]);
      }
    }
  });

  it('answers -1 for ports that are not ports and addresses that are not addresses', () => {
    for (const port of [0, -1, 65536, 1.5, Number.NaN]) expect(forwardedPort(spec, port)).toBe(-1);
    expect(forwardedPort(spec, 22, new Uint8Array(5))).toBe(-1);
    expect(forwardedPort(spec, 22, new Uint8Array(0))).toBe(-1);
    expect(forwardedPort(parse('-t', ['none']), 22)).toBe(-1);
  });

  it('scanned rules answer too (where an `auto` listener forwards to)', () => {
    const auto = parse('-t', ['auto']);
    expect(forwardedPort(auto, 80)).toBe(80);
    expect(forwardedPort(auto, 40000)).toBe(-1);
  });

  it('works on a spec made by hand', () => {
    const handmade: PortForwardSpec = {
      option: '-t',
      mode: 'ports',
      rules: [rule({ from: 100, to: 109, targetFrom: 200, source: 'x' })],
      values: ['x'],
    };
    expect(forwardedPort(handmade, 105)).toBe(205);
    expect(forwardedPort(handmade, 110)).toBe(-1);
    expect([...listeningPorts(handmade)]).toHaveLength(10);
  });
});

describe('listeningPorts', () => {
  it('every port of every static rule, in order, with its target', () => {
    const ports = [...listeningPorts(parse('-t', ['22,25-26:35-36', '192.0.2.1/80']))].map((p) => [p.port, p.target, p.rule.source]);
    expect(ports).toEqual([
      [22, 22, '22,25-26:35-36'],
      [25, 35, '22,25-26:35-36'],
      [26, 36, '22,25-26:35-36'],
      [80, 80, '192.0.2.1/80'],
    ]);
    expect([...listeningPorts(parse('-t', ['none']))]).toEqual([]);
  });

  it('a 1000-port range around an exclusion', () => {
    const spec = parse('-t', ['10000-10999:20000-20999,~10500']);
    expect(text(spec)).toEqual(['TCP [*]:10000-10499  =>  20000-20499 ', 'TCP [*]:10501-10999  =>  20501-20999 ']);
    const ports = [...listeningPorts(spec)];
    expect(ports).toHaveLength(999);
    expect(ports.every((p) => p.target - p.port === 10000)).toBe(true);
    expect(ports.some((p) => p.port === 10500)).toBe(false);
    expect(ports[500]!.rule).toBe(spec.rules[1]);
  });
});

// ---------------------------------------------------------------------------
// Text and the result object

describe('formatForwardRule and describePortSpec', () => {
  it("prints as upstream's fwd_rule_fmt()", () => {
    expect(formatForwardRule(rule({ from: 22, to: 22, targetFrom: 22, source: '' }))).toBe('TCP [*]:22  =>  22 ');
    expect(formatForwardRule(rule({ from: 22, to: 80, targetFrom: 32, source: '' }), 'UDP')).toBe('UDP [*]:22-80  =>  32-90 ');
    expect(
      formatForwardRule(rule({ addr: v6('2001:db8::1'), family: 6, ifname: 'eth0', from: 1, to: 2, targetFrom: 3, targetAddr: v6('2001:db8::2'), weak: true, scan: true, source: '' })),
    ).toBe('TCP [2001:db8::1]%eth0:1-2  =>  2001:db8::2:3-4  (best effort) (auto-scan)');
    expect(formatForwardRule(rule({ addr: v4('0.0.0.0'), family: 4, from: 5, to: 5, targetFrom: 6, targetAddr: v4('0.0.0.0'), source: '' }))).toBe('TCP [0.0.0.0]:5  =>  6 ');
  });

  it('describes each rule with its option', () => {
    expect(describePortSpec(parse('-u', ['53', '127.0.0.1/5353:53']))).toEqual(['-u: UDP [*]:53  =>  53 ', '-u: UDP [127.0.0.1]:5353  =>  53 ']);
    expect(describePortSpec(parse('-T', ['5432']))).toEqual(['-T: TCP [*]%lo:5432  =>  5432 ']);
    expect(describePortSpec(parse('-t', []))).toEqual(['-t: none']);
  });
});

describe('the result', () => {
  it('is frozen, rules and values included', () => {
    const spec = parse('-t', ['22', '80']);
    expect(Object.isFrozen(spec)).toBe(true);
    expect(Object.isFrozen(spec.rules)).toBe(true);
    expect(Object.isFrozen(spec.values)).toBe(true);
    expect(spec.rules.every((r) => Object.isFrozen(r))).toBe(true);
    expect(() => (spec.rules as ForwardRule[]).push(spec.rules[0]!)).toThrow(TypeError);
  });

  it('copies the values array', () => {
    const values = ['22'];
    const spec = parse('-t', values);
    values.push('80');
    expect(spec.values).toEqual(['22']);
  });

  it('mode: none (no rules), auto (every rule scanned), ports', () => {
    expect(parse('-t', ['none']).mode).toBe('none');
    expect(parse('-t', ['0.0.0.0/auto', '::1/auto']).mode).toBe('auto');
    expect(parse('-t', ['22']).mode).toBe('ports');
    expect(parse('-t', ['all']).mode).toBe('ports');
  });
});
