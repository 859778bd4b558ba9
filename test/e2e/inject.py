#!/usr/bin/env python3
"""inject.py IFNAME COUNT: write COUNT malformed Ethernet frames onto IFNAME
through a packet socket (inside a pasta namespace, these reach pasta through
the tap): random bytes, and valid-looking frames truncated or corrupted at
every layer. Deterministic (seeded). Prints "sent N frames"."""
import random
import socket
import struct
import sys

ifname, count = sys.argv[1], int(sys.argv[2])
rng = random.Random(1234)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))

OUR = bytes.fromhex('9a559a559a55')
ME = s.getsockname()[4][:6]


def eth(etype, payload, dst=OUR):
    return dst + ME + struct.pack('!H', etype) + payload


def ipv4(proto, l4, total=None, ihl=5, frag=0):
    total = 20 + len(l4) if total is None else total
    h = struct.pack('!BBHHHBBH4s4s', (4 << 4) | ihl, 0, total & 0xffff, 1, frag, 64, proto, 0,
                    bytes([198, 51, 100, 2]), bytes([203, 0, 113, 10]))
    return h + l4


def ipv6(nh, l4, plen=None):
    plen = len(l4) if plen is None else plen
    h = struct.pack('!IHBB16s16s', 6 << 28, plen & 0xffff, nh, 64,
                    bytes.fromhex('20010db8000000000000000000000002'),
                    bytes.fromhex('20010db8000100000000000000000010'))
    return h + l4


def tcp(flags, doff=5, opts=b'', payload=b''):
    return struct.pack('!HHIIBBHHH', rng.randrange(1, 65536), 80, rng.getrandbits(32), rng.getrandbits(32),
                       (doff & 0xf) << 4, flags, 65535, 0, 0) + opts + payload


def frames():
    while True:
        kind = rng.randrange(18)
        if kind == 0:
            yield bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 200)))
        elif kind == 1:
            f = eth(0x0800, ipv4(6, tcp(0x02, 8, b'\x02\x04\x05\xb4\x03\x03\x07\x01\x01\x00\x00\x00')))
            yield f[:rng.randrange(1, len(f))]
        elif kind == 2:
            yield eth(0x0800, ipv4(6, tcp(0x02), total=rng.choice([0, 10, 19, 1000, 65535])))
        elif kind == 3:
            yield eth(0x0800, ipv4(6, tcp(0x02), ihl=rng.choice([0, 1, 4, 15])))
        elif kind == 4:
            yield eth(0x0800, ipv4(6, tcp(rng.randrange(256), doff=rng.choice([0, 1, 4, 15]))))
        elif kind == 5:
            yield eth(0x0800, ipv4(6, tcp(0x02, 7, b'\x02\x00\x03\xff\x00\x00\x00\x00')))  # zero-length option
        elif kind == 6:
            f = eth(0x86dd, ipv6(6, tcp(0x02)))
            yield f[:rng.randrange(1, len(f))]
        elif kind == 7:
            yield eth(0x86dd, ipv6(6, tcp(0x12), plen=rng.choice([0, 5, 1000, 65535])))
        elif kind == 8:
            # Extension header chain pointing at itself / running past the end.
            yield eth(0x86dd, ipv6(0, bytes([0, 255]) + bytes(6)))
        elif kind == 9:
            f = eth(0x0806, struct.pack('!HHBBH6s4s6s4s', 1, 0x0800, 6, 4, 1, ME, bytes([198, 51, 100, 2]), bytes(6), bytes([198, 51, 100, 1])))
            yield f[:rng.randrange(14, len(f))]
        elif kind == 10:
            # ICMPv6 neighbour solicitation with garbage options, and truncated.
            yield eth(0x86dd, ipv6(58, bytes([135, 0, 0, 0]) + bytes(20) + bytes([1, 0]) + bytes(6)))
        elif kind == 12:
            # UDP with a bad length field, or truncated.
            u = struct.pack('!HHHH', rng.randrange(1, 65536), 53, rng.choice([0, 7, 9, 5000, 65535]), 0) + b'q' * 20
            yield eth(0x0800, ipv4(17, u))
        elif kind == 13:
            u = struct.pack('!HHHH', 40000, 7, 28, 0) + b'z' * 20
            f = eth(0x86dd, ipv6(17, u))
            yield f[:rng.randrange(14, len(f))]
        elif kind == 14:
            # ICMP echo with a wrong checksum, truncated echo, unknown types.
            yield eth(0x0800, ipv4(1, bytes([8, 0, 0x12, 0x34, 0, 1, 0, 1]) + b'p' * 56))
        elif kind == 15:
            yield eth(0x0800, ipv4(1, bytes([rng.randrange(256), rng.randrange(256)]) + bytes(rng.randrange(0, 6))))
        elif kind == 16:
            yield eth(0x86dd, ipv6(58, bytes([128, 0, 0, 0]) + bytes(rng.randrange(0, 10))))
        elif kind == 17:
            # IPv4 fragments of UDP.
            yield eth(0x0800, ipv4(17, b'f' * 40, frag=rng.choice([0x2000, 0x0001, 0x2005])))
        else:
            # Data and FIN/RST for connections that do not exist.
            yield eth(0x0800, ipv4(6, tcp(rng.choice([0x10, 0x11, 0x04, 0x18]), payload=b'x' * rng.randrange(100))))


sent = 0
for f in frames():
    if sent >= count:
        break
    if len(f) < 14:
        f = f + bytes(14 - len(f))
    try:
        s.send(f)
    except OSError:
        pass
    sent += 1
print(f'sent {sent} frames')
