#!/usr/bin/env node
// Test clients matching servers.js: `node test/e2e/clients.js MODE HOST PORT [N] [options]`.
//
// Theory of operation: each mode drives one server mode, checks every byte
// against the deterministic stream (stream.js), prints one JSON line
// `{"ok": true|false, "mode", "bytes", "ms", ...}` and exits 0 when ok, 1 when
// not, 2 on usage errors. Meant to run wherever the test needs a client: in the
// host namespace, or in a container behind pasta (`pasta -- node clients.js ...`).
//
// Modes (server mode in brackets):
//   send HOST PORT N        [sink]      sends stream(N) bytes, shuts its write side,
//                                       expects the sha256 hex of exactly those bytes
//   recv HOST PORT N        [source]    asks for N bytes, verifies them and the EOF
//   echo HOST PORT N        [echo]      sends stream(N), expects the same N bytes back
//   halfclose HOST PORT N   [halfclose] sends stream(N), shuts its write side, expects
//                                       sha256 hex, "bye", then EOF
//   rst HOST PORT           [rst]       sends a line, expects the connection reset
//   udp HOST PORT COUNT [SIZE] [udpecho] sends COUNT datagrams of SIZE bytes (default
//                                       1000), one at a time, expects each echoed
//   connect HOST PORT       [any TCP]   connects and closes (ok if connected)
//
// Options: --timeout MS (default 60000), --local ADDR (bind the client socket).

import net from 'node:net';
import dgram from 'node:dgram';
import { StreamGenerator, StreamVerifier, streamSha256 } from './stream.js';

const argv = process.argv.slice(2);
let timeoutMs = 60_000;
let localAddress;
const positional = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--timeout') timeoutMs = Number(argv[++i]);
  else if (argv[i] === '--local') localAddress = argv[++i];
  else positional.push(argv[i]);
}
const [mode, host, portText, nText, sizeText] = positional;
const port = Number(portText);
const n = Number(nText ?? 0);
if (!mode || !host || !Number.isInteger(port)) {
  process.stderr.write('usage: node clients.js {send|recv|echo|halfclose|rst|udp|connect} HOST PORT [N] [SIZE] [--timeout MS] [--local ADDR]\n');
  process.exit(2);
}

const started = Date.now();
function finish(ok, extra = {}) {
  process.stdout.write(`${JSON.stringify({ ok, mode, host, port, ms: Date.now() - started, ...extra })}\n`);
  process.exit(ok ? 0 : 1);
}
setTimeout(() => finish(false, { error: `timed out after ${timeoutMs} ms` }), timeoutMs).unref();

function connect() {
  const socket = net.connect({ host, port, localAddress, allowHalfOpen: true });
  socket.on('error', (err) => finish(false, { error: `${err.code ?? ''} ${err.message}` }));
  return socket;
}

/** Write N bytes of stream(N) with backpressure, then call done. */
function writeStream(socket, total, done) {
  const gen = new StreamGenerator(total);
  let left = total;
  const chunk = 256 * 1024;
  const pump = () => {
    while (left > 0) {
      const size = Math.min(chunk, left);
      left -= size;
      if (!socket.write(gen.next(size))) {
        socket.once('drain', pump);
        return;
      }
    }
    done();
  };
  pump();
}

function collectText(socket, done) {
  const parts = [];
  socket.on('data', (d) => parts.push(d));
  socket.on('end', () => done(Buffer.concat(parts).toString('utf8')));
}

const modes = {
  send() {
    const socket = connect();
    socket.on('connect', () => {
      collectText(socket, (text) => {
        const expected = streamSha256(n, n);
        finish(text.trim() === expected, { bytes: n, got: text.trim(), expected });
      });
      writeStream(socket, n, () => socket.end());
    });
  },
  recv() {
    const socket = connect();
    socket.on('connect', () => {
      const verifier = new StreamVerifier(n);
      socket.on('data', (d) => verifier.update(d));
      socket.on('end', () => {
        finish(verifier.ok(n), { bytes: verifier.received, expected: n, mismatchAt: verifier.mismatchAt });
      });
      socket.write(`${n}\n`);
    });
  },
  echo() {
    const socket = connect();
    socket.on('connect', () => {
      const verifier = new StreamVerifier(n);
      socket.on('data', (d) => {
        verifier.update(d);
        if (verifier.received >= n) socket.end();
      });
      socket.on('end', () => {
        finish(verifier.ok(n), { bytes: verifier.received, expected: n, mismatchAt: verifier.mismatchAt });
      });
      writeStream(socket, n, () => {
        if (n === 0) socket.end();
      });
    });
  },
  halfclose() {
    const socket = connect();
    socket.on('connect', () => {
      collectText(socket, (text) => {
        const expected = `${streamSha256(n, n)}\nbye\n`;
        finish(text === expected, { bytes: n, got: text, expected });
      });
      writeStream(socket, n, () => socket.end());
    });
  },
  rst() {
    const socket = net.connect({ host, port, localAddress });
    socket.on('connect', () => socket.write('reset me\n'));
    socket.on('error', (err) => finish(err.code === 'ECONNRESET', { error: err.code }));
    socket.on('end', () => finish(false, { error: 'orderly close instead of reset' }));
    socket.on('close', () => setTimeout(() => finish(false, { error: 'closed without reset' }), 100));
  },
  connect() {
    const socket = connect();
    socket.on('connect', () => {
      const extra = { localAddress: socket.localAddress, localPort: socket.localPort };
      socket.destroy();
      finish(true, extra);
    });
  },
  udp() {
    const count = n || 1;
    const size = Number(sizeText ?? 1000);
    const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    socket.on('error', (err) => finish(false, { error: `${err.code ?? ''} ${err.message}` }));
    const gen = new StreamGenerator(`udp:${size}`);
    let sent = 0;
    let received = 0;
    let current = Buffer.alloc(0);
    let retry;
    const sendNext = () => {
      if (sent === count) {
        finish(true, { datagrams: received, size });
        return;
      }
      current = gen.next(size);
      sent++;
      const send = () => socket.send(current, port, host);
      send();
      clearInterval(retry);
      retry = setInterval(send, 500); // UDP: resend until echoed
    };
    socket.on('message', (msg) => {
      if (Buffer.compare(msg, current) !== 0) return; // a late duplicate
      received++;
      clearInterval(retry);
      sendNext();
    });
    socket.bind({ address: localAddress, port: 0 }, sendNext);
  },
};

if (!modes[mode]) {
  process.stderr.write(`clients.js: unknown mode ${mode}\n`);
  process.exit(2);
}
modes[mode]();

