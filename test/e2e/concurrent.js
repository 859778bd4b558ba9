#!/usr/bin/env node
// `node concurrent.js HOST PORT CONNECTIONS BYTES`: open CONNECTIONS TCP connections
// at once to an echo server, send BYTES of the deterministic stream on each, and
// check that exactly those bytes come back on each. Prints one JSON line
// {"ok", "connections", "failed", "ms"} and exits 0 when every connection was correct.
import net from 'node:net';
import { StreamGenerator, StreamVerifier } from './stream.js';

const [host, portText, countText, bytesText] = process.argv.slice(2);
const port = Number(portText);
const count = Number(countText);
const bytes = Number(bytesText);
const started = Date.now();
let done = 0;
let failed = 0;
const errors = new Map();

function finish() {
  const ok = failed === 0 && done === count;
  console.log(JSON.stringify({ ok, connections: done, failed, ms: Date.now() - started, errors: [...errors.entries()].slice(0, 5) }));
  process.exit(ok ? 0 : 1);
}
setTimeout(() => { failed += count - done; done = count; errors.set('timeout', 1); finish(); }, 90_000).unref();

function one(i) {
  const verifier = new StreamVerifier(bytes);
  const socket = net.connect({ host, port });
  let settled = false;
  const settle = (err) => {
    if (settled) return;
    settled = true;
    if (err) {
      failed++;
      errors.set(err, (errors.get(err) ?? 0) + 1);
    }
    socket.destroy();
    if (++done === count) finish();
  };
  socket.on('connect', () => {
    const gen = new StreamGenerator(bytes);
    let left = bytes;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(65536, left);
        left -= n;
        if (!socket.write(gen.next(n))) return socket.once('drain', pump);
      }
    };
    pump();
  });
  socket.on('data', (d) => {
    if (verifier.update(d).mismatchAt >= 0) settle(`mismatch on connection ${i}`);
    else if (verifier.received === bytes) settle(null);
  });
  socket.on('error', (e) => settle(e.code ?? e.message));
  socket.on('end', () => settle(verifier.received === bytes ? null : `early EOF after ${verifier.received}`));
}
for (let i = 0; i < count; i++) one(i);
