#!/usr/bin/env node
// Test servers for the end-to-end tests: `node test/e2e/servers.js MODE [options]`.
//
// Theory of operation: one process, one mode, listening on one port on one or
// more addresses. When every listener is bound it prints one JSON line
// `{"listening": PORT, "mode": MODE, "addresses": [...]}` on stdout; after that,
// one JSON line `{"peer": {...}}` per accepted TCP connection (or per new UDP
// peer), so a test can check which source address the remote side saw. It
// never crashes on a client's reset: every socket has an error handler.
// It exits on SIGTERM/SIGINT, and when its stdin is a pipe, when that pipe
// closes (so a server started by a test dies with the test).
//
// Modes:
//   http       GET / -> "hello from remote\n"; GET /bytes/N -> N bytes of the
//              deterministic stream seeded by N (stream.js), with Content-Length;
//              GET /ip -> JSON {address, port, family} of the client as seen here
//   echo       TCP echo (half-close aware: the echo ends when the client's side does)
//   sink       reads until EOF, then writes the sha256 hex of everything received
//              plus "\n" and closes
//   source     reads one line "N\n", writes N bytes of the stream seeded by N, closes
//   halfclose  reads until the client shuts its write side, then sends the sha256
//              hex of what it got, "\n", "bye\n" and closes
//   rst        accepts, reads a line, then resets the connection (RST)
//   udpecho    UDP echo: each datagram goes back to its sender; but one that reads
//              "burst COUNT SIZE" is answered with COUNT datagrams of SIZE bytes sent
//              back to back (datagram k: k as 16 bits big-endian, then the bytes
//              (k * 7 + i) & 0xff; a 1-byte one is k & 0xff)
//
// Options:
//   --port N         port (default 0: the kernel picks one; printed when listening)
//   --bind ADDR      address to listen on; repeatable or comma-separated.
//                    Default "::" dual-stack (IPv4 as well), or 0.0.0.0 when the
//                    namespace has no IPv6.
//   --no-peers       do not print the {"peer": ...} lines
//
// Plain JavaScript, no dependencies beyond ./stream.js.

import net from 'node:net';
import http from 'node:http';
import dgram from 'node:dgram';
import fs from 'node:fs';
import { createHash } from 'node:crypto';
import { createStreamReadable } from './stream.js';

const MODES = ['http', 'echo', 'sink', 'source', 'halfclose', 'rst', 'udpecho'];

function usage(message) {
  if (message) process.stderr.write(`servers.js: ${message}\n`);
  process.stderr.write(`usage: node servers.js {${MODES.join('|')}} [--port N] [--bind ADDR]... [--no-peers]\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const mode = argv[0];
  if (!MODES.includes(mode)) usage(`unknown mode ${JSON.stringify(mode)}`);
  const opts = { mode, port: 0, binds: [], peers: true };
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === '--port' || arg === '-p') {
      opts.port = Number(value());
      if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) usage('bad port');
    } else if (arg.startsWith('--port=')) {
      opts.port = Number(arg.slice(7));
    } else if (arg === '--bind' || arg === '-b') {
      opts.binds.push(...value().split(',').filter(Boolean));
    } else if (arg.startsWith('--bind=')) {
      opts.binds.push(...arg.slice(7).split(',').filter(Boolean));
    } else if (arg === '--no-peers') {
      opts.peers = false;
    } else {
      usage(`unknown option ${arg}`);
    }
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));

function emit(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

function unmapped(address) {
  return typeof address === 'string' && address.startsWith('::ffff:') && address.includes('.')
    ? address.slice(7)
    : address;
}

function familyOf(address, family) {
  return address !== unmapped(address) ? 'IPv4' : family;
}

function reportPeer(proto, remote, local) {
  if (!opts.peers) return;
  emit({
    peer: {
      proto,
      address: unmapped(remote.address),
      port: remote.port,
      family: familyOf(remote.address, remote.family),
      localAddress: unmapped(local?.address),
      localPort: local?.port,
    },
  });
}

/** Read one "\n"-terminated line from a socket, then call back with it and any extra bytes. */
function readLine(socket, callback) {
  let buffered = Buffer.alloc(0);
  const onData = (chunk) => {
    buffered = Buffer.concat([buffered, chunk]);
    const nl = buffered.indexOf(10);
    if (nl >= 0) {
      socket.off('data', onData);
      socket.off('end', onEnd);
      callback(buffered.subarray(0, nl).toString('utf8').trim(), buffered.subarray(nl + 1));
    } else if (buffered.length > 65536) {
      socket.destroy();
    }
  };
  const onEnd = () => {
    socket.off('data', onData);
    callback(buffered.toString('utf8').trim(), Buffer.alloc(0));
  };
  socket.on('data', onData);
  socket.on('end', onEnd);
}

/** Per-connection behaviour for the TCP stream modes. */
const tcpHandlers = {
  echo(socket) {
    socket.pipe(socket);
  },
  sink(socket) {
    const hash = createHash('sha256');
    socket.on('data', (chunk) => hash.update(chunk));
    socket.on('end', () => socket.end(`${hash.digest('hex')}\n`));
  },
  halfclose(socket) {
    const hash = createHash('sha256');
    socket.on('data', (chunk) => hash.update(chunk));
    socket.on('end', () => socket.end(`${hash.digest('hex')}\nbye\n`));
  },
  source(socket) {
    readLine(socket, (line) => {
      const n = Number(line);
      if (!Number.isSafeInteger(n) || n < 0) {
        socket.end(`bad length ${JSON.stringify(line)}\n`);
        return;
      }
      socket.resume(); // ignore anything else the client sends
      const stream = createStreamReadable(n, n);
      stream.pipe(socket);
    });
  },
  rst(socket) {
    readLine(socket, () => {
      socket.resetAndDestroy();
    });
  },
};

function httpHandler(req, res) {
  const url = new URL(req.url ?? '/', 'http://x');
  const bytes = /^\/bytes\/(\d+)$/.exec(url.pathname);
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { 'Content-Type': 'text/plain' });
    res.end('method not allowed\n');
  } else if (url.pathname === '/') {
    const body = 'hello from remote\n';
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  } else if (url.pathname === '/ip') {
    const body = `${JSON.stringify({
      address: unmapped(req.socket.remoteAddress),
      port: req.socket.remotePort,
      family: familyOf(req.socket.remoteAddress, req.socket.remoteFamily),
    })}\n`;
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  } else if (bytes) {
    const n = Number(bytes[1]);
    if (!Number.isSafeInteger(n)) {
      res.writeHead(400, { 'Content-Type': 'text/plain' });
      res.end('bad length\n');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': n });
    if (req.method === 'HEAD') res.end();
    else createStreamReadable(n, n).pipe(res);
  } else {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found\n');
  }
}

/** @type {Array<net.Server|dgram.Socket>} */
const listeners = [];

function listenTcp(address, port) {
  return new Promise((resolve, reject) => {
    /** @type {net.Server} */
    let server;
    if (opts.mode === 'http') {
      server = http.createServer(httpHandler);
      server.on('connection', (socket) => {
        socket.on('error', () => {});
        reportPeer('tcp', { address: socket.remoteAddress, port: socket.remotePort, family: socket.remoteFamily },
          { address: socket.localAddress, port: socket.localPort });
      });
      server.on('clientError', (_err, socket) => socket.destroy());
      server.keepAliveTimeout = 5000;
    } else {
      server = net.createServer({ allowHalfOpen: true }, (socket) => {
        socket.on('error', () => {});
        reportPeer('tcp', { address: socket.remoteAddress, port: socket.remotePort, family: socket.remoteFamily },
          { address: socket.localAddress, port: socket.localPort });
        tcpHandlers[opts.mode](socket);
      });
    }
    server.once('error', reject);
    const listenOpts = { host: address, port, exclusive: true };
    if (address === '::') listenOpts.ipv6Only = false;
    server.listen(listenOpts, () => {
      server.off('error', reject);
      server.on('error', (err) => process.stderr.write(`servers.js: ${err.message}\n`));
      listeners.push(server);
      resolve(server.address().port);
    });
  });
}

/** Datagram `k` of a burst (udpecho's "burst COUNT SIZE"; udpclient.js checks it). */
function burstDatagram(k, size) {
  const d = Buffer.alloc(size);
  for (let i = 0; i < size; i++) d[i] = (k * 7 + i) & 0xff;
  if (size === 1) d[0] = k & 0xff;
  else if (size > 1) d.writeUInt16BE(k, 0);
  return d;
}

function listenUdp(address, port) {
  return new Promise((resolve, reject) => {
    const v6 = net.isIPv6(address);
    // Large buffers: bursts of datagrams up to 64 KiB must not be dropped by this server itself.
    const socket = dgram.createSocket({
      type: v6 ? 'udp6' : 'udp4',
      ipv6Only: address === '::' ? false : undefined,
      recvBufferSize: 16 << 20,
      sendBufferSize: 16 << 20,
    });
    const seen = new Set();
    socket.on('message', (msg, rinfo) => {
      const key = `${rinfo.address}|${rinfo.port}`;
      if (!seen.has(key) && seen.size < 4096) {
        seen.add(key);
        reportPeer('udp', rinfo, socket.address());
      }
      const burst = /^burst (\d+) (\d+)$/.exec(msg.length < 32 ? msg.toString() : '');
      if (!burst) return void socket.send(msg, rinfo.port, rinfo.address);
      const [count, size] = [Number(burst[1]), Number(burst[2])];
      for (let k = 0; k < count; k++) socket.send(burstDatagram(k, size), rinfo.port, rinfo.address);
    });
    socket.once('error', reject);
    socket.bind({ address, port, exclusive: true }, () => {
      socket.off('error', reject);
      socket.on('error', (err) => process.stderr.write(`servers.js: ${err.message}\n`));
      listeners.push(socket);
      resolve(socket.address().port);
    });
  });
}

async function main() {
  const listen = opts.mode === 'udpecho' ? listenUdp : listenTcp;
  let binds = opts.binds;
  let port = opts.port;
  if (binds.length === 0) {
    try {
      port = await listen('::', port);
      binds = ['::'];
    } catch (err) {
      if (!['EAFNOSUPPORT', 'EADDRNOTAVAIL'].includes(err.code)) throw err;
      port = await listen('0.0.0.0', port);
      binds = ['0.0.0.0'];
    }
  } else {
    for (const address of binds) port = await listen(address, port);
  }
  emit({ listening: port, mode: opts.mode, addresses: binds, pid: process.pid });
}

function shutdown(code) {
  for (const l of listeners) {
    try {
      l.close();
    } catch {
      // already closed
    }
  }
  process.exit(code);
}

process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));
process.stdout.on('error', () => shutdown(0)); // reader gone

// Die with whoever started us: a pipe (or socketpair) on stdin that closes.
try {
  const st = fs.fstatSync(0);
  if (st.isFIFO() || st.isSocket()) {
    process.stdin.on('end', () => shutdown(0));
    process.stdin.on('error', () => shutdown(0));
    process.stdin.resume();
  }
} catch {
  // no stdin at all
}

main().catch((err) => {
  process.stderr.write(`servers.js: ${err.stack ?? err}\n`);
  process.exit(1);
});
