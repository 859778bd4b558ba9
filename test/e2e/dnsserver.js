#!/usr/bin/env node
// A tiny authoritative DNS server for tests: `node dnsserver.js [--bind ADDR]... [--port N]`.
//
// Theory of operation: it answers, over UDP and TCP (RFC 1035 length-prefixed),
// A and AAAA queries for names under "test." from a fixed table, NXDOMAIN for
// other names, and counts queries per transport. When ready it prints one JSON
// line {"listening": port}; then one line {"query": name, "type": n, "tcp": bool}
// per query. It exits when its stdin closes, so it never outlives the test.
import dgram from 'node:dgram';
import net from 'node:net';

const RECORDS = {
  'host.test': { 1: [[192, 0, 2, 80]], 28: [[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80]] },
  'remote.test': { 1: [[203, 0, 113, 10]], 28: [[0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10]] },
};

const args = process.argv.slice(2);
const binds = [];
let port = 53;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--bind') binds.push(...args[++i].split(','));
  else if (args[i] === '--port') port = Number(args[++i]);
}
if (!binds.length) binds.push('127.0.0.1');

function parseName(msg, off) {
  const labels = [];
  for (let guard = 0; guard < 64 && off < msg.length; guard++) {
    const len = msg[off];
    if (len === 0) return { name: labels.join('.').toLowerCase(), end: off + 1 };
    if (len > 63 || off + 1 + len > msg.length) return null;
    labels.push(msg.toString('latin1', off + 1, off + 1 + len));
    off += 1 + len;
  }
  return null;
}

/** Build the answer to one query message, or null for garbage. */
function answer(query, tcp) {
  if (query.length < 12) return null;
  const qd = query.readUInt16BE(4);
  if (qd !== 1) return null;
  const q = parseName(query, 12);
  if (!q || q.end + 4 > query.length) return null;
  const type = query.readUInt16BE(q.end);
  process.stdout.write(`${JSON.stringify({ query: q.name, type, tcp })}\n`);
  const question = query.subarray(12, q.end + 4);
  const rrs = RECORDS[q.name]?.[type] ?? [];
  const nx = !RECORDS[q.name];
  const head = Buffer.alloc(12);
  head.writeUInt16BE(query.readUInt16BE(0), 0); // id
  head.writeUInt16BE(0x8400 | (query.readUInt16BE(2) & 0x0100) | (nx ? 3 : 0), 2); // QR, AA, RD copied, rcode
  head.writeUInt16BE(1, 4);
  head.writeUInt16BE(rrs.length, 6);
  const answers = rrs.map((rdata) => {
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0); // pointer to the question name
    rr.writeUInt16BE(type, 2);
    rr.writeUInt16BE(1, 4); // IN
    rr.writeUInt32BE(60, 6); // TTL
    rr.writeUInt16BE(rdata.length, 10);
    return Buffer.concat([rr, Buffer.from(rdata)]);
  });
  return Buffer.concat([head, question, ...answers]);
}

let pending = binds.length * 2;
function ready() {
  if (--pending === 0) process.stdout.write(`${JSON.stringify({ listening: port })}\n`);
}

for (const addr of binds) {
  const udp = dgram.createSocket(net.isIPv6(addr) ? 'udp6' : 'udp4');
  udp.on('message', (msg, rinfo) => {
    const reply = answer(msg, false);
    if (reply) udp.send(reply, rinfo.port, rinfo.address);
  });
  udp.bind(port, addr, ready);
  const tcp = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        const reply = answer(msg, true);
        if (!reply) return sock.destroy();
        const len = Buffer.alloc(2);
        len.writeUInt16BE(reply.length);
        sock.write(Buffer.concat([len, reply]));
      }
    });
    sock.on('error', () => {});
  });
  tcp.listen(port, addr, ready);
}
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
