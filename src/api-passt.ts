/**
 * The Node API for virtual machines: `createPasst()` opens the UNIX domain
 * socket that QEMU connects to (`-netdev stream`, or `-netdev vhost-user`
 * with `vhostUser: true`) and translates the guest's frames to host
 * sockets, on this process's event loop.
 *
 * Theory of operation: as for createPasta() (api.ts), options are typed and
 * validated field by field (a wrong one throws a {@link PastaOptionError}
 * naming the field), then turned into the command-line options the `passt`
 * command takes and run through the same parser and configuration code, so
 * the API and the command cannot disagree. The options passt shares with
 * pasta are checked and translated by createPasta's own code (one call for
 * the checks across fields, one per field to know which field each argument
 * came from, so that an error from the configuration code names the field).
 * The socket is opened as passt(1) opens it (the given path, or the first
 * free /tmp/passt_N.socket; but the paths of this process's own instances
 * are known, never probed), and the running part is the one the `passt`
 * command uses (passt.ts): an engine with one epoll fd of its own and the
 * QEMU stream (or vhost-user) transport, no other shared state, so several instances can
 * run side by side. `close()` stops translating, closes the guest's connection and
 * every flow, and closes the listening socket, which removes its file.
 */
import { EventEmitter } from 'node:events';
import path from 'node:path';
import { PastaOptionError, checkBool, checkSandbox, checkString, checkStrings, optionsToArgs, type PastaOptions, type SandboxMode } from './api.js';
import { OPTIONS, UsageError, parseArgs } from './options.js';
import { buildConfig, type Config, type HostNet } from './conf.js';
import type { PortRange } from './fwd/spec.js';
import type { EngineStats } from './engine.js';
import type { FlowEvent } from './flow.js';
import type { PasstHooks, PasstListener, PasstRun } from './passt.js';
import type { LogLevel, Logger } from './log.js';
import { M } from './messages.js';

export interface PasstOptions {
  /**
   * The UNIX domain socket QEMU connects to (at most 107 bytes). Default: the
   * first of /tmp/passt_1.socket ... /tmp/passt_64.socket that nobody listens
   * on, as `passt` picks it. A stale socket file there is replaced; a path
   * something listens on is refused.
   */
  socketPath?: string;
  /** MTU advertised to the guest by DHCP and router advertisements (default 65520). */
  mtu?: number;
  /** Set false to disable IPv4 or IPv6 (default: both, where the host has them). */
  ipv4?: boolean;
  ipv6?: boolean;
  /** Addresses handed to the guest (at most one per IP version; default: the host's). */
  addresses?: string[];
  /** IPv4 netmask, dot-decimal or bits. */
  netmask?: string;
  /** Gateways handed to the guest (at most one per IP version; default: the host's). */
  gateways?: string[];
  /** Host interface to copy addresses and routes from. */
  interface?: string;
  /** The gateway address stands for the host's loopback (default true). */
  mapGateway?: boolean;
  /** Addresses that stand for the host's loopback (at most one per IP version). */
  mapHostLoopback?: string[];
  /** Addresses that stand for the host's own address (at most one per IP version). */
  mapGuestAddr?: string[];
  /** DNS resolvers handed to the guest (default: /etc/resolv.conf's). */
  dns?: string[];
  /** Addresses that forward DNS to the host's resolver (handed to the guest instead of the resolvers of their IP version). */
  dnsForward?: string[];
  /** Where forwarded DNS goes instead of the first resolver. */
  dnsHost?: string;
  /** DNS search domains. */
  search?: string[];
  /**
   * Host ports forwarded to the guest, in passt(1)'s spec syntax (e.g.
   * "2222:22"); default: none. As with `passt -t`, forwarded TCP ports are
   * forwarded for UDP too (best effort) unless `udp` is given.
   */
  ports?: { tcp?: string[]; udp?: string[] };
  /** Switch protocols off (default: all on). */
  protocols?: { tcp?: boolean; udp?: boolean; icmp?: boolean };
  /** Logging (default: warnings and errors to standard error). */
  log?: { level?: LogLevel; file?: string };
  /** Stop (and emit `close`) once the first guest disconnects (default false: wait for the next guest). */
  oneOff?: boolean;
  /** Capture every frame to and from the guest in this pcap file. */
  pcap?: string;
  /**
   * Speak vhost-user on the socket (QEMU `-chardev socket,path=... -netdev
   * vhost-user,chardev=...`, with guest memory shared: `-object
   * memory-backend-memfd,share=on`) instead of QEMU's stream: frames move
   * through the guest's virtqueues in shared memory, with TCP segmentation
   * offload both ways (`passt --vhost-user`). Default false.
   */
  vhostUser?: boolean;
  /**
   * Where the translator runs (see {@link SandboxMode}): `'none'` (the
   * default), in this process, which the sandbox cannot be applied to; or
   * `'process'`, in a child process of its own that is sandboxed as the
   * `passt` command is. The handle is the same either way.
   */
  sandbox?: SandboxMode;
}

/** Live statistics of one instance: frames and bytes to and from the guest, flows by protocol. */
export type PasstStats = EngineStats;

/** The `connect` event: a guest connected; `pid` is its process (QEMU's), when the kernel says. */
export interface PasstConnectEvent {
  pid: number | null;
}

/** The `disconnect` event: the guest's connection closed (`error`: not at its end of file, but on an error or bad framing). */
export interface PasstDisconnectEvent {
  reason: string;
  error: boolean;
}

/** The options passt shares with pasta: checked and translated by api.ts's optionsToArgs. */
const COMMON = [
  'mtu', 'ipv4', 'ipv6', 'addresses', 'netmask', 'gateways', 'interface', 'mapGateway', 'mapHostLoopback', 'mapGuestAddr',
  'dns', 'dnsForward', 'dnsHost', 'search', 'protocols', 'log',
] as const satisfies ReadonlyArray<keyof PastaOptions & keyof PasstOptions>;
const KNOWN = new Set<string>([...COMMON, 'socketPath', 'ports', 'oneOff', 'pcap', 'vhostUser', 'sandbox']);
const LOG_LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Options -> passt command-line arguments, grouped by the field they come from (each value checked for its type). */
function argsByField(options: PasstOptions): Array<[field: string, args: string[]]> {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new PastaOptionError('options', 'must be an object');
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) if (!KNOWN.has(key)) throw new PastaOptionError(key, 'unknown option');
  if (o.log !== undefined) {
    const l = o.log as Record<string, unknown>;
    if (l === null || typeof l !== 'object' || Array.isArray(l)) throw new PastaOptionError('log', 'must be an object');
    for (const key of Object.keys(l)) if (key !== 'level' && key !== 'file') throw new PastaOptionError(`log.${key}`, 'unknown option (level or file)');
    if (l.level !== undefined && !LOG_LEVELS.includes(l.level as LogLevel)) throw new PastaOptionError('log.level', `must be one of ${LOG_LEVELS.join(', ')}`);
  }
  const given = COMMON.filter((key) => o[key] !== undefined);
  // All together first, for the checks across fields (ipv4 and ipv6 both false) ...
  optionsToArgs({ configNet: false, ...Object.fromEntries(given.map((key) => [key, o[key]])) });
  // ... then one field at a time, to know where each argument came from.
  const out: Array<[string, string[]]> = given.map((key) => [key, optionsToArgs({ configNet: false, [key]: o[key] })]);
  const socketPath = checkString('socketPath', o.socketPath);
  if (socketPath !== undefined) out.push(['socketPath', ['--socket', socketPath]]);
  if (o.ports !== undefined) {
    const ports = o.ports as Record<string, unknown>;
    if (ports === null || typeof ports !== 'object' || Array.isArray(ports)) throw new PastaOptionError('ports', 'must be an object');
    for (const key of Object.keys(ports)) if (key !== 'tcp' && key !== 'udp') throw new PastaOptionError(`ports.${key}`, 'unknown protocol (tcp or udp)');
    const tcp = checkStrings('ports.tcp', ports.tcp);
    if (tcp.length) out.push(['ports.tcp', tcp.flatMap((spec) => ['--tcp-ports', spec])]);
    const udp = checkStrings('ports.udp', ports.udp);
    if (udp.length) out.push(['ports.udp', udp.flatMap((spec) => ['--udp-ports', spec])]);
  }
  if (checkBool('oneOff', o.oneOff)) out.push(['oneOff', ['--one-off']]);
  const pcap = checkString('pcap', o.pcap);
  if (pcap !== undefined) out.push(['pcap', ['--pcap', pcap]]);
  if (checkBool('vhostUser', o.vhostUser)) out.push(['vhostUser', ['--vhost-user']]);
  checkSandbox(o.sandbox);
  return out;
}

/**
 * Options -> the `passt` command line that does the same, e.g. to run the
 * command instead. Throws {@link PastaOptionError} for a value of the wrong
 * type; values themselves are checked when the configuration is built.
 */
export function passtOptionsToArgs(options: PasstOptions): string[] {
  return argsByField(options).flatMap(([, args]) => args);
}

/**
 * Which field a configuration error is about. Upstream's words seldom name
 * the option ("Invalid MTU: 10"), so the fields are replayed in order until
 * the same error comes back: the field added last is the one. An error that
 * needs no field at all (or that replaying cannot reproduce) falls back to
 * the first option the message names, else 'options'.
 */
function fieldOfUsageError(message: string, byField: Array<[string, string[]]>, build: (args: string[]) => unknown): string {
  for (let i = 1; i <= byField.length; i++) {
    try {
      build(byField.slice(0, i).flatMap(([, args]) => args));
    } catch (err) {
      if (err instanceof UsageError && err.message === message) return byField[i - 1][0];
    }
  }
  const m = /(?<![\w-])--?([a-z0-9][a-z0-9-]*)/i.exec(message);
  if (!m) return 'options';
  const name = m[1].length === 1 ? OPTIONS.find((spec) => spec.short === m[1] && spec.modes.includes('passt'))?.long : OPTIONS.find((spec) => spec.long === m[1])?.long;
  if (!name) return 'options';
  return byField.find(([, args]) => args.includes(`--${name}`))?.[0] ?? 'options';
}

/**
 * The configuration createPasst() runs with, built from the options, the
 * host's network and resolv.conf as `passt` builds it from its command line.
 * Pure: the host's state is passed in.
 *
 * @throws PastaOptionError for an invalid option (its `field` names it)
 */
export function passtConfig(options: PasstOptions, host: HostNet, resolvConf = '', ephemeral?: PortRange): Config {
  const byField = argsByField(options);
  const build = (args: string[]): Config => buildConfig(parseArgs(args, 'passt'), host, 'passt', resolvConf, ephemeral);
  try {
    return build(byField.flatMap(([, args]) => args));
  } catch (err) {
    if (err instanceof UsageError) throw new PastaOptionError(fieldOfUsageError(err.message, byField, build), err.message);
    throw err;
  }
}

/**
 * A running passt instance: a listening UNIX domain socket for QEMU and the
 * translator behind it. Events: `connect` ({@link PasstConnectEvent}),
 * `disconnect` ({@link PasstDisconnectEvent}), `flow` (a {@link FlowEvent}
 * for every new connection or flow), `error` (the engine stopped on an
 * internal error; `close` follows), `close` (after close(), after the guest
 * left with `oneOff`, or after an error).
 */
export interface Passt {
  on(event: 'connect', listener: (event: PasstConnectEvent) => void): this;
  on(event: 'disconnect', listener: (event: PasstDisconnectEvent) => void): this;
  on(event: 'flow', listener: (event: FlowEvent) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  on(event: 'close', listener: () => void): this;
  once(event: 'connect', listener: (event: PasstConnectEvent) => void): this;
  once(event: 'disconnect', listener: (event: PasstDisconnectEvent) => void): this;
  once(event: 'flow', listener: (event: FlowEvent) => void): this;
  once(event: 'error', listener: (err: Error) => void): this;
  once(event: 'close', listener: () => void): this;
  off(event: 'connect' | 'disconnect' | 'flow' | 'error' | 'close', listener: (...args: any[]) => void): this;
}

/**
 * @internal What a {@link Passt} handle drives: the engine on this
 * process's event loop (`inProcessLink` below), or in a sandboxed child
 * process (sandbox/process.ts).
 */
export interface PasstLink {
  readonly config: Config;
  /** Settles once stopped (for whatever reason) and every fd is closed (the socket file removed): the status and why. */
  readonly finished: Promise<{ code: number; reason: string }>;
  /** Whether a guest is connected now. */
  readonly connected: boolean;
  stats(): PasstStats;
  /** Stop translating (idempotent); `finished` settles once all is closed. */
  stop(reason: string): void;
  /** The instance's logger (in this process only): the sandboxed child's lines go there too. */
  readonly log?: Logger;
}

/** The engine on this process's event loop, behind a {@link Passt} handle. */
function inProcessLink(run: PasstRun): PasstLink {
  return {
    config: run.config,
    finished: run.released.then(() => run.done),
    get connected() {
      return run.transport.connected;
    },
    stats: () => run.engine.stats(),
    stop: (reason) => run.stop(reason, 0),
  };
}

export class Passt extends EventEmitter {
  /** The UNIX domain socket QEMU connects to: `-netdev stream,id=s,server=off,addr.type=unix,addr.path=` this. */
  readonly socketPath: string;
  /** The configuration in effect. */
  readonly config: Config;
  private closeRequested = false;
  /** Settles once stopped (for whatever reason) and every fd is closed, after `close` was emitted. */
  private readonly finished: Promise<void>;

  /** @internal Use {@link createPasst}. */
  constructor(
    private readonly link: PasstLink,
    socketPath: string,
  ) {
    super();
    this.socketPath = socketPath;
    this.config = link.config;
    this.finished = link.finished
      .then(({ code, reason }) => {
        if (code !== 0 && !this.closeRequested) {
          const err = new Error(`passt stopped: ${reason}`);
          // As any EventEmitter: an 'error' nobody listens to is thrown — here out of the promise chain, so `close` still follows.
          if (this.listenerCount('error') > 0) this.emit('error', err);
          else
            process.nextTick(() => {
              throw err;
            });
        }
        this.emit('close');
      });
  }

  /** Whether a guest is connected now. */
  get connected(): boolean {
    return this.link.connected;
  }

  /** Frames, bytes and flows by protocol, since the start (still readable after close()). */
  stats(): PasstStats {
    return this.link.stats();
  }

  /**
   * Stop translating: close the guest's connection, every flow and the
   * listening socket (removing its file), and release every fd. Resolves
   * once all that is done and `close` was emitted. Idempotent.
   */
  async close(): Promise<void> {
    this.closeRequested = true;
    this.link.stop('close() was called');
    await this.finished;
  }
}

/**
 * Open the UNIX domain socket for QEMU and start translating for the guest
 * that connects to it (one at a time). The translator runs in this
 * process, as it is, unless `sandbox: 'process'` (see {@link SandboxMode}).
 *
 * @throws PastaOptionError for an invalid option (its `field` names it)
 * @throws Error when the socket cannot be opened (its path in use, say) or the engine cannot start (with the reason)
 */
export async function createPasst(options: PasstOptions = {}): Promise<Passt> {
  argsByField(options); // wrong types fail before anything is loaded
  let handle: Passt | undefined;
  const hooks: PasstHooks = {
    // Events reach the handle once it exists; none can come before (the loop has not run yet).
    onFlow: (event) => handle?.emit('flow', event),
    onConnect: (event) => handle?.emit('connect', event),
    onDisconnect: (event) => handle?.emit('disconnect', event),
  };
  let opened: { link: PasstLink; socketPath: string };
  if (checkSandbox(options.sandbox) === 'process') {
    // The options are checked here first, so that an error names its field as it would in this process.
    const [{ readHostNet }, hostfiles] = await Promise.all([import('./hostnet.js'), import('./hostfiles.js')]);
    passtConfig(options, readHostNet(), hostfiles.readResolvConf(), hostfiles.readEphemeralPorts());
    opened = await (await import('./sandbox/process.js')).startPasstChild(options, hooks, ourSockets);
  } else {
    opened = await passtLink(options, hooks);
  }
  handle = new Passt(opened.link, opened.socketPath);
  return handle;
}

/**
 * @internal The socket and the translator on this process's event loop
 * (createPasst() without a sandbox, and the sandboxed child process).
 */
export async function passtLink(options: PasstOptions, hooks: PasstHooks): Promise<{ link: PasstLink; socketPath: string }> {
  const [{ createLogger, closeLogger }, { readHostNet }, hostfiles, qemu, { PasstRun }] = await Promise.all([
    import('./log.js'),
    import('./hostnet.js'),
    import('./hostfiles.js'),
    import('./l2/qemu.js'),
    import('./passt.js'),
  ]);
  const config = passtConfig(options, readHostNet(), hostfiles.readResolvConf(), hostfiles.readEphemeralPorts());
  const listener = await openSocket(config.socketPath, qemu);
  let run: PasstRun;
  let log: Logger | undefined;
  try {
    log = createLogger({ name: 'passt', level: options.log?.level ?? 'warn', file: config.logFile, fileSize: config.logSize });
    for (const warning of config.warnings) log.warn(warning);
    run = new PasstRun(config, log, listener, hooks);
    log.debug(`UNIX domain socket bound at ${listener.path}`);
  } catch (err) {
    listener.server.close();
    ourSockets.delete(path.resolve(listener.path));
    if (log) closeLogger(log);
    throw err;
  }
  const opened = log;
  void run.released.then(() => {
    ourSockets.delete(path.resolve(listener.path));
    closeLogger(opened);
  });
  const link = inProcessLink(run);
  return { link: Object.assign(link, { log }), socketPath: listener.path };
}

/**
 * The socket paths this process's instances listen on (or are about to).
 * The one thing instances share: passt(1) finds out whether a path is in use
 * by connecting to it, and an instance takes such a connection as its guest
 * until it closes, turning a real guest away meanwhile. So a new instance
 * never probes the path of another instance of this process: it skips it
 * (default path) or refuses it (given path) without connecting.
 */
const ourSockets = new Set<string>();

/** @internal Paths in use by instances of another process of ours (the sandboxed child's parent), never to be probed. */
export function reserveSocketPaths(paths: Iterable<string>): void {
  for (const p of paths) ourSockets.add(p);
}

/** The listening socket, as passt(1) opens it (`-s PATH`, or the first free /tmp/passt_N.socket), never probing our own. */
async function openSocket(socketPath: string | null, qemu: typeof import('./l2/qemu.js')): Promise<PasstListener> {
  const claim = async (candidate: string): Promise<PasstListener> => {
    const key = path.resolve(candidate);
    if (ourSockets.has(key)) throw new Error(M.socketInUse(candidate));
    ourSockets.add(key);
    try {
      return await qemu.openListener(candidate);
    } catch (err) {
      ourSockets.delete(key);
      throw err;
    }
  };
  if (socketPath !== null) return claim(socketPath);
  for (let n = 1; n <= qemu.DEFAULT_SOCKET_COUNT; n++) {
    try {
      return await claim(qemu.defaultSocketPath(n));
    } catch {
      // In use (by us or another process), or not ours to replace: the next.
    }
  }
  throw new Error(`no free UNIX domain socket path: ${qemu.defaultSocketPath(1)} to ${qemu.defaultSocketPath(qemu.DEFAULT_SOCKET_COUNT)} are all in use`);
}
