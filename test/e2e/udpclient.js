#!/usr/bin/env node
// UDP test clients, run inside a pasta namespace. Each prints one JSON line.
//
//   flood HOST PORT COUNT MAXSIZE RATE  send COUNT datagrams of pseudo-random sizes
//       (1..MAXSIZE, a few at MAXSIZE) at RATE per second to an echo server; each
//       carries its index and a checksum of its bytes; report how many came back intact.
//   multi HOST PORT1,PORT2,...        one socket, one datagram to each port; report
//       which ports answered (from the right source port).
//   refused HOST PORT                 a connected socket sends to a closed port; report
//       the error code the socket gets.
import dgram from 'node:dgram';
import crypto from 'node:crypto';
import net from 'node:net';

const [mode, host, portArg, ...rest] = process.argv.slice(2);
const type = net.isIPv6(host) ? 'udp6' : 'udp4';
// UDPCLIENT_BIND=ADDR: send from this source address (a namespace with several addresses).
// UDPCLIENT_TIMEOUT_MS: how long `multi` waits for answers (default 5000).
const bindAddress = process.env.UDPCLIENT_BIND || undefined;
const out = (obj) => {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
  process.exit(obj.ok ? 0 : 1);
};

if (mode === 'flood') {
  const port = Number(portArg);
  const [count, maxSize, rate] = rest.map(Number);
  const sock = dgram.createSocket({ type, recvBufferSize: 32 << 20, sendBufferSize: 32 << 20 });
  let rng = 12345;
  const rand = () => ((rng = (rng * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const seen = new Set();
  let corrupt = 0;
  sock.on('message', (msg) => {
    if (msg.length < 40) return void corrupt++;
    const idx = msg.readUInt32BE(0);
    const digest = crypto.createHash('sha256').update(msg.subarray(36)).digest();
    if (!digest.equals(msg.subarray(4, 36))) return void corrupt++;
    seen.add(idx);
    if (seen.size === count) finish();
  });
  // UDP may drop a datagram anywhere on a loaded machine: 1% may be missing, none may be corrupt.
  const finish = () => out({ ok: seen.size >= count * 0.99 && corrupt === 0, sent: count, received: seen.size, corrupt });
  const connect = (cb) => (bindAddress ? sock.bind({ address: bindAddress }, () => sock.connect(port, host, cb)) : sock.connect(port, host, cb));
  connect(() => {
    let i = 0;
    // A smooth pace, not bursts (a burst of 64 KiB datagrams overflows a default-sized
    // socket receive buffer anywhere on the path, as it would without pasta): ticks of
    // 1 ms, or longer below 1000 datagrams a second.
    const perTick = Math.max(1, Math.round(rate / 1000));
    const tickMs = Math.max(1, Math.round(1000 / rate));
    const timer = setInterval(() => {
      for (let k = 0; k < perTick && i < count; k++, i++) {
        const size = i % 50 === 0 ? maxSize : Math.max(40, Math.floor(rand() * maxSize));
        const msg = Buffer.alloc(size);
        msg.writeUInt32BE(i, 0);
        crypto.randomFillSync(msg, 36);
        crypto.createHash('sha256').update(msg.subarray(36)).digest().copy(msg, 4);
        sock.send(msg);
      }
      if (i >= count) {
        clearInterval(timer);
        setTimeout(finish, 3000);
      }
    }, tickMs);
  });
} else if (mode === 'multi') {
  const ports = portArg.split(',').map(Number);
  const sock = dgram.createSocket(type);
  const answered = new Set();
  sock.on('message', (msg, rinfo) => {
    if (msg.toString() === `to ${rinfo.port}`) answered.add(rinfo.port);
    if (answered.size === ports.length) out({ ok: true, answered: [...answered].sort() });
  });
  sock.bind({ port: 0, address: bindAddress }, () => {
    for (let r = 0; r < 3; r++) for (const p of ports) setTimeout(() => sock.send(`to ${p}`, p, host), r * 300);
  });
  setTimeout(() => out({ ok: false, answered: [...answered].sort() }), Number(process.env.UDPCLIENT_TIMEOUT_MS) || 5000);
} else if (mode === 'refused') {
  const sock = dgram.createSocket(type);
  const t = Date.now();
  sock.on('error', (err) => out({ ok: err.code === 'ECONNREFUSED', code: err.code, ms: Date.now() - t }));
  sock.connect(Number(portArg), host, () => {
    // A connected UDP socket reports the ICMP port unreachable on a later call.
    const tick = setInterval(() => sock.send('anyone?'), 100);
    setTimeout(() => {
      clearInterval(tick);
      out({ ok: false, code: null });
    }, 3000);
  });
} else {
  process.stderr.write('usage: udpclient.js flood|multi|refused HOST PORT ...\n');
  process.exit(2);
}
