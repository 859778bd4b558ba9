// Runs inside the test topology's host namespace (started by api.test.ts): exercises the
// Node API against real traffic and prints one JSON line of results.
import fs from 'node:fs';
import net from 'node:net';
import dgram from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { createPasta as createPastaHere, PastaOptionError } from '../../dist/index.js';

// NODE_PASST_API_SANDBOX=process: every instance in a sandboxed child process (api.test.ts runs both ways).
const SANDBOX = process.env.NODE_PASST_API_SANDBOX;
const createPasta = (options) => createPastaHere(SANDBOX && options && typeof options === 'object' ? { ...options, sandbox: SANDBOX } : options);

const [serverV4, remotePort] = process.argv.slice(2);
const out = {};
// Open fds, not counting /dev/null: Node opens it once, on the first spawn with an
// 'ignore' stream, and keeps it.
const fdCount = () =>
  fs.readdirSync('/proc/self/fd').filter((f) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${f}`) !== '/dev/null';
    } catch {
      return false; // the directory fd itself, gone by now
    }
  }).length;

function run(child) {
  return new Promise((resolve) => {
    let stdout = '';
    child.stdout?.on('data', (d) => (stdout += d));
    child.on('exit', (code) => resolve({ code, stdout }));
  });
}

// Is something listening on the host's loopback at `port`? A listener that accepted and reset
// at once (a forward whose target in the namespace is closed) counts: the reset can beat the
// handshake's completion to this event loop when the engine runs in another process.
function listening(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => { s.destroy(); resolve(true); });
    s.on('error', (e) => resolve(e.code === 'ECONNRESET'));
  });
}

// Errors name the field.
for (const [opts, name] of [[{ mtu: 70000 }, 'mtu'], [{ mtu: 'x' }, 'mtu'], [{ ports: { tcp: ['80-22'] } }, 'ports.tcp'], [{ ports: { udpNs: ['x'] } }, 'ports.udpNs'], [{ bogus: 1 }, 'bogus'], [{ dnsForward: [1] }, 'dnsForward[0]']]) {
  try {
    await createPasta(opts);
    out[`error_${name}`] = 'no error';
  } catch (err) {
    out[`error_${name}`] = err instanceof PastaOptionError ? err.field : `${err.name}: ${err.message}`;
  }
}

const before = fdCount();
const p = await createPasta({ ports: { tcp: ['8080:80'] } });
if (SANDBOX) {
  // The sandboxed engine: the parent of the namespace's holder, a child of ours.
  const engine = Number(fs.readFileSync(`/proc/${p.pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
  const status = fs.readFileSync(`/proc/${engine}/status`, 'utf8');
  const field = (name) => new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(status)?.[1];
  out.sandbox = {
    child: engine !== process.pid,
    seccomp: field('Seccomp'),
    noNewPrivs: field('NoNewPrivs'),
    capEff: field('CapEff'),
    root: fs.readdirSync(`/proc/${engine}/root`),
  };
}
const flows = [];
p.on('flow', (e) => flows.push(e));
out.netnsPath = p.netnsPath.startsWith('/proc/');
const r = await run(p.spawn('curl', ['-sS', '--max-time', '5', `http://${serverV4}:${remotePort}/`], { stdio: ['ignore', 'pipe', 'inherit'] }));
out.curl = r.stdout;
out.flow = flows.find((f) => f.protocol === 'tcp');
const s = p.stats();
out.tcpOpened = s.tcp.opened;
out.bytesToTap = s.tcp.bytesToTap;
out.framesFromTap = s.framesFromTap > 0;
out.listening8080 = await listening(8080);
p.forward.add('9090:90');
p.forward.add('9191:91', 'udp');
out.list = p.forward.list();
out.listening9090 = await listening(9090);
p.forward.remove('9090:90');
out.listening9090After = await listening(9090);

// UDP forwarded at run time, from the host's loopback (spliced) to an echo server in the namespace.
const servers = fileURLToPath(new URL('./servers.js', import.meta.url));
const echo = p.spawn(process.execPath, [servers, 'udpecho', '--port', '91', '--no-peers'], { stdio: ['pipe', 'pipe', 'inherit'] });
await new Promise((resolve) => echo.stdout.once('data', resolve));
out.udpEcho = await new Promise((resolve) => {
  const sock = dgram.createSocket('udp4');
  const tick = setInterval(() => sock.send('ping', 9191, '127.0.0.1'), 100);
  const done = (v) => { clearInterval(tick); clearTimeout(t); sock.close(); resolve(v); };
  const t = setTimeout(() => done('no answer'), 5000);
  sock.on('message', (m, rinfo) => done(`${m} from ${rinfo.port}`));
});
out.udpSpliced = p.stats().udpSplice.datagramsAtoB > 0;
echo.stdin.end();
await new Promise((resolve) => echo.on('exit', resolve));
p.forward.remove('9191:91', 'udp');

// A second instance at once, with its own traffic.
const q = await createPasta({ protocols: { udp: false } });
const r2 = await run(q.spawn('curl', ['-sS', '--max-time', '5', `http://${serverV4}:${remotePort}/`], { stdio: ['ignore', 'pipe', 'inherit'] }));
out.curl2 = r2.stdout;
out.twoDistinct = p.netnsPath !== q.netnsPath;
await q.close();
await p.close();
out.listening8080After = await listening(8080);

// Cycles leak nothing.
for (let i = 0; i < 5; i++) {
  // Some with a log file, which close() must close too.
  const c = await createPasta(i % 2 ? { log: { file: `/tmp/api-script-${process.pid}.log`, level: 'debug' } } : {});
  await c.close();
}
fs.rmSync(`/tmp/api-script-${process.pid}.log`, { force: true });
out.fdLeak = fdCount() - before;
console.log(JSON.stringify(out));
process.exit(0);
