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
//   burst HOST PORT COUNT SIZES ROUNDS  for each of SIZES (comma-separated), ROUNDS
//       times: ask the echo server for a burst of COUNT datagrams of that size
//       ("burst COUNT SIZE", servers.js) and check every one (length, index,
//       bytes); report the datagrams received intact and how many packets the
//       namespace's eth0 received meanwhile (/proc/net/dev).
import dgram from 'node:dgram';
import crypto from 'node:crypto';
import net from 'node:net';
import fs from 'node:fs';

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
} else if (mode === 'burst') {
  const port = Number(portArg);
  const [count, sizes, rounds] = [Number(rest[0]), rest[1].split(',').map(Number), Number(rest[2])];
  // /proc/net/dev, not /sys/class/net: sysfs shows the network namespace it was mounted in.
  const rxPackets = () => Number(/^\s*eth0:\s*\d+\s+(\d+)/m.exec(fs.readFileSync('/proc/net/dev', 'utf8'))[1]);
  const sock = dgram.createSocket(type);
  /** Whether `msg` is datagram k of a burst of `size`-byte datagrams (servers.js burstDatagram); k or -1. */
  const indexOf = (msg, size) => {
    if (msg.length !== size) return -1;
    const k = size === 1 ? msg[0] : size > 1 ? msg.readUInt16BE(0) : 0;
    for (let i = Math.min(size, 2); i < size; i++) if (msg[i] !== ((k * 7 + i) & 0xff)) return -1;
    return k;
  };
  let want = null;
  sock.on('message', (msg) => {
    if (!want) return;
    const k = indexOf(msg, want.size);
    if (k < 0 || k >= count || want.seen.has(k)) want.bad++;
    else want.seen.add(k);
    if (want.seen.size === count) want.done();
  });
  sock.connect(port, host, async () => {
    const before = rxPackets();
    let received = 0;
    let bad = 0;
    for (const size of sizes) {
      for (let r = 0; r < rounds; r++) {
        await new Promise((done) => {
          want = { size, seen: new Set(), bad: 0, done };
          sock.send(`burst ${count} ${size}`);
          setTimeout(done, 3000);
        });
        received += want.seen.size;
        bad += want.bad;
      }
    }
    const packets = rxPackets() - before;
    out({ ok: bad === 0 && received === count * sizes.length * rounds, asked: count * sizes.length * rounds, received, bad, rxPackets: packets });
  });
} else {
  process.stderr.write('usage: udpclient.js flood|multi|refused|burst HOST PORT ...\n');
  process.exit(2);
}
