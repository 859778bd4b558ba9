/**
 * passt: a virtual machine connected through QEMU's stream socket or
 * vhost-user — the running part that the `passt` command (cli/passt.ts) and
 * the Node API's `createPasst()` (api-passt.ts) share, as pasta.ts is for
 * pasta.
 *
 * Theory of operation: the engine runs with the QEMU stream transport
 * (l2/qemu.ts), or with `--vhost-user` the vhost-user one (vhost/), as its
 * frame source and sink, on this process's event loop.
 * The transport takes guests from a listening socket (opened by the caller
 * with `openListener`, so that the caller decides how to report a path in
 * use) or uses one inherited connected socket (`-F`).
 *
 * One guest at a time. When it disconnects, its flows are closed on the
 * host side (and their sockets released), the learned guest MAC address is
 * forgotten, and the next guest is awaited — unless `--one-off`, or `-F`
 * (the socket is the only one there will be): then the run stops with
 * status 0. `stop()` closes the guest's connection, every flow, the engine's
 * epoll fd and the listening socket (node:net removes its file); `done`
 * resolves with the status and the reason, and `released` once the
 * listening socket is closed for good.
 */
import { M } from './messages.js';
import type net from 'node:net';
import { Engine } from './engine.js';
import { QemuTransport, type QemuTransportHooks } from './l2/qemu.js';
import { VhostUserTransport } from './vhost/transport.js';
import { MAC_BROADCAST } from './l2/ethernet.js';
import type { Config } from './conf.js';
import type { Logger } from './log.js';
import type { FlowEvent } from './flow.js';
import type { FrameTransport } from './l2/tapio.js';

/** The guest's side, either way: QEMU's stream (l2/qemu.ts) or vhost-user (vhost/transport.ts). */
export interface GuestTransport extends FrameTransport {
  readonly connected: boolean;
  /** Take guests from a listening socket, one at a time. */
  serve(server: net.Server): void;
  /** Use an inherited connected socket (-F). */
  attach(fd: number): boolean;
}

/** A listening socket QEMU connects to, as `openListener` (l2/qemu.ts) returns it. */
export interface PasstListener {
  server: net.Server;
  path: string;
}

/** What the owner of a run hears about, besides `done`. */
export interface PasstHooks {
  /** Every new flow (TCP connection, UDP flow, ping flow). */
  onFlow?(event: FlowEvent): void;
  /** A guest connected; `pid` is the peer's process (SO_PEERCRED), if known. */
  onConnect?(info: { pid: number | null }): void;
  /** The guest's connection closed: end of file, or an error or bad framing (`error`), with the reason. */
  onDisconnect?(info: { reason: string; error: boolean }): void;
}

/**
 * A running passt: the engine, the QEMU stream transport, and the listening
 * socket (none with -F).
 */
export class PasstRun {
  readonly engine: Engine;
  readonly transport: GuestTransport;
  private doneResolve!: (result: { code: number; reason: string }) => void;
  /** Resolves when passt stops: `code` is the exit status to use. */
  readonly done: Promise<{ code: number; reason: string }>;
  /** Resolves once stopped and the listening socket (if any) is closed, its file removed. */
  readonly released: Promise<void>;
  private stopped = false;

  /** @throws Error when the engine cannot start (a --pcap file that cannot be opened, say) or the -F socket cannot be used. */
  constructor(
    readonly config: Config,
    private readonly log: Logger,
    private readonly listener: PasstListener | null,
    private readonly hooks: PasstHooks = {},
  ) {
    this.done = new Promise((resolve) => (this.doneResolve = resolve));
    this.released = listener
      ? Promise.all([this.done, new Promise<void>((resolve) => listener.server.once('close', () => resolve()))]).then(() => undefined)
      : this.done.then(() => undefined);
    let transport: GuestTransport | undefined;
    const transportHooks: QemuTransportHooks = {
      onConnect: ({ pid }) => {
        log.info(pid ? M.acceptedConnection(pid) : 'accepted connection');
        hooks.onConnect?.({ pid });
      },
      onDisconnect: (reason, error) => this.guestGone(reason, error),
    };
    this.engine = new Engine({
      config,
      log,
      transport: (loop, capture) =>
        (transport = config.vhostUser ? new VhostUserTransport(loop, log, capture, transportHooks) : new QemuTransport(loop, log, capture, transportHooks)),
      onFatal: () => this.stop('internal error', 1),
      onFlow: hooks.onFlow,
    });
    this.transport = transport!;
    if (listener) {
      this.transport.serve(listener.server);
    } else if (config.socketFd !== null && !this.transport.attach(config.socketFd)) {
      this.engine.close();
      throw new Error(`cannot use the socket on fd ${config.socketFd}`);
    }
  }

  /** The guest went away: close its flows on the host side, forget it, and wait for the next one (or quit). */
  private guestGone(reason: string, error: boolean): void {
    const quit = this.config.oneOff;
    // As upstream: the error (in its words, from l2/qemu.ts), then "Client connection closed".
    if (error) this.log.error(reason);
    this.log.info(M.clientClosed(quit));
    const e = this.engine;
    e.tcp.closeAll();
    e.udp?.closeAll();
    e.icmp?.closeAll();
    e.link.guestMac.set(MAC_BROADCAST);
    this.hooks.onDisconnect?.({ reason, error });
    // Out of the event dispatch that noticed it: stopping closes the loop.
    if (quit) setImmediate(() => this.stop(this.config.socketFd !== null ? 'the socket closed' : 'one-off: the guest left', 0));
  }

  /** Stop: close the guest's connection and the listening socket (removing its file), stop the engine. Idempotent. */
  stop(reason: string, code = 0): void {
    if (this.stopped) return;
    this.stopped = true;
    this.log.debug(`quitting: ${reason}`);
    // Tearing down must not turn a clean stop into a crash: log what fails and go on.
    try {
      this.engine.close();
      // The engine closes the transport, except after it stopped itself on an internal
      // error: the guest's connection must go all the same (idempotent).
      this.transport.close();
    } catch (err) {
      this.log.warn(`while stopping the engine: ${(err as Error).stack ?? String(err)}`);
    }
    try {
      // Closing a node:net server removes its socket file.
      this.listener?.server.close();
    } catch (err) {
      this.log.warn(`while closing the socket: ${(err as Error).message}`);
    }
    this.doneResolve({ code, reason });
  }
}
