/**
 * --pcap (src/l2/pcap.ts): the file is classic pcap, byte for byte — the
 * 24-byte global header, then per frame a 16-byte record header and the
 * whole frame — written a batch at a time, with the injected clock's time.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PcapWriter, pcapGlobalHeader, PCAP_SNAPLEN } from '../../src/l2/pcap.js';
import { MAX_FRAME } from '../../src/l2/tapio.js';
import { hex } from './wire-frames.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-unit-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('PcapWriter', () => {
  it('writes the global header: magic, version 2.4, snapshot length of the largest frame, Ethernet', () => {
    expect(pcapGlobalHeader().toString('hex')).toBe('d4c3b2a1' + '0200' + '0400' + '00000000' + '00000000' + '0d000100' + '01000000');
    expect(PCAP_SNAPLEN).toBe(MAX_FRAME);
    const file = path.join(dir, 'empty.pcap');
    new PcapWriter(file).close();
    expect(fs.readFileSync(file)).toEqual(pcapGlobalHeader());
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  });

  it('appends each batch as records with the clock time, frames whole, taken from offsets in a shared buffer', () => {
    const file = path.join(dir, 'cap.pcap');
    let now = 1_700_000_000_123.456;
    const w = new PcapWriter(file, () => now);
    const buf = Buffer.alloc(256, 0xee);
    const a = hex('ffffffffffff 5e8a3c112233 0806 0001');
    const b = hex('5e8a3c112233 9a559a559a55 0800 4500');
    a.copy(buf, 8);
    b.copy(buf, 64);
    w.write(buf, Int32Array.of(8, a.length, 64, b.length), 2);
    now += 2500;
    w.write(buf, Int32Array.of(64, b.length), 1);
    w.write(buf, new Int32Array(0), 0);
    w.close();
    w.close();
    expect(w.frames).toBe(3);
    const record = (sec: number, usec: number, frame: Buffer): Buffer => {
      const h = Buffer.alloc(16);
      h.writeUInt32LE(sec, 0);
      h.writeUInt32LE(usec, 4);
      h.writeUInt32LE(frame.length, 8);
      h.writeUInt32LE(frame.length, 12);
      return Buffer.concat([h, frame]);
    };
    expect(fs.readFileSync(file)).toEqual(
      Buffer.concat([pcapGlobalHeader(), record(1_700_000_000, 123456, a), record(1_700_000_000, 123456, b), record(1_700_000_002, 623456, b)]),
    );
  });

  it('holds a batch of large frames, growing its staging buffer', () => {
    const file = path.join(dir, 'big.pcap');
    const w = new PcapWriter(file, () => 0);
    const buf = Buffer.alloc(40 * MAX_FRAME);
    const frames = new Int32Array(80);
    for (let i = 0; i < 40; i++) {
      buf.fill(i, i * MAX_FRAME, (i + 1) * MAX_FRAME);
      frames[2 * i] = i * MAX_FRAME;
      frames[2 * i + 1] = MAX_FRAME;
    }
    w.write(buf, frames, 40);
    w.close();
    const data = fs.readFileSync(file);
    expect(data.length).toBe(24 + 40 * (16 + MAX_FRAME));
    expect(data[24 + 39 * (16 + MAX_FRAME) + 16]).toBe(39);
  });

  it('says which file it cannot open', () => {
    expect(() => new PcapWriter(path.join(dir, 'missing', 'x.pcap'))).toThrow(`Couldn't open pcap file ${path.join(dir, 'missing', 'x.pcap')}: No such file or directory`);
  });

  it('stops capturing, with one message, when a write fails', () => {
    expect(() => new PcapWriter('/dev/full')).toThrow("Couldn't open pcap file /dev/full: No space left on device");
    const messages: string[] = [];
    const w = new PcapWriter(path.join(dir, 'full.pcap'), () => 0, (m) => messages.push(m));
    // The disk fills up after the header: its file descriptor now leads to /dev/full.
    const fd = (w as unknown as { fd: number }).fd;
    fs.closeSync(fd);
    expect(fs.openSync('/dev/full', 'w')).toBe(fd);
    const buf = Buffer.alloc(64);
    w.write(buf, Int32Array.of(0, 60), 1);
    w.write(buf, Int32Array.of(0, 60), 1);
    w.close();
    expect(messages).toEqual([`pcap file ${path.join(dir, 'full.pcap')}: ENOSPC; capture stopped`]);
    expect(w.frames).toBe(0);
  });
});
