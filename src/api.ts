/**
 * The Node API: `createPasta()` gives a Node program its own connected
 * network namespace, with no privileges.
 *
 * Theory of operation: options are typed and validated field by field (a
 * wrong one throws a {@link PastaOptionError} naming the field), then turned
 * into the same command-line options the `pasta` command takes and checked by
 * the same parser and configuration code, so the API and the command cannot
 * disagree. The namespace is held by a small child process that does nothing
 * else; the engine runs on this process's event loop (one epoll fd of its
 * own per instance, no global state, so several instances can run side by
 * side). `spawn()` runs programs inside with nsenter(1). `close()` stops
 * translating, ends the holder and releases every fd.
 */
import { EventEmitter } from 'node:events';
import { spawn as spawnChild, type ChildProcess, type SpawnOptions } from 'node:child_process';
import type { EngineStats } from './engine.js';
import type { Config } from './conf.js';

/** A bad option: `field` names it (for example "mtu", "ports.tcp[1]"). */
export class PastaOptionError extends TypeError {
  override name = 'PastaOptionError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

export interface PastaOptions {
  /** Configure the namespace's link, addresses and routes from the host's (default true). */
  configNet?: boolean;
  /** MTU of the namespace interface (default 65520). */
  mtu?: number;
  /** Set false to disable IPv4 or IPv6 (default: both, where the host has them). */
  ipv4?: boolean;
  ipv6?: boolean;
  /** Addresses for the namespace (at most one per IP version; default: the host's). */
  addresses?: string[];
  /** IPv4 netmask, dot-decimal or bits. */
  netmask?: string;
  /** Gateways (at most one per IP version; default: the host's). */
  gateways?: string[];
  /** Host interface to copy addresses and routes from. */
  interface?: string;
  /** Name of the interface in the namespace (default: like the host's). */
  nsIfname?: string;
  /** The gateway address stands for the host's loopback (default true). */
  mapGateway?: boolean;
  /** Addresses that stand for the host's loopback (at most one per IP version). */
  mapHostLoopback?: string[];
  /** Addresses that stand for the host's own address (at most one per IP version). */
  mapGuestAddr?: string[];
  /** DNS resolvers (default: /etc/resolv.conf's). */
  dns?: string[];
  /** Addresses in the namespace that forward DNS to the host's resolver. */
  dnsForward?: string[];
  /** Where forwarded DNS goes instead of the first resolver. */
  dnsHost?: string;
  /** DNS search domains. */
  search?: string[];
  /**
   * Port forwarding, in pasta(1)'s spec syntax (e.g. "8080:80", "auto",
   * "none"): host ports into the namespace (`tcp`, `udp`) and ports of the
   * namespace's loopback to the host's loopback (`tcpNs`, `udpNs`). Each
   * left out is `auto`, as pasta(1)'s default (for `udp`: the ports of
   * `tcp` when that lists ports).
   */
  ports?: { tcp?: string[]; udp?: string[]; tcpNs?: string[]; udpNs?: string[] };
  /** Switch protocols off (default: all on). */
  protocols?: { tcp?: boolean; udp?: boolean; icmp?: boolean };
  /** Logging (default: warnings and errors to standard error). */
  log?: { level?: 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'; file?: string };
  /**
   * Where the translator runs (see {@link SandboxMode}): `'none'` (the
   * default), in this process, which the sandbox cannot be applied to; or
   * `'process'`, in a child process of its own that is sandboxed as the
   * `pasta` command is. The handle is the same either way.
   */
  sandbox?: SandboxMode;
}

/**
 * Where an instance's translator runs.
 *
 * - `'none'`: on this process's event loop. Nothing of the sandbox is
 *   applied to this process (it would lock down the program embedding us:
 *   no files, no exec, a fixed list of system calls, for every thread):
 *   no seccomp filter, no no_new_privs, no empty root, no capabilities
 *   dropped. What is ours alone is sandboxed all the same: pasta's helper
 *   inside the namespace gets an empty root, loses its capabilities and
 *   gets its own seccomp filter once the namespace is set up.
 * - `'process'`: in a child process (Node, running dist/sandbox/child.js)
 *   that sets the instance up, then sandboxes itself as the commands do:
 *   the /proc/net tables kept open, an empty root and
 *   every capability dropped but CAP_NET_BIND_SERVICE where it has
 *   privileges (it keeps this process's user: there is no switch to
 *   nobody), no_new_privs and the engine's seccomp filter on every thread.
 *   The handle talks to it over a socket pair: `stats()`, `forward.*` and
 *   `connected` are synchronous round trips (well under a millisecond;
 *   they throw if the child does not answer within 5 s), events arrive as
 *   messages. If this process exits, the child notices and stops.
 */
export type SandboxMode = 'none' | 'process';

/** Live statistics of one instance. */
export type PastaStats = EngineStats;

/** The `flow` event: a new TCP connection, UDP flow or ping flow. */
export type { FlowEvent } from './flow.js';

const KNOWN = new Set([
  'configNet', 'mtu', 'ipv4', 'ipv6', 'addresses', 'netmask', 'gateways', 'interface', 'nsIfname', 'mapGateway',
  'mapHostLoopback', 'mapGuestAddr', 'dns', 'dnsForward', 'dnsHost', 'search', 'ports', 'protocols', 'log', 'sandbox',
]);

/** The `sandbox` option (for api-passt.ts too): 'none' when absent. */
export function checkSandbox(v: unknown): SandboxMode {
  if (v === undefined) return 'none';
  if (v !== 'none' && v !== 'process') throw new PastaOptionError('sandbox', "must be 'none' or 'process'");
  return v;
}

/** Which API field each command-line option comes from, to name it in errors. */
const FIELD_OF: Record<string, string> = {
  mtu: 'mtu', 'ipv4-only': 'ipv6', 'ipv6-only': 'ipv4', address: 'addresses', netmask: 'netmask', gateway: 'gateways',
  interface: 'interface', 'ns-ifname': 'nsIfname', 'map-host-loopback': 'mapHostLoopback', 'map-guest-addr': 'mapGuestAddr',
  dns: 'dns', 'dns-forward': 'dnsForward', 'dns-host': 'dnsHost', search: 'search', t: 'ports.tcp', 'tcp-ports': 'ports.tcp',
  u: 'ports.udp', 'udp-ports': 'ports.udp', T: 'ports.tcpNs', 'tcp-ns': 'ports.tcpNs', U: 'ports.udpNs', 'udp-ns': 'ports.udpNs',
  'log-file': 'log.file',
};

/**
 * Which field a configuration error is about. Upstream's words seldom name
 * the option ("Invalid MTU: 70000"), so the fields (and, for `ports`, `log`
 * and `protocols`, their sub-fields) are replayed in order until the same
 * error comes back: the field added last is the one. Otherwise the first
 * option the message names, else 'options'.
 */
function fieldOfUsageError(message: string, options: PastaOptions, build: (argv: string[]) => unknown, usageError: new (...a: never[]) => Error): string {
  const fields: Array<[string, PastaOptions]> = [];
  for (const [key, value] of Object.entries(options)) {
    if ((key === 'ports' || key === 'log' || key === 'protocols') && value && typeof value === 'object') {
      for (const [sub, v] of Object.entries(value)) fields.push([`${key}.${sub}`, { [key]: { [sub]: v } } as PastaOptions]);
    } else {
      fields.push([key, { [key]: value } as PastaOptions]);
    }
  }
  for (let i = 1; i <= fields.length; i++) {
    const subset: Record<string, any> = {};
    for (const [, part] of fields.slice(0, i)) {
      for (const [k, v] of Object.entries(part)) subset[k] = typeof v === 'object' && v !== null && !Array.isArray(v) ? { ...(subset[k] ?? {}), ...v } : v;
    }
    try {
      build(optionsToArgs(subset as PastaOptions));
    } catch (err) {
      if (err instanceof usageError && err.message === message) return fields[i - 1][0];
    }
  }
  const m = /--?([A-Za-z0-9-]+)/.exec(message);
  return (m && FIELD_OF[m[1]]) || 'options';
}

/** An optional array of non-empty strings (for api-passt.ts too): [] when absent. */
export function checkStrings(field: string, v: unknown): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new PastaOptionError(field, 'must be an array of strings');
  v.forEach((s, i) => {
    if (typeof s !== 'string' || s.length === 0) throw new PastaOptionError(`${field}[${i}]`, 'must be a non-empty string');
  });
  return v as string[];
}

/** An optional non-empty string. */
export function checkString(field: string, v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length === 0) throw new PastaOptionError(field, 'must be a non-empty string');
  return v;
}

/** An optional boolean. */
export function checkBool(field: string, v: unknown): boolean | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new PastaOptionError(field, 'must be a boolean');
  return v;
}

/** Options -> pasta command-line arguments (each value checked for its type). */
export function optionsToArgs(options: PastaOptions): string[] {
  if (options === null || typeof options !== 'object') throw new PastaOptionError('options', 'must be an object');
  for (const key of Object.keys(options)) if (!KNOWN.has(key)) throw new PastaOptionError(key, 'unknown option');
  const args: string[] = [];
  if (checkBool('configNet', options.configNet) !== false) args.push('--config-net');
  if (options.mtu !== undefined) {
    if (!Number.isInteger(options.mtu)) throw new PastaOptionError('mtu', 'must be an integer');
    args.push('--mtu', String(options.mtu));
  }
  const v4 = checkBool('ipv4', options.ipv4);
  const v6 = checkBool('ipv6', options.ipv6);
  if (v4 === false && v6 === false) throw new PastaOptionError('ipv4', 'ipv4 and ipv6 cannot both be false');
  if (v6 === false) args.push('--ipv4-only');
  if (v4 === false) args.push('--ipv6-only');
  for (const a of checkStrings('addresses', options.addresses)) args.push('--address', a);
  const netmask = checkString('netmask', options.netmask);
  if (netmask) args.push('--netmask', netmask);
  for (const g of checkStrings('gateways', options.gateways)) args.push('--gateway', g);
  const iface = checkString('interface', options.interface);
  if (iface) args.push('--interface', iface);
  const nsIfname = checkString('nsIfname', options.nsIfname);
  if (nsIfname) args.push('--ns-ifname', nsIfname);
  if (checkBool('mapGateway', options.mapGateway) === false) args.push('--no-map-gw');
  for (const a of checkStrings('mapHostLoopback', options.mapHostLoopback)) args.push('--map-host-loopback', a);
  for (const a of checkStrings('mapGuestAddr', options.mapGuestAddr)) args.push('--map-guest-addr', a);
  for (const a of checkStrings('dns', options.dns)) args.push('--dns', a);
  for (const a of checkStrings('dnsForward', options.dnsForward)) args.push('--dns-forward', a);
  const dnsHost = checkString('dnsHost', options.dnsHost);
  if (dnsHost) args.push('--dns-host', dnsHost);
  const search = checkStrings('search', options.search);
  if (options.search !== undefined) args.push('--search', search.length ? search.join(' ') : 'none');
  if (options.ports !== undefined) {
    if (options.ports === null || typeof options.ports !== 'object') throw new PastaOptionError('ports', 'must be an object');
    const flags = { tcp: '--tcp-ports', udp: '--udp-ports', tcpNs: '--tcp-ns', udpNs: '--udp-ns' } as const;
    for (const key of Object.keys(options.ports)) if (!(key in flags)) throw new PastaOptionError(`ports.${key}`, 'unknown: tcp, udp, tcpNs or udpNs');
    for (const [key, flag] of Object.entries(flags)) {
      for (const spec of checkStrings(`ports.${key}`, options.ports[key as keyof typeof flags])) args.push(flag, spec);
    }
  }
  if (options.protocols !== undefined) {
    const p = options.protocols;
    if (p === null || typeof p !== 'object') throw new PastaOptionError('protocols', 'must be an object');
    for (const key of Object.keys(p)) if (!['tcp', 'udp', 'icmp'].includes(key)) throw new PastaOptionError(`protocols.${key}`, 'unknown protocol');
    if (checkBool('protocols.tcp', p.tcp) === false) args.push('--no-tcp');
    if (checkBool('protocols.udp', p.udp) === false) args.push('--no-udp');
    if (checkBool('protocols.icmp', p.icmp) === false) args.push('--no-icmp');
  }
  if (options.log !== undefined) {
    const l = options.log;
    if (l === null || typeof l !== 'object') throw new PastaOptionError('log', 'must be an object');
    const file = checkString('log.file', l.file);
    if (file) args.push('--log-file', file);
  }
  checkSandbox(options.sandbox);
  return args;
}

/**
 * @internal What a {@link Pasta} handle drives: the engine on this
 * process's event loop (`inProcessLink` below), or in a sandboxed child
 * process (sandbox/process.ts).
 */
export interface PastaLink {
  /** PID of the process holding the namespace. */
  readonly pid: number;
  readonly netnsPath: string;
  readonly config: Config;
  /** Resolves with the holder's exit status once it has exited, or the engine has stopped for good. */
  readonly exited: Promise<number>;
  stats(): PastaStats;
  /** Start forwarding a port list (parsed and checked already), returning what stops it; throws as `forward.add` says. */
  forward(spec: string, protocol: 'tcp' | 'udp'): { close(): void };
  /** Stop translating, end the holder, release everything; resolves once `exited` has. */
  close(): Promise<void>;
  /** The instance's logger (in this process only): the sandboxed child's lines go there too. */
  readonly log?: import('./log.js').Logger;
}

/**
 * A running pasta instance: a connected network namespace and its translator.
 * Events: `flow` (a {@link FlowEvent} for every new connection or flow),
 * `error` (the namespace holder went away unexpectedly), `close`.
 */
export class Pasta extends EventEmitter {
  /** PID of the process holding the namespace. */
  readonly pid: number;
  /** The namespace's network namespace file, e.g. for `nsenter --net=`. */
  readonly netnsPath: string;
  /** The configuration in effect. */
  readonly config: Config;
  private closed = false;
  private readonly rootless: boolean;

  /** @internal Use {@link createPasta}. */
  constructor(
    private readonly link: PastaLink,
    private readonly spec: typeof import('./fwd/spec.js'),
  ) {
    super();
    this.pid = link.pid;
    this.netnsPath = link.netnsPath;
    this.config = link.config;
    this.rootless = (process.getuid?.() ?? 0) !== 0;
    void link.exited.then((status) => {
      if (!this.closed) {
        this.closed = true;
        this.emit('error', new Error(`the namespace holder exited (status ${status})`));
        this.emit('close');
      }
    });
  }

  /**
   * Run a program inside the namespace (with nsenter(1), which util-linux
   * provides on every Linux distribution). Same arguments and result as
   * child_process.spawn().
   */
  spawn(command: string, args: readonly string[] = [], options: SpawnOptions = {}): ChildProcess {
    if (this.closed) throw new Error('pasta instance is closed');
    const enter = ['-t', String(this.pid), ...(this.rootless ? ['-U', '--preserve-credentials'] : []), '-n', '--', command, ...args];
    return spawnChild('nsenter', enter, options);
  }

  private readonly extra = new Map<string, { protocol: 'tcp' | 'udp'; spec: string; forwarder: { close(): void } }>();

  /**
   * Host ports forwarded into the namespace, changed at run time:
   * `add("8080:80")` (TCP), `add("5353:53", "udp")`, `remove(spec, protocol)`,
   * `list()`. Specs are port lists in pasta(1)'s syntax; an explicit port
   * that cannot be bound throws, naming it.
   */
  readonly forward = {
    add: (spec: string, protocol: 'tcp' | 'udp' = 'tcp'): void => {
      if (this.closed) throw new Error('pasta instance is closed');
      if (typeof spec !== 'string' || !spec) throw new PastaOptionError('spec', 'must be a non-empty string');
      if (protocol !== 'tcp' && protocol !== 'udp') throw new PastaOptionError('protocol', "must be 'tcp' or 'udp'");
      const key = `${protocol} ${spec}`;
      if (this.extra.has(key)) throw new PastaOptionError('spec', `'${spec}' is already forwarded for ${protocol.toUpperCase()}`);
      const parsed = this.spec.parsePortSpecs(protocol === 'tcp' ? '-t' : '-u', [spec], 'pasta');
      if (parsed.mode !== 'ports') throw new PastaOptionError('spec', `only port lists can be added at run time, not '${spec}'`);
      this.extra.set(key, { protocol, spec, forwarder: this.link.forward(spec, protocol) });
    },
    remove: (spec: string, protocol: 'tcp' | 'udp' = 'tcp'): void => {
      const key = `${protocol} ${spec}`;
      const f = this.extra.get(key);
      if (!f) throw new PastaOptionError('spec', `'${spec}' (${protocol.toUpperCase()}) was not added with forward.add()`);
      f.forwarder.close();
      this.extra.delete(key);
    },
    list: (): Array<{ protocol: 'tcp' | 'udp'; spec: string }> => [...this.extra.values()].map(({ protocol, spec }) => ({ protocol, spec })),
  };

  /** Frames, bytes and flows by protocol, since the start. */
  stats(): PastaStats {
    return this.link.stats();
  }

  /** Stop translating, end the namespace holder, release everything. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const f of this.extra.values()) f.forwarder.close();
    this.extra.clear();
    await this.link.close();
    this.emit('close');
  }
}

/** The engine on this process's event loop, behind a {@link Pasta} handle. */
function inProcessLink(
  run: import('./pasta.js').PastaRun,
  forwarders: typeof import('./fwd/fwd.js'),
  udpForwarders: typeof import('./fwd/udpfwd.js'),
  specs: typeof import('./fwd/spec.js'),
): PastaLink {
  return {
    pid: run.pid,
    netnsPath: run.netnsPath,
    config: run.config,
    exited: run.exited,
    stats: () => run.engine.stats(),
    forward: (spec, protocol) => {
      const engine = run.engine;
      const parsed = specs.parsePortSpecs(protocol === 'tcp' ? '-t' : '-u', [spec], 'pasta');
      const now = () => performance.now();
      let f: { start(): void; close(): void };
      if (protocol === 'tcp') {
        f = new forwarders.TcpForwarder(engine.listeners, engine.log, run.config, engine.tcp, parsed, now, engine.spliceTo());
      } else {
        if (!engine.udp) throw new PastaOptionError('protocol', 'UDP is switched off (protocols.udp: false)');
        f = new udpForwarders.UdpForwarder(engine.listeners, engine.log, run.config, engine.udp, parsed, now, engine.udpSpliceTo());
      }
      try {
        f.start();
      } catch (err) {
        f.close();
        throw err;
      }
      return f;
    },
    close: async () => {
      run.kill(9);
      run.shutdown(0);
      await run.exited;
    },
  };
}

/**
 * Create a new user and network namespace (as root too: root inside maps to
 * root) connected to the host's network, and start translating. Unlike the
 * `pasta` command, this never changes the calling process's user. The
 * translator runs in this process, as it is, unless `sandbox: 'process'`
 * (see {@link SandboxMode}).
 *
 * @throws PastaOptionError for an invalid option (its `field` names it)
 * @throws Error when the namespace cannot be set up (with the reason)
 */
export async function createPasta(options: PastaOptions = {}): Promise<Pasta> {
  optionsToArgs(options); // wrong types fail before anything is loaded
  const spec = await import('./fwd/spec.js');
  // Events reach the handle once it exists (none can happen before: nothing runs in the namespace yet).
  let handle: Pasta | undefined;
  const onFlow = (e: import('./flow.js').FlowEvent): void => void handle?.emit('flow', e);
  let link: PastaLink;
  if (checkSandbox(options.sandbox) === 'process') {
    // The options are checked here first, so that an error names its field as it would in this process.
    pastaConfig(options, await loadConfigModules());
    link = await (await import('./sandbox/process.js')).startPastaChild(options, onFlow);
  } else {
    link = await pastaLink(options, onFlow);
  }
  handle = new Pasta(link, spec);
  return handle;
}

async function loadConfigModules() {
  const [options, conf, pasta, hostfiles] = await Promise.all([import('./options.js'), import('./conf.js'), import('./hostnet.js'), import('./hostfiles.js')]);
  return { options, conf, pasta, hostfiles };
}

/** The configuration of a createPasta(), from the options and the host as it is now. @throws PastaOptionError naming the field */
function pastaConfig(options: PastaOptions, m: Awaited<ReturnType<typeof loadConfigModules>>): Config {
  const args = optionsToArgs(options);
  const { parseArgs, UsageError } = m.options;
  const host = m.pasta.readHostNet();
  const resolvConf = m.hostfiles.readResolvConf();
  const ephemeral = m.hostfiles.readEphemeralPorts();
  const build = (argv: string[]): Config => m.conf.buildConfig(parseArgs(argv, 'pasta'), host, 'pasta', resolvConf, ephemeral);
  try {
    return build(args);
  } catch (err) {
    if (err instanceof UsageError) throw new PastaOptionError(fieldOfUsageError(err.message, options, build, UsageError), err.message);
    throw err;
  }
}

/**
 * @internal A namespace and its translator on this process's event loop
 * (createPasta() without a sandbox, and the sandboxed child process).
 */
export async function pastaLink(options: PastaOptions, onFlow: (e: import('./flow.js').FlowEvent) => void): Promise<PastaLink> {
  const [modules, { createLogger, closeLogger }, pasta, fwd, spec, udpfwd, { lockHelper }] = await Promise.all([
    loadConfigModules(),
    import('./log.js'),
    import('./pasta.js'),
    import('./fwd/fwd.js'),
    import('./fwd/spec.js'),
    import('./fwd/udpfwd.js'),
    import('./sandbox/index.js'),
  ]);
  const config = pastaConfig(options, modules);
  const level = options.log?.level ?? 'warn';
  const log = createLogger({ name: 'pasta', level, file: config.logFile, fileSize: config.logSize });
  // No command: the namespace's first process just holds it.
  const run = new pasta.PastaRun(config, log, { argv: [], env: [], cwd: '' }, { onFlow });
  // The log file (log.file) is closed once the namespace holder is gone (close(), or it died).
  void run.exited.then(() => closeLogger(log));
  // The namespace helper is ours alone: sandboxed now that the namespace is set up.
  try {
    lockHelper(run.ctlFd);
  } catch (err) {
    run.kill(9);
    run.shutdown(1);
    throw err;
  }
  return { ...inProcessLink(run, fwd, udpfwd, spec), log };
}
