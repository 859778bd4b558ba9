/**
 * The API's sandboxed child process (see process.ts for the parent's side):
 * `node dist/sandbox/child.js`, with Node's IPC channel on fd 3 and the
 * socket of the synchronous calls on fd 4.
 *
 * Theory of operation: it waits for "start", sets the instance up with the
 * in-process code (api.ts's pastaLink(), api-passt.ts's passtLink()), watches
 * the calls' socket with a Poller of its own, prepares the sandbox (the
 * empty root and the capabilities, where it has privileges), locks the
 * sandbox and tells the parent it is ready — all before its event loop
 * runs again, so before the first frame. From then on it answers calls,
 * passes events on, and stops when told to ("close"), when its instance
 * ends by itself, or when the parent goes (the IPC channel closes).
 */
import { native, C } from '../native.js';
import { createLogger, type Logger } from '../log.js';
import { prepareSandbox, lockSandbox } from './index.js';
import { toWire, type Answer, type Call, type FromChild, type ToChild } from './process.js';
import type { PastaLink, PastaOptions } from '../api.js';
import type { PasstLink, PasstOptions } from '../api-passt.js';

/** fd of the calls' socket (process.ts gives it as the child's fd 4). */
const CALLS_FD = 4;

const send = (m: FromChild): void => {
  if (process.connected) process.send!(m);
};

/** Send the last message, then exit (once it is written: process.send() is asynchronous). */
const sendAndExit = (m: FromChild): void => {
  if (!process.connected) process.exit(0);
  process.send!(m, () => process.exit(0));
};

/** What the calls act on. */
interface Instance {
  serve(c: Call): unknown;
  /** Stop; resolves once everything is closed. */
  close(): Promise<void>;
}

let instance: Instance | null = null;
let stopping = false;

/** Answer the calls on CALLS_FD; made before the sandbox is locked (epoll_create1 is not allowed after). */
function serveCalls(): void {
  const buf = Buffer.alloc(1 << 16);
  const poller = new native.Poller(() => {
    for (;;) {
      const n = native.recv(CALLS_FD, buf, 0, buf.length, C.MSG_DONTWAIT, -1);
      if (n <= 0) return; // EAGAIN, or the parent closed its end (the IPC channel says so too)
      let answer: Answer;
      try {
        if (!instance) throw new Error('not started');
        answer = { ok: instance.serve(JSON.parse(buf.toString('utf8', 0, n)) as Call) ?? null };
      } catch (err) {
        answer = { error: toWire(err) };
      }
      const out = Buffer.from(JSON.stringify(answer));
      native.send(CALLS_FD, out, 0, out.length, 0);
    }
  });
  poller.add(CALLS_FD, C.EPOLLIN, 0);
  // The IPC channel keeps this process alive; the poller must not.
  poller.unref();
}

async function stop(): Promise<void> {
  if (stopping || !instance) return;
  stopping = true;
  await instance.close();
}

async function startPasta(options: PastaOptions, log: Logger): Promise<Instance> {
  const { pastaLink } = await import('../api.js');
  const link: PastaLink = await pastaLink({ ...options, sandbox: 'none' }, (event) => send({ type: 'event', name: 'flow', event }));
  const forwards = new Map<string, { close(): void }>();
  void link.exited.then((status) => sendAndExit({ type: 'exited', status, stats: link.stats() }));
  log = link.log ?? log;
  const prepared = prepareSandbox({ chrootFallback: false, log, logFile: options.log?.file });
  // Locked before the handle is given out: what the caller sees of us from then on is sandboxed.
  lockSandbox(prepared, { name: 'pasta', log });
  send({ type: 'ready', pid: link.pid, netnsPath: link.netnsPath, config: link.config });
  return {
    serve: (c) => {
      if (c.op === 'stats') return link.stats();
      if (c.op === 'forward.add') {
        forwards.set(`${c.protocol} ${c.spec}`, link.forward(c.spec, c.protocol));
        return null;
      }
      if (c.op === 'forward.remove') {
        forwards.get(`${c.protocol} ${c.spec}`)?.close();
        forwards.delete(`${c.protocol} ${c.spec}`);
        return null;
      }
      throw new Error(`no such call: ${c.op}`);
    },
    close: async () => {
      for (const f of forwards.values()) f.close();
      await link.close();
    },
  };
}

async function startPasst(options: PasstOptions, reserved: string[], log: Logger): Promise<Instance> {
  const { passtLink, reserveSocketPaths } = await import('../api-passt.js');
  reserveSocketPaths(reserved);
  const { link, socketPath }: { link: PasstLink; socketPath: string } = await passtLink({ ...options, sandbox: 'none' }, {
    onFlow: (event) => send({ type: 'event', name: 'flow', event }),
    onConnect: (event) => send({ type: 'event', name: 'connect', event }),
    onDisconnect: (event) => send({ type: 'event', name: 'disconnect', event }),
  });
  void link.finished.then(({ code, reason }) => sendAndExit({ type: 'finished', code, reason, stats: link.stats() }));
  // The parent removes the socket file once we have exited, if it is still this one.
  const fs = await import('node:fs');
  const st = fs.lstatSync(socketPath);
  log = link.log ?? log;
  const prepared = prepareSandbox({ chrootFallback: false, log, logFile: options.log?.file });
  lockSandbox(prepared, { name: 'passt', log });
  send({ type: 'ready', socketPath, dev: st.dev, ino: st.ino, config: link.config });
  return {
    serve: (c) => {
      if (c.op === 'stats') return link.stats();
      if (c.op === 'connected') return link.connected;
      throw new Error(`no such call: ${c.op}`);
    },
    close: async () => {
      link.stop('close() was called');
      await link.finished;
    },
  };
}

process.once('message', (m: ToChild) => {
  if (m.type !== 'start') process.exit(1);
  const options = m.options as PastaOptions & PasstOptions;
  // The sandbox's own lines (debug) go to the instance's log; this one is for what comes before it.
  const log = createLogger({ name: m.kind, level: options.log?.level ?? 'warn' });
  serveCalls();
  const started = m.kind === 'pasta' ? startPasta(options, log) : startPasst(options, m.reserved ?? [], log);
  started.then(
    (i) => {
      instance = i;
      process.on('message', (msg: ToChild) => {
        if (msg.type === 'close') void stop();
      });
    },
    (err: unknown) => {
      send({ type: 'failed', error: toWire(err) });
      process.exit(1);
    },
  );
});

// The parent went away: stop (the instance's own end exits the process).
process.on('disconnect', () => {
  if (instance) void stop();
  else process.exit(1);
});
