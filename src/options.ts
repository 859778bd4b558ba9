/**
 * Command-line parsing compatible with pasta(1) and passt(1) (getopt_long).
 *
 * Theory of operation: one table lists every option we support, with its
 * short and long name, whether it takes an argument, and its help text. The
 * parser walks argv like getopt_long with a leading '+': short options can be
 * grouped (`-46`), arguments are attached (`-m1500`, `--mtu=1500`) or
 * separate (`-m 1500`), long options may be abbreviated when unambiguous, and
 * the first non-option argument (or `--`) ends option parsing: the rest is
 * the command. Errors are one-line messages in getopt's words, raised as
 * {@link UsageError} so the command-line front end prints them and exits 1.
 * The same table renders `--help`, so the help and the parser cannot drift.
 */

/** A usage error: printed as one line, exit code 1. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface OptionSpec {
  long: string;
  short?: string;
  /** 'none': a flag; 'required': takes a value. */
  arg: 'none' | 'required';
  /** Placeholder for the value in help output. */
  valueName?: string;
  help: string;
  /** Which front ends accept this option. */
  modes: ReadonlyArray<'pasta' | 'passt'>;
}

const both = ['pasta', 'passt'] as const;
const pastaOnly = ['pasta'] as const;
const passtOnly = ['passt'] as const;

/** Every option we support, in pasta(1)'s order. */
export const OPTIONS: readonly OptionSpec[] = [
  { long: 'debug', short: 'd', arg: 'none', help: 'Print debugging messages too', modes: both },
  { long: 'trace', arg: 'none', help: 'Print a line for every packet handled as well; implies --debug', modes: both },
  { long: 'quiet', short: 'q', arg: 'none', help: 'Print only warnings and errors', modes: both },
  { long: 'foreground', short: 'f', arg: 'none', help: "Don't run in background (a spawned command always keeps pasta in the foreground)", modes: both },
  { long: 'stderr', short: 'e', arg: 'none', help: 'Log to standard error too (the default without --log-file)', modes: both },
  { long: 'log-file', short: 'l', arg: 'required', valueName: 'PATH', help: 'Log (only) to the given file', modes: both },
  { long: 'log-size', arg: 'required', valueName: 'BYTES', help: 'Maximum size of the log file; default: 1 MiB', modes: both },
  { long: 'help', short: 'h', arg: 'none', help: 'Print this summary of the options and exit', modes: both },
  { long: 'version', arg: 'none', help: 'Print the version of node-passt and exit', modes: both },
  { long: 'pcap', short: 'p', arg: 'required', valueName: 'FILE', help: 'Capture every frame to and from the guest or namespace in FILE, in pcap format', modes: both },
  { long: 'pid', short: 'P', arg: 'required', valueName: 'FILE', help: 'Write the PID of the process that stays running to FILE once the namespace is ready', modes: both },
  { long: 'mtu', short: 'm', arg: 'required', valueName: 'MTU', help: 'Set the MTU of the namespace interface; default: 65520', modes: both },
  { long: 'address', short: 'a', arg: 'required', valueName: 'ADDR', help: 'Assign IPv4 or IPv6 address ADDR (at most once per family); default: the host address of the interface with the default route', modes: both },
  { long: 'netmask', short: 'n', arg: 'required', valueName: 'MASK', help: 'Assign IPv4 MASK, dot-decimal or bits; default: the netmask of the matching host address', modes: both },
  { long: 'gateway', short: 'g', arg: 'required', valueName: 'ADDR', help: 'Use IPv4 or IPv6 address ADDR as gateway (at most once per family); default: the host default gateway', modes: both },
  { long: 'interface', short: 'i', arg: 'required', valueName: 'NAME', help: 'Host interface to derive addresses and routes from; default: the interface with the first default route', modes: both },
  { long: 'dns', short: 'D', arg: 'required', valueName: 'ADDR', help: "Use ADDR as DNS resolver instead of those in /etc/resolv.conf (repeatable; 'none' for no resolvers)", modes: both },
  { long: 'dns-forward', arg: 'required', valueName: 'ADDR', help: 'Make ADDR (IPv4 or IPv6, once per family) a DNS forwarder: UDP and TCP to its port 53 reach the host resolver', modes: both },
  { long: 'dns-host', arg: 'required', valueName: 'ADDR', help: 'Send queries to --dns-forward addresses to ADDR instead of the first resolver', modes: both },
  { long: 'search', short: 'S', arg: 'required', valueName: 'LIST', help: "Space-separated DNS search domains instead of those in /etc/resolv.conf ('none' for none)", modes: both },
  { long: 'no-dhcp-dns', arg: 'none', help: 'passt: do not send DNS resolvers with DHCP, DHCPv6 and router advertisements', modes: ['passt'] },
  { long: 'dhcp-dns', arg: 'none', help: 'Send DNS resolvers with DHCP, DHCPv6 and router advertisements', modes: pastaOnly },
  { long: 'no-dhcp-search', arg: 'none', help: 'passt: do not send the DNS search list with DHCP, DHCPv6 and router advertisements', modes: ['passt'] },
  { long: 'dhcp-search', arg: 'none', help: 'Send the DNS search list with DHCP, DHCPv6 and router advertisements', modes: pastaOnly },
  { long: 'no-tcp', arg: 'none', help: 'Disable TCP: TCP packets from the namespace are dropped', modes: both },
  { long: 'no-udp', arg: 'none', help: 'Disable UDP: UDP packets from the namespace are dropped', modes: both },
  { long: 'no-icmp', arg: 'none', help: 'Disable ICMP/ICMPv6 echo: echo requests from the namespace are dropped', modes: both },
  { long: 'map-host-loopback', arg: 'required', valueName: 'ADDR', help: "Make ADDR (IPv4 or IPv6) stand for the host's loopback as seen from the namespace", modes: both },
  { long: 'map-guest-addr', arg: 'required', valueName: 'ADDR', help: "Make ADDR (IPv4 or IPv6) stand for the host's own address (the one the namespace has too)", modes: both },
  { long: 'no-dhcp', arg: 'none', help: 'Disable the DHCP server', modes: both },
  { long: 'no-ndp', arg: 'none', help: 'Disable NDP: neighbour and router solicitations get no answer', modes: both },
  { long: 'no-dhcpv6', arg: 'none', help: 'Disable the DHCPv6 server', modes: both },
  { long: 'no-ra', arg: 'none', help: 'Disable router advertisements', modes: both },
  { long: 'no-map-gw', arg: 'none', help: "Don't map connections to the gateway address to the host's loopback", modes: both },
  { long: 'ipv4-only', short: '4', arg: 'none', help: 'Use IPv4 only', modes: both },
  { long: 'ipv6-only', short: '6', arg: 'none', help: 'Use IPv6 only', modes: both },
  { long: 'socket', short: 's', arg: 'required', valueName: 'PATH', help: 'UNIX domain socket for QEMU to connect to; default: the first free /tmp/passt_N.socket, N from 1 to 64', modes: passtOnly },
  { long: 'fd', short: 'F', arg: 'required', valueName: 'FD', help: 'Use the inherited, connected socket FD instead of listening; quit when it closes', modes: passtOnly },
  { long: 'one-off', short: '1', arg: 'none', help: 'Quit once the first guest disconnects', modes: passtOnly },
  { long: 'tcp-ports', short: 't', arg: 'required', valueName: 'SPEC', help: "Forward host TCP ports to the namespace: 'none', 'auto', 'all', or ports like 22, 8080:80, 1000-2000, 192.0.2.1/22, ~25 (repeatable); default: auto (pasta), none (passt)", modes: both },
  { long: 'udp-ports', short: 'u', arg: 'required', valueName: 'SPEC', help: "Forward host UDP ports to the namespace, as -t; default: auto (pasta), the ports of -t (passt)", modes: both },
  { long: 'ns-ifname', short: 'I', arg: 'required', valueName: 'NAME', help: 'Namespace interface name; default: the name of the host interface with the default route, else tap0', modes: pastaOnly },
  { long: 'tcp-ns', short: 'T', arg: 'required', valueName: 'SPEC', help: "Forward TCP ports of the namespace's loopback to the host's loopback: 'none', 'auto' or ports (as -t, no addresses); default: auto", modes: pastaOnly },
  { long: 'udp-ns', short: 'U', arg: 'required', valueName: 'SPEC', help: "Forward UDP ports of the namespace's loopback to the host's loopback, as -T; default: auto", modes: pastaOnly },
  { long: 'userns', arg: 'required', valueName: 'PATH', help: 'With --netns or a PID: the user namespace to join (default: the PID\'s, none for --netns)', modes: pastaOnly },
  { long: 'netns', arg: 'required', valueName: 'PATH', help: 'Attach to this network namespace (a file, or a name in /run/netns) instead of creating one', modes: pastaOnly },
  { long: 'netns-only', arg: 'none', help: 'With a PID: join only its network namespace, not its user namespace', modes: pastaOnly },
  { long: 'no-netns-quit', arg: 'none', help: "Don't quit when the --netns file is deleted", modes: pastaOnly },
  { long: 'config-net', arg: 'none', help: 'Configure addresses, routes and the link of the tap interface in the namespace', modes: pastaOnly },
];

export interface ParsedArgs {
  /** Option values in order of appearance: [long name, value (or true)]. */
  options: Array<[string, string | true]>;
  /** The command (or PID) after the options. */
  rest: string[];
}

/** Parse argv (without node and script) as getopt_long with '+' would. */
export function parseArgs(argv: readonly string[], mode: 'pasta' | 'passt'): ParsedArgs {
  const table = OPTIONS.filter((o) => o.modes.includes(mode));
  const byShort = new Map(table.filter((o) => o.short).map((o) => [o.short!, o]));
  const options: Array<[string, string | true]> = [];
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
      const exact = table.find((o) => o.long === name);
      const candidates = exact ? [exact] : table.filter((o) => o.long.startsWith(name));
      if (candidates.length === 0 || name.length === 0) throw new UsageError(`unrecognized option '--${name}'`);
      if (candidates.length > 1) throw new UsageError(`option '--${name}' is ambiguous`);
      const spec = candidates[0];
      if (spec.arg === 'none') {
        if (eq >= 0) throw new UsageError(`option '--${spec.long}' doesn't allow an argument`);
        options.push([spec.long, true]);
      } else if (eq >= 0) {
        options.push([spec.long, arg.slice(eq + 1)]);
      } else {
        if (i + 1 >= argv.length) throw new UsageError(`option '--${spec.long}' requires an argument`);
        options.push([spec.long, argv[++i]]);
      }
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const ch = arg[j];
        const spec = byShort.get(ch);
        if (!spec) throw new UsageError(`invalid option -- '${ch}'`);
        if (spec.arg === 'none') {
          options.push([spec.long, true]);
          continue;
        }
        if (j + 1 < arg.length) {
          options.push([spec.long, arg.slice(j + 1)]);
        } else {
          if (i + 1 >= argv.length) throw new UsageError(`option requires an argument -- '${ch}'`);
          options.push([spec.long, argv[++i]]);
        }
        break;
      }
      continue;
    }
    break; // first non-option: the command starts here
  }
  return { options, rest: argv.slice(i) };
}

/** Help text rendered from the option table. */
export function helpText(mode: 'pasta' | 'passt'): string {
  const lines: string[] = [];
  if (mode === 'pasta') {
    lines.push(
      'Usage: pasta [OPTION]... [COMMAND [ARG]...]',
      '',
      'Run COMMAND (default: $SHELL, else /bin/sh) in a new user and network',
      'namespace connected to the host network through a tap device.',
      '',
    );
  } else {
    lines.push('Usage: passt [OPTION]...', '');
  }
  const table = OPTIONS.filter((o) => o.modes.includes(mode));
  const names = table.map((o) => (o.short ? `-${o.short}, ` : '    ') + `--${o.long}` + (o.valueName ? ` ${o.valueName}` : ''));
  const width = Math.max(...names.map((n) => n.length)) + 2;
  table.forEach((o, i) => lines.push(`  ${names[i].padEnd(width)}${o.help}`));
  return lines.join('\n') + '\n';
}
