#!/usr/bin/env node
// Load for the fault tests (faults.test.ts): `node test/e2e/faultload.js MODE ...`.
//
// Theory of operation: each mode prints JSON lines on stdout — one when it is
// in the state the test waits for, one when it is done. The long-running modes
// exit when their standard input ends (so they never outlive the test) or when
// killed, which is what some tests do to them; echo1 exits when done.
//
// Modes:
//   reset-server PORT N     listens on PORT (dual-stack); streams 16 KiB to each
//                           connection every 10 ms; when told "reset" on stdin (the
//                           clients say they are all up), resets the N connections
//                           at once (RST, SO_LINGER 0) and prints {"reset": N};
//                           later connections are echoed
//   many HOST PORT N [--reset]
//                           opens N connections, writes 16 KiB to each every 10 ms
//                           and reads what comes; prints {"connected": N} once all
//                           are up and each has read something; with --reset then
//                           resets them all at once ({"reset": N}); prints
//                           {"closed": N, "errors": {CODE: count}} once all closed
//   stream HOST PORT N      N connections to an echo server, each writing 64 KiB
//                           and reading it back, again and again; prints
//                           {"flowing": bytes} after the first MiB; runs until killed
//   echo1 HOST PORT         one connection: 1000 bytes out, the same back; {"ok": bool}
import net from 'node:net';

const [mode, ...args] = process.argv.slice(2);
const print = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
let told = '';
if (mode !== 'echo1') {
  process.stdin.on('data', (d) => (told += d));
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}

const chunk16 = Buffer.alloc(16384, 0x61);

if (mode === 'reset-server') {
  const [port, n] = args.map(Number);
  const conns = [];
  let done = false;
  const srv = net.createServer((s) => {
    s.on('error', () => {});
    if (done) {
      s.on('data', (d) => s.write(d));
      return;
    }
    conns.push(s);
    s.fed = false;
    s.timer = setInterval(() => {
      s.fed = true;
      s.write(chunk16);
    }, 10);
    s.on('close', () => clearInterval(s.timer));
    check();
  });
  const check = () => {
    if (done || !told.includes('reset') || conns.length < n || !conns.every((s) => s.fed)) return;
    done = true;
    for (const s of conns) {
      clearInterval(s.timer);
      s.resetAndDestroy();
    }
    print({ reset: conns.length });
  };
  setInterval(check, 20);
  srv.listen({ port, host: '::', backlog: 1024 }, () => print({ listening: port }));
} else if (mode === 'many') {
  const [host, portText, nText] = args;
  const port = Number(portText);
  const n = Number(nText);
  const reset = args.includes('--reset');
  const socks = [];
  const errors = {};
  let closed = 0;
  let announced = false;
  for (let i = 0; i < n; i++) {
    const s = net.connect({ host, port });
    s.got = 0;
    s.up = false;
    s.on('connect', () => {
      s.up = true;
      s.timer = setInterval(() => s.write(chunk16), 10);
    });
    s.on('data', (d) => (s.got += d.length));
    s.on('error', (e) => (errors[e.code ?? e.message] = (errors[e.code ?? e.message] ?? 0) + 1));
    s.on('close', () => {
      clearInterval(s.timer);
      if (++closed === n) print({ closed, errors });
    });
    socks.push(s);
  }
  const check = setInterval(() => {
    if (announced || !socks.every((s) => s.up && s.got > 0)) return;
    announced = true;
    clearInterval(check);
    print({ connected: n });
    if (reset) {
      for (const s of socks) s.resetAndDestroy();
      print({ reset: n });
    }
  }, 20);
} else if (mode === 'stream') {
  const [host, portText, nText] = args;
  let total = 0;
  let told = false;
  const chunk = Buffer.alloc(65536, 0x62);
  for (let i = 0; i < Number(nText); i++) {
    const s = net.connect({ host, port: Number(portText) });
    let want = 0;
    const round = () => {
      want = chunk.length;
      s.write(chunk);
    };
    s.on('connect', round);
    s.on('data', (d) => {
      total += d.length;
      want -= d.length;
      if (!told && total > 1 << 20) {
        told = true;
        print({ flowing: total });
      }
      if (want <= 0) round();
    });
    s.on('error', (e) => print({ error: e.code ?? e.message }));
  }
} else if (mode === 'echo1') {
  const [host, portText] = args;
  const data = Buffer.alloc(1000, 0x63);
  const s = net.connect({ host, port: Number(portText) });
  let got = Buffer.alloc(0);
  const t = setTimeout(() => {
    print({ ok: false, why: 'timeout' });
    process.exit(1);
  }, 10_000);
  s.on('connect', () => s.write(data));
  s.on('data', (d) => {
    got = Buffer.concat([got, d]);
    if (got.length >= data.length) {
      clearTimeout(t);
      print({ ok: got.equals(data) });
      process.exit(0);
    }
  });
  s.on('error', (e) => {
    print({ ok: false, why: e.code ?? e.message });
    process.exit(1);
  });
} else {
  process.stderr.write('usage: faultload.js reset-server|many|stream|echo1 ...\n');
  process.exit(2);
}
