// A reset of the host side reaches the guest as a RST at once, in every state, also while the
// engine wants no events from the socket (the fd stays in epoll with none: EPOLLERR still comes).
import { describe, expect, it } from 'vitest';
import { ACK, FIN, RST, SYN, V4, Listener, add32, hasData, hasFlags, isRst, useHostSockets, useRigs } from './engine-rig.js';

const newRig = useRigs();
const keep = useHostSockets();

describe('TCP: a host reset reaches the guest without waiting for it', () => {
  async function open(establish: boolean, window?: number) {
    const rig = await newRig();
    const listener = keep(new Listener(4));
    const port = listener.port;
    rig.send(V4.syn({ dport: port, seq: 100, ack: 0, flags: SYN }));
    const iss = (await rig.next(hasFlags(SYN | ACK))).seq;
    const host = keep(await listener.accept());
    if (establish) rig.send(V4.ack({ dport: port, seq: 101, ack: iss + 1, flags: ACK, window }));
    return { rig, host, iss, port };
  }
  it('after our SYN-ACK, before the guest has acknowledged it', async () => {
    const { rig, host, iss } = await open(false);
    host.reset();
    expect(await rig.next(isRst)).toMatchObject({ flags: RST | ACK, seq: add32(iss, 1), ack: 101 });
    expect(rig.engine.tcp.count).toBe(0);
  });
  it("while the guest's window is zero", async () => {
    const { rig, host, iss, port } = await open(true);
    host.write('x');
    await rig.next(hasData);
    rig.send(V4.ack({ dport: port, seq: 101, ack: iss + 2, flags: ACK, window: 0 }));
    host.reset();
    expect(await rig.next(isRst)).toMatchObject({ flags: RST | ACK, seq: add32(iss, 2), ack: 101 });
    expect(rig.engine.tcp.count).toBe(0);
  });
  it('after the host closed (our FIN sent and acknowledged)', async () => {
    const { rig, host, iss, port } = await open(true);
    host.shutdownWrite();
    expect(await rig.next(hasFlags(FIN))).toMatchObject({ seq: add32(iss, 1) });
    rig.send(V4.ack({ dport: port, seq: 101, ack: iss + 2, flags: ACK }));
    host.reset();
    expect(await rig.next(isRst)).toMatchObject({ flags: RST | ACK, seq: add32(iss, 2), ack: 101 });
    expect(rig.engine.tcp.count).toBe(0);
  });
});
