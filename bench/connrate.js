#!/usr/bin/env node
// Short TCP connections, the "connrate" section of bench/run.js: a server and
// a client in one small script, no dependencies.
//
//   node bench/connrate.js server --port N [--bind ADDR] [--close-first --bytes B]
//   node bench/connrate.js client --host ADDR --port N [--local ADDR]
//                                 [--seconds S] [--concurrency C] [--bytes B]
//
// Theory of operation: the client runs C loops at once for S seconds; each
// loop opens a connection, writes a request of B bytes, reads the B-byte
// reply and closes the socket (close(2): the client sends the first FIN and
// keeps the TIME_WAIT), then starts over. The server writes back what it
// reads and closes when the client has. A connection counts when its whole
// reply has arrived; one that fails (refused, reset, closed early, or stuck
// for over a second) counts as an error, and its loop goes on after a short
// pause (so a broken path gives errors, not a busy loop). A run makes tens of
// thousands of connections, more than the usual 28k ephemeral ports: the
// client's network namespace needs net.ipv4.tcp_tw_reuse (the default, 2,
// covers loopback; bench/forward.js sets 1 in the remote namespace).
// With --close-first the server instead closes as soon as it has written back
// B bytes (its FIN right behind its reply: TIME_WAIT on the server's side, and
// a different closing sequence through the tool; not what the bench measures).
//
// The server prints one line "LISTENING PORT" on stdout once it is bound, and
// exits when its standard input ends (so it dies with whatever started it, as
// a command of pasta does when pasta's stdin is closed) or on SIGTERM/SIGINT.
// The client prints one JSON line: { connections, errors, seconds, perSecond,
// p50Ms, p99Ms, firstError }. Nothing here chooses an address: the caller does.

import net from 'node:net';

function parse(argv) {
  const opts = { mode: argv[0], host: undefined, local: undefined, port: 0, bind: '::', seconds: 5, concurrency: 8, bytes: 16, timeoutMs: 1000, closeFirst: false };
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--port') opts.port = Number(value());
    else if (a === '--host') opts.host = value();
    else if (a === '--local') opts.local = value();
    else if (a === '--bind') opts.bind = value();
    else if (a === '--seconds') opts.seconds = Number(value());
    else if (a === '--concurrency') opts.concurrency = Number(value());
    else if (a === '--bytes') opts.bytes = Number(value());
    else if (a === '--timeout-ms') opts.timeoutMs = Number(value());
    else if (a === '--close-first') opts.closeFirst = true;
    else throw new Error(`unknown option ${a}`);
  }
  if (opts.mode !== 'server' && opts.mode !== 'client') throw new Error('usage: connrate.js server|client [options]');
  if (opts.mode === 'client' && (!opts.host || !opts.port)) throw new Error('client needs --host and --port');
  if (!(opts.bytes >= 1) || !(opts.concurrency >= 1) || !(opts.seconds > 0)) throw new Error('--bytes, --concurrency and --seconds must be positive');
  return opts;
}

function server(opts) {
  const srv = net.createServer({ noDelay: true }, (sock) => {
    sock.on('error', () => {});
    if (opts.closeFirst) {
      let got = 0;
      const chunks = [];
      sock.on('data', (d) => {
        chunks.push(d);
        got += d.length;
        if (got >= opts.bytes) sock.end(Buffer.concat(chunks).subarray(0, opts.bytes));
      });
      return;
    }
    // an echo; Node closes this side once the client's FIN has arrived (allowHalfOpen false)
    sock.on('data', (d) => sock.write(d));
  });
  const quit = () => {
    srv.close();
    process.exit(0);
  };
  srv.on('error', (err) => {
    process.stderr.write(`connrate server: ${err.message}\n`);
    process.exit(1);
  });
  // "::" takes IPv4 as well; a namespace without IPv6 needs an IPv4 address
  srv.listen({ port: opts.port, host: opts.bind, backlog: 1024 }, () => {
    process.stdout.write(`LISTENING ${srv.address().port}\n`);
  });
  process.stdin.on('end', quit);
  process.stdin.on('error', quit);
  process.stdin.resume();
  process.on('SIGTERM', quit);
  process.on('SIGINT', quit);
}

async function client(opts) {
  const request = Buffer.alloc(opts.bytes, 0x61);
  const times = [];
  let connections = 0;
  let errors = 0;
  let firstError;
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(Math.round(opts.seconds * 1e9));

  const once = () =>
    new Promise((resolve) => {
      const t0 = process.hrtime.bigint();
      let got = 0;
      let done = false;
      const finish = (err) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (err) {
          errors++;
          firstError ??= err;
          sock.destroy();
        } else {
          connections++;
          times.push(Number(process.hrtime.bigint() - t0) / 1e6);
        }
        resolve(!err);
      };
      const sock = net.connect({ host: opts.host, port: opts.port, localAddress: opts.local, noDelay: true });
      let connected = false;
      const timer = setTimeout(() => {
        const what = connected ? (got ? 'no full reply' : 'no reply') : 'not connected';
        finish(`${what} within ${opts.timeoutMs} ms`);
      }, opts.timeoutMs);
      sock.on('connect', () => {
        connected = true;
        sock.write(request);
      });
      sock.on('data', (d) => {
        got += d.length;
        if (got < opts.bytes) return;
        finish(got === opts.bytes ? undefined : `reply of ${got} bytes, not ${opts.bytes}`);
        sock.destroy(); // close(2): our FIN goes first
      });
      sock.on('error', (e) => finish(e.code ?? e.message));
      sock.on('close', () => finish(`closed after ${got} of ${opts.bytes} bytes`));
    });

  const loop = async () => {
    while (process.hrtime.bigint() < deadline) {
      if (!(await once())) await new Promise((r) => setTimeout(r, 20));
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, loop));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  times.sort((a, b) => a - b);
  const pct = (p) => (times.length ? times[Math.min(times.length - 1, Math.floor(p * times.length))] : null);
  process.stdout.write(
    `${JSON.stringify({ connections, errors, seconds, perSecond: connections / seconds, p50Ms: pct(0.5), p99Ms: pct(0.99), firstError })}\n`,
  );
}

try {
  const opts = parse(process.argv.slice(2));
  if (opts.mode === 'server') server(opts);
  else await client(opts);
} catch (err) {
  process.stderr.write(`connrate: ${err.message}\n`);
  process.exit(2);
}
