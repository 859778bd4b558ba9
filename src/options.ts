/**
 * Command-line parsing compatible with pasta(1) and passt(1) (getopt_long).
 *
 * Theory of operation: one table lists every option of upstream's current
 * pasta(1)/passt(1), with its short and long name, whether it takes an
 * argument, and its help text. The parser walks argv like getopt_long with a
 * leading '+': short options can be grouped (`-46`), arguments are attached
 * (`-m1500`, `--mtu=1500`) or separate (`-m 1500`), long options may be
 * abbreviated when unambiguous (two names of one option, `--socket` and
 * `--socket-path`, are not ambiguous), and the first non-option argument (or
 * `--`) ends option parsing: the rest is the command. As upstream, both front
 * ends accept every option here; one that belongs to the other front end is
 * refused by the configuration (conf.ts) in upstream's words ("--netns is for
 * pasta mode only"), not as unrecognized. Errors are one-line messages in
 * getopt's words, raised as {@link UsageError} so the command-line front end
 * prints them and exits 1. The same table renders `--help` (the options
 * `modes` lists for that front end), so the help and the parser cannot drift.
 */

/** A usage error: printed as one line, exit code 1. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * A usage error found by the parser itself, in getopt's words: printed, as
 * glibc's getopt prints it, after the program's name ("pasta: unrecognized
 * option '--foo'"); other errors are printed as upstream's die() prints
 * them, without it.
 */
export class GetoptError extends UsageError {
  override name = 'GetoptError';
}

export interface OptionSpec {
  long: string;
  short?: string;
  /** 'none': a flag; 'required': takes a value. */
  arg: 'none' | 'required';
  /** Placeholder for the value in help output. */
  valueName?: string;
  help: string;
  /** Which front ends document this option (--help, the manual). Both parse every option. */
  modes: ReadonlyArray<'pasta' | 'passt'>;
  /** Another name of the same option (`socket-path` is `socket`): the parser reports the canonical one. */
  aliasOf?: string;
  /** An option of node-passt's own, which pasta(1) and passt(1) do not have (after all of theirs in the table). */
  ours?: true;
}

const both = ['pasta', 'passt'] as const;
const pastaOnly = ['pasta'] as const;
const passtOnly = ['passt'] as const;

/** Every option of upstream's pasta(1) and passt(1), in their manual's order; then our own (`ours`). */
export const OPTIONS: readonly OptionSpec[] = [
  { long: 'debug', short: 'd', arg: 'none', help: 'Be verbose', modes: both },
  { long: 'trace', arg: 'none', help: 'Be extra verbose, show single packets; implies --debug', modes: both },
  { long: 'stats', arg: 'required', valueName: 'DELAY', help: 'Display event statistics, at least DELAY seconds apart (needs -f first)', modes: both },
  { long: 'quiet', short: 'q', arg: 'none', help: "Don't print informational messages", modes: both },
  { long: 'foreground', short: 'f', arg: 'none', help: "Don't run in background; default: run in background", modes: both },
  { long: 'stderr', short: 'e', arg: 'none', help: 'Deprecated, has no effect: log to standard error (where logs go without --log-file)', modes: both },
  { long: 'log-file', short: 'l', arg: 'required', valueName: 'PATH', help: 'Log (only) to the given file', modes: both },
  { long: 'log-size', arg: 'required', valueName: 'BYTES', help: 'Maximum size of the log file; default: 1 MiB', modes: both },
  { long: 'runas', arg: 'required', valueName: 'UID[:GID]', help: 'Run as this user and group (numeric or names); default as root: nobody', modes: both },
  { long: 'conf-path', short: 'c', arg: 'required', valueName: 'PATH', help: 'Configuration socket for pesto(1): not supported (experimental upstream)', modes: both },
  { long: 'help', short: 'h', arg: 'none', help: 'Display this help message and exit', modes: both },
  { long: 'version', arg: 'none', help: 'Show version and exit', modes: both },
  { long: 'pcap', short: 'p', arg: 'required', valueName: 'FILE', help: 'Log tap-facing traffic to FILE, in pcap format', modes: both },
  { long: 'pid', short: 'P', arg: 'required', valueName: 'FILE', help: 'Write the PID of the process that stays running to FILE', modes: both },
  { long: 'mtu', short: 'm', arg: 'required', valueName: 'MTU', help: 'Assign MTU via DHCP/NDP (and the link, with --config-net); 0: no MTU assignment; default: 65520', modes: both },
  { long: 'address', short: 'a', arg: 'required', valueName: 'ADDR', help: 'Assign IPv4 or IPv6 address ADDR[/PREFIXLEN], once per family; default: from the template interface', modes: both },
  { long: 'netmask', short: 'n', arg: 'required', valueName: 'MASK', help: 'Assign IPv4 MASK, dot-decimal or bits; default: from the matching host address', modes: both },
  { long: 'mac-addr', short: 'M', arg: 'required', valueName: 'ADDR', help: 'Use source MAC address ADDR; default: 9a:55:9a:55:9a:55', modes: both },
  { long: 'gateway', short: 'g', arg: 'required', valueName: 'ADDR', help: 'Pass IPv4 or IPv6 address ADDR as gateway, once per family; default: the host default gateway', modes: both },
  { long: 'interface', short: 'i', arg: 'required', valueName: 'NAME', help: 'Interface for addresses and routes; default: from --outbound-if4/6, else the interface with the first default route', modes: both },
  { long: 'outbound', short: 'o', arg: 'required', valueName: 'ADDR', help: 'Bind outbound sockets to IPv4 or IPv6 source ADDR, once per family; default: from routing tables', modes: both },
  { long: 'outbound-if4', arg: 'required', valueName: 'NAME', help: 'Bind IPv4 outbound sockets to host interface NAME; default: from the default route', modes: both },
  { long: 'outbound-if6', arg: 'required', valueName: 'NAME', help: 'Bind IPv6 outbound sockets to host interface NAME; default: from the default route', modes: both },
  { long: 'dns', short: 'D', arg: 'required', valueName: 'ADDR', help: "Use IPv4 or IPv6 address ADDR as DNS (repeatable); 'none': no DNS addresses", modes: both },
  { long: 'dns-forward', arg: 'required', valueName: 'ADDR', help: 'Forward DNS queries (TCP and UDP, ports 53 and 853) sent to ADDR, once per family', modes: both },
  { long: 'dns-host', arg: 'required', valueName: 'ADDR', help: "Host nameserver to direct --dns-forward queries to, once per family; default: the first in /etc/resolv.conf", modes: both },
  { long: 'search', short: 'S', arg: 'required', valueName: 'LIST', help: "Space-separated list of search domains (repeatable); 'none': no search list", modes: both },
  { long: 'no-dhcp-dns', arg: 'none', help: 'No DNS list in DHCP/DHCPv6/NDP', modes: passtOnly },
  { long: 'dhcp-dns', arg: 'none', help: 'Pass DNS list via DHCP/DHCPv6/NDP', modes: pastaOnly },
  { long: 'no-dhcp-search', arg: 'none', help: 'No search list in DHCP/DHCPv6/NDP', modes: passtOnly },
  { long: 'dhcp-search', arg: 'none', help: 'Pass search list via DHCP/DHCPv6/NDP', modes: pastaOnly },
  { long: 'no-tcp', arg: 'none', help: 'Disable TCP protocol handler', modes: both },
  { long: 'no-udp', arg: 'none', help: 'Disable UDP protocol handler', modes: both },
  { long: 'no-icmp', arg: 'none', help: 'Disable ICMP/ICMPv6 protocol handler; implies --no-ndp', modes: both },
  { long: 'no-dhcp', arg: 'none', help: 'Disable DHCP server', modes: both },
  { long: 'no-ndp', arg: 'none', help: 'Disable NDP responses', modes: both },
  { long: 'no-dhcpv6', arg: 'none', help: 'Disable DHCPv6 server', modes: both },
  { long: 'no-ra', arg: 'none', help: 'Disable router advertisements', modes: both },
  { long: 'freebind', arg: 'none', help: 'Bind to any address for forwarding (IP_FREEBIND)', modes: both },
  { long: 'map-host-loopback', arg: 'required', valueName: 'ADDR', help: "Translate ADDR to refer to the host, once per family; 'none': no mapping; default: the gateway address", modes: both },
  { long: 'no-map-gw', arg: 'none', help: "Don't map the gateway address to the host", modes: both },
  { long: 'chroot-fallback', arg: 'none', help: 'Use chroot() where pivot_root() fails while sandboxing', modes: both },
  { long: 'map-guest-addr', arg: 'required', valueName: 'ADDR', help: "Translate ADDR to the guest's address on the host, once per family; 'none': no mapping", modes: both },
  { long: 'ipv4-only', short: '4', arg: 'none', help: 'Enable IPv4 operation only', modes: both },
  { long: 'ipv6-only', short: '6', arg: 'none', help: 'Enable IPv6 operation only', modes: both },
  { long: 'hostname', short: 'H', arg: 'required', valueName: 'NAME', help: 'Hostname to configure the client with (DHCP option 12)', modes: both },
  { long: 'fqdn', arg: 'required', valueName: 'NAME', help: 'FQDN to configure the client with (DHCP option 81, DHCPv6 option 39)', modes: both },
  { long: 'tcp-ports', short: 't', arg: 'required', valueName: 'SPEC', help: "TCP port forwarding to the guest or namespace (repeatable): 'none', 'all', 'auto' (pasta), [ADDR[%IFACE]/]PORTS[:[TOADDR/]PORTS]; default: auto (pasta), none (passt)", modes: both },
  { long: 'udp-ports', short: 'u', arg: 'required', valueName: 'SPEC', help: 'UDP port forwarding to the guest or namespace, as -t; default: auto (pasta), none (passt)', modes: both },
  { long: 'socket', short: 's', arg: 'required', valueName: 'PATH', help: 'UNIX domain socket path; default: the first free /tmp/passt_N.socket, N from 1 to 64', modes: passtOnly },
  { long: 'socket-path', arg: 'required', valueName: 'PATH', help: 'Same as --socket', modes: passtOnly, aliasOf: 'socket' },
  { long: 'vhost-user', arg: 'none', help: 'Enable vhost-user mode (QEMU -netdev vhost-user)', modes: passtOnly },
  { long: 'print-capabilities', arg: 'none', help: 'Print back-end capabilities in JSON format (vhost-user)', modes: passtOnly },
  { long: 'repair-path', arg: 'required', valueName: 'PATH', help: "Path for passt-repair(1) (vhost-user only): 'none' only, no live migration", modes: passtOnly },
  { long: 'migrate-exit', arg: 'none', help: 'Deprecated: source quits after migration (vhost-user only)', modes: passtOnly },
  { long: 'migrate-no-linger', arg: 'none', help: 'Deprecated: close sockets on migration (vhost-user only)', modes: passtOnly },
  { long: 'fd', short: 'F', arg: 'required', valueName: 'FD', help: 'Use FD as a pre-opened connected socket (passt) or tap device (pasta); quit when it closes', modes: both },
  { long: 'one-off', short: '1', arg: 'none', help: 'Quit after handling a single client', modes: passtOnly },
  { long: 'ns-ifname', short: 'I', arg: 'required', valueName: 'NAME', help: 'Namespace interface name; default: the template interface name, else tap0', modes: pastaOnly },
  { long: 'tcp-ns', short: 'T', arg: 'required', valueName: 'SPEC', help: 'TCP port forwarding to the init namespace, as -t without addresses; default: auto', modes: pastaOnly },
  { long: 'udp-ns', short: 'U', arg: 'required', valueName: 'SPEC', help: 'UDP port forwarding to the init namespace, as -T; default: auto', modes: pastaOnly },
  { long: 'host-lo-to-ns-lo', arg: 'none', help: "Deliver host-loopback forwards (-t, -u) to the namespace's loopback", modes: pastaOnly },
  { long: 'userns', arg: 'required', valueName: 'NSPATH', help: 'Target user namespace to join', modes: pastaOnly },
  { long: 'netns', arg: 'required', valueName: 'PATH', help: 'Target network namespace to join (a path, or a name in /run/netns)', modes: pastaOnly },
  { long: 'netns-only', arg: 'none', help: "Don't join or create a user namespace; implied by --netns without --userns", modes: pastaOnly },
  { long: 'no-netns-quit', arg: 'none', help: "Don't quit if the filesystem-bound target network namespace is deleted", modes: pastaOnly },
  { long: 'config-net', arg: 'none', help: 'Configure the tap interface in the namespace', modes: pastaOnly },
  { long: 'no-copy-routes', arg: 'none', help: "Deprecated: don't copy all routes to the namespace", modes: pastaOnly },
  { long: 'no-copy-addrs', arg: 'none', help: "Deprecated: don't copy all addresses to the namespace", modes: pastaOnly },
  { long: 'ns-mac-addr', arg: 'required', valueName: 'ADDR', help: 'Set MAC address ADDR on the tap interface', modes: pastaOnly },
  { long: 'no-splice', arg: 'none', help: 'Disable inbound socket splicing', modes: pastaOnly },
  { long: 'splice-only', arg: 'none', help: 'Only enable loopback forwarding (no tap device)', modes: pastaOnly },
  { long: 'shared-engine', arg: 'none', help: "Serve the namespace from the user's shared engine, not a process of its own (node-passt only; attaching only)", modes: pastaOnly, ours: true },
];

export interface ParsedArgs {
  /** Option values in order of appearance: [long name, value (or true)]. Aliases are reported by their canonical name. */
  options: Array<[string, string | true]>;
  /** The command (or PID) after the options. */
  rest: string[];
}

/** The name an option is reported under. */
function canonical(o: OptionSpec): string {
  return o.aliasOf ?? o.long;
}

/** Parse argv (without node and script) as getopt_long with '+' would. */
export function parseArgs(argv: readonly string[], _mode: 'pasta' | 'passt'): ParsedArgs {
  const options: Array<[string, string | true]> = [];
  try {
    return parseInto(argv, options);
  } catch (err) {
    // getopt hands options over one at a time, and upstream acts on --help and --version as
    // they come: an error after one of them is never seen.
    if (err instanceof GetoptError && options.some(([name]) => name === 'help' || name === 'version')) return { options, rest: [] };
    throw err;
  }
}

function parseInto(argv: readonly string[], options: Array<[string, string | true]>): ParsedArgs {
  const byShort = new Map(OPTIONS.filter((o) => o.short).map((o) => [o.short!, o]));
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      i++;
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
      const exact = OPTIONS.find((o) => o.long === name);
      const candidates = exact ? [exact] : OPTIONS.filter((o) => o.long.startsWith(name));
      if (candidates.length === 0 || name.length === 0) throw new GetoptError(`unrecognized option '--${name}'`);
      // As getopt_long: several names of one option are no ambiguity.
      if (new Set(candidates.map(canonical)).size > 1) {
        throw new GetoptError(`option '--${name}' is ambiguous; possibilities: ${candidates.map((o) => `'--${o.long}'`).join(' ')}`);
      }
      const spec = candidates[0];
      if (spec.arg === 'none') {
        if (eq >= 0) throw new GetoptError(`option '--${spec.long}' doesn't allow an argument`);
        options.push([canonical(spec), true]);
      } else if (eq >= 0) {
        options.push([canonical(spec), arg.slice(eq + 1)]);
      } else {
        if (i + 1 >= argv.length) throw new GetoptError(`option '--${spec.long}' requires an argument`);
        options.push([canonical(spec), argv[++i]]);
      }
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const ch = arg[j];
        const spec = byShort.get(ch);
        if (!spec) throw new GetoptError(`invalid option -- '${ch}'`);
        if (spec.arg === 'none') {
          options.push([canonical(spec), true]);
          continue;
        }
        if (j + 1 < arg.length) {
          options.push([canonical(spec), arg.slice(j + 1)]);
        } else {
          if (i + 1 >= argv.length) throw new GetoptError(`option requires an argument -- '${ch}'`);
          options.push([canonical(spec), argv[++i]]);
        }
        break;
      }
      continue;
    }
    break; // first non-option: the command starts here
  }
  return { options, rest: argv.slice(i) };
}

/** The options a front end documents, in the table's (upstream's manual's) order. */
export function documentedOptions(mode: 'pasta' | 'passt'): OptionSpec[] {
  return OPTIONS.filter((o) => o.modes.includes(mode));
}

/** Help text rendered from the option table. */
export function helpText(mode: 'pasta' | 'passt'): string {
  const lines: string[] = [];
  if (mode === 'pasta') {
    lines.push(
      'Usage: pasta [OPTION]... [COMMAND [ARG]...]',
      '       pasta [OPTION]... PID',
      '       pasta [OPTION]... --netns [PATH|NAME]',
      '',
      'Without PID or --netns, run the given command or a default shell in a',
      'new network and user namespace, and connect it via pasta.',
      '',
    );
  } else {
    lines.push('Usage: passt [OPTION]...', '');
  }
  const table = documentedOptions(mode);
  const names = table.map((o) => (o.short ? `-${o.short}, ` : '    ') + `--${o.long}` + (o.valueName ? ` ${o.valueName}` : ''));
  const width = Math.max(...names.map((n) => n.length)) + 2;
  table.forEach((o, i) => lines.push(`  ${names[i].padEnd(width)}${o.help}`));
  return lines.join('\n') + '\n';
}
