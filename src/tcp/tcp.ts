/**
 * TCP translation between the tap (the guest or namespace) and host sockets.
 *
 * Theory of operation, as in passt(1)'s tcp.c: this is not a TCP stack. For
 * each connection the guest opens, we open an ordinary nonblocking host
 * socket towards the same destination and *adapt* one side's segments to the
 * other's socket operations, keeping no data buffers of our own:
 *
 * - Guest SYN: a nonblocking connect(); the SYN-ACK goes back only once the
 *   connect completes, so the guest sees the remote's real accept or refusal
 *   (RST at once on ECONNREFUSED and unreachable destinations). The guest's
 *   MSS option bounds the segments we send it; the host socket keeps the
 *   host path's own MSS (pasta(1) sets the guest's as its TCP_MAXSEG, see
 *   the connect below); window scaling is negotiated with the guest
 *   independently of the host side.
 * - Host to guest: data is *peeked* (MSG_PEEK, with SO_PEEK_OFF where the
 *   kernel has it, so each byte is copied once) straight into frame slots of
 *   the tap transmit buffer, after a header template (with vhost-user,
 *   straight into the guest's own receive buffers: TapOut.direct, see
 *   doc/design.md, "vhost-user"). Peeked data stays in
 *   the socket until the guest acknowledges it; only then is it consumed
 *   (recv with MSG_TRUNC). Retransmission (three duplicate ACKs or the ACK
 *   timeout) rewinds to the guest's acknowledged sequence and peeks again.
 * - Guest to host: in-order payload of a batch of frames is written to the
 *   socket with one sendmsg per flow; the ACK sent back covers what the
 *   socket took, and the window advertised is the free space of the socket's
 *   send buffer (SO_SNDBUF minus SIOCOUTQ, from one native call), so the
 *   guest is flow-controlled by the real host connection. What the socket did
 *   not take is not acknowledged and comes again.
 * - FIN both ways with half-close (shutdown(SHUT_WR) for a guest FIN, a FIN
 *   to the guest when the host socket reaches EOF), RST both ways (SO_LINGER
 *   0 close for a guest RST).
 *
 * Connection state is a set of event bits changed only through `setEvents`,
 * which also logs the change and updates what epoll watches — rather than an
 * RFC 793 state switch. Handlers are named by where traffic comes from:
 * `tapHandler` (a frame from the guest), `sockHandler` (a host socket is
 * ready). Bad segments are dropped and traced, never thrown.
 */
import { createHash, randomBytes } from 'node:crypto';
import { native, C, E, errnoName } from '../native.js';
import { FdKind } from '../loop.js';
import { Flow, PROTO_TCP, bindOutbound, describeFlow, flowEvent, flowHash, type FlowContext } from '../flow.js';
import type { FrameRun } from '../run.js';
import { fold, l4Checksum4, l4Checksum6 } from '../l2/checksum.js';
import { ETH_HLEN } from '../l2/ethernet.js';
import { VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_GSO_TCPV6, type DirectRx, type FrameSink } from '../l2/tapio.js';
import { TCP_ACK as ACK, TCP_FIN as FIN, TCP_PSH as PSH, TCP_RST as RST, TCP_SYN as SYN, tcpHeaderLength, tcpOptions, writeTcpSynOptions } from '../l2/tcp.js';

/** Connection events (bits). */
export const enum Ev {
  /** Guest SYN seen, connect() in progress. */
  TapSynRcvd = 1 << 0,
  /** connect() completed, SYN-ACK sent to the guest. */
  TapSynAckSent = 1 << 1,
  /** The guest acknowledged our SYN-ACK: data may flow both ways. */
  Established = 1 << 2,
  /** The host socket reached EOF. */
  SockFinRcvd = 1 << 3,
  /** We sent a FIN to the guest (after all data). */
  TapFinSent = 1 << 4,
  /** The guest acknowledged our FIN. */
  TapFinAcked = 1 << 5,
  /** The guest sent a FIN; the socket's write side is shut down. */
  TapFinRcvd = 1 << 6,
  /** Data waits in the guest's segments that the socket could not take. */
  SockFull = 1 << 7,
  /** The guest's window is full: stop reading the socket. */
  Stalled = 1 << 8,
  /** Gone: the slot can be reused. */
  Closed = 1 << 9,
  /** Opened from the host side (a forwarded port): we sent the guest a SYN. */
  SockAccepted = 1 << 10,
}

const EV_NAMES = ['TAP_SYN_RCVD', 'TAP_SYN_ACK_SENT', 'ESTABLISHED', 'SOCK_FIN_RCVD', 'TAP_FIN_SENT', 'TAP_FIN_ACKED', 'TAP_FIN_RCVD', 'SOCK_FULL', 'STALLED', 'CLOSED', 'SOCK_ACCEPTED'];

function eventNames(ev: number): string {
  const names: string[] = [];
  for (let i = 0; i < EV_NAMES.length; i++) if (ev & (1 << i)) names.push(EV_NAMES[i]);
  return names.join('|') || 'none';
}

/** Window scale we offer to the guest (passt uses 8). */
const OUR_WSCALE = 8;
/** Largest window we advertise (after scaling). */
const MAX_WINDOW = 0xffff << OUR_WSCALE;
/** Default MSS when the guest sends none (RFC 879 / RFC 8200). */
const DEFAULT_MSS4 = 536;
const DEFAULT_MSS6 = 1220;
/** Retransmission timeout for data and FIN to the guest, doubling per retry. */
const ACK_TIMEOUT_MS = 1000;
const MAX_RETRANS = 8;
/** SYN-ACK retransmission and how long a connect() may take. */
const SYN_TIMEOUT_MS = 10_000;
/** How long a fully closed-by-guest connection waits for our FIN to be acknowledged. */
const FIN_TIMEOUT_MS = 60_000;
/** A connection the guest has sent nothing on for this long gets a keepalive probe (passt: 30 s). */
const KEEPALIVE_INTERVAL_MS = 30_000;
const SO_KEEPALIVE = 9;
/** Idle timeout for a connection where nothing happens at all (passt: 2 hours). */
const ACTIVITY_TIMEOUT_MS = 2 * 60 * 60 * 1000;
/** Most slices in one sendmsg or peek (a longer run is written in several). */
const RUN_IOV_MAX = 1024;
/** Most bytes peeked from one socket in one go. */
const MAX_PEEK = 4 << 20;

/** MSS to assume when the guest's SYN has none (RFC 9293 3.7.1, RFC 8200 5). */
function defaultMss(family: 4 | 6): number {
  return family === 4 ? DEFAULT_MSS4 : DEFAULT_MSS6;
}

/** seq a < b, modulo 2^32. */
function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}
function seqLe(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}
function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

export interface TcpStats {
  opened: number;
  closed: number;
  refused: number;
  bytesFromTap: number;
  bytesToTap: number;
  framesToTap: number;
  retransmits: number;
  dropped: number;
}

/** What the TCP handler needs from its surroundings (see flow.ts). */
export type TcpContext = FlowContext;

export class TcpConn extends Flow {
  events = 0;

  // Sequence numbers, unsigned 32 bit.
  /** Next sequence number we send to the guest. */
  seqToTap = 0;
  /** Highest acknowledgement from the guest. */
  seqAckFromTap = 0;
  /** Next sequence number expected from the guest. */
  seqFromTap = 0;
  /** Last acknowledgement we sent to the guest. */
  seqAckToTap = 0;
  /** Our initial sequence number. */
  seqInitToTap = 0;

  /** Guest window in bytes (scaled), its scale, and whether it offered scaling. */
  wndFromTap = 0;
  wsFromTap = 0;
  wsToTap = 0;
  /** Last window we advertised (bytes). */
  wndToTap = 0;
  /**
   * The send buffer was empty when `wndToTap` was measured and nothing was
   * written since: the window stands without asking the socket again (a
   * download's every ACK would otherwise cost a getsockopt).
   */
  sndIdle = false;
  /** Segment size for data to the guest. */
  mss = DEFAULT_MSS4;

  dupAcks = 0;
  retrans = 0;
  /** Timer deadline (ms, monotonic) or 0. */
  deadline = 0;
  /** Last segment from the guest (ms): a flow quiet on the guest's side gets a keepalive probe. */
  lastTapActivity = 0;
  /** Last keepalive probe sent to the guest (ms). */
  lastKeepalive = 0;
  /** SO_KEEPALIVE set on the host socket (the guest sends keepalives). */
  keepalive = false;
  /** Whether SO_PEEK_OFF works on this socket. */
  peekOffset = false;
  /**
   * The last peek emptied the socket: it is watched edge-triggered
   * (EPOLLET), as upstream does, since the data peeked and not yet
   * acknowledged keeps it readable, and level-triggered every round of the
   * loop would peek again for nothing; new data or the end makes an edge.
   */
  edge = false;
  /** Events currently watched on the fd, and whether the fd is in epoll at all (with no events, a reset still reports EPOLLERR). */
  watched = 0;
  registered = false;
  /** What epoll should watch changed during this batch of events: applied at its end (TcpHandler.applyWatches). */
  watchDue = false;

  /** In-order guest payload of the run being handled, to write with one sendmsg. */
  pendingBytes = 0;
  /** A FIN from the guest follows the pending payload. */
  pendingFin = false;
  /** An ACK should go to the guest at the end of the run. */
  ackDue = false;
  /** Guest data was lost here (a gap, or the socket took less): repeat the ACK so the guest retransmits at once. */
  dupAckDue = false;

  bytesFromTap = 0;
  bytesToTap = 0;

  /** `addrs`: the guest's address, then the remote's as the guest sees it. */
  constructor(family: 4 | 6, addrs: Uint8Array, guestPort: number, remotePort: number) {
    super(PROTO_TCP, family, addrs, guestPort, remotePort);
  }
}

/**
 * The TCP translation for one engine instance: its connections live in the
 * engine's flow table (flow.ts), found from the guest's segments by hash and
 * from epoll tags by index; timers free dead ones.
 */
export class TcpHandler {
  private live = 0;
  private readonly timed = new Set<TcpConn>();
  /** Connections whose data waits for the guest's receive buffers (direct peeks, vhost-user). */
  private readonly bufferWait = new Set<TcpConn>();
  /** Connections whose epoll registration is due at the end of the batch (setEvents). */
  private readonly watchDue: TcpConn[] = [];
  /** SO_MEMINFO of a socket: [queued, limit] (native.sendSpace). */
  private readonly space = new Uint32Array(2);
  private readonly intOut = new Int32Array(1);
  /** Slots of one peek from a socket into frames. */
  private readonly peekOff = new Int32Array(RUN_IOV_MAX);
  private readonly peekLen = new Int32Array(RUN_IOV_MAX);
  /** In-order payload of the run being handled: slices of the run's buffer, written with one sendmsg. */
  private readonly iovOff = new Int32Array(RUN_IOV_MAX);
  private readonly iovLen = new Int32Array(RUN_IOV_MAX);
  private iovCount = 0;
  private iovBuf: Buffer | null = null;
  readonly stats: TcpStats = { opened: 0, closed: 0, refused: 0, bytesFromTap: 0, bytesToTap: 0, framesToTap: 0, retransmits: 0, dropped: 0 };
  private readonly traceOn: boolean;
  /** The secret of initialSeq's hash, new for each handler. */
  private readonly isnSecret = randomBytes(16);

  constructor(private readonly ctx: TcpContext) {
    ctx.loop.on(FdKind.TcpSock, (index, events, now) => this.sockHandler(index, events, now));
    ctx.loop.onTick((now) => this.timer(now));
    ctx.loop.onBatchEnd(() => this.applyWatches());
    this.traceOn = ctx.log.isLevelEnabled('trace');
  }

  /** Number of live connections. */
  get count(): number {
    return this.live;
  }

  // ---------------------------------------------------------------------
  // Frames from the guest

  /**
   * A run of TCP segments of one connection from the guest (run.ts): the
   * connection is looked up once, each segment's flags, acknowledgement and
   * window are handled in order, and the in-order payload of the whole run
   * is written to the socket with one call at its end, followed by one ACK.
   * The run's buffer stays valid until then. Never throws on bad input.
   */
  tapRun(run: FrameRun, now: number): void {
    let conn = this.lookup(run);
    for (let i = 0; i < run.count; i++) {
      if (conn && conn.events & Ev.Closed) conn = this.lookup(run);
      conn = this.segmentFromTap(conn, run, run.l4Off[i], run.l4Len[i], now);
    }
    if (conn) this.endRun(conn);
  }

  /** The connection of the run's identity, if any. */
  private lookup(run: FrameRun): TcpConn | undefined {
    return this.ctx.flows.lookup(PROTO_TCP, run.family, run.buf, run.addrOff, run.guestPort, run.remotePort, run.hash) as TcpConn | undefined;
  }

  /**
   * One segment of a run for `conn` (undefined: no connection yet). Returns
   * the connection the run's next segments belong to.
   */
  private segmentFromTap(conn: TcpConn | undefined, run: FrameRun, l4Off: number, l4Len: number, now: number): TcpConn | undefined {
    const buf = run.buf;
    const doff = tcpHeaderLength(buf, l4Off, l4Len);
    if (!doff) {
      this.drop('bad TCP header');
      return conn;
    }
    const seq = buf.readUInt32BE(l4Off + 4);
    const ack = buf.readUInt32BE(l4Off + 8);
    const flags = buf[l4Off + 13];
    const window = buf.readUInt16BE(l4Off + 14);

    if (!conn) {
      if (flags & RST) return undefined;
      if ((flags & (SYN | ACK)) === SYN) return this.connFromTap(run, seq, window, l4Off, doff, now);
      // Segment for a connection we don't know: answer with a RST, as a host would.
      this.sendRstFor(run, seq, ack, flags, l4Len - doff);
      return undefined;
    }
    conn.lastActivity = now;
    conn.lastTapActivity = now;

    if (flags & RST) {
      this.trace(conn, 'RST from guest');
      this.close(conn, true);
      return conn;
    }
    if (flags & SYN) {
      if (conn.events & Ev.SockAccepted) {
        if ((flags & (SYN | ACK)) !== (SYN | ACK)) {
          this.drop('SYN without ACK for a connection we opened');
          return conn;
        }
        if (conn.events & Ev.Established) {
          this.sendAck(conn, true); // our ACK of its SYN-ACK was lost
          return conn;
        }
        if (ack !== ((conn.seqInitToTap + 1) >>> 0)) {
          // Not an answer to our SYN (RFC 9293 3.10.7.3): reset, and our SYN will be retransmitted.
          this.sendRstFor(run, seq, ack, flags, l4Len - doff);
          this.drop('bad ACK in SYN-ACK');
          return conn;
        }
        this.synAckFromTap(conn, buf, l4Off, doff, seq, ack, window, now);
        return conn;
      }
      // A retransmitted SYN: answer it again if we already did.
      if (!(flags & ACK) && conn.events & Ev.TapSynAckSent && !(conn.events & Ev.Established)) this.sendFlags(conn, SYN | ACK);
      return conn;
    }
    if (!(flags & ACK)) {
      this.drop('segment without ACK');
      return conn;
    }

    if (!(conn.events & Ev.Established)) {
      if (conn.events & Ev.SockAccepted) {
        // We sent a SYN and got an ACK without SYN: the guest's kernel answers from an old
        // connection of the same addresses and ports (TIME_WAIT). As RFC 9293 3.10.7.3
        // says for SYN-SENT: a reset with the sequence number it acknowledged, which ends
        // the old connection there, so our next SYN gets through.
        if (ack !== ((conn.seqInitToTap + 1) >>> 0)) {
          this.trace(conn, 'unacceptable ACK to our SYN: reset, and SYN again');
          this.sendRstFor(run, seq, ack, flags, l4Len - doff);
          this.sendFlags(conn, SYN);
        }
        return conn;
      }
      if (!(conn.events & Ev.TapSynAckSent)) return conn; // still connecting: the guest will retransmit
      if (ack !== ((conn.seqInitToTap + 1) >>> 0)) {
        this.drop('bad ACK of SYN-ACK');
        return conn;
      }
      conn.seqAckFromTap = ack;
      conn.wndFromTap = window << conn.wsFromTap;
      this.setEvents(conn, Ev.Established, 0);
      this.clearTimer(conn);
    }

    this.ackFromTap(conn, ack, window, l4Len - doff, now);
    if (conn.events & Ev.Closed) return conn;

    const payloadLen = l4Len - doff;
    if (payloadLen <= 1 && !(flags & FIN) && seqLt(seq, conn.seqFromTap)) {
      this.keepaliveFromTap(conn, seq);
      return conn;
    }
    if (payloadLen > 0 || flags & FIN) this.dataFromTap(conn, buf, l4Off + doff, payloadLen, seq, (flags & FIN) !== 0);
    return conn;
  }

  /**
   * A keepalive from the guest (a segment of at most one byte before what it
   * already sent, RFC 9293 3.8.4), as upstream handles it: answered with an
   * ACK at once, and the host socket gets SO_KEEPALIVE, so that the host's
   * side of an idle connection the guest keeps alive probes its peer too and
   * a dead peer is noticed (the guest then gets a reset).
   */
  private keepaliveFromTap(conn: TcpConn, seq: number): void {
    if (this.traceOn) this.trace(conn, `keepalive from guest: seq ${seq}, expected ${conn.seqFromTap}`);
    this.sendAck(conn, true);
    if (!conn.keepalive) {
      conn.keepalive = true;
      if (native.setsockoptInt(conn.fd, C.SOL_SOCKET, SO_KEEPALIVE, 1) < 0 && this.traceOn) this.trace(conn, 'cannot set SO_KEEPALIVE');
    }
  }

  /** Process the guest's acknowledgement and window. */
  private ackFromTap(conn: TcpConn, ack: number, window: number, payloadLen: number, now: number): void {
    const wnd = window << conn.wsFromTap;
    const inFlight = seqDiff(conn.seqToTap, conn.seqAckFromTap);
    const acked = seqDiff(ack, conn.seqAckFromTap);
    if (acked > 0 && seqLe(ack, conn.seqToTap)) {
      let dataAcked = acked;
      // Our FIN occupies one sequence number and no socket data.
      if (conn.events & Ev.TapFinSent && ack === conn.seqToTap) {
        dataAcked--;
        this.setEvents(conn, Ev.TapFinAcked, 0);
      }
      if (dataAcked > 0) {
        const n = native.recvDiscard(conn.fd, dataAcked);
        if (n !== dataAcked) {
          this.ctx.log.debug(`${describeFlow(conn)}: could not consume ${dataAcked} acknowledged bytes (${n < 0 ? errnoName(n) : n})`);
          this.reset(conn);
          return;
        }
      }
      conn.seqAckFromTap = ack;
      conn.dupAcks = 0;
      conn.retrans = 0;
      if (seqDiff(conn.seqToTap, ack) > 0) this.setTimer(conn, now + ACK_TIMEOUT_MS);
      else this.clearTimer(conn);
    } else if (acked === 0 && inFlight > 0 && payloadLen === 0 && wnd === conn.wndFromTap) {
      if (++conn.dupAcks === 3) {
        this.trace(conn, `fast retransmit from ${ack}`);
        this.rewind(conn);
      }
    }
    const opened = wnd > conn.wndFromTap;
    conn.wndFromTap = wnd;
    if (conn.events & Ev.TapFinAcked && conn.events & Ev.TapFinRcvd) {
      this.close(conn, false);
      return;
    }
    if ((opened || acked > 0) && !(conn.events & Ev.SockFinRcvd)) {
      if (conn.events & Ev.Stalled) this.setEvents(conn, 0, Ev.Stalled);
      this.dataFromSock(conn, now);
    }
  }

  /** In-order payload (and FIN) from the guest: queued for the run's one write. */
  private dataFromTap(conn: TcpConn, buf: Buffer, off: number, len: number, seq: number, fin: boolean): void {
    if (conn.events & Ev.TapFinRcvd) {
      // Anything after the guest's FIN: just acknowledge again.
      conn.ackDue = true;
      return;
    }
    // Where this segment's data would start relative to what we expect next.
    const expected = (conn.seqFromTap + conn.pendingBytes) >>> 0;
    let skip = seqDiff(expected, seq);
    if (this.traceOn) this.trace(conn, `data from guest: seq ${seq} len ${len}${fin ? ' FIN' : ''}, expected ${expected}`);
    if (skip < 0) {
      // A gap: something before this segment was lost. Ask again with duplicate ACKs.
      conn.ackDue = true;
      conn.dupAckDue = true;
      return;
    }
    if (skip > len) skip = len;
    if (skip === len && !fin) {
      conn.ackDue = true; // a retransmission of data we have
      return;
    }
    if (len - skip > 0) {
      if (this.iovCount >= RUN_IOV_MAX || (this.iovBuf !== null && this.iovBuf !== buf)) this.writeToSock(conn);
      this.iovBuf = buf;
      this.iovOff[this.iovCount] = off + skip;
      this.iovLen[this.iovCount] = len - skip;
      this.iovCount++;
      conn.pendingBytes += len - skip;
    }
    if (fin) conn.pendingFin = true;
    conn.ackDue = true;
  }

  /**
   * Write the run's queued payload to the socket with one sendmsg. What the
   * socket did not take is not acknowledged: the guest sends it again.
   */
  private writeToSock(conn: TcpConn): void {
    const n = this.iovCount;
    const want = conn.pendingBytes;
    this.iovCount = 0;
    conn.pendingBytes = 0;
    const buf = this.iovBuf;
    this.iovBuf = null;
    if (n === 0 || buf === null || conn.events & Ev.Closed) return;
    const written = native.sendv(conn.fd, buf, this.iovOff, this.iovLen, n, 0);
    if (written < 0 && written !== -E.EAGAIN) {
      this.ctx.log.debug(`${describeFlow(conn)}: write: ${errnoName(written)}`);
      this.reset(conn);
      return;
    }
    const took = written < 0 ? 0 : written;
    if (took > 0) conn.sndIdle = false;
    if (this.traceOn) this.trace(conn, `wrote ${took} of ${want} bytes to the socket`);
    conn.seqFromTap = (conn.seqFromTap + took) >>> 0;
    conn.bytesFromTap += took;
    this.stats.bytesFromTap += took;
    if (took < want) {
      // The socket is full: what it did not take is not acknowledged; the guest sends it again.
      conn.pendingFin = false;
      conn.dupAckDue = true;
      if (!(conn.events & Ev.SockFull)) this.setEvents(conn, Ev.SockFull, 0);
    }
  }

  /**
   * The end of a run: write its payload, apply a FIN that followed it, and
   * send the one ACK (with the socket's window) the run earned.
   */
  private endRun(conn: TcpConn): void {
    this.writeToSock(conn);
    if (conn.events & Ev.Closed) return;
    if (conn.pendingFin) {
      conn.pendingFin = false;
      native.shutdown(conn.fd, 1);
      conn.seqFromTap = (conn.seqFromTap + 1) >>> 0;
      this.setEvents(conn, Ev.TapFinRcvd, 0);
      if (conn.events & Ev.TapFinAcked) {
        this.sendAck(conn, true);
        this.close(conn, false);
        return;
      }
    }
    if (conn.ackDue) {
      conn.ackDue = false;
      this.sendAck(conn, true);
      if (conn.dupAckDue) {
        // Three duplicates trigger the guest's fast retransmit of what we could not take.
        conn.dupAckDue = false;
        for (let k = 0; k < 3; k++) this.fillAndCommit(conn, conn.seqToTap, ACK, 0);
      }
    }
  }

  // ---------------------------------------------------------------------
  // Host sockets

  private sockHandler(index: number, events: number, now: number): void {
    const conn = this.ctx.flows.get(index) as TcpConn | undefined;
    if (!conn || conn.events & Ev.Closed) return;
    conn.lastActivity = now;
    if (!(conn.events & (Ev.TapSynAckSent | Ev.SockAccepted))) {
      // connect() finished, one way or the other.
      if (events & (C.EPOLLOUT | C.EPOLLERR | C.EPOLLHUP)) this.connectDone(conn, now);
      return;
    }
    if (events & C.EPOLLERR) {
      native.getsockoptInt(conn.fd, C.SOL_SOCKET, C.SO_ERROR, this.intOut);
      this.ctx.log.debug(`${describeFlow(conn)}: socket error ${errnoName(this.intOut[0])}`);
      this.reset(conn);
      return;
    }
    if (events & C.EPOLLOUT && conn.events & Ev.SockFull) {
      // The socket has room again: tell the guest (window update).
      this.setEvents(conn, 0, Ev.SockFull);
      this.sendAck(conn, true);
    }
    if (events & (C.EPOLLIN | C.EPOLLHUP) && conn.events & Ev.Established) this.dataFromSock(conn, now);
  }

  /** connect() completed: SYN-ACK to the guest, or RST if it failed. */
  private connectDone(conn: TcpConn, now: number): void {
    native.getsockoptInt(conn.fd, C.SOL_SOCKET, C.SO_ERROR, this.intOut);
    const err = this.intOut[0];
    if (err !== 0) {
      this.ctx.log.debug(`${describeFlow(conn)}: connect: ${errnoName(err)}`);
      this.stats.refused++;
      this.sendFlags(conn, RST | ACK);
      this.close(conn, false);
      return;
    }
    this.setEvents(conn, Ev.TapSynAckSent, Ev.TapSynRcvd);
    this.sendFlags(conn, SYN | ACK);
    this.setTimer(conn, now + ACK_TIMEOUT_MS);
  }

  /**
   * Peek what the guest's window allows from the socket into frames:
   * straight into the guest's buffers where the output allows it
   * (vhost-user, `TapOut.direct`), else into frame slots of the transmit
   * buffer.
   */
  private dataFromSock(conn: TcpConn, now: number): void {
    if (!(conn.events & Ev.Established) || conn.events & (Ev.SockFinRcvd | Ev.Closed)) return;
    let inFlight = seqDiff(conn.seqToTap, conn.seqAckFromTap);
    let window = Math.min(conn.wndFromTap - inFlight, MAX_PEEK);
    if (window <= 0) {
      if (!(conn.events & Ev.Stalled)) this.setEvents(conn, Ev.Stalled, 0);
      // Zero window: probe later so a lost window update cannot stall us forever.
      if (!conn.deadline) this.setTimer(conn, now + ACK_TIMEOUT_MS);
      return;
    }
    const out = this.ctx.out;
    // A frame per segment of the guest's MSS; with TSO on the tap, a super-frame per as many
    // whole segments as an IP packet holds, which the namespace's kernel cuts (l2/tapio.ts).
    const mss = conn.mss;
    const seg = this.superFrames(conn) ? Math.max(mss, Math.floor(((conn.family === 4 ? 65535 - 40 : 65535 - 20)) / mss) * mss) : mss;
    for (let retried = false; ; ) {
      const direct = out.direct();
      if (!direct) break;
      const n = direct.peek(conn.fd, conn.peekOffset ? 0 : inFlight, conn.hdrLen, seg, window);
      if (n === -E.ENOBUFS) {
        if (direct.short === 2) break; // a buffer only the copy takes: build the frames here
        if (!retried && !direct.wait()) {
          retried = true;
          continue;
        }
        this.waitBuffers(conn, direct, now);
        return;
      }
      if (!this.peeked(conn, n, window, now)) return;
      this.setEdge(conn, n < direct.capacity);
      // Headers for each frame; the payload is in place already.
      this.updateWindowToTap(conn);
      for (let i = 0; i < direct.count; i++) {
        const len = direct.lens[i];
        const off = direct.frameOffset(i);
        this.fillHeader(conn, direct.buf, off, conn.seqToTap, PSH | ACK, len, 0);
        this.commitFrame(conn, off, conn.hdrLen + len, len, direct);
        conn.seqToTap = (conn.seqToTap + len) >>> 0;
        this.stats.framesToTap++;
      }
      direct.finish();
      this.sentToTap(conn, n, window, now);
      // Less than the frames could take: the socket has no more for now.
      if (n < direct.capacity || n >= window) return;
      inFlight += n;
      window -= n;
      if (direct.short === 2) break;
      if (direct.short === 1) {
        if (!direct.wait()) continue;
        this.waitBuffers(conn, direct, now);
        return;
      }
    }
    const slot = (out.headroom + conn.hdrLen + seg + 7) & ~7;
    // Enough slots for the window, bounded by the transmit buffer and the slot table.
    let maxSlots = Math.min(Math.ceil(window / seg), this.peekOff.length);
    if (out.room < slot * Math.min(maxSlots, 4)) out.flush();
    maxSlots = Math.min(maxSlots, Math.floor(out.room / slot));
    if (maxSlots <= 0) return;
    const base = out.reserve(slot * maxSlots);
    let total = 0;
    for (let i = 0; i < maxSlots; i++) {
      this.peekOff[i] = base + i * slot + conn.hdrLen;
      const l = Math.min(seg, window - total);
      this.peekLen[i] = l;
      total += l;
    }
    const discard = conn.peekOffset ? 0 : inFlight;
    const n = native.recvPeek(conn.fd, out.buf, discard, this.peekOff, this.peekLen, maxSlots);
    if (!this.peeked(conn, n, window, now)) return;
    // Fewer bytes than the slots take: the socket is empty. As many: it may hold more, which only
    // level-triggered polling would bring (unless the window is full, and an ACK brings us back).
    this.setEdge(conn, n < total);
    // Build a frame around each filled slot.
    let left = n;
    this.updateWindowToTap(conn);
    for (let i = 0; left > 0; i++) {
      const len = Math.min(left, this.peekLen[i]);
      const off = base + i * slot;
      this.fillHeader(conn, out.buf, off, conn.seqToTap, PSH | ACK, len, 0);
      this.commitFrame(conn, off, conn.hdrLen + len, len);
      conn.seqToTap = (conn.seqToTap + len) >>> 0;
      left -= len;
      this.stats.framesToTap++;
    }
    this.sentToTap(conn, n, window, now);
  }

  /**
   * What a peek of the socket returned, when not data: nothing new
   * (EAGAIN), end of file after every byte was sent (a FIN to the guest),
   * or an error (reset). True if `n` bytes of data came.
   */
  private peeked(conn: TcpConn, n: number, window: number, now: number): boolean {
    if (n > 0) return true;
    if (n < 0) {
      if (n === -E.EAGAIN) {
        this.setEdge(conn, true);
        return false;
      }
      this.ctx.log.debug(`${describeFlow(conn)}: receive: ${errnoName(n)}`);
      this.reset(conn);
      return false;
    }
    // EOF, and every byte before it has been sent: FIN to the guest.
    this.setEvents(conn, Ev.SockFinRcvd, 0);
    this.sendFlags(conn, FIN | ACK);
    this.setEvents(conn, Ev.TapFinSent, 0);
    conn.seqToTap = (conn.seqToTap + 1) >>> 0;
    this.setTimer(conn, now + ACK_TIMEOUT_MS);
    return false;
  }

  /** Watch the socket edge- or level-triggered (TcpConn.edge). */
  private setEdge(conn: TcpConn, on: boolean): void {
    if (conn.edge === on) return;
    conn.edge = on;
    this.setEvents(conn, 0, 0);
  }

  /** `n` bytes of `window` went to the guest. */
  private sentToTap(conn: TcpConn, n: number, window: number, now: number): void {
    conn.seqAckToTap = conn.seqFromTap;
    conn.bytesToTap += n;
    this.stats.bytesToTap += n;
    if (!conn.deadline) this.setTimer(conn, now + ACK_TIMEOUT_MS);
    if (n >= window && !(conn.events & Ev.Stalled)) this.setEvents(conn, Ev.Stalled, 0);
  }

  /**
   * The guest has no buffer for this connection's data: stop reading the
   * socket (Stalled) until it posts some (`resumeWaiting`), or the guest's
   * ACK or our timer says to go on.
   */
  private waitBuffers(conn: TcpConn, direct: DirectRx, now: number): void {
    direct.onBuffers ??= () => this.resumeWaiting();
    this.bufferWait.add(conn);
    if (!(conn.events & Ev.Stalled)) this.setEvents(conn, Ev.Stalled, 0);
    if (!conn.deadline) this.setTimer(conn, now + ACK_TIMEOUT_MS);
  }

  /** The guest posted receive buffers: the connections that wait for them read on. */
  private resumeWaiting(): void {
    const now = this.ctx.loop.now();
    const waiting = [...this.bufferWait];
    this.bufferWait.clear();
    for (const conn of waiting) {
      if (conn.events & Ev.Closed || !(conn.events & Ev.Stalled)) continue;
      this.setEvents(conn, 0, Ev.Stalled);
      this.dataFromSock(conn, now);
    }
  }

  // ---------------------------------------------------------------------
  // Connection set-up and tear-down

  /**
   * A connection accepted on a forwarded port: open it towards the guest.
   * `remoteAddr`:`remotePort` is the peer as the guest will see it (the
   * caller maps local sources to the gateway address), `guestAddr`:
   * `guestPort` where it goes in the guest. Takes ownership of `fd`.
   * Returns false (and closes `fd`) if it cannot be opened.
   */
  connFromSock(fd: number, family: 4 | 6, guestAddr: Uint8Array, guestPort: number, remoteAddr: Uint8Array, remotePort: number, now: number): boolean {
    const addrs = new Uint8Array(2 * guestAddr.length);
    addrs.set(guestAddr, 0);
    addrs.set(remoteAddr, guestAddr.length);
    const hash = flowHash(PROTO_TCP, family, addrs, 0, guestPort, remotePort);
    if (this.ctx.flows.lookup(PROTO_TCP, family, addrs, 0, guestPort, remotePort, hash) || !this.ctx.flows.admit(now)) {
      native.closeReset(fd);
      return false;
    }
    const conn = new TcpConn(family, addrs, guestPort, remotePort);
    this.ctx.flows.insert(conn, hash);
    this.live++;
    conn.fd = fd;
    conn.lastActivity = conn.lastTapActivity = now;
    conn.seqInitToTap = this.initialSeq(conn, now);
    conn.seqToTap = (conn.seqInitToTap + 1) >>> 0;
    conn.seqAckFromTap = conn.seqInitToTap;
    conn.wsToTap = OUR_WSCALE; // offered in our SYN; dropped if the guest does not scale
    conn.mss = this.ctx.mtu - (family === 4 ? 40 : 60);
    this.buildHeader(conn);
    this.stats.opened++;
    this.ctx.onFlow?.(flowEvent(conn, 'in'));
    conn.peekOffset = native.setsockoptInt(fd, C.SOL_SOCKET, C.SO_PEEK_OFF, 0) === 0;
    this.setEvents(conn, Ev.SockAccepted, 0);
    this.sendFlags(conn, SYN);
    this.setTimer(conn, now + ACK_TIMEOUT_MS);
    return true;
  }

  /** The guest accepted a connection we opened: options, sequence numbers, then our ACK. */
  private synAckFromTap(conn: TcpConn, buf: Buffer, l4Off: number, doff: number, seq: number, ack: number, window: number, now: number): void {
    const opts = tcpOptions(buf, l4Off, doff);
    conn.mss = Math.max(Math.min(opts.mss ?? defaultMss(conn.family), this.ctx.mtu - (conn.family === 4 ? 40 : 60)), 64);
    if (opts.wscale !== undefined) {
      conn.wsFromTap = opts.wscale;
      conn.wsToTap = OUR_WSCALE;
    } else {
      conn.wsFromTap = 0;
      conn.wsToTap = 0;
      conn.sndIdle = false; // the window measured for our SYN assumed scaling
    }
    conn.seqFromTap = (seq + 1) >>> 0;
    conn.seqAckFromTap = ack;
    conn.wndFromTap = window; // never scaled in a SYN
    conn.retrans = 0;
    this.clearTimer(conn);
    this.setEvents(conn, Ev.TapSynAckSent | Ev.Established, 0);
    this.sendAck(conn, true);
    conn.lastActivity = conn.lastTapActivity = now;
  }

  /** A SYN from the guest for a new connection (the run's identity): open its host socket. */
  private connFromTap(run: FrameRun, seq: number, window: number, l4Off: number, doff: number, now: number): TcpConn | undefined {
    const { buf, family } = run;
    const alen = family === 4 ? 4 : 16;
    const r0 = buf[run.addrOff + alen];
    if (run.remotePort === 0 || run.guestPort === 0) {
      this.drop('TCP port 0');
      return undefined;
    }
    if ((family === 4 && (r0 >= 224 || r0 === 0)) || (family === 6 && r0 === 0xff)) {
      this.drop('TCP SYN to a multicast or broadcast address');
      return undefined;
    }
    const conn = new TcpConn(family, Uint8Array.from(buf.subarray(run.addrOff, run.addrOff + 2 * alen)), run.guestPort, run.remotePort);
    conn.lastActivity = conn.lastTapActivity = now;
    conn.seqFromTap = (seq + 1) >>> 0;
    conn.seqAckToTap = conn.seqFromTap;
    conn.seqInitToTap = this.initialSeq(conn, now);
    conn.seqToTap = (conn.seqInitToTap + 1) >>> 0;
    conn.seqAckFromTap = conn.seqInitToTap;
    this.buildHeader(conn);
    if (!this.ctx.flows.admit(now)) {
      // The flow table is full: refused at once, nothing else touched.
      this.trace(conn, 'flow table full: reset');
      this.sendFlags(conn, RST | ACK);
      return undefined;
    }
    this.ctx.flows.insert(conn, run.hash);
    this.live++;

    // The guest's options: MSS, window scale.
    const opts = tcpOptions(buf, l4Off, doff);
    const ourMss = this.ctx.mtu - (family === 4 ? 40 : 60);
    conn.mss = Math.max(Math.min(opts.mss ?? defaultMss(family), ourMss), 64);
    if (opts.wscale !== undefined) {
      conn.wsFromTap = opts.wscale;
      conn.wsToTap = OUR_WSCALE;
    }
    conn.wndFromTap = window; // never scaled in a SYN

    const target = this.ctx.natFromTap(family, PROTO_TCP, conn.remoteAddr, run.remotePort);
    if (!target) {
      this.trace(conn, 'refused by address mapping');
      this.sendFlags(conn, RST | ACK);
      this.close(conn, false);
      return conn;
    }
    // The host side takes the target's family: a mapping (the DNS forwarder) may cross families.
    const fd = native.socket(target.addr.length === 4 ? C.AF_INET : C.AF_INET6, C.SOCK_STREAM | C.SOCK_NONBLOCK, 0);
    if (fd < 0) {
      this.ctx.log.warn(`TCP: cannot open a socket: ${errnoName(fd)}`);
      this.sendFlags(conn, RST | ACK);
      this.close(conn, false);
      return conn;
    }
    conn.fd = fd;
    this.stats.opened++;
    this.ctx.onFlow?.(flowEvent(conn, 'out'));
    // No TCP_MAXSEG from the guest's MSS, unlike pasta(1): the host side is a connection of the
    // host's own, over the host's path, and we segment for the guest whatever arrives. Clamped,
    // a guest at MTU 1500 made a remote peer send 1460-byte segments across the host's path
    // (65520 here): a packet rate that cost a third of the throughput and reordered segments
    // into spurious retransmissions (doc/design.md, "Segmentation offload").
    conn.peekOffset = native.setsockoptInt(fd, C.SOL_SOCKET, C.SO_PEEK_OFF, 0) === 0;
    const bound = bindOutbound(fd, target, 0);
    const rc = bound < 0 ? bound : native.connect(fd, target.addr, target.port, target.scopeId);
    this.setEvents(conn, Ev.TapSynRcvd, 0);
    if (rc === 0) {
      this.connectDone(conn, now);
    } else if (rc === -E.EINPROGRESS) {
      this.setTimer(conn, now + SYN_TIMEOUT_MS);
    } else {
      this.ctx.log.debug(`${describeFlow(conn)}: connect: ${errnoName(rc)}`);
      this.stats.refused++;
      this.sendFlags(conn, RST | ACK);
      this.close(conn, false);
    }
    return conn;
  }

  /** Reset both sides: RST to the guest, RST to the host peer. */
  private reset(conn: TcpConn): void {
    if (conn.events & Ev.Closed) return;
    this.sendFlags(conn, RST | ACK);
    this.close(conn, true);
  }

  /** Free the connection; `hard` resets the host side (SO_LINGER 0). */
  private close(conn: TcpConn, hard: boolean): void {
    if (conn.events & Ev.Closed) return;
    if (conn.fd >= 0) {
      if (conn.registered) this.ctx.loop.del(conn.fd);
      conn.watched = 0;
      conn.registered = false;
      if (hard) native.closeReset(conn.fd);
      else native.close(conn.fd);
      conn.fd = -1;
      this.stats.closed++;
    }
    this.setEvents(conn, Ev.Closed, 0);
    this.timed.delete(conn);
    this.bufferWait.delete(conn);
    if (conn.index >= 0) {
      this.ctx.flows.remove(conn);
      this.live--;
    }
  }

  /** Close every connection (engine shutdown). */
  closeAll(): void {
    for (const conn of this.ctx.flows.all(PROTO_TCP)) this.close(conn as TcpConn, true);
  }

  // ---------------------------------------------------------------------
  // State changes and polling

  /** The only place connection events change: logs and updates epoll. */
  private setEvents(conn: TcpConn, set: number, clear: number): void {
    const before = conn.events;
    conn.events = (conn.events | set) & ~clear;
    if (this.traceOn && before !== conn.events) this.trace(conn, `${eventNames(before)} -> ${eventNames(conn.events)}`);
    if (conn.events & Ev.Closed || conn.fd < 0) return;
    // Within a batch of events, epoll learns only the state the batch leaves: a window that an
    // ACK opens and the next peek fills again (every ACK, at small MSS) costs no epoll_ctl at all.
    // Nothing reads epoll before the batch ends, so this is the same as updating it at once.
    if (this.ctx.loop.inBatch) {
      if (!conn.watchDue) {
        conn.watchDue = true;
        this.watchDue.push(conn);
      }
      return;
    }
    this.applyWatch(conn);
  }

  /** The end of a batch of events: epoll learns what the connections changed in it. */
  private applyWatches(): void {
    const due = this.watchDue;
    for (let i = 0; i < due.length; i++) {
      const conn = due[i];
      conn.watchDue = false;
      if (!(conn.events & Ev.Closed) && conn.fd >= 0) this.applyWatch(conn);
    }
    due.length = 0;
  }

  /** Make epoll watch on the connection's socket what its state asks for. */
  private applyWatch(conn: TcpConn): void {
    let want = 0;
    if (conn.events & Ev.SockAccepted && !(conn.events & Ev.Established)) want = 0; // until the guest answers our SYN
    else if (!(conn.events & Ev.TapSynAckSent)) want = C.EPOLLOUT;
    else {
      if (!(conn.events & (Ev.SockFinRcvd | Ev.Stalled)) && conn.events & Ev.Established) want |= C.EPOLLIN;
      if (conn.events & Ev.SockFull) want |= C.EPOLLOUT;
    }
    // The fd stays registered even with no events wanted (waiting for the guest's ACK of our
    // SYN-ACK or SYN, a zero window, after the host's EOF): a reset of the host side still
    // reports EPOLLERR, and the guest hears of it at once, as upstream's tcp_conn_epoll_events().
    // Once both directions are shut the socket reports HUP forever: then it leaves epoll.
    if (conn.events & Ev.SockFinRcvd && conn.events & Ev.TapFinRcvd) {
      if (conn.registered) this.ctx.loop.del(conn.fd);
      conn.registered = false;
      conn.watched = 0;
      return;
    }
    if (want & C.EPOLLIN && conn.edge) want = (want | C.EPOLLET) >>> 0;
    if (want === conn.watched && conn.registered) return;
    if (!conn.registered) this.ctx.loop.add(conn.fd, FdKind.TcpSock, conn.index, want);
    else this.ctx.loop.mod(conn.fd, FdKind.TcpSock, conn.index, want);
    conn.registered = true;
    conn.watched = want;
  }

  private setTimer(conn: TcpConn, at: number): void {
    conn.deadline = at;
    this.timed.add(conn);
  }

  private clearTimer(conn: TcpConn): void {
    conn.deadline = 0;
    this.timed.delete(conn);
  }

  /** Retransmissions, connect and SYN-ACK timeouts, zero-window probes, idle flows (the loop calls this every tick). */
  timer(now: number): void {
    for (const conn of this.timed) {
      if (conn.events & Ev.Closed) {
        this.timed.delete(conn);
        continue;
      }
      if (conn.deadline > now) continue;
      conn.deadline = 0;
      if (conn.events & Ev.SockAccepted && !(conn.events & Ev.Established)) {
        // The guest has not answered our SYN: again, then give up (the host peer gets a reset).
        if (++conn.retrans > MAX_RETRANS / 2) {
          this.ctx.log.debug(`${describeFlow(conn)}: no answer from the guest`);
          this.close(conn, true);
          continue;
        }
        this.sendFlags(conn, SYN);
        this.setTimer(conn, now + (ACK_TIMEOUT_MS << conn.retrans));
        continue;
      }
      if (!(conn.events & Ev.TapSynAckSent)) {
        this.ctx.log.debug(`${describeFlow(conn)}: connect timed out`);
        this.sendFlags(conn, RST | ACK);
        this.close(conn, true);
        continue;
      }
      if (!(conn.events & Ev.Established)) {
        if (++conn.retrans > MAX_RETRANS / 2) {
          this.reset(conn);
          continue;
        }
        this.sendFlags(conn, SYN | ACK);
        this.setTimer(conn, now + (ACK_TIMEOUT_MS << conn.retrans));
        continue;
      }
      const inFlight = seqDiff(conn.seqToTap, conn.seqAckFromTap);
      if (inFlight > 0) {
        if (++conn.retrans > MAX_RETRANS) {
          this.ctx.log.debug(`${describeFlow(conn)}: no ACK from the guest after ${MAX_RETRANS} retransmissions`);
          this.reset(conn);
          continue;
        }
        this.trace(conn, `ACK timeout, retransmit from ${conn.seqAckFromTap}`);
        this.rewind(conn);
        this.setTimer(conn, now + Math.min(ACK_TIMEOUT_MS << conn.retrans, 30_000));
        continue;
      }
      if (conn.events & Ev.Stalled) {
        // Zero-window probe: an ACK for old data makes the guest repeat its window.
        this.fillAndCommit(conn, (conn.seqToTap - 1) >>> 0, ACK, 0);
        this.setTimer(conn, now + ACK_TIMEOUT_MS * 2);
      }
    }
    // Coarse sweep for flows where nothing happened for very long, and half-closed ones that never finish;
    // and, as upstream, a keepalive probe (an ACK of old data) to an established flow the guest has been
    // quiet on for KEEPALIVE_INTERVAL_MS: a guest that forgot the connection answers with a reset.
    if (now - this.lastSweep > 10_000) {
      this.lastSweep = now;
      for (const flow of this.ctx.flows.all(PROTO_TCP)) {
        const conn = flow as TcpConn;
        if (conn.events & Ev.Established && !(conn.events & Ev.Closed) && now - conn.lastTapActivity >= KEEPALIVE_INTERVAL_MS && now - conn.lastKeepalive >= KEEPALIVE_INTERVAL_MS) {
          conn.lastKeepalive = now;
          if (this.traceOn) this.trace(conn, `no segment from the guest for ${Math.round((now - conn.lastTapActivity) / 1000)} s: keepalive`);
          this.fillAndCommit(conn, (conn.seqToTap - 1) >>> 0, ACK, 0);
        }
        const idle = now - conn.lastActivity;
        const closing = conn.events & (Ev.TapFinRcvd | Ev.SockFinRcvd);
        if (idle > ACTIVITY_TIMEOUT_MS || (closing && idle > FIN_TIMEOUT_MS && conn.events & Ev.TapFinRcvd && conn.events & Ev.TapFinSent)) {
          this.ctx.log.debug(`${describeFlow(conn)}: idle for ${Math.round(idle / 1000)} s, closing`);
          this.reset(conn);
        }
      }
    }
  }
  private lastSweep = 0;

  /** Go back to the guest's acknowledged sequence and send again from there. */
  private rewind(conn: TcpConn): void {
    this.stats.retransmits++;
    const finSent = conn.events & Ev.TapFinSent && !(conn.events & Ev.TapFinAcked);
    conn.seqToTap = conn.seqAckFromTap;
    conn.dupAcks = 0;
    if (conn.peekOffset) native.setsockoptInt(conn.fd, C.SOL_SOCKET, C.SO_PEEK_OFF, 0);
    if (finSent) {
      // Data before the FIN goes again, then the FIN.
      this.setEvents(conn, 0, Ev.SockFinRcvd | Ev.TapFinSent | Ev.Stalled);
    } else if (conn.events & Ev.Stalled) {
      this.setEvents(conn, 0, Ev.Stalled);
    }
    this.dataFromSock(conn, 0);
  }

  // ---------------------------------------------------------------------
  // Frames to the guest

  /** Template for this connection's frames: Ethernet, IP, TCP with addresses and ports (flow.ts). */
  private buildHeader(conn: TcpConn): void {
    conn.buildTemplate(this.ctx.guestMac(), this.ctx.ourMac, 20);
  }

  /** Write headers for a segment at `buf[off]` whose payload (len bytes) is already in place after them. */
  private fillHeader(conn: TcpConn, buf: Buffer, off: number, seq: number, flags: number, len: number, optLen: number): void {
    const l4len = 20 + optLen + len;
    const t = conn.fillTemplate(buf, off, l4len);
    const v4 = conn.family === 4;
    const ipOff = off + ETH_HLEN;
    buf.writeUInt32BE(seq >>> 0, t + 4);
    buf.writeUInt32BE(flags & ACK ? conn.seqFromTap >>> 0 : 0, t + 8);
    buf[t + 12] = ((20 + optLen) / 4) << 4;
    buf[t + 13] = flags;
    const wnd = flags & SYN ? Math.min(conn.wndToTap, 0xffff) : Math.min(conn.wndToTap >>> conn.wsToTap, 0xffff);
    buf.writeUInt16BE(wnd, t + 14);
    buf.writeUInt16BE(0, t + 16);
    buf.writeUInt16BE(0, t + 18);
    if (this.ctx.out.checksumOffload) {
      // Partial checksum: the pseudo-header sum only; the kernel treats the rest as done.
      buf.writeUInt16BE(fold(conn.pseudoSum + l4len), t + 16);
    } else if (v4) {
      l4Checksum4(buf, ipOff, t, l4len, 16);
    } else {
      l4Checksum6(buf, ipOff, t, l4len, 16);
    }
  }

  /** Queue a built frame; with checksum offload the kernel gets the TCP checksum's position. */
  private commitFrame(conn: TcpConn, off: number, len: number, payload = 0, out: FrameSink = this.ctx.out): void {
    if (payload > conn.mss && this.superFrames(conn)) {
      out.commit(off, len, conn.hdrLen - 20, 16, conn.family === 4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6, conn.mss, conn.hdrLen);
    } else if (out.checksumOffload) out.commit(off, len, conn.hdrLen - 20, 16);
    else out.commit(off, len);
  }

  /** Whether the tap takes TCP super-frames of this connection's IP version (TSO). */
  private superFrames(conn: TcpConn): boolean {
    const o = this.ctx.out.offloads;
    return conn.family === 4 ? o.tso4 : o.tso6;
  }

  /** Build and queue a segment without payload. */
  private fillAndCommit(conn: TcpConn, seq: number, flags: number, optLen: number, opts?: (buf: Buffer, off: number) => void): void {
    const out = this.ctx.out;
    const off = out.reserve(conn.hdrLen + optLen);
    if (opts) opts(out.buf, off + conn.hdrLen);
    this.fillHeader(conn, out.buf, off, seq, flags, 0, optLen);
    this.commitFrame(conn, off, conn.hdrLen + optLen);
    this.stats.framesToTap++;
  }

  /**
   * Compute the window we offer the guest from the socket's free send buffer,
   * and watch for the socket becoming writable when that window is getting
   * small: the socket drains on its own, and the guest must hear of the
   * room (a window update) without waiting for its persist timer.
   */
  private updateWindowToTap(conn: TcpConn): void {
    if (conn.sndIdle && !(conn.events & Ev.TapFinRcvd)) return;
    if (conn.fd < 0 || native.sendSpace(conn.fd, this.space) < 0) return;
    conn.sndIdle = this.space[0] === 0;
    // Free send buffer as the kernel counts it (memory with overhead, SO_MEMINFO), scaled
    // down for that overhead: what the socket will take without a short write.
    const limit = this.space[1];
    const free = limit - this.space[0];
    let wnd = free > 0 ? free - (free >>> 3) : 0;
    if (conn.events & Ev.TapFinRcvd) wnd = 0xffff << conn.wsToTap;
    conn.wndToTap = Math.min(wnd, conn.wsToTap ? MAX_WINDOW : 0xffff);
    // Below a third of the buffer the socket cannot be writable (writable means free space
    // of at least half of what is queued), so EPOLLOUT fires exactly once the room is back.
    if (free * 3 < limit && !(conn.events & (Ev.SockFull | Ev.TapFinRcvd)) && conn.events & Ev.Established) {
      this.setEvents(conn, Ev.SockFull, 0);
    }
  }

  /** Send a pure ACK (with the current window). */
  private sendAck(conn: TcpConn, updateWindow: boolean): void {
    if (updateWindow) this.updateWindowToTap(conn);
    this.fillAndCommit(conn, conn.seqToTap, ACK, 0);
    conn.seqAckToTap = conn.seqFromTap;
    if (this.traceOn) this.trace(conn, `ACK to guest: ack ${conn.seqFromTap} window ${conn.wndToTap}`);
  }

  /** Send a segment with the given flags (SYN-ACK carries our options; FIN and RST as needed). */
  private sendFlags(conn: TcpConn, flags: number): void {
    if (flags & SYN) {
      this.updateWindowToTap(conn);
      if (!conn.wndToTap) conn.wndToTap = 0xffff;
      const mss = Math.min(this.ctx.mtu - (conn.family === 4 ? 40 : 60), 0xffff);
      const options = conn.wsToTap > 0 ? { mss, wscale: OUR_WSCALE } : { mss };
      this.fillAndCommit(conn, conn.seqInitToTap, flags, conn.wsToTap > 0 ? 8 : 4, (buf, off) => writeTcpSynOptions(buf, off, options));
      return;
    }
    if (flags & RST) {
      this.fillAndCommit(conn, conn.seqToTap, flags, 0);
      return;
    }
    this.updateWindowToTap(conn);
    this.fillAndCommit(conn, conn.seqToTap, flags, 0);
    conn.seqAckToTap = conn.seqFromTap;
  }

  /** RST for a segment of the run's identity, which belongs to no connection (RFC 9293 reset generation). */
  private sendRstFor(run: FrameRun, seq: number, ack: number, flags: number, payloadLen: number): void {
    const alen = run.family === 4 ? 4 : 16;
    const tmp = new TcpConn(run.family, run.buf.subarray(run.addrOff, run.addrOff + 2 * alen), run.guestPort, run.remotePort);
    this.buildHeader(tmp);
    if (flags & ACK) {
      tmp.seqFromTap = 0;
      this.fillAndCommit(tmp, ack, RST, 0);
    } else {
      tmp.seqFromTap = (seq + payloadLen + (flags & SYN ? 1 : 0) + (flags & FIN ? 1 : 0)) >>> 0;
      this.fillAndCommit(tmp, 0, RST | ACK, 0);
    }
  }

  // ---------------------------------------------------------------------

  /**
   * Our initial sequence number for a connection, as RFC 6528 (and Linux)
   * make it: a keyed hash of the connection's addresses and ports plus a
   * clock ticking every 4 µs. A new incarnation of the same addresses and
   * ports thus starts above the last one's sequence numbers, so the guest's
   * kernel takes our SYN even while it keeps the old connection in
   * TIME_WAIT; a random number would be below half the time and be answered
   * with an ACK of the old connection instead.
   */
  private initialSeq(conn: TcpConn, now: number): number {
    const ports = Buffer.of(conn.guestPort >>> 8, conn.guestPort & 0xff, conn.remotePort >>> 8, conn.remotePort & 0xff);
    const h = createHash('sha256').update(this.isnSecret).update(conn.addrs).update(ports).digest();
    const clock = Math.floor((performance.timeOrigin + now) * 250);
    return (h.readUInt32BE(0) + clock) >>> 0;
  }

  private drop(reason: string): void {
    this.stats.dropped++;
    if (this.traceOn) this.ctx.log.trace(`TCP: dropped: ${reason}`);
  }

  private trace(conn: TcpConn, msg: string): void {
    if (this.traceOn) this.ctx.log.trace(`${describeFlow(conn)}: ${msg}`);
  }
}
