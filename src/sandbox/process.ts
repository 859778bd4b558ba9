/**
 * The API's sandboxed child process, the parent's side: what a handle of
 * createPasta() or createPasst() with `sandbox: 'process'` drives.
 *
 * Theory of operation: the sandbox cannot be applied to the program that
 * embeds us (it would lose its files and most system calls, on every
 * thread), so the engine runs in a child process of its own — Node running
 * dist/sandbox/child.js — which sets the instance up exactly as this
 * process would (api.ts's pastaLink(), api-passt.ts's passtLink()), then
 * sandboxes itself as the commands do (sandbox/index.ts). The handle is the
 * same class either way, over a "link" (api.ts's PastaLink, api-passt.ts's
 * PasstLink); here the link is two channels to the child:
 *
 * - Node's IPC channel (JSON messages): "start" with the options to the
 *   child; from it "ready" (what the handle shows: PIDs, paths, the
 *   configuration), "failed" (the error to throw), "event" (flow, connect,
 *   disconnect) and, at the end, "exited" or "finished" with the last
 *   statistics; "close" to the child. When this process goes, the channel
 *   closes and the child stops and exits.
 * - a SOCK_SEQPACKET socket pair for the handle's synchronous calls
 *   (`stats()`, `forward.add()`, `forward.remove()`, `connected`): one JSON
 *   request, one JSON answer, this process blocking in recv(2) for at most
 *   CALL_TIMEOUT_MS. The child serves it from its event loop.
 *
 * The configuration travels with V8's serialisation (Node's "advanced" IPC
 * serialisation), which keeps its Uint8Arrays. passt's socket file is
 * removed here once the child has exited, if it is still the file the
 * child made (the sandboxed child cannot remove it); paths of this process's
 * other instances are passed to the child, which never probes them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { native } from '../native.js';
import { PastaOptionError, type PastaLink, type PastaOptions, type PastaStats } from '../api.js';
import type { PasstLink, PasstOptions, PasstStats } from '../api-passt.js';
import type { PasstHooks } from '../passt.js';
import type { Config } from '../conf.js';
import type { FlowEvent } from '../flow.js';

/** How long a synchronous call waits for the child's answer. */
export const CALL_TIMEOUT_MS = 5000;

/** The child's entry point. */
const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'child.js');

/** An error as it crosses the channel. */
export interface WireError {
  name: string;
  message: string;
  /** PastaOptionError's field. */
  field?: string;
}

/** Messages from the child. */
export type FromChild =
  | { type: 'ready'; pid?: number; netnsPath?: string; socketPath?: string; dev?: number; ino?: number; config: Config }
  | { type: 'failed'; error: WireError }
  | { type: 'event'; name: 'flow' | 'connect' | 'disconnect'; event: unknown }
  | { type: 'exited'; status: number; stats: PastaStats }
  | { type: 'finished'; code: number; reason: string; stats: PasstStats };

/** Messages to the child. */
export type ToChild = { type: 'start'; kind: 'pasta' | 'passt'; options: PastaOptions | PasstOptions; reserved?: string[] } | { type: 'close' };

/** A synchronous call and its answer. */
export type Call = { op: 'stats' } | { op: 'connected' } | { op: 'forward.add' | 'forward.remove'; spec: string; protocol: 'tcp' | 'udp' };
export type Answer = { ok: unknown } | { error: WireError };

/** An error from the wire, as the in-process API would have thrown it. */
export function fromWire(e: WireError): Error {
  if (e.field !== undefined) {
    const prefix = `${e.field}: `;
    return new PastaOptionError(e.field, e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message);
  }
  const err = new Error(e.message);
  if (e.name && e.name !== 'Error') err.name = e.name;
  return err;
}

/** An error for the wire. */
export function toWire(err: unknown): WireError {
  if (err instanceof PastaOptionError) return { name: err.name, message: err.message, field: err.field };
  if (err instanceof Error) return { name: err.name, message: err.message };
  return { name: 'Error', message: String(err) };
}

/** The started child: its process, the channels, and its "ready" or the error it failed with. */
class Child {
  readonly proc: ChildProcess;
  private ctl: number;
  private readonly reply = Buffer.alloc(1 << 16);
  /** Resolves once the child process has exited and its channels are closed. */
  readonly gone: Promise<void>;
  private onMessage: (m: FromChild) => void = () => {};

  constructor(start: ToChild) {
    const pair = new Int32Array(2);
    const rc = native.socketpair(pair);
    if (rc < 0) throw new Error(`cannot start the sandboxed process: socketpair: ${native.strerror(rc)}`);
    this.ctl = pair[0];
    try {
      // fd 3: Node's IPC channel; fd 4: the calls' socket.
      this.proc = spawn(process.execPath, [CHILD], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc', pair[1]],
        serialization: 'advanced',
      });
    } finally {
      native.close(pair[1]);
    }
    this.gone = new Promise((resolve) => {
      this.proc.once('exit', () => {
        if (this.ctl >= 0) native.close(this.ctl);
        this.ctl = -1;
        resolve();
      });
    });
    this.proc.on('message', (m: FromChild) => this.onMessage(m));
    // An IPC error (the child died while we wrote) shows as its exit.
    this.proc.on('error', () => {});
    this.proc.send(start);
  }

  /** Resolves with the "ready" message, or rejects with the child's error; later messages go to `listener`. */
  ready(listener: (m: FromChild) => void): Promise<Extract<FromChild, { type: 'ready' }>> {
    return new Promise((resolve, reject) => {
      let settled = false;
      this.onMessage = (m) => {
        if (settled) return listener(m);
        settled = true;
        if (m.type === 'ready') resolve(m);
        else if (m.type === 'failed') reject(fromWire(m.error));
        else reject(new Error(`the sandboxed process said ${m.type} before it was ready`));
      };
      void this.gone.then(() => {
        if (settled) return;
        settled = true;
        const why = this.proc.signalCode ?? `status ${this.proc.exitCode}`;
        reject(new Error(`the sandboxed process exited (${why}) before it was ready`));
      });
    });
  }

  /** One synchronous call; throws the child's error, or if it does not answer. */
  call(c: Call): unknown {
    if (this.ctl < 0) throw new Error('the sandboxed process is gone');
    const req = Buffer.from(JSON.stringify(c));
    const sent = native.send(this.ctl, req, 0, req.length, 0);
    if (sent < 0) throw new Error(`the sandboxed process is gone: ${native.strerror(sent)}`);
    const n = native.recv(this.ctl, this.reply, 0, this.reply.length, 0, CALL_TIMEOUT_MS);
    if (n === -11 /* EAGAIN */) throw new Error(`the sandboxed process did not answer within ${CALL_TIMEOUT_MS} ms`);
    if (n <= 0) throw new Error(`the sandboxed process is gone${n < 0 ? `: ${native.strerror(n)}` : ''}`);
    const answer = JSON.parse(this.reply.toString('utf8', 0, n)) as Answer;
    if ('error' in answer) throw fromWire(answer.error);
    return answer.ok;
  }

  /** Ask the child to stop (it exits once done). */
  close(): void {
    if (this.proc.connected) this.proc.send({ type: 'close' } satisfies ToChild);
  }
}

/** createPasta() with `sandbox: 'process'`: the link of a Pasta handle. */
export async function startPastaChild(options: PastaOptions, onFlow: (e: FlowEvent) => void): Promise<PastaLink> {
  const child = new Child({ type: 'start', kind: 'pasta', options });
  let last: PastaStats | undefined;
  let status: number | undefined;
  const ready = await child.ready((m) => {
    if (m.type === 'event' && m.name === 'flow') onFlow(m.event as FlowEvent);
    else if (m.type === 'exited') {
      status = m.status;
      last = m.stats;
    }
  });
  const exited = child.gone.then(() => status ?? 1);
  return {
    pid: ready.pid!,
    netnsPath: ready.netnsPath!,
    config: ready.config,
    exited,
    stats: () => (last && status !== undefined ? last : (child.call({ op: 'stats' }) as PastaStats)),
    forward: (spec, protocol) => {
      child.call({ op: 'forward.add', spec, protocol });
      return { close: () => void (status === undefined && child.call({ op: 'forward.remove', spec, protocol })) };
    },
    close: async () => {
      child.close();
      await exited;
    },
  };
}

/** createPasst() with `sandbox: 'process'`: the link of a Passt handle, and its socket path. */
export async function startPasstChild(options: PasstOptions, hooks: PasstHooks, ours: Set<string>): Promise<{ link: PasstLink; socketPath: string }> {
  const child = new Child({ type: 'start', kind: 'passt', options, reserved: [...ours] });
  let end: { code: number; reason: string; stats: PasstStats } | undefined;
  const ready = await child.ready((m) => {
    if (m.type === 'event') {
      if (m.name === 'flow') hooks.onFlow?.(m.event as FlowEvent);
      else if (m.name === 'connect') hooks.onConnect?.(m.event as { pid: number | null });
      else hooks.onDisconnect?.(m.event as { reason: string; error: boolean });
    } else if (m.type === 'finished') {
      end = m;
    }
  });
  const socketPath = ready.socketPath!;
  const key = path.resolve(socketPath);
  ours.add(key);
  const finished = child.gone.then(() => {
    removeIfSame(socketPath, ready.dev, ready.ino);
    ours.delete(key);
    return end ?? { code: 1, reason: `the sandboxed process exited (${child.proc.signalCode ?? `status ${child.proc.exitCode}`})` };
  });
  return {
    socketPath,
    link: {
      config: ready.config,
      finished,
      get connected(): boolean {
        return end ? false : (child.call({ op: 'connected' }) as boolean);
      },
      stats: () => (end ? end.stats : (child.call({ op: 'stats' }) as PasstStats)),
      stop: () => child.close(),
    },
  };
}

/** Remove passt's socket file if it is still the one the child made (same device and inode). */
function removeIfSame(file: string, dev?: number, ino?: number): void {
  try {
    const st = fs.lstatSync(file);
    if (st.isSocket() && st.dev === dev && st.ino === ino) fs.unlinkSync(file);
  } catch {
    // Gone already.
  }
}
